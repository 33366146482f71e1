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
