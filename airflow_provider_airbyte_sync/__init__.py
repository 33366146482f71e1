"""Apache Airflow provider: start Airbyte connection syncs and watch them to the end, exactly once."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_NAME = "Airbyte (sync)"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow (``apache_airflow_provider`` entry point).

    Airflow 3.3's connection form is built only from this: ``conn-fields`` are the extra fields,
    ``ui-field-behaviour`` relabels and hides the standard ones.
    """

    def field(label: str, description: str, kind: str = "string", **schema: Any) -> dict[str, Any]:
        return {"label": label, "description": description, "schema": {"type": [kind, "null"], **schema}}

    def seconds(label: str, description: str, default: int) -> dict[str, Any]:
        return field(label, description, "number", default=default, exclusiveMinimum=0)

    def modules(kind: str) -> list[dict[str, Any]]:
        return [
            {"integration-name": _NAME, "python-modules": [f"airflow_provider_airbyte_sync.{kind}.airbyte"]}
        ]

    return {
        "package-name": "airflow-provider-airbyte-sync",
        "name": _NAME,
        "description": "Start Airbyte connection syncs and watch them to the end, exactly once: "
        "config API, OSS public API and Airbyte Cloud.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _NAME,
                "external-doc-url": "https://docs.airbyte.com/api-documentation",
                "tags": ["service"],
            }
        ],
        **{kind: modules(kind) for kind in ("operators", "sensors", "hooks", "triggers")},
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_airbyte_sync.hooks.airbyte.AirbyteHook",
                "hook-name": _NAME,
                "connection-type": "airbyte_sync",
                "conn-fields": {
                    "api_type": field(
                        "API",
                        "auto: from the host and credentials. config: OSS /api/v1. "
                        "public: OSS /api/public/v1 or Airbyte Cloud.",
                        default="auto",
                        enum=["auto", "config", "public"],
                    ),
                    "auth_type": field(
                        "Auth type",
                        "auto: bearer if a token is set; client credentials if Login is a "
                        "client id (UUID) or the API is public; Basic for a user and password.",
                        default="auto",
                        enum=["auto", "none", "basic", "bearer", "client_credentials"],
                    ),
                    "token": field(
                        "Bearer token", "A static API token, for auth type bearer.", format="password"
                    ),
                    "token_url": field(
                        "Token URL",
                        "Client-credentials token endpoint; default: the API base + /applications/token, "
                        "e.g. https://airbyte.example.com/api/public/v1/applications/token.",
                    ),
                    "api_version": field("API version", "Version in the API path.", default="v1"),
                    "connect_timeout": seconds("Connect timeout (s)", "Seconds to open a connection.", 10),
                    "read_timeout": seconds("Read timeout (s)", "Seconds to wait for a read's answer.", 30),
                    "create_timeout": seconds(
                        "Create timeout (s)",
                        "Seconds to wait for Airbyte to answer a sync request; it can take minutes under "
                        "load.",
                        180,
                    ),
                    "verify_ssl": field(
                        "Verify TLS certificates", "Turn off only for a test server.", "boolean", default=True
                    ),
                    "ca_bundle": field(
                        "CA bundle",
                        "Path to a PEM file of CA certificates to trust, e.g. /etc/ssl/airbyte-ca.pem.",
                    ),
                    "proxies": field(
                        "Proxy",
                        'A proxy URL for all requests, or JSON such as {"https": "http://proxy:3128"}.',
                    ),
                    "web_url": field(
                        "Airbyte web UI URL",
                        "Base URL of the Airbyte web UI, for links to jobs, e.g. "
                        "https://airbyte.example.com; default: from the host.",
                    ),
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {
                        "host": "Host or base URL",
                        "login": "Login (user or client id)",
                        "password": "Password (or client secret)",
                    },
                    "placeholders": {
                        "host": "localhost, or https://api.airbyte.com/v1, or http://airbyte:8000/api/public/v1",
                        "port": "8000 (ignored when Host is a full URL)",
                        "login": "airbyte (Basic) or a client id",
                        "password": "password (Basic) or a client secret",
                    },
                },
            }
        ],
        "extra-links": ["airflow_provider_airbyte_sync.operators.airbyte.AirbyteJobLink"],
    }
