"""Deferred Airbyte syncs under a real Airflow: scheduler, triggerer, DAG processor and API server.

One Airflow (SQLite) and one Airbyte emulator serve the whole module. Each scenario runs its own
emulator connection, so it counts its own jobs. The DAGs are ``example_airbyte_deferrable`` and
those of ``tests/dags``; users' actions go through the REST API, as the UI sends them.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_airbyte_sync import compat
from airflow_provider_airbyte_sync.operators.airbyte import STATE_KEY
from airflow_provider_airbyte_sync.sensors.airbyte import STATE_KEY as SENSOR_STATE_KEY
from airflow_provider_airbyte_sync.testing import AirbyteEmulator
from tests.airflow_env import emulator_conn
from tests.real_airflow import (
    EXAMPLE_DAGS,
    FINISHED_TI_STATES,
    RealAirflow,
    real_airflow_fixture,  # noqa: F401 (provides ``real_airflow``)
)

TEST_DAGS = Path(__file__).resolve().parent / "dags"
TRIGGER_LOGGER = "airflow_provider_airbyte_sync.triggers.airbyte"
SALESFORCE = "3d2b8e6f-1c4a-4f7e-9b0d-5e6f7a8b9c0d"  # example_airbyte_deferrable's two connections
STRIPE = "a4f09c1e-6d3b-4c9a-9d5e-2f1e8b7c6a01"

QUICK = {"pending_s": 0.2, "running_s": 1.0}
ENDLESS = {"pending_s": 0.2, "running_s": 600.0}
# Runs until the test ends it (``finish_running_jobs``): a retry re-attaches to it however slow.
UNTIL_FINISHED = {"pending_s": 0.2, "running_s": 3600.0}
SCRIPTS = {
    "mark_failed": ENDLESS,
    "mark_success": ENDLESS,
    "clear": QUICK,
    "timeout": ENDLESS,
    "dagrun_timeout": ENDLESS,
    "blocking_retry": UNTIL_FINISHED,
    "deferred_retry": UNTIL_FINISHED,
    "sensor_reschedule": UNTIL_FINISHED,
}
# One emulator connection per scenario, with stable ids (easy to find in logs).
CONNECTIONS = {name: str(uuid.uuid5(uuid.NAMESPACE_URL, f"airbyte-real-airflow/{name}")) for name in SCRIPTS}


@pytest.fixture(scope="module")
def emulator(request: pytest.FixtureRequest, job_audit: Callable[..., None]) -> Iterator[AirbyteEmulator]:
    with AirbyteEmulator() as running:
        for connection in running.connections():  # the default workspace, with quicker jobs
            running.update_connection(connection["connection_id"], **QUICK)
        running.update_connection(SALESFORCE, running_s=3.0)  # long enough to see the task deferred
        for name, script in SCRIPTS.items():
            running.add_connection(CONNECTIONS[name], name=f"real airflow: {name}", **script)
        yield running
        job_audit(running, request)  # no scenario left a job of its tasks running


@pytest.fixture(scope="module")
def real_airflow_env(emulator: AirbyteEmulator) -> dict[str, str]:
    return {"AIRFLOW_CONN_AIRBYTE_DEFAULT": emulator_conn(emulator.port)}


@pytest.fixture(scope="module")
def real_airflow_dags() -> list[Path]:
    return [EXAMPLE_DAGS / "example_airbyte_deferrable.py", TEST_DAGS]


# ---------------------------------------------------------------- helpers
def running_job(airflow: RealAirflow, emulator: AirbyteEmulator, connection_id: str) -> dict[str, Any]:
    """Wait for the connection's one job to be running in the emulator; answer it."""

    def running() -> dict[str, Any] | None:
        jobs = emulator.jobs(connection_id)
        return jobs[0] if len(jobs) == 1 and jobs[0]["status"] == "running" else None

    return airflow.wait_until(running, f"a running Airbyte job for {connection_id}", 30)


def job_status(
    airflow: RealAirflow, emulator: AirbyteEmulator, job_id: int, status: str, timeout: float = 30
) -> dict[str, Any]:
    """Wait for an emulator job to reach ``status``; answer it."""

    def reached() -> dict[str, Any] | None:
        job = emulator.job(job_id)
        return job if job["status"] == status else None

    return airflow.wait_until(reached, f"Airbyte job {job_id} {status}", timeout)


def finish_running_jobs(emulator: AirbyteEmulator) -> None:
    """Let every running job reach its natural end now: the emulator's clock jumps an hour.

    Every job of the emulator moves, so a scenario that uses this one ends the jobs it left running
    (the module's earlier scenarios left none).
    """
    emulator.advance(UNTIL_FINISHED["running_s"])


def trigger_events(airflow: RealAirflow, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
    """Every line the triggerers logged for this try, as text."""
    logs = airflow.trigger_logs(dag_id, run_id, task_id, try_number)
    return "\n".join(
        f"{e.get('logger', '')}: {e.get('event', '')}" for entries in logs.values() for e in entries
    )


def deferred_in_the_triggerer(airflow: RealAirflow, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    """Wait until the task is deferred and a triggerer holds its trigger; answer the task instance."""
    return airflow.wait_for_task(
        dag_id, run_id, task_id, {"deferred"}, timeout=60, until=lambda ti: bool(ti.get("triggerer_job"))
    )


# ---------------------------------------------------------------- the example DAG
def test_example_deferrable_dag_watches_its_sync_in_the_triggerer(
    real_airflow: RealAirflow, emulator: AirbyteEmulator
) -> None:
    dag_id, task_id = "example_airbyte_deferrable", "sync_salesforce_deferred"
    run_id = real_airflow.run_dag(dag_id)

    # Poll the task to its end, noting the triggerer that holds it while deferred.
    holders: set[int] = set()

    def finished() -> dict[str, Any] | None:
        ti = real_airflow.task_instance(dag_id, run_id, task_id)
        if ti.get("state") == "deferred" and ti.get("triggerer_job"):
            holders.add(ti["triggerer_job"]["id"])
        return ti if ti.get("state") in FINISHED_TI_STATES else None

    ti = real_airflow.wait_until(finished, f"{task_id} to finish", 90)
    assert ti["state"] == "success"
    assert real_airflow.wait_for_dag_run(dag_id, run_id)["state"] == "success"
    seen = real_airflow.states_seen(dag_id, run_id, task_id)
    assert "deferred" in seen and seen[-1] == "success", seen
    assert ti["try_number"] == 1  # resumed from the deferral, not retried

    # Exactly one job per operator, both succeeded.
    jobs = emulator.jobs(SALESFORCE) + emulator.jobs(STRIPE)
    assert len(emulator.jobs(SALESFORCE)) == len(emulator.jobs(STRIPE)) == 1, jobs
    assert {job["status"] for job in jobs} == {"succeeded"}
    (job,) = emulator.jobs(SALESFORCE)

    # The watch ran in the triggerer process: its job held the trigger, and wrote our trigger's lines.
    triggerers = {triggerer["id"] for triggerer in real_airflow.jobs("TriggererJob")}
    assert holders and holders <= triggerers, (holders, triggerers)
    logs = real_airflow.trigger_logs(dag_id, run_id, task_id)
    assert set(logs) <= triggerers and set(logs) & holders, (set(logs), holders)
    running = f"Airbyte job {job['id']}: running"
    ours = [
        e["event"] for lines in logs.values() for e in lines if e.get("logger", "").startswith(TRIGGER_LOGGER)
    ]
    assert any(line.startswith(running) for line in ours), ours
    # ... and not in the worker: it deferred, then resumed with the outcome, never polling the job.
    worker = [e.get("event", "") for e in real_airflow.worker_log(dag_id, run_id, task_id)]
    assert any(line.startswith("Pausing task as DEFERRED") for line in worker), worker
    assert not [line for line in worker if line.startswith(running)], worker
    assert running in real_airflow.task_log(dag_id, run_id, task_id)  # the UI shows both parts

    # XCom: the job id, and the summary of a succeeded job.
    assert real_airflow.xcom(dag_id, run_id, task_id) == job["id"]
    result = real_airflow.xcom(dag_id, run_id, task_id, "airbyte_job")
    assert result["job_id"] == job["id"] and result["connection_id"] == SALESFORCE
    assert result["status"] == "succeeded" and result["succeeded_at"] and result["rows_synced"] > 0
    assert result["rows_synced"] == job["rows"]


# Airflow 3.0-3.2 only cancel the trigger of a deferred task a user marked or whose dag run timed out.
needs_trigger_on_kill = pytest.mark.skipif(
    not compat.trigger_on_kill(), reason="this Airflow runs no trigger on_kill (3.3+): the job runs on"
)


# ---------------------------------------------------------------- a user's actions on a deferred task
@needs_trigger_on_kill
def test_marking_the_deferred_task_failed_cancels_its_job(
    real_airflow: RealAirflow, emulator: AirbyteEmulator
) -> None:
    dag_id, task_id, connection_id = "airbyte_deferred", "sync", CONNECTIONS["mark_failed"]
    run_id = real_airflow.run_dag(dag_id, {"connection_id": connection_id})
    deferred_in_the_triggerer(real_airflow, dag_id, run_id, task_id)
    job = running_job(real_airflow, emulator, connection_id)

    real_airflow.set_task_state(dag_id, run_id, task_id, "failed")

    assert job_status(real_airflow, emulator, job["id"], "cancelled")["status"] == "cancelled"
    assert len(emulator.jobs(connection_id)) == 1
    ti = real_airflow.wait_for_task(dag_id, run_id, task_id)
    assert (ti["state"], ti["try_number"]) == ("failed", 1)
    assert real_airflow.wait_for_dag_run(dag_id, run_id)["state"] == "failed"
    events = trigger_events(real_airflow, dag_id, run_id, task_id)
    assert "Trigger cancelled by user action, invoking on_kill" in events, events
    assert f"Cancelled Airbyte job {job['id']}." in events, events


@needs_trigger_on_kill
def test_marking_the_deferred_task_success_cancels_its_job(
    real_airflow: RealAirflow, emulator: AirbyteEmulator
) -> None:
    dag_id, task_id, connection_id = "airbyte_deferred", "sync", CONNECTIONS["mark_success"]
    run_id = real_airflow.run_dag(dag_id, {"connection_id": connection_id})
    deferred_in_the_triggerer(real_airflow, dag_id, run_id, task_id)
    job = running_job(real_airflow, emulator, connection_id)

    real_airflow.set_task_state(dag_id, run_id, task_id, "success")

    # Airflow 3.3 kills the trigger of a task marked success like one marked failed: on_kill runs.
    assert job_status(real_airflow, emulator, job["id"], "cancelled")["status"] == "cancelled"
    assert len(emulator.jobs(connection_id)) == 1
    ti = real_airflow.wait_for_task(dag_id, run_id, task_id)
    assert (ti["state"], ti["try_number"]) == ("success", 1)
    assert real_airflow.wait_for_dag_run(dag_id, run_id)["state"] == "success"
    events = trigger_events(real_airflow, dag_id, run_id, task_id)
    assert "Trigger cancelled by user action, invoking on_kill" in events, events
    assert f"Cancelled Airbyte job {job['id']}." in events, events


def test_clearing_a_succeeded_task_starts_one_new_sync_per_clear(
    real_airflow: RealAirflow, emulator: AirbyteEmulator
) -> None:
    dag_id, task_id, connection_id = "airbyte_deferred", "sync", CONNECTIONS["clear"]
    run_id = real_airflow.run_dag(dag_id, {"connection_id": connection_id})
    assert real_airflow.wait_for_dag_run(dag_id, run_id)["state"] == "success"
    (first,) = emulator.jobs(connection_id)
    assert real_airflow.xcom(dag_id, run_id, task_id) == first["id"]

    for try_number in (2, 3):
        real_airflow.clear(dag_id, run_id, [task_id])

        ti = real_airflow.wait_for_task(
            dag_id, run_id, task_id, until=lambda ti, n=try_number: ti["try_number"] == n
        )
        assert ti["state"] == "success"
        assert real_airflow.wait_for_dag_run(dag_id, run_id)["state"] == "success"
        jobs = emulator.jobs(connection_id)
        assert [job["status"] for job in jobs] == ["succeeded"] * try_number, jobs  # one more per clear
        assert real_airflow.xcom(dag_id, run_id, task_id) == jobs[-1]["id"]
        assert real_airflow.xcom(dag_id, run_id, task_id, "airbyte_job")["job_id"] == jobs[-1]["id"]
        log = real_airflow.task_log(dag_id, run_id, task_id, try_number)
        assert "This task was cleared (or its arguments changed): starting a new sync." in log


def test_the_timeout_while_deferred_fails_the_task_and_cancels_its_job(
    real_airflow: RealAirflow, emulator: AirbyteEmulator
) -> None:
    dag_id, task_id, connection_id = "airbyte_deferred_timeout", "sync", CONNECTIONS["timeout"]
    run_id = real_airflow.run_dag(dag_id, {"connection_id": connection_id})

    ti = real_airflow.wait_for_task(dag_id, run_id, task_id, timeout=60)

    assert (ti["state"], ti["try_number"]) == ("failed", 1)
    assert real_airflow.wait_for_dag_run(dag_id, run_id)["state"] == "failed"
    assert "deferred" in real_airflow.states_seen(dag_id, run_id, task_id)
    (job,) = emulator.jobs(connection_id)
    assert job["status"] == "cancelled"
    message = f"Airbyte job {job['id']} did not end within the timeout of 5.0s (last status: running)."
    assert message in real_airflow.task_log(dag_id, run_id, task_id)
    assert f"Cancelled Airbyte job {job['id']}." in trigger_events(real_airflow, dag_id, run_id, task_id)


@needs_trigger_on_kill
def test_the_dag_run_timing_out_while_deferred_cancels_the_job_through_on_kill(
    real_airflow: RealAirflow, emulator: AirbyteEmulator
) -> None:
    dag_id, task_id = "airbyte_deferred_dagrun_timeout", "sync"
    connection_id = CONNECTIONS["dagrun_timeout"]
    run_id = real_airflow.run_dag(dag_id, {"connection_id": connection_id})
    deferred_in_the_triggerer(real_airflow, dag_id, run_id, task_id)
    job = running_job(real_airflow, emulator, connection_id)

    run = real_airflow.wait_for_dag_run(dag_id, run_id, timeout=60)

    # Airflow 3.3.2 fails the run and skips its unfinished tasks (the deferred one too); the
    # triggerer then drops the trigger of a task no longer deferred as it does after a user's
    # action: on_kill runs and cancels the job this task started.
    assert run["state"] == "failed" and run["duration"] >= 10, run
    ti = real_airflow.wait_for_task(dag_id, run_id, task_id)
    assert (ti["state"], ti["try_number"]) == ("skipped", 1)
    assert job_status(real_airflow, emulator, job["id"], "cancelled")["status"] == "cancelled"
    assert len(emulator.jobs(connection_id)) == 1

    def trigger_ended() -> str | None:
        events = trigger_events(real_airflow, dag_id, run_id, task_id)
        return events if "trigger completed" in events else None

    events = real_airflow.wait_until(trigger_ended, "the trigger's end in its log")
    assert "Trigger cancelled by user action, invoking on_kill" in events, events
    assert f"Cancelled Airbyte job {job['id']}." in events, events
    assert "did not end within the timeout" not in events, events  # on_kill, not the trigger's deadline


# ---------------------------------------------------------------- retries re-attach
def test_a_retry_after_the_worker_was_killed_reattaches_to_the_running_job(
    real_airflow: RealAirflow, emulator: AirbyteEmulator
) -> None:
    dag_id, task_id, connection_id = "airbyte_blocking_retry", "sync", CONNECTIONS["blocking_retry"]
    run_id = real_airflow.run_dag(dag_id, {"connection_id": connection_id})
    ti = real_airflow.wait_for_task(dag_id, run_id, task_id, {"running"}, until=lambda ti: bool(ti["pid"]))
    job = running_job(real_airflow, emulator, connection_id)
    stored = real_airflow.wait_until(
        lambda: real_airflow.state_store(dag_id, run_id, task_id, STATE_KEY), "the job id in the state store"
    )
    assert stored["job_id"] == job["id"]

    os.kill(ti["pid"], signal.SIGKILL)  # the task process dies mid-sync: no on_kill, no cleanup

    resumed = f"Airbyte job {job['id']} of an earlier try of this task is running: resuming it."
    real_airflow.wait_for_log(dag_id, run_id, task_id, 2, resumed)
    finish_running_jobs(emulator)
    ti = real_airflow.wait_for_task(dag_id, run_id, task_id, until=lambda ti: ti["try_number"] == 2)
    assert ti["state"] == "success"
    tries = {t["try_number"]: t["state"] for t in real_airflow.tries(dag_id, run_id, task_id)}
    assert tries == {1: "failed", 2: "success"}, tries
    assert "Process terminated by signal" in real_airflow.task_log(dag_id, run_id, task_id, 1)
    assert len(emulator.jobs(connection_id)) == 1, emulator.jobs(connection_id)
    assert emulator.job(job["id"])["status"] == "succeeded"
    assert real_airflow.xcom(dag_id, run_id, task_id) == job["id"]
    assert real_airflow.xcom(dag_id, run_id, task_id, "airbyte_job")["status"] == "succeeded"


def test_a_retry_of_a_deferred_task_reattaches_to_the_running_job(
    real_airflow: RealAirflow, emulator: AirbyteEmulator
) -> None:
    dag_id, task_id, connection_id = "airbyte_deferred_retry", "sync", CONNECTIONS["deferred_retry"]
    run_id = real_airflow.run_dag(dag_id, {"connection_id": connection_id})
    deferred_in_the_triggerer(real_airflow, dag_id, run_id, task_id)
    job = running_job(real_airflow, emulator, connection_id)
    real_airflow.wait_until(
        lambda: ": running" in trigger_events(real_airflow, dag_id, run_id, task_id),
        "the trigger's first poll",
    )

    # Airbyte refuses one poll of the trigger (403): the watch ends in error and the try fails.
    emulator.add_fault(r"/jobs/get", status=403, body={"message": "Forbidden"}, count=1)

    resumed = f"Airbyte job {job['id']} of an earlier try of this task is running: resuming it."
    real_airflow.wait_for_log(dag_id, run_id, task_id, 2, resumed)
    deferred_in_the_triggerer(real_airflow, dag_id, run_id, task_id)  # the retry watches from there too
    finish_running_jobs(emulator)
    ti = real_airflow.wait_for_task(dag_id, run_id, task_id, until=lambda ti: ti["try_number"] == 2)
    assert ti["state"] == "success"
    tries = {t["try_number"]: t["state"] for t in real_airflow.tries(dag_id, run_id, task_id)}
    assert tries == {1: "failed", 2: "success"}, tries
    assert "Could not get job" in real_airflow.task_log(dag_id, run_id, task_id, 1)
    assert len(emulator.jobs(connection_id)) == 1, emulator.jobs(connection_id)
    assert emulator.job(job["id"])["status"] == "succeeded"
    assert real_airflow.xcom(dag_id, run_id, task_id) == job["id"]
    assert real_airflow.xcom(dag_id, run_id, task_id, "airbyte_job")["status"] == "succeeded"


# ---------------------------------------------------------------- the sensor, rescheduled
def test_a_rescheduled_sensor_keeps_its_watch_and_error_clock_between_pokes(
    real_airflow: RealAirflow, emulator: AirbyteEmulator
) -> None:
    dag_id, task_id = "airbyte_sensor_reschedule", "wait"
    job_id = emulator.start_job(CONNECTIONS["sensor_reschedule"])  # Airbyte's own job: the sensor's to watch
    run_id = real_airflow.run_dag(dag_id, {"job_id": job_id})

    def stored() -> dict[str, Any]:
        return real_airflow.state_store(dag_id, run_id, task_id, SENSOR_STATE_KEY) or {}

    def job_reads() -> int:
        return sum(n for key, n in emulator.stats()["by_endpoint"].items() if "jobs/get" in key)

    real_airflow.wait_until(lambda: stored().get("watch", {}).get("last_status") == "running", "a poke")
    # A proxy's page instead of Airbyte's answer: transient, each failed poke counts against the budget.
    emulator.add_fault(r"/jobs/get", status=404, body="<html><body>Not Found</body></html>", count=None)
    first_error = real_airflow.wait_until(
        lambda: stored().get("watch", {}).get("errors_since"), "a failed poke"
    )
    reads = job_reads()
    real_airflow.wait_until(lambda: job_reads() >= reads + 2, "two more pokes")
    assert stored()["watch"]["errors_since"] == first_error  # the clock of the first error, kept
    emulator.clear_faults()
    finish_running_jobs(emulator)

    ti = real_airflow.wait_for_task(dag_id, run_id, task_id)
    assert ti["state"] == "success" and ti["try_number"] == 1, ti  # reschedules: one try throughout
    final = stored()
    assert final["try_number"] == 1 and final["watch"]["job_id"] == job_id
    assert final["watch"]["last_status"] == "succeeded" and final["watch"]["errors_since"] is None
    log = real_airflow.task_log(dag_id, run_id, task_id, 1)
    assert "will poll again" in log, log
    assert real_airflow.xcom(dag_id, run_id, task_id)["status"] == "succeeded"
