"""AirbyteSyncTrigger over real HTTP against the emulator: one event, never blocking, never losing a job."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_airbyte_sync.testing import DEFAULT_WORKSPACE_ID, FAILING_CONNECTION_ID
from airflow_provider_airbyte_sync.triggers.airbyte import AirbyteSyncTrigger
from tests.conftest import conn_fields

FAST = {"pending_s": 0.05, "running_s": 0.4}


async def collect(trigger: AirbyteSyncTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


@pytest.fixture(autouse=True)
def _no_sync_io_in_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The triggerer's loop must never do blocking HTTP: make any `requests` call fail loudly."""
    import requests

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("blocking requests call inside the trigger")

    monkeypatch.setattr(requests.Session, "request", refuse)


def start(emulator: Any, connection_id: str, job_type: str = "sync") -> int:
    return emulator.start_job(connection_id, job_type)


@pytest.mark.parametrize(
    ("deployment", "auth", "server_auth"),
    [("config", "basic", "basic"), ("public", "client_credentials", "token"), ("cloud", "bearer", "token")],
)
async def test_success_event_carries_the_job(
    emulator_factory: Callable[..., Any],
    airflow_conn: Callable[..., str],
    deployment: str,
    auth: str,
    server_auth: str,
) -> None:
    emulator = emulator_factory(auth=server_auth)
    connection_id = emulator.add_connection(name="fast", workspace_id=DEFAULT_WORKSPACE_ID, **FAST)
    job_id = start(emulator, connection_id)
    conn_id = airflow_conn(**conn_fields(emulator, deployment, auth))
    events = await collect(AirbyteSyncTrigger(job_id, conn_id, poll_interval=0.1, url="http://ui/x"))
    assert len(events) == 1
    (event,) = events
    assert event["status"] == "succeeded" and event["job_id"] == job_id and event["url"] == "http://ui/x"
    assert event["job"]["status"] == "succeeded" and event["job"]["rows_synced"] > 0
    assert isinstance(event["job"]["created_at"], str)  # primitives only: Airflow's serde refuses our classes
    assert emulator.stats()["tcp_connections"] <= 2


async def test_failed_event_has_airbytes_reason(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    emulator.update_connection(FAILING_CONNECTION_ID, **FAST)
    job_id = start(emulator, FAILING_CONNECTION_ID)
    (event,) = await collect(
        AirbyteSyncTrigger(job_id, airflow_conn(**conn_fields(emulator, "public")), poll_interval=0.1)
    )
    assert event["status"] == "failed"
    assert f"job {job_id}" in event["message"] and "ended failed: source/config_error" in event["message"]


async def test_cancelled_from_airbyte_is_failed_not_success(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    connection_id = emulator.add_connection(name="slow", pending_s=0.05, running_s=600)
    job_id = start(emulator, connection_id)
    trigger = AirbyteSyncTrigger(job_id, airflow_conn(**conn_fields(emulator, "config")), poll_interval=0.1)
    task = asyncio.create_task(collect(trigger))
    await asyncio.sleep(0.3)
    emulator.cancel_job(job_id)
    (event,) = await task
    assert event["status"] == "failed" and "ended cancelled" in event["message"]


async def test_deadline_cancels_an_owned_job_only(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    connection_id = emulator.add_connection(name="slow", pending_s=0.05, running_s=600)
    conn_id = airflow_conn(**conn_fields(emulator, "public"))
    owned = start(emulator, connection_id)
    (event,) = await collect(
        AirbyteSyncTrigger(
            owned, conn_id, end_time=time.time() + 0.4, poll_interval=0.1, owned=True, timeout=0.4
        )
    )
    assert event["status"] == "timeout" and "did not end within the timeout of 0.4s" in event["message"]
    assert emulator.job(owned)["status"] == "cancelled"
    other = start(emulator, connection_id)
    (event,) = await collect(
        AirbyteSyncTrigger(other, conn_id, end_time=time.time() + 0.3, poll_interval=0.1, owned=False)
    )
    assert event["status"] == "timeout"
    assert emulator.job(other)["status"] == "running"  # not ours: never cancelled


async def test_on_kill_cancels_owned_job_and_cleanup_does_not(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    connection_id = emulator.add_connection(name="slow", pending_s=0.05, running_s=600)
    conn_id = airflow_conn(**conn_fields(emulator, "config"))
    job_id = start(emulator, connection_id)
    trigger = AirbyteSyncTrigger(job_id, conn_id, poll_interval=0.1, owned=True)
    await trigger.cleanup()
    assert emulator.job(job_id)["status"] in ("pending", "running")
    await trigger.on_kill()
    assert emulator.job(job_id)["status"] == "cancelled"
    other = start(emulator, connection_id)
    await AirbyteSyncTrigger(other, conn_id, owned=False).on_kill()
    await AirbyteSyncTrigger(other, conn_id, owned=True, cancel_on_kill=False).on_kill()
    assert emulator.job(other)["status"] in ("pending", "running")


async def test_a_triggerer_restart_propagates_cancellation_and_the_rebuilt_trigger_finishes(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    connection_id = emulator.add_connection(name="mid", pending_s=0.05, running_s=0.8)
    job_id = start(emulator, connection_id)
    trigger = AirbyteSyncTrigger(
        job_id, airflow_conn(**conn_fields(emulator, "public")), poll_interval=0.1, owned=True
    )
    task = asyncio.create_task(collect(trigger))
    await asyncio.sleep(0.25)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert emulator.job(job_id)["status"] == "running"  # a restart is not a kill
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_airbyte_sync.triggers.airbyte.AirbyteSyncTrigger"
    assert all(isinstance(v, (str, int, float, bool, type(None))) for v in kwargs.values())
    rebuilt = AirbyteSyncTrigger(**kwargs)
    (event,) = await collect(rebuilt)
    assert event["status"] == "succeeded" and event["job_id"] == job_id
    assert len(emulator.jobs(connection_id)) == 1


async def test_transient_errors_are_survived_and_tokens_renewed(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airflow_provider_airbyte_sync.core.retry.BACKOFF_BASE_S", 0.01)
    emulator = emulator_factory(auth="token", token_lifetime_s=60)
    connection_id = emulator.add_connection(name="c", pending_s=0.05, running_s=100)
    job_id = start(emulator, connection_id)
    emulator.add_fault(r"/jobs/\d+$", status=502, count=3)
    emulator.add_fault(r"/jobs/\d+$", reset=True, count=1)
    emulator.add_fault(r"/jobs/\d+$", malformed=True, count=1)
    trigger = AirbyteSyncTrigger(
        job_id, airflow_conn(**conn_fields(emulator, "public", "client_credentials")), poll_interval=0.05
    )
    task = asyncio.create_task(collect(trigger))
    await asyncio.sleep(0.5)
    emulator.advance(120)  # the job ends, and the token has expired on the server
    (event,) = await asyncio.wait_for(task, 30)
    assert event["status"] == "succeeded"
    assert emulator.stats()["by_endpoint"]["POST /api/public/v1/applications/token"] == 2


async def test_error_budget_then_a_clear_error(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airflow_provider_airbyte_sync.core.retry.BACKOFF_BASE_S", 0.001)
    monkeypatch.setattr("airflow_provider_airbyte_sync.core.watch.ERROR_BUDGET_S", 0.3)
    emulator = emulator_factory()
    connection_id = emulator.add_connection(name="c", pending_s=0.05, running_s=100)
    job_id = start(emulator, connection_id)
    emulator.add_fault(r"/jobs/", status=503, count=None)
    trigger = AirbyteSyncTrigger(job_id, airflow_conn(**conn_fields(emulator, "public")), poll_interval=0.05)
    (event,) = await asyncio.wait_for(collect(trigger), 60)
    assert event["status"] == "error"
    assert f"Gave up watching Airbyte job {job_id}" in event["message"] and "re-attaches" in event["message"]


async def test_unknown_status_is_never_success(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airflow_provider_airbyte_sync.core.status.UNKNOWN_STATUS_GRACE_S", 0.3)
    emulator = emulator_factory()
    body = {
        "jobId": 77,
        "status": "paused_for_capacity",
        "jobType": "sync",
        "connectionId": "c",
        "startTime": "2026-01-01T00:00Z",
    }
    emulator.add_fault(r"/jobs/77$", status=200, body=body, count=None)
    trigger = AirbyteSyncTrigger(77, airflow_conn(**conn_fields(emulator, "public")), poll_interval=0.05)
    (event,) = await asyncio.wait_for(collect(trigger), 30)
    assert event["status"] == "failed" and "never treated as success" in event["message"]


async def test_many_watches_run_concurrently_in_one_loop(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    connection_ids = [
        emulator.add_connection(name=f"c{i}", pending_s=0.05, running_s=0.5) for i in range(200)
    ]
    jobs = [start(emulator, cid) for cid in connection_ids]
    conn_id = airflow_conn(**conn_fields(emulator, "public"))
    events = await asyncio.wait_for(
        asyncio.gather(*(collect(AirbyteSyncTrigger(job, conn_id, poll_interval=0.2)) for job in jobs)), 60
    )
    assert [e[0]["status"] for e in events] == ["succeeded"] * len(jobs)
    assert [e[0]["job_id"] for e in events] == jobs


async def test_the_same_trigger_running_twice_yields_one_event_each_and_starts_nothing(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory()
    connection_id = emulator.add_connection(name="fast", **FAST)
    job_id = start(emulator, connection_id)
    conn_id = airflow_conn(**conn_fields(emulator, "public"))
    kwargs = AirbyteSyncTrigger(job_id, conn_id, poll_interval=0.05, owned=True).serialize()[1]
    first, second = await asyncio.gather(
        collect(AirbyteSyncTrigger(**kwargs)), collect(AirbyteSyncTrigger(**kwargs))
    )
    assert [e["status"] for e in first + second] == ["succeeded", "succeeded"]
    assert [j["id"] for j in emulator.jobs()] == [job_id]


async def test_a_quick_ending_is_held_until_not_before_and_survives_a_restart(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Airflow 3.3 fails a task resumed before the scheduler saw its worker exit after defer(): the
    # event of a job that ends right away waits until not_before, also in a rebuilt trigger.
    emulator = emulator_factory()
    connection_id = emulator.add_connection(name="quick", pending_s=0, running_s=0.05)
    job_id = start(emulator, connection_id)
    conn_id = airflow_conn(**conn_fields(emulator, "public"))
    not_before = time.time() + 1.0
    kwargs = AirbyteSyncTrigger(job_id, conn_id, poll_interval=0.05, not_before=not_before).serialize()[1]
    assert kwargs["not_before"] == not_before
    (event,) = await collect(AirbyteSyncTrigger(**kwargs))
    assert event["status"] == "succeeded" and time.time() >= not_before
    # A not_before already past holds nothing: no sleep longer than a poll interval.
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float, *args: Any) -> Any:
        sleeps.append(delay)
        return await real_sleep(delay, *args)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    past = time.time() - 5
    (event,) = await collect(AirbyteSyncTrigger(job_id, conn_id, poll_interval=0.05, not_before=past))
    assert event["status"] == "succeeded" and sleeps and max(sleeps) <= 0.05


async def test_a_trigger_serialized_by_the_previous_release_loads_and_names_its_connection(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    emulator = emulator_factory(auth="basic")
    connection_id = emulator.add_connection(name="fast", workspace_id=DEFAULT_WORKSPACE_ID, **FAST)
    job_id = start(emulator, connection_id)
    conn_id = airflow_conn(**conn_fields(emulator, "config", "basic"))
    previous = {  # the kwargs the previous release stored in the trigger table
        "job_id": job_id,
        "conn_id": conn_id,
        "end_time": None,
        "poll_interval": 0.1,
        "owned": False,
        "cancel_on_kill": True,
        "connection_id": connection_id,
        "url": None,
        "timeout": None,
        "not_before": None,
    }
    (event,) = await collect(AirbyteSyncTrigger(**previous))
    assert event["status"] == "succeeded" and event["connection_id"] == connection_id
