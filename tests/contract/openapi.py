"""Airbyte's published OpenAPI specs as `openapi-core <https://openapi-core.readthedocs.io>`_ validators.

The specs are validated as published except for :func:`patch_spec`, a small adapter that corrects
what the real server does differently (each patch names its reason) before openapi-core builds the
validator. :func:`validate_exchange` checks one exchange recorded by the emulator: the request
(operation, parameters, body) and the response (status, content type, body) against one spec, and
answers a list of :class:`Violation` (empty: the exchange follows the contract).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from jsonschema.exceptions import ValidationError
from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import ParameterValidationError

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
#: The request host is irrelevant: the patched specs name their servers by base path only.
HOST = "http://airbyte.invalid"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def specs_dir() -> Path:
    """The folder of spec files: ``$AIRBYTE_API_SPECS`` if set, else ``tests/contract/specs``."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured).expanduser() if configured else DEFAULT_DIR


def missing_specs(directory: Path | None = None, names: Iterable[str] = SPEC_FILES) -> list[str]:
    """Names of the spec files absent from ``directory``."""
    directory = directory or specs_dir()
    return [name for name in names if not (directory / name).is_file()]


# --------------------------------------------------------------------------------------------------
# The adapter: where the real server and its published spec disagree
# --------------------------------------------------------------------------------------------------
def _known_exception(says: str) -> dict[str, Any]:
    """A config API error body whose ``message`` carries ``says`` (case-insensitive)."""
    return {
        "allOf": [
            {"$ref": "#/components/schemas/KnownExceptionInfo"},
            {"properties": {"message": {"type": "string", "pattern": f"(?i){says}"}}},
        ]
    }


def _problem(*names: str) -> dict[str, Any]:
    return {"anyOf": [{"$ref": f"#/components/schemas/{name}"} for name in names]}


_CONFIG_SPECS = (CONFIG_2026, CONFIG_2022)
_PUBLIC_JOBS = ((PUBLIC_2026, "/jobs"), (CONFIG_2026, "/public/v1/jobs"))
#: (spec, method, path, status, content type, body schema): answers of the real server that its spec
#: does not declare, each from a fact of the Airbyte API notes (``specs/README.md``).
UNDECLARED_ANSWERS: list[tuple[str, str, str, str, str, dict[str, Any]]] = [
    # "A second sync while one is running answers 409" (since July 2022; the spec lists 200/404/422).
    *(
        (spec, "post", f"/v1/connections/{op}", "409", JSON, _known_exception("already running"))
        for spec in _CONFIG_SPECS
        for op in ("sync", "reset", "clear")
    ),
    # "Syncing an inactive connection answers 500 'Can only sync an active connection'".
    *(
        (spec, "post", f"/v1/connections/{op}", "500", JSON, _known_exception("active connection"))
        for spec in _CONFIG_SPECS
        for op in ("sync", "reset", "clear")
    ),
    # "An unknown job id on jobs/get or jobs/cancel answers 500 'Could not find job with id'".
    *(
        (spec, "post", f"/v1/jobs/{op}", "500", JSON, _known_exception("could not find job"))
        for spec in _CONFIG_SPECS
        for op in ("get", "get_light", "get_without_logs", "cancel")
    ),
    # "Wrong credentials: 400 'Invalid client id or token' on OSS" (the spec lists 200/422).
    (CONFIG_2026, "post", "/v1/applications/token", "400", JSON, _known_exception("invalid client id")),
    # "A sync already running answers 409 try-again-later"; "state-conflict 409s answer a sync of an
    # inactive connection and a cancel of a job that is not running".
    *(
        (
            spec,
            "post",
            path,
            "409",
            PROBLEM,
            _problem("TryAgainLaterConflictProblemResponse", "StateConflictProblemResponse"),
        )
        for spec, path in _PUBLIC_JOBS
    ),
    *(
        (spec, "delete", path + "/{jobId}", "409", PROBLEM, _problem("StateConflictProblemResponse"))
        for spec, path in _PUBLIC_JOBS
    ),
]
_OPERATIONS = ("get", "put", "post", "delete", "patch")


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping of a parsed document, depth first."""
    if isinstance(node, dict):
        yield node
        for value in list(node.values()):
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _resolves(doc: Mapping[str, Any], ref: str) -> bool:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def patch_spec(name: str, doc: dict[str, Any], problems: dict[str, Any] | None = None) -> dict[str, Any]:
    """Patch the parsed spec ``name`` in place so that it describes the real server; answers ``doc``.

    ``problems`` is the parsed problems spec (changed too): its schemas join the public API specs,
    whose errors are RFC 9457 problems the specs declare without a body.
    """
    openapi_31 = str(doc.get("openapi", "")).startswith("3.1")
    for node in _walk(doc):
        # Spec bug: the 3.1 public spec marks fields with 3.0's `nullable`, which 3.1 ignores.
        if openapi_31 and node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
            del node["nullable"]
        # Spec bug: `default: null` on schemas that are not nullable (no strict loader accepts it).
        if "default" in node and node["default"] is None and "type" in node and not node.get("nullable"):
            del node["default"]
        # Spec bug: two operations of the public spec (never called here) $ref components that do
        # not exist; a description alone is a valid response and a valid schema.
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and not _resolves(doc, ref):
            node.clear()
            node["description"] = "a $ref to nothing in the published spec"
    # Spec bug: the token request requires `grant_type` but spells the property `grant-type`, so a
    # form body's grant_type would be dropped before validation.
    token_request = doc["components"]["schemas"].get("ApplicationTokenRequestWithGrant", {})
    if "grant-type" in token_request.get("properties", {}):
        token_request["properties"]["grant_type"] = token_request["properties"].pop("grant-type")
    # The emulator serves on any host: keep the servers' base paths only. OSS serves the Cloud API
    # (`/v1`) under `/api/public/v1` since v0.52 (README).
    doc["servers"] = (
        [{"url": "/api"}] if name in _CONFIG_SPECS else [{"url": "/v1"}, {"url": "/api/public/v1"}]
    )
    paths = doc["paths"]
    for spec, method, path, status, media, schema in UNDECLARED_ANSWERS:
        if spec == name and method in paths.get(path, {}):
            responses = paths[path][method]["responses"]
            responses.setdefault(status, {"description": "answered by the real server"})
            responses[status].setdefault("content", {})[media] = {"schema": schema}
    if problems is None or name not in (PUBLIC_2026, CONFIG_2026):
        return doc
    schemas = doc["components"]["schemas"]
    by_status: dict[str, list[str]] = {}  # HTTP status -> the problems answered with it
    for schema_name, schema in problems["components"]["schemas"].items():
        schemas.setdefault(schema_name, schema)
        for part in schema.get("allOf", []):
            fields = part.get("properties") or {}
            # Problems spec: "default values in ProblemResponse objects are considered constants".
            for field in ("status", "type", "title", "detail"):
                if "default" in fields.get(field, {}):
                    fields[field]["enum"] = [fields[field]["default"]]
            if "default" in fields.get("status", {}):
                by_status.setdefault(str(fields["status"]["default"]), []).append(schema_name)
    for path, item in paths.items():
        if name == CONFIG_2026 and not path.startswith("/public/"):
            continue
        for method in _OPERATIONS:
            responses = (item.get(method) or {}).get("responses", {})
            # README: "a missing or expired token answers a 401 invalid-api-key problem" everywhere.
            responses.setdefault("401", {"description": "invalid or expired token"})
            for status, response in responses.items():
                # README: "Errors are application/problem+json": the spec declares them without a body.
                if str(status)[0] in "45" and "$ref" not in response and not response.get("content"):
                    names = by_status.get(str(status), ["BaseProblemFields"])
                    response["content"] = {PROBLEM: {"schema": _problem(*names)}}
    return doc


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------
def _parse(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        doc = yaml.load(handle, Loader=_Loader)  # noqa: S506 - a safe loader (C or pure Python)
    if not isinstance(doc, dict):
        raise ValueError(f"{path.name} is not an OpenAPI document")
    return doc


@dataclass(frozen=True)
class Api:
    """One patched spec file and its openapi-core validator."""

    name: str
    openapi: OpenAPI

    def _operation(self, method: str, path: str) -> Any:
        try:
            return APICallPathFinder(self.openapi.spec).find(method.lower(), HOST + path.split("?")[0])
        except PathError:
            return None

    def find(self, method: str, path: str) -> str | None:
        """``"post /v1/jobs/list"``: the operation of ``method`` and concrete ``path``, if any."""
        found = self._operation(method, path)
        return None if found is None else f"{method.lower()} {found.path_result.pattern}"

    def declared_query(self, method: str, path: str) -> set[str] | None:
        """Names of the query parameters the operation declares (``None``: no such operation)."""
        found = self._operation(method, path)
        if found is None:
            return None
        empty = SchemaPath.from_dict({})
        params = [*found.path.get("parameters", empty), *found.operation.get("parameters", empty)]
        return {(p / "name").read_str() for p in params if (p / "in").read_str() == "query"}


def patched_spec(name: str, directory: Path | None = None) -> dict[str, Any]:
    """The spec file ``name`` of ``directory``, parsed and patched by :func:`patch_spec`."""
    directory = directory or specs_dir()
    problems = _parse(directory / PROBLEMS_2026) if (directory / PROBLEMS_2026).is_file() else None
    return patch_spec(name, _parse(directory / name), problems)


def load_api(name: str, directory: Path | None = None) -> Api:
    """The patched spec file ``name`` of ``directory`` as an openapi-core validator (once per process).

    The patched spec is not itself validated here (seconds per spec): ``test_contract`` does it once.
    """
    return _load((directory or specs_dir()).resolve(), name)


@cache
def _load(directory: Path, name: str) -> Api:
    config = Config(
        spec_validator_cls=None,
        # Problem bodies are JSON; openapi-core knows only application/json by that name.
        extra_media_type_deserializers={PROBLEM: lambda value, **_: json.loads(value)},
    )
    doc = patched_spec(name, directory)
    return Api(name, OpenAPI.from_dict(doc, config=config, base_uri=(directory / name).as_uri()))


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Violation:
    """One way an exchange breaks the contract: ``where`` (request or response), ``kind`` (the
    openapi-core error, e.g. ``PathNotFound``, ``InvalidRequestBody``, ``ResponseNotFound``) and a
    message naming what broke (a parameter, or a JSON pointer into the body)."""

    where: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.where} {self.kind}: {self.message}"


#: A credential's value inside a message (JSON, Python repr or form text): masked.
_SECRET = re.compile(r"""((?:client_secret|access_token|password)['"]?\s*[:=]\s*)(['"]?)[^'"&,}\s]+\2""")


def _short(text: str, limit: int = 300) -> str:
    """``text`` without credentials, cut to ``limit`` characters."""
    text = _SECRET.sub(r"\1\2***\2", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _schema_messages(error: ValidationError) -> list[str]:
    """`` /pointer: message`` for a schema error; for anyOf/oneOf, the errors of the closest branch."""
    if not error.context:
        pointer = "".join(f"/{part}" for part in error.absolute_path)
        return [f"{' ' + pointer if pointer else ''}: {error.message}"]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    closest = min(branches.values(), key=len)  # the branch the value comes nearest to fitting
    return [message for sub in closest for message in _schema_messages(sub)]


def _violations(where: str, errors: Iterable[Exception]) -> list[Violation]:
    out = []
    for error in errors:
        kind = type(error).__name__
        cause = error.__cause__
        if isinstance(error, ParameterValidationError):
            head = f"{error.location} parameter {error.name}"
        else:
            head = "body"
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            for schema_error in schema_errors:
                out += [Violation(where, kind, _short(head + m)) for m in _schema_messages(schema_error)]
        elif isinstance(error, ParameterValidationError):
            out.append(Violation(where, kind, _short(f"{head}: {cause or error}")))
        else:
            out.append(Violation(where, kind, _short(str(cause or error))))
    return out


def _encode(body: Any, media: str) -> bytes:
    if body is None or isinstance(body, bytes):
        return body or b""
    if isinstance(body, str):
        return body.encode()
    return urlencode(body).encode() if media == FORM else json.dumps(body).encode()


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _request(
    method: str, path: str, query: Mapping[str, Any] | None, body: Any, content_type: str | None
) -> MockRequest:
    media = _media_type(content_type) or JSON
    args = {k: v if isinstance(v, (list, tuple)) else [v] for k, v in (query or {}).items()}
    flat = [(k, str(v)) for k, values in args.items() for v in values]
    return MockRequest(
        HOST, method, path.split("?")[0], args=flat, data=_encode(body, media), content_type=media
    )


def validate_request(
    api: Api,
    method: str,
    path: str,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
    content_type: str | None = JSON,
) -> list[Violation]:
    """Check a request: the operation exists, its parameters and body fit the spec.

    ``query`` maps names to a value or a list of values; ``body`` is the parsed JSON (or a form body
    as text or a mapping). Undeclared query parameters are reported too (openapi-core ignores them).
    """
    request = _request(method, path, query, body, content_type)
    out = _violations("request", api.openapi.iter_request_errors(request))
    declared = api.declared_query(method, path)
    if declared is not None:  # else the operation is missing, reported above
        for name in sorted(set(query or {}) - declared):
            out.append(Violation("request", "UndeclaredParameter", f"query parameter {name} not declared"))
    return out


def validate_response(
    api: Api, method: str, path: str, status: int, content_type: str | None, body: Any
) -> list[Violation]:
    """Check a response: its status is declared (or ``default``), its body fits that answer's schema."""
    media = _media_type(content_type)
    request = _request(method, path, None, None, JSON)
    response = MockResponse(_encode(body, media), status_code=status, content_type=media)
    return _violations("response", api.openapi.iter_response_errors(request, response))


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    return next((str(v) for k, v in (headers or {}).items() if k.lower() == name), None)


def validate_exchange(api: Api, exchange: Mapping[str, Any], check_request: bool = True) -> list[Violation]:
    """Check one recorded exchange (the emulator's ``exchanges()`` shape): request, then response."""
    method, path = exchange["method"], exchange["path"]
    out = []
    if check_request:
        content_type = _header(exchange.get("request_headers"), "content-type")
        out += validate_request(
            api, method, path, exchange.get("query"), exchange.get("request_body"), content_type
        )
    if exchange.get("status") is not None:
        content_type = _header(exchange.get("response_headers"), "content-type")
        out += validate_response(
            api, method, path, int(exchange["status"]), content_type, exchange.get("response_body")
        )
    return out
