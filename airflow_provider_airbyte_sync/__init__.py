"""Apache Airflow provider: start Airbyte connection syncs and watch them to the end, exactly once."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_HOOK = "airflow_provider_airbyte_sync.hooks.airbyte.AirbyteHook"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow (``apache_airflow_provider`` entry point).

    Airflow 3.3's connection form is built only from this: ``conn-fields`` are the extra fields,
    ``ui-field-behaviour`` relabels and hides the standard ones.
    """

    def text(label: str, description: str, **schema: Any) -> dict[str, Any]:
        return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}

    def seconds(label: str, description: str, default: int) -> dict[str, Any]:
        return {
            "label": label,
            "description": description,
            "schema": {"type": ["number", "null"], "default": default, "exclusiveMinimum": 0},
        }

    return {
        "package-name": "airflow-provider-airbyte-sync",
        "name": "Airbyte (sync)",
        "description": "Start Airbyte connection syncs and watch them to the end, exactly once: "
        "config API, OSS public API and Airbyte Cloud.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Airbyte (sync)",
                "external-doc-url": "https://docs.airbyte.com/api-documentation",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "Airbyte (sync)",
                "python-modules": ["airflow_provider_airbyte_sync.operators.airbyte"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Airbyte (sync)",
                "python-modules": ["airflow_provider_airbyte_sync.sensors.airbyte"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Airbyte (sync)",
                "python-modules": ["airflow_provider_airbyte_sync.hooks.airbyte"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Airbyte (sync)",
                "python-modules": ["airflow_provider_airbyte_sync.triggers.airbyte"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": _HOOK,
                "hook-name": "Airbyte (sync)",
                "connection-type": "airbyte_sync",
                "conn-fields": {
                    "api_type": {
                        "label": "API",
                        "description": "auto: from the host and credentials. config: OSS /api/v1. "
                        "public: OSS /api/public/v1 or Airbyte Cloud.",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "auto",
                            "enum": ["auto", "config", "public"],
                        },
                    },
                    "auth_type": {
                        "label": "Auth type",
                        "description": "auto: bearer if a token is set; client credentials if Login is a "
                        "client id (UUID) or the API is public; Basic for a user and password.",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "auto",
                            "enum": ["auto", "none", "basic", "bearer", "client_credentials"],
                        },
                    },
                    "token": {
                        "label": "Bearer token",
                        "description": "A static API token, for auth type bearer.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "token_url": text(
                        "Token URL",
                        "Client-credentials token endpoint; default: the API base + /applications/token, "
                        "e.g. https://airbyte.example.com/api/public/v1/applications/token.",
                    ),
                    "api_version": text("API version", "Version in the API path.", default="v1"),
                    "connect_timeout": seconds("Connect timeout (s)", "Seconds to open a connection.", 10),
                    "read_timeout": seconds("Read timeout (s)", "Seconds to wait for a read's answer.", 30),
                    "create_timeout": seconds(
                        "Create timeout (s)",
                        "Seconds to wait for Airbyte to answer a sync request; it can take minutes under "
                        "load.",
                        180,
                    ),
                    "verify_ssl": {
                        "label": "Verify TLS certificates",
                        "description": "Turn off only for a test server.",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "ca_bundle": text(
                        "CA bundle",
                        "Path to a PEM file of CA certificates to trust, e.g. /etc/ssl/airbyte-ca.pem.",
                    ),
                    "proxies": text(
                        "Proxy",
                        'A proxy URL for all requests, or JSON such as {"https": "http://proxy:3128"}.',
                    ),
                    "web_url": text(
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
