"""An Airbyte server emulator for tests, demos and benchmarks.

It speaks Airbyte's configuration API (``/api/v1``) and public API (``/api/public/v1`` and ``/v1``)
over real HTTP/1.1, built from Airbyte's published specs and the server's recorded behaviour. It is
an independent witness: it imports nothing from the rest of this provider, so a misunderstanding in
the client cannot be mirrored here.

    from airflow_provider_airbyte_sync.testing import AirbyteEmulator, DEFAULT_CONNECTION_ID

    with AirbyteEmulator() as airbyte:
        ...  # point a client at airbyte.url; airbyte.advance(5) moves the jobs on

Run it stand-alone with ``python -m airflow_provider_airbyte_sync.testing --port 8000``; pytest users
get an ``airbyte_emulator`` fixture.

Names are imported on first use (PEP 562): pytest imports this package for the fixture plugin in
every session, and that must stay cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_airbyte_sync.testing.auth import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_PASSWORD,
        DEFAULT_USERNAME,
        decode_jwt_payload,
    )
    from airflow_provider_airbyte_sync.testing.emulator import (
        AirbyteEmulator,
        Fault,
        RequestHook,
        load_connections_file,
    )
    from airflow_provider_airbyte_sync.testing.formats import java_duration, java_offset_datetime
    from airflow_provider_airbyte_sync.testing.state import (
        DEFAULT_CONNECTIONS,
        DEFAULT_FAILURE,
        DEFAULT_WORKSPACE_ID,
        SCRIPT_DEFAULTS,
        TERMINAL_STATUSES,
        ConnectionNotActive,
        SyncAlreadyRunning,
        UnknownConnection,
        UnknownJob,
    )

_EXPORTS = {
    "auth": (
        "DEFAULT_CLIENT_ID",
        "DEFAULT_CLIENT_SECRET",
        "DEFAULT_PASSWORD",
        "DEFAULT_USERNAME",
        "decode_jwt_payload",
    ),
    "emulator": ("AirbyteEmulator", "Fault", "RequestHook", "load_connections_file"),
    "formats": ("java_duration", "java_offset_datetime"),
    "state": (
        "DEFAULT_CONNECTIONS",
        "DEFAULT_FAILURE",
        "DEFAULT_WORKSPACE_ID",
        "SCRIPT_DEFAULTS",
        "TERMINAL_STATUSES",
        "ConnectionNotActive",
        "SyncAlreadyRunning",
        "UnknownConnection",
        "UnknownJob",
    ),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

#: Ids of the default connections, by index in ``DEFAULT_CONNECTIONS``.
_CONNECTION_IDS = {
    "DEFAULT_CONNECTION_ID": 0,  # "Postgres → BigQuery": active, succeeds in about 4 s
    "POSTGRES_BIGQUERY_CONNECTION_ID": 0,
    "STRIPE_SNOWFLAKE_CONNECTION_ID": 1,  # active, succeeds
    "SALESFORCE_REDSHIFT_CONNECTION_ID": 2,  # active, queued for a second, succeeds
    "INACTIVE_CONNECTION_ID": 3,  # "Legacy MySQL → S3": syncs are refused
    "FAILING_CONNECTION_ID": 4,  # "Broken API → Postgres": every sync fails with a config error
}

DEFAULT_CONNECTION_ID: str
POSTGRES_BIGQUERY_CONNECTION_ID: str
STRIPE_SNOWFLAKE_CONNECTION_ID: str
SALESFORCE_REDSHIFT_CONNECTION_ID: str
INACTIVE_CONNECTION_ID: str
FAILING_CONNECTION_ID: str


def __getattr__(name: str) -> Any:
    if name in _CONNECTION_IDS:
        state = importlib.import_module("airflow_provider_airbyte_sync.testing.state")
        value = state.DEFAULT_CONNECTIONS[_CONNECTION_IDS[name]]["connection_id"]
    elif name in _WHERE:
        module = importlib.import_module(f"airflow_provider_airbyte_sync.testing.{_WHERE[name]}")
        value = getattr(module, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_CONNECTIONS",
    "DEFAULT_CONNECTION_ID",
    "DEFAULT_FAILURE",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "DEFAULT_WORKSPACE_ID",
    "FAILING_CONNECTION_ID",
    "INACTIVE_CONNECTION_ID",
    "POSTGRES_BIGQUERY_CONNECTION_ID",
    "SALESFORCE_REDSHIFT_CONNECTION_ID",
    "SCRIPT_DEFAULTS",
    "STRIPE_SNOWFLAKE_CONNECTION_ID",
    "TERMINAL_STATUSES",
    "AirbyteEmulator",
    "ConnectionNotActive",
    "Fault",
    "RequestHook",
    "SyncAlreadyRunning",
    "UnknownConnection",
    "UnknownJob",
    "decode_jwt_payload",
    "java_duration",
    "java_offset_datetime",
    "load_connections_file",
]
