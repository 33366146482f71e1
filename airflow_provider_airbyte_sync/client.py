"""The one place that knows Airbyte's HTTP API: pure code, no sockets, no sleeping.

Two dialects speak to Airbyte: the *config* API (OSS ``/api/v1``, every call a POST with a JSON
body) and the *public* API (Cloud ``https://api.airbyte.com/v1``, OSS ``/api/public/v1``). Each
operation is a *flow*: a generator that yields :class:`Request` values and receives
:class:`Response` values, then returns a result or raises one of :mod:`.errors`. The sync hook and
the async trigger each drive the same flows with their own transport, so paths, payloads, fallbacks
and the status rule are written once (the "sans-I/O" style of h11).
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import time
import uuid
from collections.abc import Generator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from airflow_provider_airbyte_sync.errors import (
    AirbyteAuthError,
    AirbyteConfigError,
    AirbyteConnectionNotActive,
    AirbyteConnectionNotFound,
    AirbyteJobNotFound,
    AirbyteSyncAlreadyRunning,
    AirbyteUnexpectedAnswer,
    AirbyteUnreachable,
    Outcome,
)

if TYPE_CHECKING:
    import ssl

T = TypeVar("T")

# --------------------------------------------------------------------------------------------------
# The status rule: the only place that says what each job status means.
# --------------------------------------------------------------------------------------------------
IN_PROGRESS = frozenset({"pending", "queued", "running", "incomplete"})
SUCCEEDED = "succeeded"
FAILED = frozenset({"failed", "cancelled"})
JOB_TYPES = ("sync", "reset", "clear")
# A status Airbyte adds later (it added ``queued`` in 2026) is watched for this long before failing.
UNKNOWN_STATUS_GRACE_S = 600.0

State = Literal["in_progress", "succeeded", "failed", "unknown"]


def same_kind(asked: str, job_type: str) -> bool:
    """Whether a job of ``job_type`` is what a request for ``asked`` creates (clear succeeded reset)."""
    kinds = {"reset": "clear"}
    return kinds.get(asked, asked) == kinds.get(job_type, job_type)


def job_state(status: str) -> State:
    """Say what a job status means; a status we do not know is never success."""
    status = (status or "").lower()
    if status in IN_PROGRESS:
        return "in_progress"
    if status == SUCCEEDED:
        return "succeeded"
    if status in FAILED:
        return "failed"
    return "unknown"


# --------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AirbyteJob:
    """One Airbyte job, the same whatever API answered. Times are timezone-aware UTC.

    ``failure`` is Airbyte's reason for the last failed attempt ("origin/type: message"), known
    only from the config API; ``attempt_failures`` has one such line per failed attempt.
    ``started_at`` (config API only) is when the job left the queue and began to run.
    """

    job_id: int
    connection_id: str | None
    job_type: str
    status: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    rows_synced: int | None = None
    bytes_synced: int | None = None
    attempts: int = 0
    failure: str | None = None
    attempt_failures: tuple[str, ...] = ()

    @property
    def state(self) -> State:
        return job_state(self.status)

    @property
    def queued_s(self) -> float | None:
        """Seconds between creation and start, from Airbyte's own times (``None``: not known)."""
        if self.created_at is None or self.started_at is None:
            return None
        return max(0.0, (self.started_at - self.created_at).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON primitives (times as ISO-8601) for XCom and trigger events."""
        out = asdict(self)
        out["created_at"] = _iso(self.created_at)
        out["updated_at"] = _iso(self.updated_at)
        out["started_at"] = _iso(self.started_at)
        out["attempt_failures"] = list(self.attempt_failures)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AirbyteJob:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        return cls(
            job_id=int(data["job_id"]),
            connection_id=data.get("connection_id"),
            job_type=data.get("job_type") or "sync",
            status=data.get("status") or "",
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
            started_at=parse_time(data.get("started_at")),
            rows_synced=data.get("rows_synced"),
            bytes_synced=data.get("bytes_synced"),
            attempts=int(data.get("attempts") or 0),
            failure=data.get("failure"),
            attempt_failures=tuple(data.get("attempt_failures") or ()),
        )


@dataclass(frozen=True)
class AirbyteConnection:
    """An Airbyte connection (source -> destination), as much as this provider needs of it."""

    connection_id: str
    name: str
    status: str
    workspace_id: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


_JAVA_NO_SECONDS = re.compile(r"T(\d\d):(\d\d)(?=[Z+-]|$)")
# Epoch seconds this provider believes: 2000-01-01 to 2100-01-01. Milliseconds are not seconds.
_EPOCH_RANGE = (946_684_800, 4_102_444_800)


def parse_time(value: Any) -> datetime | None:
    """Read an Airbyte time: epoch seconds (config API) or Java ``OffsetDateTime`` text.

    Java drops zero seconds (``2023-03-25T01:30Z``) and writes ``Z``, which Python 3.10 rejects.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        if not (_EPOCH_RANGE[0] <= value <= _EPOCH_RANGE[1]):
            raise ValueError(f"not epoch seconds: {value!r}")
        return datetime.fromtimestamp(value, tz=timezone.utc)
    text = str(value).strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = _JAVA_NO_SECONDS.sub(r"T\1:\2:00", text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------------------------------
# Settings: how an Airflow connection reads. Pure, so hook and trigger read it the same way.
# --------------------------------------------------------------------------------------------------
CLOUD_API_HOST = "api.airbyte.com"
CLOUD_WEB_URL = "https://cloud.airbyte.com"
DEFAULT_PORT = 8000
AuthMode = Literal["none", "basic", "bearer", "client_credentials"]
Flavour = Literal["config", "public"]
_AUTH_MODES = ("none", "basic", "bearer", "client_credentials")


@dataclass(frozen=True)
class Settings:
    """Everything needed to talk to one Airbyte deployment. ``repr`` never shows a secret."""

    base_url: str
    flavour: Flavour
    auth: AuthMode = "none"
    login: str | None = None
    secret: str | None = field(default=None, repr=False)
    token_url: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    create_timeout: float = 180.0
    verify: bool | str = True
    proxies: Mapping[str, str] | None = field(default=None, repr=False)
    web_url: str | None = None
    config_api_url: str | None = None

    @cached_property
    def cache_key(self) -> tuple[str, str, str]:
        """Key of the process-wide token cache: token URL, client id and a digest of the secret.

        The secret belongs in the key: a token fetched with the right secret must not make a
        wrong one pass (the connection form's Test runs in the long-lived API server).
        """
        import hashlib

        digest = hashlib.sha256((self.secret or "").encode()).hexdigest()
        return (self.token_url or "", self.login or "", digest)

    def to_dict(self) -> dict[str, Any]:
        """JSON-primitive form, for tests and debugging; the secret is left out."""
        out = asdict(self)
        out.pop("secret")
        out["proxies"] = dict(self.proxies) if self.proxies else None
        return out


def _flag(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("0", "false", "no", "off")


def _number(extra: Mapping[str, Any], key: str, default: float, conn_id: str) -> float:
    value = extra.get(key)
    if value is None or value == "":
        return default
    try:
        return positive_seconds(key, value)
    except AirbyteConfigError:
        raise AirbyteConfigError(
            f"Airflow connection {conn_id!r}: extra field {key!r} must be a positive number of seconds, "
            f"not {value!r}."
        ) from None


def positive_seconds(name: str, value: Any) -> float:
    """A finite, positive number of seconds from a number or a numeric string, or a clear error.

    ``"60"`` (as ``Variable.get`` gives) reads as 60; ``nan``, ``inf``, booleans, zero and negatives
    are refused before anything is sent.
    """
    number = -1.0
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = -1.0
    if not (math.isfinite(number) and 0 < number <= MAX_SECONDS):
        raise AirbyteConfigError(
            f"{name} must be a positive number of seconds (at most {MAX_SECONDS:.0f}), not {value!r}."
        )
    return number


# Ten years: beyond this a deadline overflows Python's timedelta and datetime.
MAX_SECONDS = 10 * 365 * 86400.0


def _join(base: str, *parts: str) -> str:
    """Join URL path parts so a reverse-proxy base path survives (never ``urljoin``)."""
    out = base.rstrip("/")
    for part in parts:
        if part:
            out += "/" + part.strip("/")
    return out


def _proxies(value: Any, conn_id: str) -> dict[str, str] | None:
    if not value:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("{"):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise AirbyteConfigError(
                    f"Airflow connection {conn_id!r}: extra field 'proxies' is neither a URL nor JSON."
                ) from exc
        else:
            return {"http": value, "https": value}
    if not isinstance(value, Mapping):
        raise AirbyteConfigError(
            f"Airflow connection {conn_id!r}: 'proxies' must be a URL or a mapping of scheme to URL."
        )
    return {str(k).rstrip(":/"): str(v) for k, v in value.items()}


def _extra_value(extra: Mapping[str, Any], conn_type: str, key: str) -> Any:
    """Read an extra field stored bare (Airflow 3 forms) or prefixed (older forms)."""
    value = extra.get(key)
    if value in (None, ""):
        value = extra.get(f"extra__{conn_type}__{key}")
    return value


def settings_from_connection(
    *,
    conn_id: str,
    conn_type: str | None,
    host: str | None,
    port: int | None = None,
    login: str | None = None,
    password: str | None = None,
    schema: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Settings:
    """Read an Airflow connection of type ``airbyte_sync`` (ours) or ``airbyte`` (the official one).

    Ours: ``host`` is a hostname (port added, default 8000) or a full base URL (port never added);
    the API flavour is explicit or inferred (``auto``); see the README for every rule. The official
    type reads as the official provider reads it: ``host`` is the public API base URL, the port is
    ignored, ``schema`` is the token URL (default ``v1/applications/token``) and there is no auth
    unless both login and password are set.
    """
    extra = dict(extra or {})
    conn_type = conn_type or "airbyte_sync"
    if conn_type == "airbyte":
        return _official_settings(conn_id, host, login, password, schema, extra)

    def get(key: str) -> Any:
        return _extra_value(extra, conn_type, key)

    host = (host or "").strip() or "localhost"
    api_version = str(get("api_version") or "v1").strip("/")
    flavour_choice = str(get("api_type") or "auto").lower()
    if flavour_choice not in ("auto", "config", "public"):
        raise AirbyteConfigError(
            f"Airflow connection {conn_id!r}: api_type must be 'auto', 'config' or 'public', "
            f"not {flavour_choice!r}."
        )
    auth_choice = str(get("auth_type") or "auto").lower()
    if auth_choice not in ("auto", *_AUTH_MODES):
        raise AirbyteConfigError(
            f"Airflow connection {conn_id!r}: auth_type must be one of auto, {', '.join(_AUTH_MODES)}, "
            f"not {auth_choice!r}."
        )
    token = get("token")

    if "://" in host:
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AirbyteConfigError(
                f"Airflow connection {conn_id!r}: host {host!r} is not an http(s) URL or a hostname."
            )
        origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        path = parts.path.rstrip("/")
    else:
        if "/" in host or ":" in host:
            raise AirbyteConfigError(
                f"Airflow connection {conn_id!r}: host {host!r} must be a bare hostname (put the port in "
                "the Port field) or a full URL such as http://airbyte.example.com:8000/api/v1."
            )
        origin = f"http://{host}:{port or DEFAULT_PORT}"
        path = ""
    is_cloud = urlsplit(origin).hostname == CLOUD_API_HOST
    login = login or None
    password = password or None

    # Which API: an explicit choice wins, then the URL, then the credentials.
    if flavour_choice != "auto":
        flavour: Flavour = flavour_choice  # type: ignore[assignment]
    elif path.endswith(f"/api/public/{api_version}") or is_cloud:
        flavour = "public"
    elif path.endswith(f"/api/{api_version}"):
        flavour = "config"
    elif path.endswith(f"/{api_version}"):
        flavour = "public"  # OSS 0.50-0.51 served the public API on port 8006 at /v1
    elif auth_choice == "client_credentials" or (
        auth_choice == "auto" and not token and login and password and is_uuid(login)
    ):
        flavour = "public"
    else:
        flavour = "config"

    if path.endswith(f"/{api_version}"):
        base_url = origin + path  # the host already names the API root
    elif flavour == "public":
        base_url = _join(origin, path, "" if is_cloud else "api/public", api_version)
    else:
        base_url = _join(origin, path, "api", api_version)

    # Which auth: explicit, else inferred from what is filled in.
    if auth_choice != "auto":
        auth: AuthMode = auth_choice  # type: ignore[assignment]
    elif token:
        auth = "bearer"
    elif login and password:
        auth = "client_credentials" if flavour == "public" or is_uuid(login) else "basic"
    else:
        auth = "none"
    if auth == "basic" and not (login and password):
        raise AirbyteConfigError(
            f"Airflow connection {conn_id!r}: Basic auth needs both Login (user) and Password."
        )
    if auth == "client_credentials" and not (login and password):
        raise AirbyteConfigError(
            f"Airflow connection {conn_id!r}: client credentials need Login (client id) and "
            "Password (client secret)."
        )
    if auth == "bearer" and not token:
        raise AirbyteConfigError(
            f"Airflow connection {conn_id!r}: bearer auth needs the 'token' extra field."
        )

    token_url = get("token_url") or None
    if auth == "client_credentials" and not token_url:
        token_url = _join(base_url, "applications/token")
    elif token_url and "://" not in token_url:
        token_url = _join(origin, token_url)

    verify: bool | str = _flag(get("verify_ssl"), True)
    ca_bundle = get("ca_bundle")
    if verify and ca_bundle:
        verify = str(ca_bundle)

    ui_path = path.split("/api/")[0].removesuffix(f"/{api_version}")  # the UI lives beside the API
    web_url = get("web_url") or (CLOUD_WEB_URL if is_cloud else origin + ui_path)
    config_api_url = get("config_api_url") or _config_api_for(base_url, flavour, origin, api_version)
    return Settings(
        base_url=base_url,
        flavour=flavour,
        auth=auth,
        login=login if auth in ("basic", "client_credentials") else None,
        secret=(token if auth == "bearer" else password if auth != "none" else None),
        token_url=token_url if auth == "client_credentials" else None,
        connect_timeout=_number(extra, "connect_timeout", 10.0, conn_id),
        read_timeout=_number(extra, "read_timeout", 30.0, conn_id),
        create_timeout=_number(extra, "create_timeout", 180.0, conn_id),
        verify=verify,
        proxies=_proxies(get("proxies"), conn_id),
        web_url=str(web_url).rstrip("/"),
        config_api_url=config_api_url,
    )


def settings_from_airflow(conn: Any) -> Settings:
    """Settings of an Airflow ``Connection``; malformed extra JSON is an error, not an empty dict.

    Reads only the connection's attributes (no lookups, no masking): the same for hook and trigger.
    """
    extra: Any = {}
    if conn.extra:
        try:
            extra = json.loads(conn.extra)
        except ValueError as exc:
            raise AirbyteConfigError(
                f"Airflow connection {conn.conn_id!r}: the Extra field is not valid JSON ({exc.msg} at "
                f"position {exc.pos}). Fix it in Admin > Connections."
            ) from None
        if not isinstance(extra, dict):
            raise AirbyteConfigError(f"Airflow connection {conn.conn_id!r}: Extra must be a JSON object.")
    return settings_from_connection(
        conn_id=conn.conn_id,
        conn_type=conn.conn_type,
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        schema=conn.schema,
        extra=extra,
    )


def _config_api_for(base_url: str, flavour: Flavour, origin: str, api_version: str) -> str | None:
    """Where the config API lives beside a public API base (for failure reasons, which only it has)."""
    if flavour == "config":
        return base_url
    if urlsplit(origin).hostname == CLOUD_API_HOST:
        return _join(CLOUD_WEB_URL, "api", api_version)
    marker = f"/api/public/{api_version}"
    if base_url.endswith(marker):
        return base_url[: -len(marker)] + f"/api/{api_version}"
    return _join(origin, "api", api_version)


def _official_settings(
    conn_id: str,
    host: str | None,
    login: str | None,
    password: str | None,
    schema: str | None,
    extra: Mapping[str, Any],
) -> Settings:
    if not host or "://" not in host:
        raise AirbyteConfigError(
            f"Airflow connection {conn_id!r} (type 'airbyte'): host must be the Airbyte API base URL, "
            "e.g. https://api.airbyte.com/v1 or http://localhost:8000/api/public/v1."
        )
    base_url = host.rstrip("/")
    credentials = bool(login and password)
    token_url = schema or "v1/applications/token"
    if "://" not in token_url:
        # The official provider's SDK joins the token URL onto the server URL with urljoin.
        token_url = urljoin(base_url, token_url)
    origin = urlunsplit((*urlsplit(base_url)[:2], "", "", ""))
    is_cloud = urlsplit(base_url).hostname == CLOUD_API_HOST
    return Settings(
        base_url=base_url,
        flavour="public",
        auth="client_credentials" if credentials else "none",
        login=login if credentials else None,
        secret=password if credentials else None,
        token_url=token_url if credentials else None,
        proxies=_proxies(extra.get("proxies"), conn_id),
        web_url=CLOUD_WEB_URL if is_cloud else origin,
        config_api_url=_config_api_for(base_url, "public", origin, "v1"),
    )


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def check_connection_id(connection_id: Any) -> str:
    """The connection id in its one canonical form (lower-case UUID), or a clear error before any request."""
    if not isinstance(connection_id, str) or not is_uuid(connection_id.strip()):
        raise AirbyteConfigError(
            f"connection_id {connection_id!r} is not an Airbyte connection id: use the UUID from the "
            "connection's URL in the Airbyte UI (…/connections/<uuid>)."
        )
    return str(uuid.UUID(connection_id.strip()))


def normal_uuid(value: Any) -> str | None:
    """A UUID from an answer in canonical form; other text is kept as is, ``None`` stays ``None``."""
    if value is None:
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)


def check_job_type(job_type: Any) -> str:
    if job_type not in JOB_TYPES:
        raise AirbyteConfigError(f"job_type must be one of {', '.join(JOB_TYPES)}, not {job_type!r}.")
    return job_type


_DIGITS = re.compile(r"[0-9]+")


def job_id_or_none(value: Any) -> int | None:
    """A job id is a positive int, from an int or a string of digits only (``"1_0"`` is not 10)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
        return number if number > 0 else None
    return None


def check_job_id(job_id: Any) -> int:
    number = job_id_or_none(job_id)
    if number is None:
        raise AirbyteConfigError(
            f"airbyte_job_id {job_id!r} is not an Airbyte job id (a positive whole number, e.g. 42)."
        )
    return number


def job_url(settings: Settings, workspace_id: str | None, connection_id: str | None) -> str | None:
    """Link to a connection's job history in the Airbyte web UI."""
    if not (settings.web_url and workspace_id and connection_id):
        return None
    return f"{settings.web_url}/workspaces/{workspace_id}/connections/{connection_id}/job-history"


# --------------------------------------------------------------------------------------------------
# Requests and answers on the wire
# --------------------------------------------------------------------------------------------------
Kind = Literal["read", "create", "cancel", "token"]
# Answers are read up to this size, never further: a poll must not download a runaway body.
MAX_BODY_BYTES = 8 << 20


@dataclass(frozen=True)
class Request:
    """One HTTP request, relative to ``Settings.base_url`` unless ``url`` is absolute.

    ``kind`` picks the retry rule: reads and cancels are retried when safe, a create only on 429.
    """

    method: str
    url: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    form: Mapping[str, str] | None = field(default=None, repr=False)
    kind: Kind = "read"
    auth: bool = True

    def full_url(self, settings: Settings) -> str:
        url = self.url if "://" in self.url else _join(settings.base_url, self.url)
        if self.params:
            url += "?" + urlencode({k: v for k, v in self.params.items() if v is not None}, doseq=True)
        return url


@dataclass(frozen=True)
class Response:
    """An answer; ``status`` 0 means no answer arrived (``error`` says why)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    url: str = ""
    request_had_auth: bool = True
    too_large: bool = False  # the body passed MAX_BODY_BYTES and was not read further
    # False when no connection to the server was made (refused, connect timeout, TLS handshake):
    # the request never left, so nothing can have come of it.
    sent: bool = True

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8") or "null")

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers.items():
            if key.lower() == name:
                return value
        return None

    @property
    def is_html(self) -> bool:
        kind = (self.header("content-type") or "").lower()
        return "html" in kind or self.body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))


def airbyte_message(response: Response, limit: int = 300) -> str:
    """Airbyte's own words for an error answer, shortened; HTML pages are summarised, not quoted."""
    if response.status == 0:
        return response.error or "no answer"
    if response.too_large:
        return f"an answer larger than {MAX_BODY_BYTES >> 20} MB (not read further)"
    if response.is_html:
        return "an HTML page (a proxy or login page, not Airbyte's API)"
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return response.body[:limit].decode("utf-8", "replace").strip()
    if isinstance(body, Mapping):
        data = body.get("data") if isinstance(body.get("data"), Mapping) else {}
        for value in (data.get("message"), body.get("message"), body.get("detail"), body.get("title")):
            if value:
                return str(value)[:limit]
        if body.get("errorId"):
            return f"server error id {body['errorId']}"
    return json.dumps(body)[:limit]


def _problem_title(response: Response) -> str:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(body, Mapping):
        return ""
    return f"{body.get('title') or ''} {body.get('type') or ''}".lower()


_RUNNING_ID = re.compile(r"already running for:?\s*([0-9a-fA-F-]{36})")


def is_sync_running_conflict(response: Response) -> bool:
    """A 409 (or a pre-2022 500) that means "a sync is already running", by its words, not its code."""
    if response.status not in (409, 500):
        return False
    return "already running" in airbyte_message(response).lower() or (
        response.status == 409 and "try-again-later" in _problem_title(response)
    )


def _body(response: Response) -> Any:
    """The answer's JSON, or ``None`` when it is not JSON (or an HTML page, or cut off)."""
    if response.too_large or response.is_html:
        return None
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _says_not_found(response: Response, words: str, statuses: tuple[int, ...] = (404,)) -> bool:
    """Airbyte's own words that a job or connection does not exist, never a proxy's or a gateway's 404.

    The public API's ``resource-not-found`` problem about a resource that is not a path; the config
    API's message holding ``words`` ("Could not find job with id: N", "Could not find configuration
    for STANDARD_SYNC: ..."), with one of ``statuses``; newer servers' 404 whose body is only
    ``{"errorId": ...}``.
    """
    body = _body(response)
    if not isinstance(body, Mapping) or response.status not in statuses:
        return False
    if response.status == 404 and "resource-not-found" in _problem_title(response):
        data = body.get("data") if isinstance(body.get("data"), Mapping) else {}
        return data.get("resourceType") != "path"
    if words in str(body.get("message") or "").lower():
        return True
    return response.status == 404 and set(body) == {"errorId"}


Resource = Literal["job", "connection", "other"]


def raise_for_answer(
    response: Response, *, action: str, conn_id: str = "", subject: str = "", resource: Resource = "other"
) -> None:
    """Turn a failed answer into one of the provider's errors, with a message naming the fix.

    ``resource`` is what the request is about: only Airbyte's own answer about that resource can
    say it does not exist. Anything that is not Airbyte's answer (no answer, 5xx, HTML, a body cut
    off or too large) has outcome ``"unknown"``.
    """
    if response.ok and not response.too_large:
        return
    where = f" (Airflow connection {conn_id!r})" if conn_id else ""
    said = airbyte_message(response)
    lower = said.lower()
    status = response.status
    if status == 0:
        raise AirbyteUnreachable(
            f"Could not {action}: no answer from {response.url or 'Airbyte'}{where}: {said}. Check the host, "
            "port and scheme (https against an http port fails), and that Airbyte is up.",
            outcome="unknown" if response.sent else "refused",
        )
    if response.too_large:
        raise AirbyteUnexpectedAnswer(f"Could not {action}: {response.url} answered {said}{where}.", status)
    if status in (401, 403) and not response.request_had_auth:
        raise AirbyteAuthError(
            f"Could not {action}: Airbyte asks for credentials{where} (HTTP {status}) and none are set. "
            "Fill Login and Password (Basic user and password, or client id and secret), or set a token."
        )
    if (
        status in (401, 403)
        or (status == 400 and "invalid client" in lower)
        or (response.is_html and status in (400, 407))
    ):
        raise AirbyteAuthError(
            f"Could not {action}: Airbyte refused the credentials{where} (HTTP {status}: {said}). Check "
            "Login/Password (Basic user and password, or client id and secret) or the token, and the "
            "auth type."
        )
    if is_sync_running_conflict(response):
        match = _RUNNING_ID.search(said)
        raise AirbyteSyncAlreadyRunning(
            f"Could not {action}: a sync is already running for connection "
            f"{match.group(1) if match else subject}.",
            connection_id=match.group(1) if match else subject or None,
        )
    if not response.is_html and (
        "active connection" in lower or (status == 409 and "state-conflict" in _problem_title(response))
    ):
        raise AirbyteConnectionNotActive(
            f"Could not {action}: Airbyte says {said!r}. Enable connection {subject} in the Airbyte UI."
        )
    if resource == "job" and _says_not_found(response, "could not find job", (404, 500)):
        raise AirbyteJobNotFound(f"Could not {action}: Airbyte does not know job {subject} ({said}).", status)
    if resource == "connection" and _says_not_found(response, "could not find"):
        raise AirbyteConnectionNotFound(
            f"Could not {action}: Airbyte has no connection {subject}{where}. Copy the connection id from "
            "the connection's URL in the Airbyte UI, and check the workspace the credentials belong to."
        )
    if 300 <= status < 400:
        raise AirbyteUnexpectedAnswer(
            f"Could not {action}: {response.url} answered a redirect (HTTP {status}){where}, which this "
            f"provider does not follow (a POST would turn into a GET).{redirect_note(response)}",
            status,
            outcome="final",
        )
    if status in (404, 405):
        # Not Airbyte's word about the resource (a proxy, a gateway, a wrong base path): unknown.
        raise AirbyteUnexpectedAnswer(
            f"Could not {action}: {response.url} does not exist (HTTP {status}: {said}){where}. Check the "
            "host's base path and the API type (config API at /api/v1, public API at /api/public/v1).",
            status,
        )
    outcome: Outcome = "unknown"
    if status == 429:
        outcome = "refused"
    elif 400 <= status < 500 and not response.is_html and _body(response) is not None:
        outcome = "final"  # Airbyte refused the request as malformed or not allowed: nothing happened
    raise AirbyteUnexpectedAnswer(
        f"Could not {action}: Airbyte answered HTTP {status}: {said}{where}", status, outcome=outcome
    )


def outcome_unknown(error: Exception) -> bool:
    """Whether a failed request may still have taken effect (a create may have created its job)."""
    return getattr(error, "outcome", "final") == "unknown"


def malformed(response: Response, action: str, what: str) -> AirbyteUnexpectedAnswer:
    """An error for a 2xx body that is not the API's shape: outcome unknown, never "nothing there"."""
    return AirbyteUnexpectedAnswer(
        f"Could not {action}: {response.url} answered HTTP {response.status} without {what} in it "
        "(a proxy's page, or not Airbyte's API). Check the host's base path and the API type.",
        response.status,
    )


def parse_json(response: Response, action: str) -> Any:
    if response.too_large:
        raise AirbyteUnexpectedAnswer(
            f"Could not {action}: {response.url} answered {airbyte_message(response)}."
        )
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise AirbyteUnexpectedAnswer(
            f"Could not {action}: the answer from {response.url} is not JSON.", response.status
        ) from exc


# --------------------------------------------------------------------------------------------------
# Retry rule, shared by both transports
# --------------------------------------------------------------------------------------------------
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
MAX_TRIES = 5
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
RETRY_AFTER_CAP_S = 120.0


def retry_after(response: Response, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` as seconds or an HTTP date)."""
    value = response.header("retry-after")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CAP_S)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(timezone.utc)
    return min(max((when - now).total_seconds(), 0.0), RETRY_AFTER_CAP_S)


class ServerClock:
    """Airbyte's clock, as its answers' ``Date`` headers show it; this machine's until one arrives.

    The start protocol compares the time a create went out with the creation times Airbyte gives
    its jobs: both must be read on Airbyte's clock, or a skewed worker clock turns our own job
    into a stranger's (a second sync) or a stranger's into ours.
    """

    def __init__(self) -> None:
        self.offset: float | None = None  # Airbyte's clock minus ours, seconds

    def saw(self, response: Response) -> None:
        value = response.header("date") if response.status else None
        if not value:
            return
        try:
            said = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError):
            return
        # The header has whole seconds: it was stamped up to 1 s before the answer arrived.
        self.offset = said + 0.5 - time.time()

    def now(self) -> float:
        return time.time() + (self.offset or 0.0)


def should_retry(request: Request, response: Response) -> bool:
    """Reads, cancels and token fetches are retried on transient failures.

    A create is retried only on 429: a rate limit refuses the request before it is handled, so
    nothing was started. Any other failure of a create is left to the exactly-once rule.
    """
    if request.kind == "create":
        return response.status == 429 or not response.sent  # never handled: sending again is safe
    if response.too_large:
        return False  # the same runaway body again would not help
    if response.status == 0 or response.status in RETRYABLE_STATUS:
        return True
    # A 2xx whose body is cut or garbled is transient for a read.
    if response.ok and request.kind == "read":
        try:
            response.json()
        except (ValueError, UnicodeDecodeError):
            return True
    return False


def backoff_delay(tries: int, response: Response | None = None, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter (half fixed, half random), or the server's Retry-After."""
    if response is not None and (asked := retry_after(response)) is not None:
        return asked
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(tries - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


class Attempts:
    """The retry rule for sending one request, step by step; both transports follow it.

    After each answer, :meth:`after` says what to do: ``("done", 0)`` keep this answer, ``("renew",
    0)`` drop the refused token and send again at once (once: a 401 to a client-credentials token
    means it expired), or ``("retry", delay)`` send again after ``delay`` seconds (reads and cancels
    only, on transient failures, at most ``MAX_TRIES`` sends).
    """

    def __init__(self, request: Request, settings: Settings, *, retries: bool = True) -> None:
        self.request = request
        self.settings = settings
        self.retries = retries
        self.tries = 0
        self.renewed = False

    def after(self, response: Response, authorization: str | None) -> tuple[str, float]:
        self.tries += 1
        expired = response.status == 401 and self.settings.auth == "client_credentials"
        if expired and authorization and not self.renewed:
            TOKENS.drop(self.settings.cache_key, authorization.removeprefix("Bearer "))
            self.renewed = True
            self.tries -= 1  # a renewal is not a retry
            return "renew", 0.0
        if self.retries and should_retry(self.request, response) and self.tries < MAX_TRIES:
            return "retry", backoff_delay(self.tries, response)
        return "done", 0.0

    def describe(self, response: Response, delay: float) -> str:
        return (
            f"Airbyte {self.request.method} {self.request.url} answered {response.status or response.error}; "
            f"retrying in {delay:.1f}s (try {self.tries} of {MAX_TRIES})."
        )


# --------------------------------------------------------------------------------------------------
# Tokens (client credentials)
# --------------------------------------------------------------------------------------------------
DEFAULT_TOKEN_LIFE_S = 120.0
TOKEN_MARGIN_S = 30.0


def token_flow(settings: Settings, conn_id: str = "") -> Generator[Request, Response, tuple[str, float]]:
    """Fetch a bearer token: JSON body first, a form body if the endpoint refuses JSON.

    Returns ``(token, lifetime_s)``; the lifetime comes from ``expires_in``, else the JWT's ``exp``,
    else a short default.
    """
    assert settings.token_url and settings.login and settings.secret  # noqa: S101 - checked in settings
    body = {
        "client_id": settings.login,
        "client_secret": settings.secret,
        "grant_type": "client_credentials",
    }
    response = yield Request("POST", settings.token_url, json=body, kind="token", auth=False)
    if (
        response.status in (400, 415, 422)
        and not response.is_html
        and "invalid client" not in (airbyte_message(response).lower())
    ):
        response = yield Request("POST", settings.token_url, form=body, kind="token", auth=False)
    raise_for_answer(response, action="get an access token", conn_id=conn_id)
    if response.is_html:
        raise AirbyteAuthError(
            f"Could not get an access token: {settings.token_url} answered an HTML page, not Airbyte's "
            "token endpoint. Set the token URL (extra 'token_url') to …/api/public/v1/applications/token."
        )
    data = parse_json(response, "get an access token")
    token = data.get("access_token") if isinstance(data, Mapping) else None
    if not token:
        raise AirbyteAuthError(
            f"Could not get an access token: {settings.token_url} answered without an access_token."
        )
    lifetime = data.get("expires_in")
    if not lifetime:
        lifetime = _jwt_lifetime(token)
    return str(token), float(lifetime or DEFAULT_TOKEN_LIFE_S)


def _jwt_lifetime(token: str) -> float | None:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"]) - datetime.now(timezone.utc).timestamp()
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def basic_header(settings: Settings) -> str:
    raw = f"{settings.login}:{settings.secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def needs_token(settings: Settings, request: Request) -> bool:
    """Whether the request's Authorization comes from the client-credentials token cache."""
    return request.auth and settings.auth == "client_credentials"


def fixed_authorization(settings: Settings, request: Request) -> str | None:
    """The Authorization header of a request that needs no token fetch (``None``: no header)."""
    if not request.auth or settings.auth in ("none", "client_credentials"):
        return None
    return basic_header(settings) if settings.auth == "basic" else f"Bearer {settings.secret}"


# --------------------------------------------------------------------------------------------------
# The two dialects
# --------------------------------------------------------------------------------------------------
NIL_UUID = "00000000-0000-0000-0000-000000000000"
_CONFIG_TYPES = {"sync": "sync", "reset": "reset_connection", "clear": "clear"}
_FROM_CONFIG_TYPE = {"reset_connection": "reset", "sync": "sync", "clear": "clear", "refresh": "refresh"}


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _failure_line(attempt: Mapping[str, Any]) -> str | None:
    summary = attempt.get("failureSummary") or {}
    failures = summary.get("failures") or []
    if not failures:
        return None
    first = failures[0]
    origin = first.get("failureOrigin") or "unknown origin"
    kind = first.get("failureType") or "unknown type"
    message = first.get("externalMessage") or first.get("internalMessage") or "no message"
    return f"{origin}/{kind}: {message}"


def _answer_job_id(value: Any) -> int:
    """A job id in an answer: a positive JSON integer, nothing else."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"not a job id: {value!r}")
    return value


def job_from_config(data: Mapping[str, Any]) -> AirbyteJob:
    """Read a config-API ``JobInfoRead``/``JobWithAttemptsRead``/``JobInfoLightRead``.

    Raises ``ValueError``/``KeyError``/``TypeError``/``AttributeError`` on a body of another shape.
    """
    job = data["job"]
    attempts = [a.get("attempt", a) for a in data.get("attempts") or []]
    stats = job.get("aggregatedStats") or {}
    rows = _int(stats.get("recordsCommitted", stats.get("recordsEmitted")))
    size = _int(stats.get("bytesCommitted", stats.get("bytesEmitted")))
    if rows is None and attempts:
        last = attempts[-1]
        totals = last.get("totalStats") or {}
        rows = _int(totals.get("recordsCommitted", last.get("recordsSynced")))
        size = _int(totals.get("bytesCommitted", last.get("bytesSynced")))
    failures = tuple(line for a in attempts if (line := _failure_line(a)))
    return AirbyteJob(
        job_id=_answer_job_id(job["id"]),
        connection_id=normal_uuid(job.get("configId")),
        job_type=_FROM_CONFIG_TYPE.get(job.get("configType", ""), job.get("configType") or "sync"),
        status=str(job.get("status") or "").lower(),
        created_at=parse_time(job.get("createdAt")),
        updated_at=parse_time(job.get("updatedAt")),
        started_at=parse_time(job.get("startedAt")),
        rows_synced=rows,
        bytes_synced=size,
        attempts=len(attempts),
        failure=failures[-1] if failures else None,
        attempt_failures=failures,
    )


def job_from_public(data: Mapping[str, Any]) -> AirbyteJob:
    """Read a public-API ``JobResponse``; ``lastUpdatedAt`` is only there once the job ended."""
    return AirbyteJob(
        job_id=_answer_job_id(data["jobId"]),
        connection_id=normal_uuid(data.get("connectionId")),
        job_type=str(data.get("jobType") or "sync").lower(),
        status=str(data.get("status") or "").lower(),
        created_at=parse_time(data.get("startTime")),
        updated_at=parse_time(data.get("lastUpdatedAt")),
        rows_synced=_int(data.get("rowsSynced")),
        bytes_synced=_int(data.get("bytesSynced")),
    )


_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, OverflowError)


def _read_job(response: Response, action: str, reader: Any) -> AirbyteJob:
    data = parse_json(response, action)
    try:
        return reader(data)
    except _SHAPE_ERRORS as exc:
        raise malformed(response, action, "an Airbyte job") from exc


def _read_jobs(response: Response, action: str, key: str, reader: Any) -> list[AirbyteJob]:
    """A listing's jobs, newest first; a body of any other shape is an error, never "no jobs"."""
    data = parse_json(response, action)
    items = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise malformed(response, action, f"a list of jobs ({key!r})")
    try:
        jobs = [reader(item) for item in items]
    except _SHAPE_ERRORS as exc:
        raise malformed(response, action, "Airbyte jobs") from exc
    return sorted(jobs, key=lambda job: job.job_id, reverse=True)


class Dialect:
    """Build requests and read answers for one API flavour. Subclasses fill in the two dialects."""

    flavour: Flavour

    def __init__(self, settings: Settings, conn_id: str = "") -> None:
        self.settings = settings
        self.conn_id = conn_id

    def _raise(
        self, response: Response, action: str, subject: Any = "", resource: Resource = "other"
    ) -> None:
        raise_for_answer(
            response, action=action, conn_id=self.conn_id, subject=str(subject), resource=resource
        )

    def _read_connection(self, response: Response, connection_id: str) -> AirbyteConnection:
        """Both APIs name a connection's fields alike (ConnectionRead, ConnectionResponse)."""
        self._raise(response, "get connection", connection_id, resource="connection")
        data = parse_json(response, "get connection")
        if not isinstance(data, Mapping) or not isinstance(data.get("status"), str):
            raise malformed(response, "get connection", "an Airbyte connection")
        return AirbyteConnection(
            connection_id=normal_uuid(data.get("connectionId")) or connection_id,
            name=data.get("name") or "",
            status=str(data.get("status") or "").lower(),
            workspace_id=data.get("workspaceId"),
        )

    # Each flow below is a generator: ``result = yield from dialect.get_job(1)``.
    def health(self) -> Generator[Request, Response, bool]:
        response = yield Request("GET", "health", auth=False)
        self._raise(response, "check Airbyte's health")
        return True

    def check_credentials(self) -> Generator[Request, Response, None]:
        """One cheap call that needs the credentials (a health check does not)."""
        raise NotImplementedError

    def get_connection(self, connection_id: str) -> Generator[Request, Response, AirbyteConnection]:
        raise NotImplementedError

    def create_kind(self, job_type: str) -> str:
        """The job type a create for ``job_type`` is sent as, by what this server is known to have."""
        return job_type

    def submit(self, connection_id: str, kind: str) -> Generator[Request, Response, AirbyteJob | None]:
        """Send one create to ``kind``'s endpoint; ``None``: this server has no such endpoint (nothing
        was made; :meth:`create_kind` now names its predecessor).
        """
        raise NotImplementedError

    def create(self, connection_id: str, job_type: str) -> Generator[Request, Response, AirbyteJob]:
        """Create a job of ``job_type``, as its predecessor where this server lacks its endpoint."""
        while True:
            job = yield from self.submit(connection_id, self.create_kind(job_type))
            if job is not None:
                return job

    def get_job(self, job_id: int) -> Generator[Request, Response, AirbyteJob]:
        raise NotImplementedError

    def cancel(self, job_id: int) -> Generator[Request, Response, AirbyteJob | None]:
        raise NotImplementedError

    def list_jobs(
        self, connection_id: str, *, limit: int = 20, offset: int = 0, job_type: str | None = None
    ) -> Generator[Request, Response, list[AirbyteJob]]:
        """Jobs of a connection, newest first."""
        raise NotImplementedError

    def workspace_of(self, connection_id: str) -> Generator[Request, Response, str | None]:
        raise NotImplementedError

    def failure_reason(self, job: AirbyteJob) -> Generator[Request, Response, AirbyteJob]:
        """Fill in Airbyte's failure reason of a failed job (only the config API has it)."""
        return job
        yield  # pragma: no cover - makes this a generator

    def find_running_job(
        self, connection_id: str, job_type: str | None = None
    ) -> Generator[Request, Response, AirbyteJob | None]:
        """The newest job of the connection that has not ended, if any."""
        jobs = yield from self.list_jobs(connection_id, limit=20, job_type=job_type)
        for job in jobs:
            if job.state in ("in_progress", "unknown"):
                return job
        return None

    def newest_job_id(self, connection_id: str, job_type: str) -> Generator[Request, Response, int]:
        """The newest id of the connection's jobs (0 if none): job ids only grow.

        Syncs and resets always (a note only needs to be no older than any job of ours), and
        clears when a clear is asked for (a 2022 server refuses "clear" as a listing type).
        """
        jobs = yield from self.list_jobs(connection_id, limit=1)
        newest = max((job.job_id for job in jobs), default=0)
        if job_type == "clear":
            clears = yield from self.list_jobs(connection_id, limit=1, job_type="clear")
            newest = max([newest, *(job.job_id for job in clears)])
        return newest


class ConfigDialect(Dialect):
    """The config API: ``POST {base}/connections/sync`` and friends, epoch-second times."""

    flavour: Flavour = "config"
    # Polling never downloads attempt logs: jobs/get_without_logs (2023+), else jobs/get_light.
    _job_paths = ("jobs/get_without_logs", "jobs/get_light")

    def __init__(self, settings: Settings, conn_id: str = "") -> None:
        super().__init__(settings, conn_id)
        self._job_path_index = 0
        self._no_clear_type = False
        self._no_clear_endpoint = False

    def check_credentials(self) -> Generator[Request, Response, None]:
        body = {"configTypes": ["sync"], "configId": NIL_UUID, "pagination": {"pageSize": 1, "rowOffset": 0}}
        response = yield Request("POST", "jobs/list", json=body)
        self._raise(response, "list jobs with the connection's credentials")
        parse_json(response, "list jobs")

    def get_connection(self, connection_id: str) -> Generator[Request, Response, AirbyteConnection]:
        response = yield Request("POST", "connections/get", json={"connectionId": connection_id})
        return self._read_connection(response, connection_id)

    def create_kind(self, job_type: str) -> str:
        # Servers before 2026 have no clear endpoint; reset is its predecessor (and makes a reset).
        return "reset" if job_type == "clear" and self._no_clear_endpoint else job_type

    def submit(self, connection_id: str, kind: str) -> Generator[Request, Response, AirbyteJob | None]:
        path = {"sync": "connections/sync", "reset": "connections/reset", "clear": "connections/clear"}
        response = yield Request("POST", path[kind], json={"connectionId": connection_id}, kind="create")
        if kind == "clear" and response.status == 404 and not _says_not_found(response, "could not find"):
            self._no_clear_endpoint = True
            return None
        self._raise(response, f"start a {kind} of connection", connection_id, resource="connection")
        return _read_job(response, f"start a {kind}", job_from_config)

    def get_job(self, job_id: int) -> Generator[Request, Response, AirbyteJob]:
        while True:
            path = self._job_paths[self._job_path_index]
            response = yield Request("POST", path, json={"id": job_id})
            if response.status == 404 and self._job_path_index + 1 < len(self._job_paths):
                self._job_path_index += 1  # an older server: remember and fall back
                continue
            self._raise(response, "get job", job_id, resource="job")
            return _read_job(response, f"get job {job_id}", job_from_config)

    def cancel(self, job_id: int) -> Generator[Request, Response, AirbyteJob | None]:
        response = yield Request("POST", "jobs/cancel", json={"id": job_id}, kind="cancel")
        self._raise(response, "cancel job", job_id, resource="job")
        return _read_job(response, f"cancel job {job_id}", job_from_config)

    def list_jobs(
        self, connection_id: str, *, limit: int = 20, offset: int = 0, job_type: str | None = None
    ) -> Generator[Request, Response, list[AirbyteJob]]:
        # A clear is listed with its predecessor, reset (older servers make a reset of it); servers
        # before 2026 refuse "clear" as a config type (400): they are asked for resets, and remembered.
        if job_type == "clear":
            types = ["reset_connection"] if self._no_clear_type else ["clear", "reset_connection"]
        else:
            types = [_CONFIG_TYPES[job_type]] if job_type else ["sync", "reset_connection"]
        body = {
            "configTypes": types,
            "configId": connection_id,
            "pagination": {"pageSize": limit, "rowOffset": offset},
        }
        response = yield Request("POST", "jobs/list", json=body)
        if "clear" in types and response.status == 400 and "configtypes" in airbyte_message(response).lower():
            self._no_clear_type = True
            body["configTypes"] = ["reset_connection"]
            response = yield Request("POST", "jobs/list", json=body)
        self._raise(response, "list jobs of connection", connection_id, resource="connection")
        return _read_jobs(response, "list jobs", "jobs", job_from_config)

    def find_running_job(
        self, connection_id: str, job_type: str | None = None
    ) -> Generator[Request, Response, AirbyteJob | None]:
        running = yield from super().find_running_job(connection_id, job_type)
        if running is not None or job_type is not None or self._no_clear_type:
            return running
        # A running clear blocks a sync too (listed with resets; older servers have none).
        return (yield from super().find_running_job(connection_id, "clear"))

    def failure_reason(self, job: AirbyteJob) -> Generator[Request, Response, AirbyteJob]:
        if job.failure or self._job_path_index == 0 or not job.connection_id:
            return job  # jobs/get_without_logs already carried the attempts
        # Older servers: jobs/get_light has no attempts, jobs/list has them without logs.
        jobs = yield from self.list_jobs(job.connection_id, limit=20)
        detailed = next((candidate for candidate in jobs if candidate.job_id == job.job_id), None)
        if detailed is None:
            return job
        return replace(job, failure=detailed.failure, attempt_failures=detailed.attempt_failures)

    def workspace_of(self, connection_id: str) -> Generator[Request, Response, str | None]:
        body = {"connectionId": connection_id}
        response = yield Request("POST", "workspaces/get_by_connection_id", json=body)
        if not response.ok:
            return None
        data = parse_json(response, "get the workspace")
        return data.get("workspaceId") if isinstance(data, Mapping) else None


class PublicDialect(Dialect):
    """The public API: ``POST {base}/jobs``, ``GET {base}/jobs/{id}``, ISO times, problem bodies."""

    flavour: Flavour = "public"

    def check_credentials(self) -> Generator[Request, Response, None]:
        response = yield Request("GET", "jobs", params={"limit": 1})
        self._raise(response, "list jobs with the connection's credentials")
        parse_json(response, "list jobs")

    def get_connection(self, connection_id: str) -> Generator[Request, Response, AirbyteConnection]:
        response = yield Request("GET", f"connections/{connection_id}")
        return self._read_connection(response, connection_id)

    def submit(self, connection_id: str, kind: str) -> Generator[Request, Response, AirbyteJob | None]:
        body = {"connectionId": connection_id, "jobType": kind}
        response = yield Request("POST", "jobs", json=body, kind="create")
        self._raise(response, f"start a {kind} of connection", connection_id, resource="connection")
        return _read_job(response, f"start a {kind}", job_from_public)

    def get_job(self, job_id: int) -> Generator[Request, Response, AirbyteJob]:
        response = yield Request("GET", f"jobs/{job_id}")
        self._raise(response, "get job", job_id, resource="job")
        return _read_job(response, f"get job {job_id}", job_from_public)

    def cancel(self, job_id: int) -> Generator[Request, Response, AirbyteJob | None]:
        response = yield Request("DELETE", f"jobs/{job_id}", kind="cancel")
        if response.status == 409 and "state-conflict" in _problem_title(response):
            return None  # the job already ended: nothing left to cancel
        self._raise(response, "cancel job", job_id, resource="job")
        return _read_job(response, f"cancel job {job_id}", job_from_public)

    def list_jobs(
        self, connection_id: str, *, limit: int = 20, offset: int = 0, job_type: str | None = None
    ) -> Generator[Request, Response, list[AirbyteJob]]:
        # Ascending unless asked; page with offset (the server's next links break behind a proxy).
        params = {
            "connectionId": connection_id,
            "limit": min(limit, 100),
            "offset": offset,
            "orderBy": "createdAt|DESC",
            "jobType": job_type,
        }
        response = yield Request("GET", "jobs", params=params)
        self._raise(response, "list jobs of connection", connection_id, resource="connection")
        return _read_jobs(response, "list jobs", "data", job_from_public)

    def workspace_of(self, connection_id: str) -> Generator[Request, Response, str | None]:
        connection = yield from self.get_connection(connection_id)
        return connection.workspace_id

    def failure_reason(self, job: AirbyteJob) -> Generator[Request, Response, AirbyteJob]:
        if not self.settings.config_api_url:
            return job
        url = _join(self.settings.config_api_url, "jobs/get_without_logs")
        response = yield Request("POST", url, json={"id": job.job_id})
        if not response.ok:
            return job  # a reason is a bonus: never let it hide the failure itself
        try:
            detailed = job_from_config(response.json())
        except (*_SHAPE_ERRORS, UnicodeDecodeError):
            return job
        return replace(
            job,
            failure=detailed.failure,
            attempt_failures=detailed.attempt_failures,
            attempts=detailed.attempts,
        )


def dialect_for(settings: Settings, conn_id: str = "") -> Dialect:
    return (ConfigDialect if settings.flavour == "config" else PublicDialect)(settings, conn_id)


class TokenCache:
    """Bearer tokens of one process, keyed by :attr:`Settings.cache_key`.

    Tokens are dropped shortly before they expire; callers hold their own lock around a fetch so
    only one fetch per key runs at a time. Times are ``time.monotonic()`` seconds.
    """

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}

    def get(self, key: tuple[str, ...], now: float) -> str | None:
        entry = self._tokens.get(key)
        return entry[0] if entry and now < entry[1] else None

    def put(self, key: tuple[str, ...], token: str, lifetime: float, now: float) -> None:
        margin = min(TOKEN_MARGIN_S, lifetime / 4)
        self._tokens[key] = (token, now + lifetime - margin)

    def drop(self, key: tuple[str, ...], token: str | None) -> None:
        """Forget a token the server refused (only if no newer one replaced it meanwhile)."""
        entry = self._tokens.get(key)
        if entry and (token is None or entry[0] == token):
            del self._tokens[key]


TOKENS = TokenCache()


def redirect_note(response: Response) -> str:
    location = response.header("location")
    return f" It redirects to {location}: set the host to that URL." if location else ""


USER_AGENT = "airflow-provider-airbyte-sync"


def proxy_for(settings: Settings, url: str) -> str | None:
    """The proxy for a URL: the connection's own, else the environment's (``HTTPS_PROXY``,
    ``NO_PROXY``...), as ``requests`` picks it on the hook's path.
    """
    scheme = url.split(":", 1)[0].lower()
    if settings.proxies:
        return settings.proxies.get(scheme)
    from urllib.request import getproxies, proxy_bypass

    host = urlsplit(url).hostname or ""
    proxies = getproxies()
    if not proxies or proxy_bypass(host):
        return None
    return proxies.get(scheme)


@lru_cache(maxsize=8)
def ssl_context(verify: bool | str) -> ssl.SSLContext | None:
    """One SSL context per CA bundle, shared by both transports (``None``: the library default).

    Building a context costs tens of milliseconds of CPU: never build one per request or per watch.
    """
    if not isinstance(verify, str):
        return None
    import ssl as ssl_module

    try:
        return ssl_module.create_default_context(cafile=verify)
    except (OSError, ssl_module.SSLError) as exc:
        raise AirbyteConfigError(
            f"The CA bundle {verify!r} (extra 'ca_bundle') cannot be read as PEM certificates: {exc}."
        ) from None


_USERINFO = re.compile(r"//[^/@\s:]+:[^/@\s]+@")


def scrub(text: str) -> str:
    """Drop credentials an HTTP library may quote from a proxy URL (``//user:secret@host``)."""
    return _USERINFO.sub("//***@", text)


_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")
_TLS = re.compile(r"\[SSL: [A-Z_]+\] [^'\")(]+")


def describe_error(error: BaseException) -> str:
    """A short, secret-free reason for a failed request (HTTP libraries nest long reprs)."""
    text = scrub(str(error))
    found = _TLS.search(text) or _ERRNO.search(text)
    if found:
        reason = found.group(0).strip()
        if "WRONG_VERSION_NUMBER" in reason or "record layer failure" in reason:
            reason += " (https against an http port?)"
        return reason
    if len(text) > 160:
        text = text[:160].rsplit(" ", 1)[0] + " …"
    return f"{type(error).__name__}: {text}"
