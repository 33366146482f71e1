"""Shared fixtures: Airflow connections from the environment, an emulator per test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_airbyte_sync import client


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    """Tests must not see each other's tokens (the cache is process-wide on purpose)."""
    client.TOKENS._tokens.clear()
    yield
    client.TOKENS._tokens.clear()


@pytest.fixture(autouse=True)
def _no_defer_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process deferrals have no scheduler to race with: triggers fire as soon as the job ends.

    The real-Airflow tests run in their own processes and keep the real hold.
    """
    from airflow_provider_airbyte_sync import tasks

    monkeypatch.setattr(tasks, "DEFER_SETTLE_S", 0.0)


@pytest.fixture
def airflow_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define an Airflow connection through ``AIRFLOW_CONN_<ID>`` (JSON) and return its id."""

    def define(conn_id: str = "airbyte_test", **fields: Any) -> str:
        fields.setdefault("conn_type", "airbyte_sync")
        if isinstance(fields.get("extra"), dict):
            fields["extra"] = json.dumps(fields["extra"])
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
        return conn_id

    return define


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Any]]:
    """Start Airbyte emulators with any options; all are stopped after the test."""
    from airflow_provider_airbyte_sync.testing import AirbyteEmulator

    started: list[AirbyteEmulator] = []

    def start(**options: Any) -> AirbyteEmulator:
        emulator = AirbyteEmulator(**options).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


def conn_fields(emulator: Any, deployment: str = "config", auth: str = "none") -> dict[str, Any]:
    """Airflow connection fields for one way of reaching the emulator (as a user would set them)."""
    from airflow_provider_airbyte_sync.testing import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_PASSWORD,
        DEFAULT_USERNAME,
    )

    fields: dict[str, Any] = {"conn_type": "airbyte_sync"}
    if deployment == "config":
        fields.update(host="127.0.0.1", port=emulator.port)
    elif deployment == "public":
        fields.update(host=emulator.public_api_url)
    elif deployment == "cloud":
        fields.update(host=emulator.cloud_api_url)
    elif deployment == "official":
        fields.update(conn_type="airbyte", host=emulator.public_api_url)
    if auth == "basic":
        fields.update(login=DEFAULT_USERNAME, password=DEFAULT_PASSWORD)
    elif auth == "client_credentials":
        fields.update(login=DEFAULT_CLIENT_ID, password=DEFAULT_CLIENT_SECRET)
        if deployment == "config":
            fields["extra"] = {"auth_type": "client_credentials"}
    elif auth == "bearer":
        fields.update(extra={"token": emulator.issue_token()})
    return fields
