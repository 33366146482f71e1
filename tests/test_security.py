"""Secrets (passwords, client secrets, tokens) never reach logs, XCom, exceptions or proxy URLs."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_airbyte_sync.core.errors import AirbyteUnreachable
from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook
from airflow_provider_airbyte_sync.testing import DEFAULT_CLIENT_ID, AirbyteEmulator
from airflow_provider_airbyte_sync.triggers.airbyte import AirbyteSyncTrigger
from tests.airflow_env import airflow, airflow_env

CLIENT_SECRET = "client-secret-never-shown-7f3a"
PROXY_PASSWORD = "proxy-password-never-shown-91c"


def issued_tokens(emulator: AirbyteEmulator) -> set[str]:
    return {
        exchange["response_body"]["access_token"]
        for exchange in emulator.exchanges()
        if exchange["path"].endswith("/applications/token")
        and isinstance(exchange.get("response_body"), dict)
        and "access_token" in exchange["response_body"]
    }


def test_secret_and_tokens_are_registered_with_the_masker(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    emulator = emulator_factory(auth="token", client_secret=CLIENT_SECRET, record=True)
    conn_id = airflow_conn(host=emulator.public_api_url, login=DEFAULT_CLIENT_ID, password=CLIENT_SECRET)
    hook = AirbyteHook(conn_id)
    assert hook.test_connection()[0]
    (token,) = issued_tokens(emulator)
    assert CLIENT_SECRET not in str(redact(f"secret {CLIENT_SECRET}"))
    assert token not in str(redact(f"Authorization: Bearer {token}"))


async def test_the_trigger_masks_its_token_without_blocking(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    emulator = emulator_factory(auth="token", client_secret=CLIENT_SECRET, record=True)
    connection_id = emulator.add_connection(name="fast", pending_s=0.05, running_s=0.2)
    job_id = emulator.start_job(connection_id)
    conn_id = airflow_conn(host=emulator.public_api_url, login=DEFAULT_CLIENT_ID, password=CLIENT_SECRET)
    events = [e.payload async for e in AirbyteSyncTrigger(job_id, conn_id, poll_interval=0.05).run()]
    assert events[0]["status"] == "succeeded"
    for token in issued_tokens(emulator):
        assert token not in str(redact(token))
        assert token not in json.dumps(events)
    assert CLIENT_SECRET not in json.dumps(events)
    await asyncio.sleep(0)


def test_proxy_credentials_never_reach_messages(
    airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airflow_provider_airbyte_sync.hooks.airbyte.time.sleep", lambda _s: None)
    conn_id = airflow_conn(
        host="127.0.0.1", port=9, extra={"proxies": f"http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:1"}
    )
    hook = AirbyteHook(conn_id)
    assert PROXY_PASSWORD not in repr(hook.settings)
    with pytest.raises(AirbyteUnreachable) as raised:
        hook.get_job_details(1)
    assert PROXY_PASSWORD not in str(raised.value)
    ok, message = hook.test_connection()
    assert not ok and PROXY_PASSWORD not in message


@pytest.fixture(scope="module")
def debug_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, AirbyteEmulator]]:
    """Run the deferrable example DAG at DEBUG level with client credentials; keep everything it wrote."""
    home = tmp_path_factory.mktemp("airflow-debug")
    with AirbyteEmulator(auth="token", client_secret=CLIENT_SECRET, record=True) as emulator:
        for connection in emulator.connections():
            emulator.update_connection(connection["connection_id"], pending_s=0.2, running_s=1.0)
        conn = {
            "conn_type": "airbyte_sync",
            "host": emulator.public_api_url,
            "login": DEFAULT_CLIENT_ID,
            "password": CLIENT_SECRET,
        }
        env = airflow_env(
            home, AIRFLOW_CONN_AIRBYTE_DEFAULT=json.dumps(conn), AIRFLOW__LOGGING__LOGGING_LEVEL="DEBUG"
        )
        assert airflow(env, "db", "migrate").returncode == 0
        result = airflow(env, "dags", "test", "example_airbyte_deferrable")
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
        yield home, output, emulator


def test_no_secret_or_token_in_debug_logs_xcom_or_files(debug_run: tuple[Path, str, AirbyteEmulator]) -> None:
    home, output, emulator = debug_run
    tokens = issued_tokens(emulator)
    assert tokens, "the run authenticated with client credentials"
    assert "DEBUG" in output or "debug" in output  # the run really logged at DEBUG
    secrets = {CLIENT_SECRET, *tokens}
    # `airflow dags test` runs the task under Airflow's in-process test supervisor, which at DEBUG
    # echoes every message of the task, including the MaskSecret request that registers a secret
    # with the masker; the real supervisor omits message bodies. Everything else must be clean.
    ours = "\n".join(line for line in output.splitlines() if "type='MaskSecret'" not in line)
    assert any("type='MaskSecret'" in line for line in output.splitlines())
    for secret in secrets:
        assert secret not in ours
    for path in home.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".json", ".txt", ""):
            text = path.read_text(errors="replace")
            for secret in secrets:
                assert secret not in text, path
    db = sqlite3.connect(home / "airflow.db")
    try:
        values = [str(row[0]) for row in db.execute("SELECT value FROM xcom")]
        rendered = [
            str(row[0]) for row in db.execute("SELECT rendered_fields FROM rendered_task_instance_fields")
        ]
    finally:
        db.close()
    assert values and rendered
    for secret in secrets:
        assert not any(secret in value for value in values + rendered)
