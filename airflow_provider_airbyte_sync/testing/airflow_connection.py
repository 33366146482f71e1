"""The Airflow connection that reaches an emulator, as a user would fill it in.

Plain data only: this module imports neither Airflow nor the rest of the provider. The fields go
into ``AIRFLOW_CONN_<ID>`` as JSON (the URI form mis-parses a scheme with an underscore) or into
``airflow connections add <id> --conn-json``.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

#: How the connection reaches Airbyte: the config API, or the public API in its OSS or Cloud layout.
API_LAYOUTS = ("config", "public", "cloud")
#: How the connection authenticates (the provider's ``auth_type`` extra).
CONNECTION_AUTH_MODES = ("none", "basic", "bearer", "client_credentials")
#: The emulator's auth mode that each connection auth mode needs.
EMULATOR_AUTH = {"none": "none", "basic": "basic", "bearer": "token", "client_credentials": "token"}
#: The connection auth mode a user picks for each emulator auth mode when none is said.
DEFAULT_CONNECTION_AUTH = {"none": "none", "basic": "basic", "token": "client_credentials"}
CONN_TYPE = "airbyte_sync"


def connection_fields(
    emulator: Any, api: str = "config", auth: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The connection's fields (``conn_type``, ``host``, ``login``, ``password``, ``extra``).

    ``api`` is one of :data:`API_LAYOUTS`; ``auth`` one of :data:`CONNECTION_AUTH_MODES` (default:
    what the emulator asks for: basic for ``basic``, client credentials for ``token``). ``bearer``
    puts a token the emulator issued now in the extra. ``extra`` adds extra fields
    (``read_timeout``, ...).
    """
    if api not in API_LAYOUTS:
        raise ValueError(f"api must be one of {API_LAYOUTS}, not {api!r}")
    mode = emulator.auth  # the emulator's own setting (none, basic or token)
    auth = auth or DEFAULT_CONNECTION_AUTH[mode]
    if auth not in CONNECTION_AUTH_MODES:
        raise ValueError(f"auth must be one of {CONNECTION_AUTH_MODES}, not {auth!r}")
    if EMULATOR_AUTH[auth] != mode:
        raise ValueError(f"auth {auth!r} needs an emulator started with auth={EMULATOR_AUTH[auth]!r}")
    root = _reachable(emulator.url, emulator.host)
    host = {
        "config": root,
        "public": root + emulator.public_api_url[len(emulator.url) :],
        "cloud": root + emulator.cloud_api_url[len(emulator.url) :],
    }[api]
    fields: dict[str, Any] = {"conn_type": CONN_TYPE, "host": host}
    extras: dict[str, Any] = {"api_type": "config" if api == "config" else "public", "auth_type": auth}
    credentials = emulator.credentials()
    if auth == "basic":
        fields.update(login=credentials["username"], password=credentials["password"])
    elif auth == "client_credentials":
        fields.update(login=credentials["client_id"], password=credentials["client_secret"])
    elif auth == "bearer":
        extras["token"] = emulator.issue_token()
    extras.update(extra)
    fields["extra"] = extras
    return fields


def _reachable(url: str, host: str) -> str:
    """``url`` with a wildcard bind address replaced by loopback: what a client dials."""
    if host in ("0.0.0.0", ""):
        return url.replace(f"://{host}:", "://127.0.0.1:", 1)
    if host == "::":
        return url.replace("://[::]:", "://[::1]:", 1)
    return url


def env_var(conn_id: str) -> str:
    """``AIRFLOW_CONN_<ID>``: the variable Airflow reads a connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def conn_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=False)


def env_line(conn_id: str, fields: dict[str, Any]) -> str:
    """``AIRFLOW_CONN_<ID>='{...}'``, quoted for a POSIX shell."""
    return f"{env_var(conn_id)}={shlex.quote(conn_json(fields))}"


def cli_command(conn_id: str, fields: dict[str, Any]) -> str:
    """``airflow connections add <id> --conn-json '{...}'``, quoted for a POSIX shell."""
    return shlex.join(["airflow", "connections", "add", conn_id, "--conn-json", conn_json(fields)])
