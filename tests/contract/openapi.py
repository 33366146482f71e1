"""A small, lenient OpenAPI validator for contract tests against Airbyte's published specs.

Airbyte's specs do not pass a strict OpenAPI validator (``default: null`` without ``nullable``, a
required property the schema never defines, ...), so this module checks only what a contract needs:

* the operation exists for (method, concrete path), matching path templates after stripping the
  server base (config API ``/api/v1/x`` <-> ``/v1/x``; OSS public ``/api/public/v1/x`` <->
  ``/public/v1/x`` in the config spec and ``/x`` in the public spec; Cloud ``/v1/x`` <-> ``/x``);
* request: path and query parameters are declared and fit their schema, the body fits the
  ``requestBody`` schema of its content type;
* response: the status is declared (else ``default``), the body fits that response's schema;
  ``application/problem+json`` bodies fit the problem of ``public-api-problems-2026.yaml`` named
  by their ``title``/``type``, whose ``default`` values are constants.

Schemas become JSON Schema (2020-12) leniently: ``$ref`` resolved (also into a sibling spec file),
``nullable: true`` allows null, ``format``/``default``/``example``/``x-*`` and other annotations are
dropped, additional properties are allowed unless the spec says ``additionalProperties: false``.

Every check answers a list of :class:`Violation` (a JSON pointer or ``?param`` and a message); an
empty list means the exchange follows the contract.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

__all__ = [
    "CONFIG_2022",
    "CONFIG_2026",
    "ENV_VAR",
    "PROBLEMS_2026",
    "PUBLIC_2026",
    "SPEC_FILES",
    "Operation",
    "Spec",
    "Violation",
    "load_spec",
    "missing_specs",
    "specs_dir",
    "validate_exchange",
    "validate_problem",
    "validate_request",
    "validate_response",
]

ENV_VAR = "AIRBYTE_API_SPECS"
DEFAULT_DIR = Path(__file__).resolve().parent / "specs"

CONFIG_2026 = "config-api-2026.yaml"
CONFIG_2022 = "config-api-2022.yaml"
PUBLIC_2026 = "public-api-2026.yaml"
PROBLEMS_2026 = "public-api-problems-2026.yaml"
SPEC_FILES = (CONFIG_2026, CONFIG_2022, PUBLIC_2026, PROBLEMS_2026)

JSON = "application/json"
PROBLEM = "application/problem+json"
FORM = "application/x-www-form-urlencoded"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: The OSS server serves the Cloud API (server path ``/v1``) under this prefix since v0.52.
OSS_PUBLIC_PREFIX = "/api/public"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --------------------------------------------------------------------------------------------------
# Finding and loading the specs
# --------------------------------------------------------------------------------------------------
def specs_dir() -> Path:
    """The folder of spec files: ``$AIRBYTE_API_SPECS`` if set, else ``tests/contract/specs``."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured).expanduser() if configured else DEFAULT_DIR


def missing_specs(directory: Path | None = None, names: Iterable[str] = SPEC_FILES) -> list[str]:
    """Names of the spec files absent from ``directory``."""
    directory = directory or specs_dir()
    return [name for name in names if not (directory / name).is_file()]


def load_spec(name: str, directory: Path | None = None) -> Spec:
    """The spec file ``name`` of ``directory`` (parsed once per process)."""
    return _load((directory or specs_dir()).resolve() / name)


@cache
def _load(path: Path) -> Spec:
    with path.open("rb") as handle:
        doc = yaml.load(handle, Loader=_Loader)  # noqa: S506 - a safe loader (C or pure Python)
    if not isinstance(doc, dict):
        raise ValueError(f"{path.name} is not an OpenAPI document")
    return Spec(path, doc)


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Violation:
    """One way an exchange breaks the contract.

    ``where`` is ``request`` or ``response``; ``pointer`` a JSON pointer into the body (``""`` is
    the whole body) or ``?name`` for a query parameter, ``{name}`` for a path parameter; ``kind``
    is ``schema`` (a value does not fit), ``operation`` (no such operation), ``parameter`` (not
    declared, or required and missing), ``status`` (not declared), ``content-type`` or ``problem``.
    """

    where: str
    pointer: str
    message: str
    kind: str = "schema"

    def __str__(self) -> str:
        return f"{self.where} {self.pointer or '/'}: {self.message}"


def _pointer(path: Iterable[Any]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------------
# OpenAPI schema -> JSON Schema
# --------------------------------------------------------------------------------------------------
# Keywords copied as they are; everything else (format, default, example(s), description, title,
# discriminator, readOnly, writeOnly, xml, deprecated, x-*) is an annotation and dropped.
_PLAIN = frozenset(
    {
        "type",
        "enum",
        "const",
        "multipleOf",
        "maximum",
        "minimum",
        "maxLength",
        "minLength",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
        "required",
        "dependentRequired",
    }
)
_SUBSCHEMA = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
        "unevaluatedProperties",
        "unevaluatedItems",
        "additionalItems",
    }
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})


def _plain_value(value: Any) -> Any:
    # YAML turns unquoted dates into date objects; JSON has only their text.
    if isinstance(value, list):
        return [_plain_value(v) for v in value]
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()
    return value


class _Converter:
    """Converts the schemas reachable from one node; referenced schemas land in ``$defs``."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.defs: dict[str, Any] = {}

    def schema(self, spec: Spec, node: Any) -> Any:
        if isinstance(node, bool):
            return node
        if not isinstance(node, Mapping):
            return {}  # a malformed schema constrains nothing (lenient)
        if "$ref" in node:
            target = {"$ref": self.ref(spec, str(node["$ref"]))}
            # OpenAPI 3.0 ignores siblings of $ref, but nullable beside a $ref means "or null".
            return {"anyOf": [{"type": "null"}, target]} if node.get("nullable") is True else target
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _PLAIN:
                out[key] = _plain_value(value)
            elif key in _SUBSCHEMA:
                out[key] = self.schema(spec, value)
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                out[key] = [self.schema(spec, item) for item in value]
            elif key in _SCHEMA_MAPS and isinstance(value, Mapping):
                out[key] = {str(name): self.schema(spec, item) for name, item in value.items()}
            elif key == "pattern" and isinstance(value, str):
                try:
                    re.compile(value)
                except re.error:
                    continue  # a Java-only regex: not checked
                out[key] = value
        # OpenAPI 3.0 boolean exclusive bounds -> JSON Schema numbers.
        for bound, limit in (("exclusiveMaximum", "maximum"), ("exclusiveMinimum", "minimum")):
            value = node.get(bound)
            if value is True and limit in out:
                out[bound] = out.pop(limit)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                out[bound] = value
        if isinstance(out.get("type"), str) and out["type"] not in (
            "string",
            "number",
            "integer",
            "boolean",
            "array",
            "object",
            "null",
        ):
            del out["type"]  # an unknown type name constrains nothing
        if node.get("nullable") is True:
            out = self._or_null(out)
        return out

    @staticmethod
    def _or_null(out: dict[str, Any]) -> dict[str, Any]:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list):
            if "null" not in kind:
                out["type"] = [*kind, "null"]
        elif any(k in out for k in ("allOf", "anyOf", "oneOf")):
            return {"anyOf": [{"type": "null"}, out]}
        return out

    def ref(self, spec: Spec, ref: str) -> str:
        target_spec, pointer = spec.ref_target(ref)
        key = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{target_spec.path.stem}{pointer.replace('/', '.')}")
        if key not in self.defs:
            self.defs[key] = {}  # placeholder: recursive schemas refer to themselves
            self.defs[key] = self.schema(target_spec, target_spec.resolve_pointer(pointer))
        return f"#/$defs/{key}"


# --------------------------------------------------------------------------------------------------
# Specs and operations
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    """An operation of a spec, found for a concrete path (``params``: its path parameter values)."""

    spec: Spec
    method: str
    template: str
    node: Mapping[str, Any]
    path_item: Mapping[str, Any]
    params: Mapping[str, str]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.template} ({self.spec.name})"

    def parameters(self) -> dict[tuple[str, str], Mapping[str, Any]]:
        """Declared parameters by (location, name); the operation's override the path item's."""
        out: dict[tuple[str, str], Mapping[str, Any]] = {}
        for source in (self.path_item.get("parameters") or [], self.node.get("parameters") or []):
            for raw in source:
                param = self.spec.deref(raw)
                if isinstance(param, Mapping) and "name" in param and "in" in param:
                    out[(str(param["in"]), str(param["name"]))] = param
        return out

    def request_body(self) -> Mapping[str, Any] | None:
        body = self.node.get("requestBody")
        return self.spec.deref(body) if body is not None else None

    def response(self, status: int) -> tuple[str | None, Mapping[str, Any] | None]:
        """The response declared for ``status`` (exact, ``4XX``-style, then ``default``)."""
        responses = {str(k).upper(): v for k, v in (self.node.get("responses") or {}).items()}
        for key in (str(status), f"{status // 100}XX", "DEFAULT"):
            if key in responses:
                return key.lower(), self.spec.deref(responses[key])
        return None, None

    def declared_statuses(self) -> list[str]:
        return [str(k) for k in (self.node.get("responses") or {})]


class Spec:
    """One parsed spec file with its path index and compiled-schema cache."""

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self.name = path.name
        self.doc = doc
        self._validators: dict[int, Draft202012Validator] = {}
        self.bases = self._bases()
        self._literal: dict[str, Mapping[str, Any]] = {}
        self._templated: list[tuple[re.Pattern[str], str, Mapping[str, Any]]] = []
        for template, item in (doc.get("paths") or {}).items():
            if not isinstance(item, Mapping):
                continue
            if "{" in template:
                parts = re.split(r"(\{[^}/]+\})", template)
                regex = "".join("([^/]+)" if part.startswith("{") else re.escape(part) for part in parts)
                self._templated.append((re.compile(f"^{regex}$"), template, item))
            else:
                self._literal[template] = item
        # Fewer parameters first: /jobs/list beats /jobs/{jobId} when both could match.
        self._templated.sort(key=lambda entry: (entry[1].count("{"), entry[1]))

    def __repr__(self) -> str:
        return f"Spec({self.name})"

    def _bases(self) -> tuple[str, ...]:
        bases = set()
        for server in self.doc.get("servers") or []:
            base = urlsplit(str(server.get("url", ""))).path.rstrip("/")
            bases.add(base)
            if base and not base.startswith("/api"):
                bases.add(OSS_PUBLIC_PREFIX + base)  # Cloud's /v1 is /api/public/v1 on OSS
        return tuple(sorted(bases, key=len, reverse=True))

    # -- references ---------------------------------------------------------------------------
    def ref_target(self, ref: str) -> tuple[Spec, str]:
        """The spec and JSON pointer a ``$ref`` names (another file of the same folder too)."""
        file_part, _, pointer = ref.partition("#")
        spec = _load(self.path.parent / file_part) if file_part else self
        return spec, pointer

    def resolve_pointer(self, pointer: str) -> Any:
        node: Any = self.doc
        for raw in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def deref(self, node: Any) -> Any:
        """Follow ``$ref`` chains of a non-schema object (parameter, response, request body)."""
        spec = self
        for _ in range(20):
            if not (isinstance(node, Mapping) and "$ref" in node):
                return node
            spec, pointer = spec.ref_target(str(node["$ref"]))
            node = spec.resolve_pointer(pointer)
        raise ValueError(f"{self.name}: $ref chain too long")

    def schema_type(self, schema: Any) -> Any:
        """The ``type`` of a schema after following ``$ref`` (for coercing query text)."""
        schema = self.deref(schema)
        return schema.get("type") if isinstance(schema, Mapping) else None

    # -- schemas ------------------------------------------------------------------------------
    def validator(self, schema: Any) -> Draft202012Validator:
        """A JSON Schema validator for an OpenAPI schema node of this spec (compiled once)."""
        key = id(schema)
        found = self._validators.get(key)
        if found is None:
            converter = _Converter(self)
            root = converter.schema(self, schema)
            if not isinstance(root, dict):
                root = {} if root is True else {"not": {}}
            root = {**root, "$defs": converter.defs}
            found = Draft202012Validator(root)  # no format checker: formats are not checked
            self._validators[key] = found
        return found

    def component_schema(self, name: str) -> Any:
        return (self.doc.get("components") or {}).get("schemas", {}).get(name)

    def check(self, schema: Any, instance: Any, where: str, prefix: str = "") -> list[Violation]:
        out = []
        for error in self.validator(schema).iter_errors(instance):
            message = error.message
            if error.context:
                deepest = best_match(error.context)
                message = f"{message}; closest: {_pointer(deepest.absolute_path) or '/'}: {deepest.message}"
            pointer = prefix + _pointer(error.absolute_path)
            out.append(Violation(where, pointer, _short(message)))
        return sorted(out, key=lambda v: (v.pointer, v.message))

    # -- operations ---------------------------------------------------------------------------
    def relative_path(self, path: str) -> str | None:
        """The spec path of a concrete request path (server base stripped), if under a base."""
        for base in self.bases:
            if not base:
                return path
            if path == base or path.startswith(base + "/"):
                return path[len(base) :] or "/"
        return None

    def find(self, method: str, path: str) -> tuple[Operation | None, str]:
        """The operation for ``method`` and concrete ``path``, or ``None`` and why not."""
        relative = self.relative_path(urlsplit(path).path)
        if relative is None:
            return None, f"{path} is not under this spec's server base ({', '.join(self.bases)})"
        candidates: list[tuple[str, Mapping[str, Any], dict[str, str]]] = []
        if relative in self._literal:
            candidates.append((relative, self._literal[relative], {}))
        for regex, template, item in self._templated:
            match = regex.match(relative)
            if match:
                names = re.findall(r"\{([^}/]+)\}", template)
                candidates.append((template, item, dict(zip(names, match.groups(), strict=True))))
        if not candidates:
            return None, f"no path of {self.name} matches {relative}"
        allowed = []
        for template, item, params in candidates:
            node = item.get(method.lower())
            if isinstance(node, Mapping):
                return Operation(self, method.lower(), template, node, item, params), ""
            allowed += [m.upper() for m in METHODS if m in item]
        return (
            None,
            f"{relative} has no {method.upper()} operation in {self.name} (only {', '.join(allowed)})",
        )

    def has_operation(self, method: str, path: str) -> bool:
        return self.find(method, path)[0] is not None

    @property
    def problems(self) -> Spec | None:
        """The problems spec beside this one (public API error bodies), if the file is there."""
        if self.name == PROBLEMS_2026:
            return self
        path = self.path.parent / PROBLEMS_2026
        return _load(path) if path.is_file() else None


# --------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------
def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _coerce(spec: Spec, schema: Any, text: str) -> Any:
    """Query/path text as the schema's type (text that does not convert stays text: the check says so)."""
    kind = spec.schema_type(schema)
    kinds = kind if isinstance(kind, list) else [kind]
    try:
        if "integer" in kinds and re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if "number" in kinds:
            return float(text)
    except ValueError:
        return text
    if "boolean" in kinds and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _query_values(query: Mapping[str, Any] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in (query or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        out[str(name)] = [str(v) for v in values]
    return out


def _check_parameter(
    operation: Operation, param: Mapping[str, Any], values: list[str], pointer: str
) -> list[Violation]:
    spec = operation.spec
    schema = param.get("schema")
    if schema is None:
        return []
    if spec.schema_type(schema) == "array":
        items = spec.deref(schema).get("items")
        # form style, explode or not: ?ids=a&ids=b and ?ids=a,b both mean [a, b]
        instance: Any = [_coerce(spec, items, part) for v in values for part in v.split(",") if part]
    elif len(values) > 1:
        return [
            Violation("request", pointer, f"sent {len(values)} times, declared as one value", "parameter")
        ]
    else:
        instance = _coerce(spec, schema, values[0])
    found = spec.check(schema, instance, "request")
    return [Violation("request", pointer, f"{instance!r}: {v.message}", v.kind) for v in found]


def validate_request(
    spec: Spec,
    method: str,
    path: str,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
    content_type: str | None = JSON,
) -> list[Violation]:
    """Check a request: operation exists, parameters declared and valid, body fits its schema.

    ``query`` maps names to a value or a list of values; ``body`` is the parsed JSON (or a form
    body as text or a mapping); ``content_type`` the request's Content-Type header.
    """
    operation, why = spec.find(method, path)
    if operation is None:
        return [Violation("request", "", why, "operation")]
    out: list[Violation] = []
    declared = operation.parameters()
    for (location, name), param in declared.items():
        if location == "path":
            value = operation.params.get(name)
            if value is not None:
                out += _check_parameter(operation, param, [value], "{" + name + "}")
    values = _query_values(query)
    for name, given in values.items():
        param = declared.get(("query", name))
        if param is None:
            known = sorted(n for (loc, n) in declared if loc == "query")
            out.append(
                Violation(
                    "request",
                    f"?{name}",
                    f"query parameter not declared by {operation.name} "
                    f"(declared: {', '.join(known) or 'none'})",
                    "parameter",
                )
            )
        else:
            out += _check_parameter(operation, param, given, f"?{name}")
    for (location, name), param in declared.items():
        if location == "query" and param.get("required") and name not in values:
            out.append(Violation("request", f"?{name}", "required query parameter missing", "parameter"))
    out += _check_request_body(operation, body, content_type)
    return out


def _check_request_body(operation: Operation, body: Any, content_type: str | None) -> list[Violation]:
    spec = operation.spec
    declared = operation.request_body()
    empty = body is None or body == "" or body == b""
    if declared is None:
        if empty:
            return []
        return [Violation("request", "", f"{operation.name} takes no request body", "content-type")]
    if empty:
        if declared.get("required"):
            return [Violation("request", "", f"{operation.name} requires a request body", "schema")]
        return []
    content = declared.get("content") or {}
    media = _media_type(content_type) or JSON
    if media not in content:
        return [
            Violation(
                "request",
                "",
                f"content type {media} not accepted (accepts: {', '.join(content)})",
                "content-type",
            )
        ]
    if media == FORM and isinstance(body, (str, bytes)):
        text = body.decode() if isinstance(body, bytes) else body
        body = dict(parse_qsl(text, keep_blank_values=True))
    schema = (content.get(media) or {}).get("schema")
    return spec.check(schema, body, "request") if schema is not None else []


# --------------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _problem_index(problems: Spec) -> dict[str, dict[str, Any]]:
    """Problem schema name -> the constants its ``default`` values fix (status, type, title, detail)."""
    index: dict[str, dict[str, Any]] = {}
    for name, schema in ((problems.doc.get("components") or {}).get("schemas") or {}).items():
        constants: dict[str, Any] = {}
        _collect_defaults(problems, schema, constants, depth=0)
        if "title" in constants and "type" in constants:
            index[name] = constants
    return index


def _collect_defaults(spec: Spec, schema: Any, out: dict[str, Any], depth: int) -> None:
    if depth > 10:
        return
    schema = spec.deref(schema)
    if not isinstance(schema, Mapping):
        return
    for part in schema.get("allOf") or []:
        _collect_defaults(spec, part, out, depth + 1)  # later parts override (base first)
    for name in ("status", "type", "title", "detail"):
        prop = (schema.get("properties") or {}).get(name)
        if isinstance(prop, Mapping) and "default" in prop:
            out[name] = prop["default"]


def validate_problem(problems: Spec, status: int | None, body: Any) -> list[Violation]:
    """Check an RFC 9457 problem body against the problem it names (by ``title``, then ``type``)."""
    if not isinstance(body, Mapping):
        return [
            Violation(
                "response", "", f"a problem body must be a JSON object, not {type(body).__name__}", "problem"
            )
        ]
    index = _problem_index(problems)
    title, kind = body.get("title"), body.get("type")
    candidates = [n for n, c in index.items() if c["title"] == title]
    if len(candidates) > 1:
        candidates = [n for n in candidates if index[n]["type"] == kind] or candidates
    if not candidates:
        by_type = [n for n, c in index.items() if c["type"] == kind]
        candidates = by_type if len(by_type) == 1 else []
    out: list[Violation] = []
    if not candidates:
        out.append(
            Violation(
                "response",
                "/title",
                f"no problem of {problems.name} has title {title!r} / type {kind!r}",
                "problem",
            )
        )
        base = problems.component_schema("BaseProblemFields")
        return out + (problems.check(base, body, "response") if base is not None else [])
    name = candidates[0]
    out += problems.check(problems.component_schema(name), body, "response")
    # "default values in ProblemResponse objects are considered constants for a given problem type"
    for field_name, expected in index[name].items():
        if field_name in body and body[field_name] != expected:
            out.append(
                Violation(
                    "response",
                    f"/{field_name}",
                    f"{body[field_name]!r} is not {name}'s constant {expected!r}",
                    "problem",
                )
            )
    if status is not None and body.get("status") not in (None, status):
        out.append(
            Violation(
                "response", "/status", f"{body['status']!r} differs from HTTP status {status}", "problem"
            )
        )
    return out


def validate_response(
    spec: Spec,
    method: str,
    path: str,
    status: int,
    content_type: str | None,
    body: Any,
) -> list[Violation]:
    """Check a response: status declared (else ``default``), body fits that response's schema.

    An undeclared status is reported (kind ``status``) and its body still checked: a problem body
    against its problem, a config API JSON body against the spec's ``KnownExceptionInfo``.
    """
    operation, why = spec.find(method, path)
    if operation is None:
        return [Violation("response", "", why, "operation")]
    media = _media_type(content_type)
    out: list[Violation] = []
    is_problem = media == PROBLEM
    _key, declared = operation.response(status)
    if declared is None:
        out.append(
            Violation(
                "response",
                "",
                f"HTTP {status} is not declared for {operation.name} "
                f"(declared: {', '.join(operation.declared_statuses())})",
                "status",
            )
        )
        if is_problem:
            problems = spec.problems
            return out + (validate_problem(problems, status, body) if problems else [])
        generic = spec.component_schema("KnownExceptionInfo")
        if media == JSON and generic is not None and isinstance(body, Mapping):
            out += [
                Violation(v.where, v.pointer, f"(as KnownExceptionInfo) {v.message}", v.kind)
                for v in spec.check(generic, body, "response")
            ]
        return out
    content = declared.get("content") or {}
    if media in content:
        schema = (content.get(media) or {}).get("schema")
        if schema is not None:
            if body is None:
                out.append(Violation("response", "", f"{media} body declared, none sent", "schema"))
            else:
                out += spec.check(schema, body, "response")
    elif is_problem:
        pass  # checked below, against the problems spec
    elif content and body not in (None, "", b""):
        out.append(
            Violation(
                "response",
                "",
                f"content type {media or 'none'} not declared for HTTP {status} "
                f"(declared: {', '.join(content)})",
                "content-type",
            )
        )
    if is_problem:
        problems = spec.problems
        if problems is not None:
            out += validate_problem(problems, status, body)
    return out


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def validate_exchange(spec: Spec, exchange: Mapping[str, Any]) -> list[Violation]:
    """Check one recorded exchange (the emulator's ``exchanges()`` shape): request, then response."""
    method, path = exchange["method"], exchange["path"]
    out = validate_request(
        spec,
        method,
        path,
        exchange.get("query"),
        exchange.get("request_body"),
        _header(exchange.get("request_headers"), "content-type"),
    )
    if exchange.get("status") is not None:
        out += validate_response(
            spec,
            method,
            path,
            int(exchange["status"]),
            _header(exchange.get("response_headers"), "content-type"),
            exchange.get("response_body"),
        )
    return out
