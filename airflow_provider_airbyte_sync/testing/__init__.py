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
"""

from airflow_provider_airbyte_sync.testing.auth import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    decode_jwt_payload,
)
from airflow_provider_airbyte_sync.testing.emulator import AirbyteEmulator, Fault, load_connections_file
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
from airflow_provider_airbyte_sync.testing.tls import make_self_signed_ca

#: "Postgres → BigQuery": active, succeeds in about 4 s.
DEFAULT_CONNECTION_ID = DEFAULT_CONNECTIONS[0]["connection_id"]
POSTGRES_BIGQUERY_CONNECTION_ID = DEFAULT_CONNECTIONS[0]["connection_id"]
#: "Stripe → Snowflake": active, succeeds.
STRIPE_SNOWFLAKE_CONNECTION_ID = DEFAULT_CONNECTIONS[1]["connection_id"]
#: "Salesforce → Redshift": active, queued for a second, succeeds.
SALESFORCE_REDSHIFT_CONNECTION_ID = DEFAULT_CONNECTIONS[2]["connection_id"]
#: "Legacy MySQL → S3": inactive (syncs are refused).
INACTIVE_CONNECTION_ID = DEFAULT_CONNECTIONS[3]["connection_id"]
#: "Broken API → Postgres": active, every sync fails with a config error.
FAILING_CONNECTION_ID = DEFAULT_CONNECTIONS[4]["connection_id"]

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
    "SyncAlreadyRunning",
    "UnknownConnection",
    "UnknownJob",
    "decode_jwt_payload",
    "java_duration",
    "java_offset_datetime",
    "load_connections_file",
    "make_self_signed_ca",
]
