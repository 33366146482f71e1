"""How an Airflow connection reads: base URL, API flavour, auth, timeouts, TLS, proxies."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_airbyte_sync.core.errors import AirbyteConfigError
from airflow_provider_airbyte_sync.core.settings import Settings, settings_from_connection

CLIENT_ID = "0da998a2-0d7b-49c7-bb6e-9f7eb9cc68a0"


def read(**fields: Any) -> Settings:
    fields.setdefault("conn_id", "c")
    fields.setdefault("conn_type", "airbyte_sync")
    fields.setdefault("host", None)
    return settings_from_connection(**fields)


@pytest.mark.parametrize(
    ("fields", "base_url", "flavour", "auth"),
    [
        # the original task's default: config API at http://HOST:8000/api/v1, no auth
        ({}, "http://localhost:8000/api/v1", "config", "none"),
        ({"host": "airbyte", "port": 8001}, "http://airbyte:8001/api/v1", "config", "none"),
        (
            {"host": "airbyte", "login": "airbyte", "password": "password"},
            "http://airbyte:8000/api/v1",
            "config",
            "basic",
        ),
        # a client id is a UUID: client credentials, so the public API
        (
            {"host": "airbyte", "login": CLIENT_ID, "password": "s3cret"},
            "http://airbyte:8000/api/public/v1",
            "public",
            "client_credentials",
        ),
        # the URL path names the API; the port is never added to a full URL
        (
            {"host": "http://airbyte:8000/api/public/v1", "port": 9999},
            "http://airbyte:8000/api/public/v1",
            "public",
            "none",
        ),
        (
            {"host": "https://airbyte.example.com/api/v1/"},
            "https://airbyte.example.com/api/v1",
            "config",
            "none",
        ),
        # a reverse-proxy base path survives
        (
            {"host": "https://proxy.example.com/airbyte", "extra": {"api_type": "public"}},
            "https://proxy.example.com/airbyte/api/public/v1",
            "public",
            "none",
        ),
        (
            {"host": "https://proxy.example.com/airbyte"},
            "https://proxy.example.com/airbyte/api/v1",
            "config",
            "none",
        ),
        # Cloud
        (
            {"host": "https://api.airbyte.com", "login": CLIENT_ID, "password": "s"},
            "https://api.airbyte.com/v1",
            "public",
            "client_credentials",
        ),
        (
            {"host": "https://api.airbyte.com/v1", "login": "x", "password": "s"},
            "https://api.airbyte.com/v1",
            "public",
            "client_credentials",
        ),
        # explicit choices win
        (
            {
                "host": "airbyte",
                "login": "airbyte",
                "password": "p",
                "extra": {"api_type": "public", "auth_type": "basic"},
            },
            "http://airbyte:8000/api/public/v1",
            "public",
            "basic",
        ),
        (
            {"host": "airbyte", "extra": {"token": "tok-123456"}},
            "http://airbyte:8000/api/v1",
            "config",
            "bearer",
        ),
        # old OSS served the public API on port 8006 at /v1
        ({"host": "http://airbyte:8006/v1"}, "http://airbyte:8006/v1", "public", "none"),
    ],
)
def test_base_url_flavour_and_auth(fields: dict[str, Any], base_url: str, flavour: str, auth: str) -> None:
    settings = read(**fields)
    assert (settings.base_url, settings.flavour, settings.auth) == (base_url, flavour, auth)


def test_token_url_defaults_to_the_public_base_and_joins_paths() -> None:
    settings = read(host="https://proxy.example.com/airbyte/api/public/v1", login=CLIENT_ID, password="s")
    assert settings.token_url == "https://proxy.example.com/airbyte/api/public/v1/applications/token"
    override = read(host="airbyte", login=CLIENT_ID, password="s", extra={"token_url": "/custom/token"})
    assert override.token_url == "http://airbyte:8000/custom/token"


def test_official_airbyte_connection_reads_as_the_official_provider_reads_it() -> None:
    settings = read(
        conn_type="airbyte",
        host="http://airbyte:8000/api/public/v1",
        port=1234,
        login=CLIENT_ID,
        password="s",
    )
    assert settings.base_url == "http://airbyte:8000/api/public/v1"
    assert settings.flavour == "public"
    assert settings.auth == "client_credentials"
    # urljoin of the default "v1/applications/token" onto the server URL, as its SDK does
    assert settings.token_url == "http://airbyte:8000/api/public/v1/applications/token"
    cloud = read(conn_type="airbyte", host="https://api.airbyte.com/v1", login=CLIENT_ID, password="s")
    assert cloud.token_url == "https://api.airbyte.com/v1/applications/token"
    assert cloud.web_url == "https://cloud.airbyte.com"
    # no auth unless both login and password are set
    assert read(conn_type="airbyte", host="http://a:8000/api/public/v1", login=CLIENT_ID).auth == "none"
    explicit = read(
        conn_type="airbyte",
        host="http://a/api/public/v1",
        login="i",
        password="s",
        schema="http://auth/token",
    )
    assert explicit.token_url == "http://auth/token"


def test_timeouts_tls_proxies_and_web_url() -> None:
    settings = read(
        host="https://airbyte.example.com",
        extra={
            "connect_timeout": "3",
            "read_timeout": 20,
            "create_timeout": 300,
            "ca_bundle": "/etc/ca.pem",
            "proxies": "http://proxy:3128",
            "web_url": "https://ui.example.com/",
        },
    )
    assert (settings.connect_timeout, settings.read_timeout, settings.create_timeout) == (3.0, 20.0, 300.0)
    assert settings.verify == "/etc/ca.pem"
    assert settings.proxies == {"http": "http://proxy:3128", "https": "http://proxy:3128"}
    assert settings.web_url == "https://ui.example.com"
    assert read(extra={"verify_ssl": "false", "ca_bundle": "/x"}).verify is False
    assert read().create_timeout == 180.0  # a create can take minutes under load; 5 s lost syncs
    assert read(extra={"proxies": '{"https": "http://p:1"}'}).proxies == {"https": "http://p:1"}


def test_secrets_never_show_in_repr_or_dict() -> None:
    settings = read(
        host="a", login="airbyte", password="hunter2-secret", extra={"proxies": "http://u:pw-secret@p:1"}
    )
    assert "hunter2-secret" not in repr(settings)
    assert "pw-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings.to_dict())


@pytest.mark.parametrize(
    ("fields", "fix"),
    [
        ({"host": "airbyte:8000"}, "Port field"),
        ({"host": "ftp://airbyte"}, "http(s) URL"),
        ({"extra": {"api_type": "graphql"}}, "api_type must be"),
        ({"extra": {"auth_type": "kerberos"}}, "auth_type must be"),
        ({"extra": {"auth_type": "basic"}}, "Basic auth needs"),
        ({"extra": {"auth_type": "client_credentials"}, "login": "x"}, "client credentials need"),
        ({"extra": {"auth_type": "bearer"}}, "'token' extra"),
        ({"extra": {"read_timeout": 0}}, "positive number"),
        ({"extra": {"create_timeout": "-5"}}, "positive number"),
        ({"extra": {"proxies": "{not json"}}, "neither a URL nor JSON"),
        ({"conn_type": "airbyte", "host": "localhost"}, "API base URL"),
    ],
)
def test_bad_connections_get_one_clear_error(fields: dict[str, Any], fix: str) -> None:
    with pytest.raises(AirbyteConfigError, match="Airflow connection 'c'") as error:
        read(**fields)
    assert fix in str(error.value)


def test_proxy_for_the_async_path_follows_the_connection_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_airbyte_sync.core.transport import proxy_for

    for name in (
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    plain = read(host="https://airbyte.example.com")
    assert proxy_for(plain, "https://airbyte.example.com/api/v1/jobs/get") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.com")
    assert proxy_for(plain, "https://airbyte.example.com/api/v1/x") == "http://env-proxy:3128"
    assert proxy_for(plain, "https://airbyte.internal.example.com/api/v1/x") is None
    own = read(host="https://airbyte.example.com", extra={"proxies": '{"https": "http://own:1"}'})
    assert proxy_for(own, "https://airbyte.example.com/api/v1/x") == "http://own:1"
