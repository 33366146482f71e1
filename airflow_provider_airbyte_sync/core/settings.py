"""How an Airflow connection reads: pure, so the hook and the trigger read it the same way."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

from airflow_provider_airbyte_sync.core.errors import AirbyteConfigError
from airflow_provider_airbyte_sync.core.values import is_uuid, positive_seconds

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
        """Key of a transport's token cache: token URL, client id and a digest of the secret.

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


def join(base: str, *parts: str) -> str:
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
        """An extra field stored bare (Airflow 3 forms) or prefixed (older forms)."""
        value = extra.get(key)
        return extra.get(f"extra__{conn_type}__{key}") if value in (None, "") else value

    where = f"Airflow connection {conn_id!r}"
    api_version = str(get("api_version") or "v1").strip("/")
    flavour_choice = _choice(where, "api_type", get("api_type"), ("config", "public"))
    auth_choice = _choice(where, "auth_type", get("auth_type"), _AUTH_MODES)
    token, login, password = get("token"), login or None, password or None
    origin, path = _origin_and_path(where, (host or "").strip() or "localhost", port)
    is_cloud = urlsplit(origin).hostname == CLOUD_API_HOST
    if flavour_choice != "auto":
        flavour: Flavour = flavour_choice  # type: ignore[assignment]
    else:
        flavour = _infer_flavour(path, api_version, is_cloud, auth_choice, bool(token), login, password)
    if path.endswith(f"/{api_version}"):
        base_url = origin + path  # the host already names the API root
    elif flavour == "public":
        base_url = join(origin, path, "" if is_cloud else "api/public", api_version)
    else:
        base_url = join(origin, path, "api", api_version)
    auth = _auth_mode(where, auth_choice, flavour, token, login, password)
    token_url = get("token_url") or None
    if auth == "client_credentials" and not token_url:
        token_url = join(base_url, "applications/token")
    elif token_url and "://" not in token_url:
        token_url = join(origin, token_url)
    ui_path = path.split("/api/")[0].removesuffix(f"/{api_version}")  # the UI lives beside the API
    verify = _flag(get("verify_ssl"), True)  # off wins over a CA bundle
    web_url = get("web_url") or (CLOUD_WEB_URL if is_cloud else origin + ui_path)
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
        verify=str(get("ca_bundle")) if verify and get("ca_bundle") else verify,
        proxies=_proxies(get("proxies"), conn_id),
        web_url=str(web_url).rstrip("/"),
        config_api_url=get("config_api_url") or _config_api_for(base_url, flavour, origin, api_version),
    )


def _choice(where: str, key: str, value: Any, modes: tuple[str, ...]) -> str:
    """An extra field that picks one of ``modes`` or ``auto`` (the default)."""
    choice = str(value or "auto").lower()
    if choice not in ("auto", *modes):
        raise AirbyteConfigError(f"{where}: {key} must be one of auto, {', '.join(modes)}, not {choice!r}.")
    return choice


def _origin_and_path(where: str, host: str, port: int | None) -> tuple[str, str]:
    """``scheme://host:port`` and the base path, from a bare hostname (port added) or a full URL."""
    if "://" not in host:
        if "/" in host or ":" in host:
            raise AirbyteConfigError(
                f"{where}: host {host!r} must be a bare hostname (put the port in the Port field) or a "
                "full URL such as http://airbyte.example.com:8000/api/v1."
            )
        return f"http://{host}:{port or DEFAULT_PORT}", ""
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AirbyteConfigError(f"{where}: host {host!r} is not an http(s) URL or a hostname.")
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")), parts.path.rstrip("/")


def _infer_flavour(
    path: str, version: str, is_cloud: bool, auth: str, token: bool, login: str | None, password: str | None
) -> Flavour:
    """Which API, when not chosen: the URL says first, then the credentials."""
    if path.endswith(f"/api/public/{version}") or is_cloud:
        return "public"
    if path.endswith(f"/api/{version}"):
        return "config"
    if path.endswith(f"/{version}"):
        return "public"  # OSS 0.50-0.51 served the public API on port 8006 at /v1
    if auth == "client_credentials" or (
        auth == "auto" and not token and login and password and is_uuid(login)
    ):
        return "public"
    return "config"


def _auth_mode(
    where: str, choice: str, flavour: Flavour, token: Any, login: str | None, password: str | None
) -> AuthMode:
    """Which auth: explicit, else inferred from what is filled in; what it needs must be there."""
    if choice != "auto":
        auth: AuthMode = choice  # type: ignore[assignment]
    elif token:
        auth = "bearer"
    elif login and password:
        auth = "client_credentials" if flavour == "public" or is_uuid(login) else "basic"
    else:
        auth = "none"
    missing = {
        "basic": "Basic auth needs both Login (user) and Password.",
        "client_credentials": "client credentials need Login (client id) and Password (client secret).",
        "bearer": "bearer auth needs the 'token' extra field.",
    }
    if auth in missing and not (token if auth == "bearer" else login and password):
        raise AirbyteConfigError(f"{where}: {missing[auth]}")
    return auth


def settings_from_airflow(conn: Any) -> Settings:
    """Settings of an Airflow ``Connection``; malformed extra JSON is an error, not an empty dict.

    Reads only the connection's attributes (no lookups, no masking): the same for hook and trigger.
    """
    extra: Any = {}
    if conn.extra:
        try:
            extra = json.loads(conn.extra)
        except json.JSONDecodeError as exc:
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
        return join(CLOUD_WEB_URL, "api", api_version)
    marker = f"/api/public/{api_version}"
    if base_url.endswith(marker):
        return base_url[: -len(marker)] + f"/api/{api_version}"
    return join(origin, "api", api_version)


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
    settings = Settings(
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
    if extra.get("timeout") in (None, ""):
        return settings
    return request_timeout(settings, _number(extra, "timeout", 0.0, conn_id))


def request_timeout(settings: Settings, seconds: float) -> Settings:
    """``settings`` with one timeout for every request (connect, read and create), as the official
    provider's ``timeout`` (its hook argument or its connection's extra field) sets it."""
    return replace(settings, connect_timeout=seconds, read_timeout=seconds, create_timeout=seconds)


def job_url(settings: Settings, workspace_id: str | None, connection_id: str | None) -> str | None:
    """Link to a connection's job history in the Airbyte web UI."""
    if not (settings.web_url and workspace_id and connection_id):
        return None
    return f"{settings.web_url}/workspaces/{workspace_id}/connections/{connection_id}/job-history"
