"""AirbyteTriggerSyncOperator and AirbyteJobSensor in-process, over real HTTP to the emulator.

Each scenario counts the jobs the emulator started (never more than one per intended sync; a
Clear is an intended sync) and checks what is left running.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_airbyte_sync.core.errors import (
    AirbyteConfigError,
    AirbyteConnectionNotActive,
    AirbyteConnectionNotFound,
    AirbyteJobFailed,
    AirbyteOutcomeUnknown,
    AirbyteSyncAlreadyRunning,
    AirbyteTimeout,
)
from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator
from airflow_provider_airbyte_sync.sensors.airbyte import AirbyteJobSensor
from airflow_provider_airbyte_sync.testing import (
    DEFAULT_WORKSPACE_ID,
    FAILING_CONNECTION_ID,
    INACTIVE_CONNECTION_ID,
)
from tests.conftest import conn_fields
from tests.lines import TaskDeferred
from tests.task_context import Run

FAST = {"pending_s": 0.05, "running_s": 0.4}
SECRET = "s3cret-password-value"


@pytest.fixture
def airbyte(emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]) -> Any:
    """An emulator with Basic auth, reached through ``airbyte_default`` (config API)."""
    emulator = emulator_factory(auth="basic", password=SECRET)
    fields = conn_fields(emulator, "config", "basic")
    fields["password"] = SECRET
    airflow_conn("airbyte_default", **fields)
    emulator.fast = emulator.add_connection(name="fast", workspace_id=DEFAULT_WORKSPACE_ID, **FAST)
    emulator.slow = emulator.add_connection(
        name="slow", workspace_id=DEFAULT_WORKSPACE_ID, pending_s=0.05, running_s=600
    )
    return emulator


def operator(connection_id: str, **kwargs: Any) -> AirbyteTriggerSyncOperator:
    kwargs.setdefault("wait_seconds", 0.05)
    kwargs.setdefault("timeout", 60)
    return AirbyteTriggerSyncOperator(task_id="sync", connection_id=connection_id, **kwargs)


async def _events(trigger: Any) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def run_to_end(op: Any, context: dict[str, Any], deferrals: list[TaskDeferred] | None = None) -> Any:
    """Execute, and while the task defers, run its trigger and resume it, as Airflow would."""
    try:
        return op.execute(context)
    except TaskDeferred as deferred:
        while True:
            if deferrals is not None:
                deferrals.append(deferred)
            (event,) = asyncio.run(_events(deferred.trigger))
            try:
                return getattr(op, deferred.method_name)(context, event=event, **(deferred.kwargs or {}))
            except TaskDeferred as again:
                deferred = again


def statuses(emulator: Any, connection_id: str) -> list[str]:
    return [job["status"] for job in emulator.jobs(connection_id)]


@pytest.mark.parametrize("mode", ["blocking", "deferrable"])
def test_sync_succeeds_with_job_id_and_summary(airbyte: Any, mode: str) -> None:
    run = Run()
    context = run.context()
    job_id = run_to_end(operator(airbyte.fast, deferrable=mode == "deferrable"), context)
    (job,) = airbyte.jobs(airbyte.fast)
    assert job_id == job["id"] and job["status"] == "succeeded"
    summary = context["ti"].xcoms["airbyte_job"]
    assert summary["job_id"] == job_id and summary["status"] == "succeeded"
    assert summary["connection_id"] == airbyte.fast and summary["job_type"] == "sync"
    assert summary["rows_synced"] > 0 and summary["bytes_synced"] > 0 and summary["duration_s"] >= 0
    assert summary["succeeded_at"] and summary["created_at"]
    assert (
        summary["url"]
        == f"{airbyte.url}/workspaces/{DEFAULT_WORKSPACE_ID}/connections/{airbyte.fast}/job-history"
    )
    assert context["ti"].xcoms["airbyte_job_url"] == summary["url"]
    assert SECRET not in json.dumps(context["ti"].xcoms)


@pytest.mark.leaves_running("the deferral is not resumed: no trigger runs")
def test_deferrable_stores_the_job_id_before_deferring(airbyte: Any) -> None:
    run = Run()
    with pytest.raises(TaskDeferred) as deferred:
        operator(airbyte.fast, deferrable=True, wait_seconds=None).execute(run.context())
    trigger = deferred.value.trigger
    record = run.store.get("airbyte_job")
    assert record["job_id"] == trigger.job_id and record["state"] == "owned"
    assert (
        trigger.owned and trigger.poll_interval == 15.0
    )  # deferred default: 1,000 watches at 3 s is too many
    assert trigger.end_time is not None
    assert deferred.value.timeout.total_seconds() > 60  # the trigger's own deadline fires first


def test_asynchronous_returns_at_once_for_a_sensor(airbyte: Any) -> None:
    run = Run()
    context = run.context()
    job_id = operator(airbyte.fast, asynchronous=True).execute(context)
    assert statuses(airbyte, airbyte.fast) in (["pending"], ["running"])
    assert context["ti"].xcoms["airbyte_job"]["job_id"] == job_id
    sensor = AirbyteJobSensor(task_id="wait", airbyte_job_id=str(job_id), poke_interval=0.05, timeout=30)
    sensed = Run().context()
    result = sensor.execute(sensed)
    assert result["job_id"] == job_id and result["status"] == "succeeded" and result["rows_synced"] > 0
    assert sensed["ti"].xcoms["airbyte_job"] == result


def test_retry_while_the_job_runs_reattaches(airbyte: Any) -> None:
    airbyte.update_connection(airbyte.slow, running_s=1.0)
    run = Run()
    with pytest.raises(AirbyteTimeout):
        operator(airbyte.slow, timeout=0.3, cancel_on_kill=False).execute(run.context())
    assert statuses(airbyte, airbyte.slow) == ["running"]
    job_id = run_to_end(operator(airbyte.slow), run.next_try())
    assert statuses(airbyte, airbyte.slow) == ["succeeded"]
    assert job_id == airbyte.jobs(airbyte.slow)[0]["id"]


def test_retry_after_success_returns_the_result_and_a_clear_syncs_again(airbyte: Any) -> None:
    run = Run()
    first = run_to_end(operator(airbyte.fast), run.context())
    again = run.next_try()
    assert run_to_end(operator(airbyte.fast), again) == first
    assert again["ti"].xcoms["airbyte_job"]["job_id"] == first
    assert len(airbyte.jobs(airbyte.fast)) == 1
    cleared = run_to_end(operator(airbyte.fast, deferrable=True), run.clear())
    assert cleared != first and statuses(airbyte, airbyte.fast) == ["succeeded", "succeeded"]


def test_retry_after_a_failed_job_starts_a_new_one(airbyte: Any) -> None:
    airbyte.update_connection(FAILING_CONNECTION_ID, **FAST)
    run = Run()
    with pytest.raises(AirbyteJobFailed, match="ended failed: source/config_error"):
        run_to_end(operator(FAILING_CONNECTION_ID), run.context())
    with pytest.raises(AirbyteJobFailed):
        run_to_end(operator(FAILING_CONNECTION_ID, deferrable=True), run.next_try())
    assert statuses(airbyte, FAILING_CONNECTION_ID) == ["failed", "failed"]


def test_stored_job_unknown_to_airbyte_starts_afresh(airbyte: Any) -> None:
    run = Run()
    first = run_to_end(operator(airbyte.fast), run.context())
    airbyte.forget_job(first)
    second = run_to_end(operator(airbyte.fast), run.next_try())
    assert second != first and len(airbyte.jobs(airbyte.fast)) == 1


def test_crash_between_create_and_storing_the_id_adopts_the_job(airbyte: Any) -> None:
    from airflow_provider_airbyte_sync.core.record import Generation, StartRecord

    run = Run()
    # the first try stored "sent" (newest job 0), created the job, then died before storing its id
    sent = StartRecord(
        airbyte.fast, "sync", Generation(0, run.max_tries), "sent", note=0, sent_at=(airbyte.now(),)
    )
    run.store.set("airbyte_job", sent.to_dict())
    job = airbyte.start_job(airbyte.fast)
    assert run_to_end(operator(airbyte.fast), run.next_try()) == job
    assert len(airbyte.jobs(airbyte.fast)) == 1


def test_create_timing_out_after_the_job_was_created_is_not_retried_blindly(
    airbyte: Any, airflow_conn: Callable[..., str]
) -> None:
    fields = conn_fields(airbyte, "config", "basic")
    fields.update(password=SECRET, extra={"create_timeout": 0.3})
    airflow_conn("airbyte_default", **fields)
    airbyte.add_fault(r"/connections/sync$", delay_s=2, after=True)
    job_id = run_to_end(operator(airbyte.fast), Run().context())
    assert statuses(airbyte, airbyte.fast) == ["succeeded"]
    assert job_id == airbyte.jobs(airbyte.fast)[0]["id"]


def test_create_dropped_before_the_job_existed_is_sent_once_more(airbyte: Any) -> None:
    airbyte.add_fault(r"/connections/sync$", status=502)
    run_to_end(operator(airbyte.fast), Run().context())
    assert statuses(airbyte, airbyte.fast) == ["succeeded"]
    assert airbyte.stats()["by_endpoint"]["POST /api/v1/connections/sync"] == 2


def test_create_failing_twice_starts_nothing_and_says_so(airbyte: Any) -> None:
    airbyte.add_fault(r"/connections/sync$", drop=True, count=2)
    run = Run()
    with pytest.raises(AirbyteOutcomeUnknown, match="nothing was started; a retry of this task looks again"):
        run_to_end(operator(airbyte.fast), run.context())
    assert airbyte.jobs(airbyte.fast) == []
    # The retry looks for a job of those requests once more, finds none, and creates one.
    job_id = run_to_end(operator(airbyte.fast), run.next_try())
    assert [(j["id"], j["status"]) for j in airbyte.jobs(airbyte.fast)] == [(job_id, "succeeded")]


@pytest.mark.parametrize("deferrable", [False, True])
def test_if_running_wait_lets_the_running_sync_end_then_starts_ours(airbyte: Any, deferrable: bool) -> None:
    theirs = airbyte.start_job(airbyte.fast)
    deferrals: list[TaskDeferred] = []
    ours = run_to_end(operator(airbyte.fast, deferrable=deferrable), Run().context(), deferrals)
    jobs = airbyte.jobs(airbyte.fast)
    assert [j["id"] for j in jobs] == [theirs, ours]
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"]  # theirs was never cancelled
    assert jobs[1]["created_at"] >= jobs[0]["created_at"]
    if deferrable:
        assert [d.trigger.owned for d in deferrals] == [False, True]


def test_if_running_attach_watches_it_without_owning_it(airbyte: Any) -> None:
    theirs = airbyte.start_job(airbyte.slow)
    op = operator(airbyte.slow, if_running="attach", timeout=0.3)
    with pytest.raises(AirbyteTimeout):
        op.execute(Run().context())
    op.on_kill()
    assert op.job_id == theirs and statuses(airbyte, airbyte.slow) == ["running"]  # not ours: never cancelled


def test_if_running_fail_names_the_running_job(airbyte: Any) -> None:
    theirs = airbyte.start_job(airbyte.slow)
    with pytest.raises(AirbyteSyncAlreadyRunning, match=f"Airbyte job {theirs} .* already running"):
        operator(airbyte.slow, if_running="fail").execute(Run().context())
    assert len(airbyte.jobs(airbyte.slow)) == 1


def test_two_tasks_on_one_connection_each_get_their_own_sync(airbyte: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run_to_end(operator(airbyte.fast), Run().context()), range(2)))
    assert len(set(results)) == 2
    assert statuses(airbyte, airbyte.fast) == ["succeeded", "succeeded"]


def test_a_job_started_between_our_note_and_our_create_is_not_ours(airbyte: Any) -> None:
    # The race two tasks on one connection run: the other task's create lands after our note of the
    # newest job and before our create, which answers 409. That job is newer than our note, yet not
    # ours: with if_running="fail" we fail naming it; with "attach" we watch it, not owned.
    from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook

    others: list[int] = []
    hook = AirbyteHook()

    def another_create_lands(record: Any) -> None:
        if record.state == "sent":  # persisted just before our create goes out
            others.append(airbyte.start_job(airbyte.slow))

    with pytest.raises(AirbyteSyncAlreadyRunning) as raised:
        hook.start_job(airbyte.slow, if_running="fail", persist=another_create_lands)
    assert raised.value.job_id == others[0]
    job, owned = hook.start_job(airbyte.slow, if_running="attach")
    assert (job.job_id, owned) == (others[0], False)
    assert len(airbyte.jobs(airbyte.slow)) == 1


def test_timeout_cancels_an_owned_job(airbyte: Any) -> None:
    op = operator(airbyte.slow, timeout=0.3)
    with pytest.raises(AirbyteTimeout, match=r"did not end within the timeout of 0\.3s"):
        op.execute(Run().context())
    assert statuses(airbyte, airbyte.slow) == ["cancelled"]


def test_deferred_timeout_cancels_and_fails(airbyte: Any) -> None:
    with pytest.raises(AirbyteTimeout, match="did not end within the timeout"):
        run_to_end(operator(airbyte.slow, deferrable=True, timeout=0.4), Run().context())
    assert statuses(airbyte, airbyte.slow) == ["cancelled"]


@pytest.mark.leaves_running("cancel_on_kill=False keeps the second job")
def test_on_kill_cancels_owned_job_and_is_safe_before_submit(airbyte: Any) -> None:
    never_started = operator(airbyte.slow)
    never_started.on_kill()
    op = operator(airbyte.slow, asynchronous=True)
    op.execute(Run().context())
    op.on_kill()
    assert statuses(airbyte, airbyte.slow) == ["cancelled"]
    kept = operator(airbyte.slow, asynchronous=True, cancel_on_kill=False)
    kept.execute(Run().context())
    kept.on_kill()
    assert statuses(airbyte, airbyte.slow)[0] == "cancelled"
    assert statuses(airbyte, airbyte.slow)[1] in ("pending", "running")


def test_cancelled_in_airbyte_fails_the_task(airbyte: Any) -> None:
    airbyte.update_connection(airbyte.fast, outcome="cancelled")
    with pytest.raises(AirbyteJobFailed, match="ended cancelled"):
        run_to_end(operator(airbyte.fast, deferrable=True), Run().context())


@pytest.mark.parametrize(
    ("kwargs", "error", "fix"),
    [
        ({"connection_id": "my-connection"}, AirbyteConfigError, "not an Airbyte connection id"),
        ({"connection_id": "{{ var.value.x }}"}, AirbyteConfigError, "use the UUID"),
        ({"job_type": "refresh"}, AirbyteConfigError, "job_type must be one of sync, reset, clear"),
        ({"timeout": 0}, AirbyteConfigError, "timeout must be a positive number"),
        ({"timeout": -5}, AirbyteConfigError, "timeout must be a positive number"),
        ({"wait_seconds": -1}, AirbyteConfigError, "wait_seconds must be a non-negative number"),
        ({"if_running": "queue"}, AirbyteConfigError, "if_running must be"),
        (
            {"connection_id": INACTIVE_CONNECTION_ID},
            AirbyteConnectionNotActive,
            "Enable it in the Airbyte UI",
        ),
        (
            {"connection_id": "11111111-2222-4333-8444-555555555555"},
            AirbyteConnectionNotFound,
            "Copy the connection id",
        ),
    ],
)
def test_bad_input_fails_before_anything_starts(
    airbyte: Any, kwargs: dict[str, Any], error: type, fix: str
) -> None:
    kwargs.setdefault("connection_id", airbyte.fast)
    op = operator(**kwargs)
    with pytest.raises(error) as raised:
        op.execute(Run().context())
    assert fix in str(raised.value)
    assert SECRET not in str(raised.value)
    assert airbyte.jobs() == []


def test_wrong_credentials_fail_with_the_fix_and_no_secret(
    airbyte: Any, airflow_conn: Callable[..., str]
) -> None:
    fields = conn_fields(airbyte, "config", "basic")
    fields["password"] = "wrong-password-value"
    airflow_conn("airbyte_default", **fields)
    with pytest.raises(Exception, match="refused the credentials") as raised:
        operator(airbyte.fast).execute(Run().context())
    assert "wrong-password-value" not in str(raised.value)
    assert airbyte.jobs() == []


def test_templated_fields_and_mapping() -> None:
    assert set(AirbyteTriggerSyncOperator.template_fields) >= {"connection_id", "airbyte_conn_id"}
    assert set(AirbyteJobSensor.template_fields) >= {"airbyte_job_id", "airbyte_conn_id"}
    # a templated connection id is only checked when the task runs, after rendering
    op = AirbyteTriggerSyncOperator(task_id="t", connection_id="{{ params.connection }}")
    assert op.connection_id == "{{ params.connection }}"


def test_sensor_fails_with_the_reason_and_never_cancels(airbyte: Any) -> None:
    airbyte.update_connection(FAILING_CONNECTION_ID, **FAST)
    failing = airbyte.start_job(FAILING_CONNECTION_ID)
    sensor = AirbyteJobSensor(task_id="wait", airbyte_job_id=failing, poke_interval=0.05, timeout=30)
    with pytest.raises(AirbyteJobFailed, match=f"job {failing} .* ended failed: source/config_error"):
        sensor.execute(Run().context())
    slow = airbyte.start_job(airbyte.slow)
    deferred = AirbyteJobSensor(
        task_id="w2", airbyte_job_id=slow, poke_interval=0.05, timeout=0.3, deferrable=True
    )
    with pytest.raises(AirbyteTimeout):
        run_to_end(deferred, Run().context())
    assert airbyte.job(slow)["status"] == "running"


def test_sensor_deferred_polls_at_poke_interval(airbyte: Any) -> None:
    job = airbyte.start_job(airbyte.fast)
    sensor = AirbyteJobSensor(task_id="wait", airbyte_job_id=job, poke_interval=7, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(Run().context())
    assert deferred.value.trigger.poll_interval == 7.0 and deferred.value.trigger.owned is False


@pytest.mark.leaves_running("the deferral is not resumed: no trigger runs")
@pytest.mark.parametrize("task", ["operator", "sensor"])
def test_a_deferral_holds_a_quick_ending_until_the_scheduler_saw_the_worker_exit(
    airbyte: Any, monkeypatch: pytest.MonkeyPatch, task: str
) -> None:
    from airflow_provider_airbyte_sync import tasks

    monkeypatch.setattr(tasks, "DEFER_SETTLE_S", 42.0)  # tests run with none (conftest)
    if task == "operator":
        deferring: Any = operator(airbyte.slow, deferrable=True)
    else:
        job = airbyte.start_job(airbyte.slow)
        deferring = AirbyteJobSensor(task_id="wait", airbyte_job_id=job, deferrable=True)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        deferring.execute(Run().context())
    assert before + 42.0 <= deferred.value.trigger.not_before <= time.time() + 42.0


def test_sensor_logs_each_status_change_once_across_reschedules(
    airbyte: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    job = airbyte.start_job(airbyte.slow)
    airbyte.advance(1)  # running, for the next 600 s: one status to log
    run = Run()
    for _ in range(3):  # each reschedule is a new process (same try): only the state store carries over
        sensor = AirbyteJobSensor(task_id="wait", airbyte_job_id=job, poke_interval=0.05, mode="reschedule")
        assert sensor.poke(run.context()) is False
    out = capsys.readouterr().out
    assert out.count(f"Airbyte job {job}: ") == 1


def test_defer_timeout_resumes_into_failure_and_cancels_the_stored_job(airbyte: Any) -> None:
    from airflow.sdk.bases.operator import TriggerFailureReason

    from tests.lines import TaskDeferralTimeout

    run = Run()
    op = operator(airbyte.slow, deferrable=True)
    with pytest.raises(TaskDeferred):
        op.execute(run.context())
    # what Airflow does when the defer timeout fires: a fresh operator, resumed into __fail__
    resumed = operator(airbyte.slow, deferrable=True)
    with pytest.raises(TaskDeferralTimeout):
        resumed.resume_execution("__fail__", {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, run.next_try())
    assert statuses(airbyte, airbyte.slow) == ["cancelled"]


@pytest.mark.leaves_running("cancel_on_kill=False keeps the first try's job")
def test_connection_moved_to_another_airbyte_between_tries(
    airbyte: Any, emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str]
) -> None:
    run = Run()
    with pytest.raises(AirbyteTimeout):
        operator(airbyte.slow, timeout=0.3, cancel_on_kill=False).execute(run.context())
    stored = run.store.get("airbyte_job")["job_id"]
    # the Airflow connection now points at another Airbyte, where that job id is another connection's
    other = emulator_factory()
    other.add_connection(airbyte.slow, name="slow, migrated", **FAST)
    someone_else = other.add_connection(name="unrelated", pending_s=0.05, running_s=600)
    assert other.start_job(someone_else) == stored
    airflow_conn("airbyte_default", **conn_fields(other, "public"))
    ours = run_to_end(operator(airbyte.slow), run.next_try())
    assert ours != stored
    assert [j["status"] for j in other.jobs(airbyte.slow)] == ["succeeded"]
    assert [j["status"] for j in other.jobs(someone_else)] == ["running"]  # never touched


def test_lost_create_answer_then_409_adopts_our_own_job(airbyte: Any) -> None:
    # The first create is handled, its answer lost; the listing does not show the job yet (a lagging
    # read replica), so the create is sent again and answers 409: the running job is ours.
    airbyte.add_fault(r"/connections/sync$", drop=True, after=True)
    airbyte.add_fault(r"/jobs/list$", status=200, body={"jobs": [], "totalJobCount": 0}, count=2)
    job_id = run_to_end(operator(airbyte.fast), Run().context())
    assert [j["id"] for j in airbyte.jobs(airbyte.fast)] == [job_id]
    assert statuses(airbyte, airbyte.fast) == ["succeeded"]
