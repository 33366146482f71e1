"""Command line: serve the Airbyte emulator until SIGINT/SIGTERM.

    python -m airflow_provider_airbyte_sync.testing --port 8000 --auth basic

The first line on stdout is machine-readable::

    Airbyte emulator listening on http://127.0.0.1:8000 connections=<id>:<status>,<id>:<status>,...

followed by how to point Airflow at it (the ``AIRFLOW_CONN_<ID>=...`` line and the
``airflow connections add`` command) and one human-readable line per connection on stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from airflow_provider_airbyte_sync.testing import airflow_connection
from airflow_provider_airbyte_sync.testing.auth import (
    AUTH_MODES,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
)
from airflow_provider_airbyte_sync.testing.emulator import (
    SERVER_VERSIONS,
    AirbyteEmulator,
    load_connections_file,
)
from airflow_provider_airbyte_sync.testing.state import CONNECTION_STATUSES


def parse_connection(spec: str) -> dict[str, Any]:
    """``UUID[:name[:status]]`` -> connection spec (a name may itself contain colons)."""
    parts = spec.split(":")
    out: dict[str, Any] = {"connection_id": parts[0]}
    rest = parts[1:]
    if len(rest) >= 2 and rest[-1] in CONNECTION_STATUSES:
        out["status"] = rest.pop()
    if rest:
        out["name"] = ":".join(rest)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m airflow_provider_airbyte_sync.testing",
        description="Serve an emulated Airbyte server (config API and public API).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default 8000)")
    p.add_argument("--auth", choices=AUTH_MODES, default="none")
    p.add_argument("--username", default=DEFAULT_USERNAME, help="basic auth user")
    p.add_argument("--password", default=DEFAULT_PASSWORD, help="basic auth password")
    p.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    p.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    p.add_argument("--token-lifetime", type=float, default=900, metavar="S", help="bearer token lifetime")
    p.add_argument(
        "--refuse-form-token",
        action="store_true",
        help="answer 415 to form-encoded token requests, as some deployments do",
    )
    p.add_argument("--server-version", choices=SERVER_VERSIONS, default="2026")
    p.add_argument("--config", metavar="FILE", help='JSON file: {"connections": [{"connectionId", ...}]}')
    p.add_argument(
        "--connection",
        action="append",
        default=[],
        metavar="UUID[:name[:status]]",
        help="serve this connection (repeatable); replaces the default connections",
    )
    p.add_argument("--latency", type=float, default=0.0, metavar="S", help="delay every answer")
    p.add_argument(
        "--error-rate", type=float, default=0.0, metavar="F", help="fraction of answers turned into 503"
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the random 503s")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (chain)")
    p.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    p.add_argument(
        "--conn-id",
        default="airbyte_default",
        help="the Airflow connection to print (default airbyte_default)",
    )
    p.add_argument(
        "--api",
        choices=airflow_connection.API_LAYOUTS,
        default="config",
        help="the API the printed Airflow connection uses: config, public (OSS layout), cloud (Cloud layout)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("--tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    connections: list[dict[str, Any]] | None = None
    if args.config or args.connection:
        connections = load_connections_file(args.config) if args.config else []
        connections += [parse_connection(c) for c in args.connection]

    emulator = AirbyteEmulator(
        args.host,
        args.port,
        auth=args.auth,
        username=args.username,
        password=args.password,
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_lifetime_s=args.token_lifetime,
        refuse_form_token=args.refuse_form_token,
        server_version=args.server_version,
        certfile=args.tls_cert,
        keyfile=args.tls_key,
        latency_s=args.latency,
        error_rate=args.error_rate,
        seed=args.seed,
        connections=connections,
    )

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    emulator.start()
    conns = emulator.connections()
    summary = ",".join(f"{c['connection_id']}:{c['status']}" for c in conns)
    print(f"Airbyte emulator listening on {emulator.url} connections={summary}", flush=True)
    fields = airflow_connection.connection_fields(emulator, args.api)
    print("Point Airflow at it with this variable (JSON) or this command:")
    print(airflow_connection.env_line(args.conn_id, fields))
    print(airflow_connection.cli_command(args.conn_id, fields), flush=True)
    for c in conns:
        print(
            f"  {c['connection_id']}  {c['status']:<10} {c['name']}  (workspace {c['workspace_id']})",
            file=sys.stderr,
            flush=True,
        )
    if args.auth == "basic":
        print(f"  auth: basic, user {args.username!r}", file=sys.stderr, flush=True)
    elif args.auth == "token":
        print(
            f"  auth: bearer tokens from {emulator.public_api_url}/applications/token "
            f"(client_id {args.client_id!r})",
            file=sys.stderr,
            flush=True,
        )
    try:
        # Wake up regularly: a signal handler only runs between bytecodes of the main thread.
        while not stop.wait(0.2):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
