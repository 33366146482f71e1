"""The hook over real HTTP against the emulator: every deployment and auth mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_airbyte_sync.core.errors import (
    AirbyteConnectionNotActive,
    AirbyteConnectionNotFound,
    AirbyteJobFailed,
    AirbyteTimeout,
    AirbyteUnreachable,
)
from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook
from airflow_provider_airbyte_sync.testing import (
    DEFAULT_CONNECTION_ID,
    DEFAULT_WORKSPACE_ID,
    FAILING_CONNECTION_ID,
    INACTIVE_CONNECTION_ID,
)
from tests.conftest import conn_fields
from tests.tls import make_self_signed_ca

FAST = {"pending_s": 0.05, "running_s": 0.3}
SETUPS = [
    ("config", "none", "none"),
    ("config", "basic", "basic"),
    ("config", "bearer", "token"),
    ("config", "client_credentials", "token"),
    ("public", "none", "none"),
    ("public", "client_credentials", "token"),
    ("public", "bearer", "token"),
    ("cloud", "client_credentials", "token"),
    ("official", "client_credentials", "token"),
]


def hook_for(emulator: Any, airflow_conn: Callable[..., str], deployment: str, auth: str) -> AirbyteHook:
    return AirbyteHook(airflow_conn(**conn_fields(emulator, deployment, auth)))


@pytest.mark.parametrize(("deployment", "auth", "server_auth"), SETUPS)
def test_sync_end_to_end_in_every_deployment_and_auth_mode(
    emulator_factory: Callable[..., Any],
    airflow_conn: Callable[..., str],
    deployment: str,
    auth: str,
    server_auth: str,
) -> None:
    emulator = emulator_factory(auth=server_auth)
    connection_id = emulator.add_connection(name="fast", workspace_id=DEFAULT_WORKSPACE_ID, **FAST)
    hook = hook_for(emulator, airflow_conn, deployment, auth)
    ok, message = hook.test_connection()
    assert ok, message
    job, owned = hook.start_job(connection_id)
    assert owned and job.connection_id == connection_id and job.state == "in_progress"
    done = hook.wait_for_job(job.job_id, wait_seconds=0.1, timeout=30)
    assert done.status == "succeeded" and done.rows_synced and done.bytes_synced
    assert done.updated_at is not None and done.updated_at.tzinfo is not None
    assert [j["status"] for j in emulator.jobs(connection_id)] == ["succeeded"]
    assert hook.job_url(connection_id) == (
        f"{'https://cloud.airbyte.com' if False else emulator.url}/workspaces/{DEFAULT_WORKSPACE_ID}"
        f"/connections/{connection_id}/job-history"
    )


@pytest.mark.parametrize(("deployment", "auth", "server_auth"), [s for s in SETUPS if s[1] != "none"])
def test_wrong_credentials_fail_test_connection_with_the_fix(
    emulator_factory: Callable[..., Any],
    airflow_conn: Callable[..., str],
    deployment: str,
    auth: str,
    server_auth: str,
) -> None:
    emulator = emulator_factory(auth=server_auth)
    fields = conn_fields(emulator, deployment, auth)
    if "password" in fields:
        fields["password"] = "wrong-secret-value"
    else:
        fields["extra"] = {"token": "wrong-token-value"}
    ok, message = AirbyteHook(airflow_conn(**fields)).test_connection()
    assert not ok
    assert "refused the credentials" in message
    assert "wrong-secret-value" not in message and "wrong-token-value" not in message


def test_anonymous_health_is_not_a_connection_test(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory(auth="basic")
    ok, _ = AirbyteHook(airflow_conn(**conn_fields(emulator, "config", "none"))).test_connection()
    assert not ok  # health answers anonymously; the test must prove credentials work
    assert emulator.stats()["by_endpoint"].get("GET /api/v1/health") is None


def test_token_expiring_mid_watch_is_renewed(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory(auth="token", token_lifetime_s=60)
    connection_id = emulator.add_connection(name="slow", pending_s=0.05, running_s=120)
    hook = hook_for(emulator, airflow_conn, "public", "client_credentials")
    job, _ = hook.start_job(connection_id)
    emulator.advance(90)  # the token expired on the server; our cache still holds it
    assert hook.get_job_details(job.job_id).status == "running"
    emulator.advance(60)
    assert hook.get_job_details(job.job_id).status == "succeeded"
    assert emulator.stats()["by_endpoint"]["POST /api/public/v1/applications/token"] == 3


def test_failed_job_fails_with_airbytes_reason(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    emulator.update_connection(FAILING_CONNECTION_ID, **FAST)
    for deployment in ("config", "public"):
        hook = hook_for(emulator, airflow_conn, deployment, "none")
        job, _ = hook.start_job(FAILING_CONNECTION_ID)
        with pytest.raises(
            AirbyteJobFailed, match=rf"job {job.job_id} .* ended failed: source/config_error: "
        ):
            hook.wait_for_job(job.job_id, wait_seconds=0.1, timeout=30)


def test_cancelled_from_airbyte_is_a_failure(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    connection_id = emulator.add_connection(name="c", pending_s=0.05, running_s=0.3, outcome="cancelled")
    hook = hook_for(emulator, airflow_conn, "public", "none")
    job, _ = hook.start_job(connection_id)
    with pytest.raises(AirbyteJobFailed, match="ended cancelled"):
        hook.wait_for_job(job.job_id, wait_seconds=0.1, timeout=30)


def test_incomplete_and_queued_are_waited_for(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = emulator_factory()
    connection_id = emulator.add_connection(
        name="flaky", pending_s=0.05, queued_s=0.3, running_s=0.2, incomplete_attempts=1, incomplete_s=0.2
    )
    hook = hook_for(emulator, airflow_conn, "config", "none")
    job, _ = hook.start_job(connection_id)
    done = hook.wait_for_job(job.job_id, wait_seconds=0.05, timeout=30)
    assert done.status == "succeeded" and done.attempts == 2
    text = capsys.readouterr().out
    assert ": queued" in text and ": incomplete" in text and "an attempt failed, Airbyte retries" in text


def test_timeout_cancels_the_job_unless_told_not_to(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    connection_id = emulator.add_connection(name="slow", pending_s=0.05, running_s=600)
    hook = hook_for(emulator, airflow_conn, "public", "none")
    job, _ = hook.start_job(connection_id)
    with pytest.raises(AirbyteTimeout, match=f"job {job.job_id} did not end within the timeout of 0.5s"):
        hook.wait_for_job(job.job_id, wait_seconds=0.1, timeout=0.5)
    assert emulator.job(job.job_id)["status"] == "cancelled"
    second = emulator.start_job(connection_id)
    with pytest.raises(AirbyteTimeout):
        hook.wait_for_job(second, wait_seconds=0.1, timeout=0.3, cancel_on_timeout=False)
    assert emulator.job(second)["status"] == "running"


@pytest.mark.parametrize("deployment", ["config", "public"])
def test_inactive_and_unknown_connections_start_nothing(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], deployment: str
) -> None:
    emulator = emulator_factory()
    hook = hook_for(emulator, airflow_conn, deployment, "none")
    with pytest.raises(AirbyteConnectionNotActive, match=r"inactive.*Enable it in the Airbyte UI"):
        hook.submit_sync_connection(INACTIVE_CONNECTION_ID)
    with pytest.raises(AirbyteConnectionNotFound, match="Copy the connection id"):
        hook.submit_sync_connection("11111111-2222-4333-8444-555555555555")
    assert emulator.jobs() == []


def test_reset_and_clear(emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]) -> None:
    emulator = emulator_factory()
    for deployment in ("config", "public"):
        hook = hook_for(emulator, airflow_conn, deployment, "none")
        for job_type in ("reset", "clear"):
            job = hook.submit_job(DEFAULT_CONNECTION_ID, job_type)
            assert job.job_type == job_type
            emulator.cancel_job(job.job_id)
    assert [j["job_type"] for j in emulator.jobs()] == ["reset", "clear", "reset", "clear"]


def test_old_servers_fall_back_without_downloading_logs(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory(server_version="2022")
    hook = hook_for(emulator, airflow_conn, "config", "none")
    job = hook.submit_job(DEFAULT_CONNECTION_ID, "clear")  # no clear before 2026: reset
    assert job.job_type == "reset"
    emulator.advance(30)
    assert hook.get_job_details(job.job_id).status == "succeeded"
    assert hook.get_job_details(job.job_id).status == "succeeded"
    calls = emulator.stats()["by_endpoint"]
    assert calls["POST /api/v1/jobs/get_without_logs"] == 1  # tried once, then remembered
    assert calls["POST /api/v1/jobs/get_light"] == 2
    assert "POST /api/v1/jobs/get" not in calls


def test_keep_alive_one_connection_per_hook(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    connection_id = emulator.add_connection(name="fast", **FAST)
    hook = hook_for(emulator, airflow_conn, "public", "none")
    job, _ = hook.start_job(connection_id)
    hook.wait_for_job(job.job_id, wait_seconds=0.05, timeout=30)
    stats = emulator.stats()
    assert stats["requests"] >= 5
    assert stats["tcp_connections"] == 1


def test_wrong_port_and_https_against_http_name_the_fix(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airflow_provider_airbyte_sync.hooks.airbyte.time.sleep", lambda s: None)
    emulator = emulator_factory()
    ok, message = AirbyteHook(airflow_conn(host="127.0.0.1", port=1)).test_connection()
    assert not ok and "Check the host, port and scheme" in message
    hook = AirbyteHook(airflow_conn(host=f"https://127.0.0.1:{emulator.port}"))
    with pytest.raises(AirbyteUnreachable, match=r"TLS failed.*https against an http port"):
        hook.get_job_details(1)


def test_self_signed_ca(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], tmp_path: Any
) -> None:
    ca, cert, key = make_self_signed_ca(tmp_path)
    emulator = emulator_factory(certfile=str(cert), keyfile=str(key))
    base = f"https://127.0.0.1:{emulator.port}"
    trusted = AirbyteHook(airflow_conn(host=base, extra={"ca_bundle": str(ca)}))
    assert trusted.test_connection()[0]
    untrusted = AirbyteHook(airflow_conn("untrusted", host=base))
    ok, message = untrusted.test_connection()
    assert not ok and "TLS failed" in message
    unverified = AirbyteHook(airflow_conn("unverified", host=base, extra={"verify_ssl": False}))
    assert unverified.test_connection()[0]


def test_stale_keep_alive_connection_on_a_create_starts_one_job(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    connection_id = emulator.add_connection(name="fast", **FAST)
    hook = hook_for(emulator, airflow_conn, "config", "none")
    dropped: list[int] = []

    def drop_idle(record: Any) -> None:
        if record.state == "sent" and not dropped:  # just before the POST goes out, kept alive
            dropped.append(emulator.close_idle_connections())  # the server dropped it while idle

    job, owned = hook.start_job(connection_id, persist=drop_idle)
    assert dropped == [1] and owned
    assert [j["id"] for j in emulator.jobs(connection_id)] == [job.job_id]
    assert hook.wait_for_job(job.job_id, wait_seconds=0.05, timeout=30).state == "succeeded"


def test_slow_read_past_its_timeout_is_retried(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airflow_provider_airbyte_sync.core.retry.BACKOFF_BASE_S", 0.01)
    emulator = emulator_factory()
    job_id = emulator.start_job(DEFAULT_CONNECTION_ID)
    fields = conn_fields(emulator, "public")
    fields["extra"] = {"read_timeout": 0.3}
    hook = AirbyteHook(airflow_conn(**fields))
    emulator.add_fault(r"/jobs/\d+$", delay_s=1.0, count=2)
    assert hook.get_job_details(job_id).job_id == job_id
    assert emulator.stats()["by_endpoint"]["GET /api/public/v1/jobs/{jobId}"] == 3


@pytest.mark.parametrize("deployment", ["config", "public"])
def test_cancelling_a_finished_job_is_done_not_an_error(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], deployment: str
) -> None:
    emulator = emulator_factory()
    job_id = emulator.start_job(DEFAULT_CONNECTION_ID)
    emulator.advance(60)
    hook = hook_for(emulator, airflow_conn, deployment, "none")
    answer = hook.cancel_job(job_id)  # public: a state-conflict 409; config: the job unchanged
    assert answer is None or answer.status == "succeeded"
    assert emulator.job(job_id)["status"] == "succeeded"
