"""The official provider's own unit-test scenarios, re-expressed over real HTTP against the emulator.

``apache-airflow-providers-airbyte`` 6.2.0 tests its hook, operator, sensor and trigger by mocking
its SDK. Each test here takes one of those scenarios (named in its docstring), keeps the calls a
DAG written for the official provider makes (its argument names, its connection type ``airbyte``
with the public API's base URL) and checks the outcome where it is real: on the emulator's jobs
and on the wire. Where this provider deliberately differs, the test says so and checks ours.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from airflow.exceptions import AirflowException

from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook
from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator
from airflow_provider_airbyte_sync.sensors.airbyte import AirbyteJobSensor
from airflow_provider_airbyte_sync.testing import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_WORKSPACE_ID,
)
from airflow_provider_airbyte_sync.triggers.airbyte import AirbyteSyncTrigger
from tests.lines import TaskDeferred
from tests.task_context import Run

CONN_ID = "airbyte_default"
SLOW = {"pending_s": 0.0, "running_s": 60.0}


@pytest.fixture
def official(emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]) -> Any:
    """An emulator behind an Airflow connection of the official type, as its docs fill it in."""
    emulator = emulator_factory(record=True)
    emulator.fast = emulator.add_connection(
        name="fast", workspace_id=DEFAULT_WORKSPACE_ID, pending_s=0.05, running_s=0.3
    )
    airflow_conn(CONN_ID, conn_type="airbyte", host=emulator.public_api_url)
    return emulator


def api_jobs(emulator: Any, connection_id: str) -> list[dict[str, Any]]:
    """Jobs the code under test created over HTTP."""
    return [job for job in emulator.jobs(connection_id) if job["origin"] == "api"]


def job_reads(emulator: Any, job_id: int) -> int:
    return sum(
        1 for x in emulator.exchanges() if x["method"] == "GET" and x["path"].endswith(f"/jobs/{job_id}")
    )


# ---------------------------------------------------------------------------------------------- hook


def test_submit_sync_connection(official: Any) -> None:
    """``test_submit_sync_connection``: one sync job, its id answered."""
    job = AirbyteHook(airbyte_conn_id=CONN_ID).submit_sync_connection(connection_id=official.fast)
    (created,) = api_jobs(official, official.fast)
    assert job.job_id == created["id"] and created["job_type"] == "sync"
    official.cancel_job(created["id"])


def test_submit_reset_connection(official: Any) -> None:
    """``test_submit_reset_connection``: one reset job, its id answered."""
    job = AirbyteHook(airbyte_conn_id=CONN_ID).submit_reset_connection(connection_id=official.fast)
    (created,) = api_jobs(official, official.fast)
    assert job.job_id == created["id"] and created["job_type"] in ("reset", "reset_connection")
    official.cancel_job(created["id"])


def test_get_job_status(official: Any) -> None:
    """``test_get_job_status``: the status as Airbyte says it."""
    official.update_connection(official.fast, **SLOW)
    job_id = official.start_job(official.fast)
    assert AirbyteHook(airbyte_conn_id=CONN_ID).get_job_status(job_id=job_id) == "running"
    official.cancel_job(job_id)


def test_cancel_job(official: Any) -> None:
    """``test_cancel_job``: the job ends cancelled on Airbyte's side."""
    official.update_connection(official.fast, **SLOW)
    hook = AirbyteHook(airbyte_conn_id=CONN_ID)
    job_id = hook.submit_sync_connection(official.fast).job_id
    assert hook.cancel_job(job_id=job_id).status == "cancelled"
    assert official.job(job_id)["status"] == "cancelled"


def test_wait_for_job_succeeded_with_wait_seconds_zero(official: Any) -> None:
    """``test_wait_for_job_succeeded``: ``wait_seconds=0`` is accepted; a job that already ended is
    read once."""
    job_id = official.start_job(official.fast)
    official.advance(5)
    official.clear_exchanges()
    AirbyteHook(airbyte_conn_id=CONN_ID).wait_for_job(job_id=job_id, wait_seconds=0)
    assert job_reads(official, job_id) == 1


def test_wait_for_job_error(official: Any) -> None:
    """``test_wait_for_job_error``: running then failed raises an ``AirflowException``."""
    official.update_connection(official.fast, outcome="failed")
    job_id = official.start_job(official.fast)
    with pytest.raises(AirflowException, match="failed"):
        AirbyteHook(airbyte_conn_id=CONN_ID).wait_for_job(job_id=job_id, wait_seconds=0)
    assert job_reads(official, job_id) >= 2  # it was seen running first


def test_wait_for_job_incomplete_succeeded(official: Any) -> None:
    """``test_wait_for_job_incomplete_succeeded``: ``incomplete`` is not an ending."""
    official.update_connection(official.fast, incomplete_attempts=1, incomplete_s=0.2)
    job_id = official.start_job(official.fast)
    done = AirbyteHook(airbyte_conn_id=CONN_ID).wait_for_job(job_id=job_id, wait_seconds=0.05)
    assert done.status == "succeeded"
    assert len(official.job(job_id)["attempts"]) == 2


def test_wait_for_job_timeout_cancels_the_job(official: Any) -> None:
    """``test_wait_for_job_timeout``: past ``timeout`` the job is cancelled and the call raises."""
    official.update_connection(official.fast, **SLOW)
    job_id = AirbyteHook(airbyte_conn_id=CONN_ID).submit_sync_connection(official.fast).job_id
    began = time.monotonic()
    with pytest.raises(AirflowException, match="timeout"):
        AirbyteHook(airbyte_conn_id=CONN_ID).wait_for_job(job_id=job_id, wait_seconds=2, timeout=1)
    assert time.monotonic() - began < 2.5
    assert official.job(job_id)["status"] == "cancelled"


def test_wait_for_job_state_unrecognized(official: Any) -> None:
    """``test_wait_for_job_state_unrecognized``: a status nobody knows fails, never succeeds.

    Ours waits out a grace period first (a newer server's status may be transient); the scenario
    sets it to zero through the watch.
    """
    from airflow_provider_airbyte_sync.core.watch import Watch

    official.update_connection(official.fast, **SLOW)
    job_id = official.start_job(official.fast)
    body = {"jobId": job_id, "status": "UNRECOGNIZED", "jobType": "sync", "connectionId": official.fast}
    official.add_fault(rf"/jobs/{job_id}$", method="GET", status=200, body=body, count=None)
    watch = Watch(job_id, poll_interval=0.0, unknown_grace=0.0)
    with pytest.raises(AirflowException, match=r"(?i)unrecognized"):
        AirbyteHook(airbyte_conn_id=CONN_ID).wait_for_job(job_id=job_id, wait_seconds=0, watch=watch)
    official.clear_faults()
    official.cancel_job(job_id)


def test_wait_for_job_cancelled(official: Any) -> None:
    """``test_wait_for_job_cancelled``: cancelled on Airbyte's side raises."""
    official.update_connection(official.fast, outcome="cancelled")
    job_id = official.start_job(official.fast)
    with pytest.raises(AirflowException, match="cancelled"):
        AirbyteHook(airbyte_conn_id=CONN_ID).wait_for_job(job_id=job_id, wait_seconds=0.05)


def test_connection_success_and_failure(official: Any) -> None:
    """``test_connection_success`` / ``test_connection_failure``: ``(True, ...)`` or ``(False, why)``."""
    ok, message = AirbyteHook(airbyte_conn_id=CONN_ID).test_connection()
    assert ok, message
    official.add_fault(r".", status=502, body={"message": "internal server error"}, count=None)
    ok, message = AirbyteHook(airbyte_conn_id=CONN_ID).test_connection()
    assert not ok and "502" in message
    official.clear_faults()


def test_session_with_proxies(official: Any, airflow_conn: Callable[..., str]) -> None:
    """``test_create_api_session_with_proxy``: the ``proxies`` extra applies to every scheme."""
    proxies = {"http": "http://proxy:8080", "https": "https://proxy:8080"}
    airflow_conn("with_proxy", conn_type="airbyte", host=official.public_api_url, extra={"proxies": proxies})
    hook = AirbyteHook(airbyte_conn_id="with_proxy")
    assert hook.create_api_session().proxies == proxies
    assert hook.get_conn_params("with_proxy")["proxies"] == proxies


def test_session_without_and_with_credentials(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    """``test_create_api_session_without/with_credentials``: no login means no auth header; client
    credentials mean a token, then bearer requests."""
    open_server = emulator_factory(record=True)
    airflow_conn("anon", conn_type="airbyte", host=open_server.public_api_url)
    AirbyteHook(airbyte_conn_id="anon").get_job_status(open_server.start_job(open_server.add_connection()))
    assert all(
        "authorization" not in {k.lower() for k in x["request_headers"]} for x in open_server.exchanges()
    )

    secured = emulator_factory(record=True, auth="token")
    airflow_conn(
        "creds",
        conn_type="airbyte",
        host=secured.public_api_url,
        login=DEFAULT_CLIENT_ID,
        password=DEFAULT_CLIENT_SECRET,
    )
    hook = AirbyteHook(airbyte_conn_id="creds")
    assert hook.get_conn_params("creds")["client_id"] == DEFAULT_CLIENT_ID
    hook.get_job_status(secured.start_job(secured.add_connection()))
    paths = [x["path"] for x in secured.exchanges()]
    assert paths[0].endswith("/applications/token") and len(paths) == 2
    headers = {k.lower(): v for k, v in secured.exchanges()[1]["request_headers"].items()}
    assert headers["authorization"].startswith("Bearer ")


@pytest.mark.parametrize("where", ["argument", "extra"])
def test_request_timeout_from_the_hook_or_the_connection(
    official: Any, airflow_conn: Callable[..., str], where: str
) -> None:
    """Official 6.2.0: ``AirbyteHook(timeout=)`` or the ``timeout`` extra bounds every request.

    Seen through the connection form's Test (one try, no retries): the answer held back 3 s is
    given up after 0.5 s, not after the 30 s default.
    """
    extra = {"timeout": 0.5} if where == "extra" else {}
    airflow_conn("short", conn_type="airbyte", host=official.public_api_url, extra=extra)
    hook = AirbyteHook(airbyte_conn_id="short", **({"timeout": 0.5} if where == "argument" else {}))
    official.add_fault(r".", delay_s=3.0, count=None)
    began = time.monotonic()
    ok, message = hook.test_connection()
    assert not ok and "no answer within 0.5s" in message, message
    assert time.monotonic() - began < 2.9
    official.clear_faults()


@pytest.mark.parametrize("bad", [0, -1, "soon"])
def test_a_bad_request_timeout_is_refused_before_any_request(
    official: Any, airflow_conn: Callable[..., str], bad: Any
) -> None:
    """Official 6.2.0 refuses a timeout that is not a positive number of seconds; so does ours,
    naming where it was set, before anything is sent."""
    official.clear_exchanges()
    with pytest.raises(ValueError, match="timeout"):
        AirbyteHook(airbyte_conn_id=CONN_ID, timeout=bad).submit_sync_connection(official.fast)
    airflow_conn("bad", conn_type="airbyte", host=official.public_api_url, extra={"timeout": bad})
    with pytest.raises(ValueError, match="'bad'"):
        AirbyteHook(airbyte_conn_id="bad").submit_sync_connection(official.fast)
    assert official.exchanges() == [] and api_jobs(official, official.fast) == []


def test_hook_takes_no_argument_the_official_does_not() -> None:
    with pytest.raises(TypeError):
        AirbyteHook(airbyte_conn_id=CONN_ID, timout=5)  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------------ operator


def test_execute_blocking(official: Any) -> None:
    """``test_execute``: a sync is submitted and waited for with ``wait_seconds`` and ``timeout``."""
    op = AirbyteTriggerSyncOperator(
        task_id="test_Airbyte_op",
        airbyte_conn_id=CONN_ID,
        connection_id=official.fast,
        wait_seconds=0,
        timeout=360,
    )
    job_id = op.execute(Run().context())
    (job,) = api_jobs(official, official.fast)
    assert job_id == job["id"] and job["status"] == "succeeded" and job["job_type"] == "sync"


def test_execute_deferrable_carries_execution_timeout_to_the_trigger(official: Any) -> None:
    """``test_execute_deferrable_does_not_pass_execution_timeout_to_defer``: the trigger's deadline
    is the earlier of ``timeout`` and ``execution_timeout``, and the deferral's own timeout leaves
    the trigger room to cancel the job first."""
    official.update_connection(official.fast, **SLOW)
    op = AirbyteTriggerSyncOperator(
        task_id="test_airbyte_op",
        airbyte_conn_id=CONN_ID,
        connection_id=official.fast,
        wait_seconds=0,
        timeout=360,
        deferrable=True,
        execution_timeout=timedelta(seconds=30),
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(Run().context())
    trigger = deferred.value.trigger
    assert before + 29 <= trigger.end_time <= time.time() + 30
    assert deferred.value.timeout is None or deferred.value.timeout.total_seconds() > 30
    official.cancel_job(trigger.job_id)


@pytest.mark.parametrize(("outcome", "fails"), [("succeeded", False), ("cancelled", True), ("failed", True)])
def test_execute_complete(official: Any, outcome: str, fails: bool) -> None:
    """``test_execute_complete``: deferred, a success returns; a cancelled or failed job fails the
    task with the trigger's message. Here the trigger really runs against the job."""
    official.update_connection(official.fast, outcome=outcome)
    op = AirbyteTriggerSyncOperator(
        task_id="test_airbyte_op", connection_id=official.fast, wait_seconds=0.05, deferrable=True
    )
    context = Run().context()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    (event,) = asyncio.run(_events(deferred.value.trigger))
    resume = getattr(op, deferred.value.method_name)
    if fails:
        with pytest.raises(AirflowException, match=outcome):
            resume(context, event=event, **(deferred.value.kwargs or {}))
    else:
        assert resume(context, event=event, **(deferred.value.kwargs or {})) == event["job_id"]


def test_on_kill_cancels_the_job(official: Any) -> None:
    """``test_on_kill``: killing the task cancels the job it started."""
    official.update_connection(official.fast, **SLOW)
    op = AirbyteTriggerSyncOperator(task_id="op", connection_id=official.fast, asynchronous=True)
    job_id = op.execute(Run().context())
    op.on_kill()
    assert official.job(job_id)["status"] == "cancelled"


def test_on_kill_cancel_failure_is_not_raised(official: Any) -> None:
    """``test_on_kill_cancel_failure``: a cancel that fails is logged, never raised."""
    official.update_connection(official.fast, **SLOW)
    op = AirbyteTriggerSyncOperator(task_id="op", connection_id=official.fast, asynchronous=True)
    job_id = op.execute(Run().context())
    official.add_fault(r"/jobs/", method="DELETE", status=500, count=None)
    op.on_kill()
    official.clear_faults()
    official.cancel_job(job_id)


@pytest.mark.parametrize("cancel_fails", [False, True])
def test_execution_timeout_while_deferred_cancels_the_job(official: Any, cancel_fails: bool) -> None:
    """``test_execute_complete_timeout_cancels_job`` (and ``..._does_not_mask_original_error``):
    ``execution_timeout`` reached while deferred cancels the job and fails the task with the
    reason; a cancel that fails does not hide it."""
    official.update_connection(official.fast, **SLOW)
    op = AirbyteTriggerSyncOperator(
        task_id="op",
        connection_id=official.fast,
        deferrable=True,
        wait_seconds=0.05,
        execution_timeout=timedelta(seconds=0.5),
    )
    context = Run().context()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    if cancel_fails:
        official.add_fault(r"/jobs/", method="DELETE", status=500, count=None)
    (event,) = asyncio.run(_events(deferred.value.trigger))
    with pytest.raises(AirflowException, match="execution_timeout"):
        getattr(op, deferred.value.method_name)(context, event=event, **(deferred.value.kwargs or {}))
    official.clear_faults()
    job_id = deferred.value.trigger.job_id
    if cancel_fails:
        assert official.job(job_id)["status"] == "running"
        official.cancel_job(job_id)
    else:
        assert official.job(job_id)["status"] == "cancelled"


def test_execution_timeout_while_blocking_cancels_the_job(official: Any) -> None:
    """The deadline is the earlier of ``timeout`` and ``execution_timeout`` in blocking mode too."""
    official.update_connection(official.fast, **SLOW)
    op = AirbyteTriggerSyncOperator(
        task_id="op",
        connection_id=official.fast,
        wait_seconds=0.05,
        timeout=360,
        execution_timeout=timedelta(seconds=0.5),
    )
    with pytest.raises(AirflowException, match="execution_timeout"):
        op.execute(Run().context())
    (job,) = api_jobs(official, official.fast)
    assert job["status"] == "cancelled"


def test_operator_takes_no_argument_the_official_does_not(official: Any) -> None:
    with pytest.raises(TypeError):
        AirbyteTriggerSyncOperator(task_id="op", connection_id=official.fast, wait_second=3)


async def _events(trigger: AirbyteSyncTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


# -------------------------------------------------------------------------------------------- sensor


@pytest.mark.parametrize(
    ("outcome", "advance", "expected"),
    [("succeeded", 5, True), ("failed", 5, "failed"), ("succeeded", 0, False), ("cancelled", 5, "cancelled")],
)
def test_sensor_poke(official: Any, outcome: str, advance: float, expected: Any) -> None:
    """``test_done`` / ``test_failed`` / ``test_running`` / ``test_cancelled``."""
    official.update_connection(official.fast, outcome=outcome, running_s=1.0)
    job_id = official.start_job(official.fast)
    official.advance(advance)
    sensor = AirbyteJobSensor(task_id="task-id", airbyte_job_id=job_id, airbyte_conn_id=CONN_ID)
    if isinstance(expected, str):
        with pytest.raises(AirflowException, match=expected):
            sensor.poke(Run().context())
    else:
        assert bool(sensor.poke(Run().context())) is expected
    official.cancel_job(job_id)


def test_sensor_deferrable_defaults() -> None:
    """``test_airbyte_job_sensor_init``: given values are kept; deferrable defaults are the official's."""
    sensor = AirbyteJobSensor(
        task_id="test_sensor", airbyte_job_id=1, deferrable=True, poke_interval=10, timeout=3600
    )
    assert sensor.poke_interval == 10 and sensor.timeout == 3600
    defaults = AirbyteJobSensor(task_id="defaults", airbyte_job_id=1, deferrable=True)
    assert defaults.poke_interval == 5 and defaults.timeout == 60 * 60 * 24 * 7


# ------------------------------------------------------------------------------------------- trigger


def test_trigger_serialization_keeps_the_official_arguments() -> None:
    """``test_serialization``: built with the official arguments, it serializes them unchanged."""
    end_time = time.time() + 60 * 60 * 24 * 7
    trigger = AirbyteSyncTrigger(
        conn_id=CONN_ID, poll_interval=3.0, end_time=end_time, job_id=1234, execution_deadline=end_time - 5
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_airbyte_sync.triggers.airbyte.AirbyteSyncTrigger"
    assert {k: kwargs[k] for k in ("job_id", "conn_id", "end_time", "poll_interval")} == {
        "job_id": 1234,
        "conn_id": CONN_ID,
        "end_time": end_time,
        "poll_interval": 3.0,
    }
    assert kwargs["execution_deadline"] == end_time - 5
    assert AirbyteSyncTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize(("outcome", "status"), [("succeeded", "succeeded"), ("cancelled", "failed")])
async def test_trigger_terminal_status(official: Any, outcome: str, status: str) -> None:
    """``test_airbyte_job_for_terminal_status_success/cancelled/error``: one event per ending."""
    official.update_connection(official.fast, outcome=outcome)
    job_id = official.start_job(official.fast)
    events = await _events(AirbyteSyncTrigger(job_id=job_id, conn_id=CONN_ID, poll_interval=0.05))
    assert [(e["status"], e["job_id"], e["job"]["status"]) for e in events] == [(status, job_id, outcome)]


async def test_trigger_exception_is_one_error_event(official: Any) -> None:
    """``test_airbyte_job_exception``: an error reading the job is one ``error`` event."""
    events = await _events(AirbyteSyncTrigger(job_id=999_999, conn_id=CONN_ID, poll_interval=0.05))
    assert [(e["status"], e["job_id"]) for e in events] == [("error", 999_999)]


@pytest.mark.parametrize("which", ["end_time", "execution_deadline"])
async def test_trigger_deadline_passed(official: Any, which: str) -> None:
    """``test_airbyte_job_timeout``: past the deadline, one ``timeout`` event; a job the task did not
    start is left running."""
    official.update_connection(official.fast, **SLOW)
    job_id = official.start_job(official.fast)
    deadline = {which: time.time() - 1}
    events = await _events(AirbyteSyncTrigger(job_id=job_id, conn_id=CONN_ID, poll_interval=0.05, **deadline))
    assert [(e["status"], e["job_id"]) for e in events] == [("timeout", job_id)]
    assert official.job(job_id)["status"] == "running"
    official.cancel_job(job_id)


async def test_trigger_is_still_running(official: Any) -> None:
    """``test_airbyte_job_is_still_running_success`` / ``test_airbyte_sync_run_is_still_running``."""
    official.update_connection(official.fast, running_s=1.0)
    job_id = official.start_job(official.fast)
    trigger = AirbyteSyncTrigger(job_id=job_id, conn_id=CONN_ID, poll_interval=3.0, end_time=time.time() + 60)
    assert await trigger.is_still_running(AirbyteHook(airbyte_conn_id=CONN_ID)) is True
    official.advance(5)
    assert await trigger.is_still_running() is False


def test_an_airflow_facing_error_keeps_its_core_class_attributes_and_pickles() -> None:
    """What the hook raises is both the core's class and an ``AirflowException``, with the same
    message and attributes, and survives pickling (as an error crossing processes would)."""
    import pickle

    from airflow_provider_airbyte_sync.core.errors import AirbyteSyncAlreadyRunning
    from airflow_provider_airbyte_sync.exceptions import for_airflow

    core = AirbyteSyncAlreadyRunning("job 3 runs", connection_id="c", job_id=3)
    for error in (for_airflow(core), pickle.loads(pickle.dumps(for_airflow(core)))):  # noqa: S301 (our own bytes)
        assert isinstance(error, AirflowException) and isinstance(error, AirbyteSyncAlreadyRunning)
        assert (str(error), error.job_id, error.connection_id) == ("job 3 runs", 3, "c")
        assert error.outcome == "final"
    assert for_airflow(for_airflow(core)).__class__ is for_airflow(core).__class__
    plain = ValueError("not ours")
    assert for_airflow(plain) is plain


def test_every_hook_error_is_an_airflow_exception_even_before_a_request(
    official: Any, airflow_conn: Callable[..., str]
) -> None:
    """Bad arguments and bad connections fail before anything is sent, as ``ValueError`` (as the
    official hook's timeout check does) that ``except AirflowException`` catches too."""
    airflow_conn("broken", conn_type="airbyte", host="not a url")
    calls = [
        lambda: AirbyteHook(airbyte_conn_id=CONN_ID, timeout=-1),
        lambda: AirbyteHook(airbyte_conn_id=CONN_ID).get_job_details("x"),
        lambda: AirbyteHook(airbyte_conn_id=CONN_ID).submit_job(official.fast, "refresh_everything"),
        lambda: AirbyteHook(airbyte_conn_id="broken").get_job_status(1),
    ]
    official.clear_exchanges()
    for call in calls:
        with pytest.raises(AirflowException) as raised:
            call()
        assert isinstance(raised.value, ValueError), raised.value
    assert official.exchanges() == []


def test_waiting_for_another_partys_job_names_execution_timeout_when_it_is_the_limit(official: Any) -> None:
    official.update_connection(official.fast, **SLOW)
    theirs = official.start_job(official.fast)
    op = AirbyteTriggerSyncOperator(
        task_id="op",
        connection_id=official.fast,
        wait_seconds=0.05,
        timeout=3600,
        execution_timeout=timedelta(seconds=0.5),
    )
    with pytest.raises(AirflowException, match="Raise execution_timeout"):
        op.execute(Run().context())
    assert [job["id"] for job in official.jobs(official.fast)] == [theirs]  # ours never started
    official.cancel_job(theirs)
