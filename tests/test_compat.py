"""The Airflow lines without a task state store (3.0-3.2): a try's start record lives in a Variable.

Airflow's Variables are stood in for by a dict behind ``airflow.sdk.Variable`` (get, set, delete: what
the Task SDK sends to the API server); the operator, its protocol and the HTTP to the emulator are
real. ``tests/test_real_airflow.py`` proves the same under a real scheduler on the oldest line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_airbyte_sync import compat
from airflow_provider_airbyte_sync.core.errors import AirbyteTimeout
from tests.lines import TaskDeferred
from tests.task_context import Run
from tests.test_operator import airbyte as operator_emulator
from tests.test_operator import operator, run_to_end, statuses

airbyte = operator_emulator  # the fixture of test_operator: an emulator with Basic auth

_UNSET = object()


class Variables:
    """``airflow.sdk.Variable`` as the API server answers it (values JSON round-tripped)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.descriptions: dict[str, str | None] = {}
        self.lose_writes = False

    def get(self, key: str, default: Any = _UNSET, deserialize_json: bool = False) -> Any:
        if key not in self.values:
            if default is _UNSET:
                raise KeyError(key)
            return default
        return json.loads(self.values[key]) if deserialize_json else self.values[key]

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        if self.lose_writes:  # the SDK's Variable.set logs a failed write and returns
            return
        self.values[key] = json.dumps(value) if serialize_json else value
        self.descriptions[key] = description

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> Variables:
    from airflow.sdk import Variable

    from airflow_provider_airbyte_sync import compat

    fake = Variables()
    for name in ("get", "set", "delete"):
        monkeypatch.setattr(Variable, name, getattr(fake, name))
    monkeypatch.setattr(compat, "_TOLD", set())  # each test's try logs where its record is kept
    return fake


STARTED = "2026-01-01T00:00:05+00:00"


class RunWithoutStore(Run):
    """A task instance on Airflow 3.0-3.2: no ``task_state_store`` in the context."""

    def __init__(self, started: str = STARTED) -> None:
        super().__init__()
        self.started = started

    def context(self) -> dict[str, Any]:
        context = super().context()
        del context["task_state_store"]
        context["dag_run"].start_date = self.started
        ti = context["ti"]
        ti.dag_id, ti.run_id, ti.task_id, ti.map_index = "airbyte_dag", "manual__2026-01-01", "sync", -1
        return context


def record_name(started: str = STARTED) -> str:
    return compat.variable_name("airbyte_dag", f"manual__2026-01-01@{started}", "sync", -1, "airbyte_job")


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_retry_finds_its_running_job_in_a_variable_and_succeeds_once(
    airbyte: Any,
    variables: Variables,
    deferrable: bool,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    airbyte.update_connection(airbyte.slow, running_s=1.0)
    run = RunWithoutStore()
    caplog.set_level(logging.INFO)
    with pytest.raises(AirbyteTimeout):
        operator(airbyte.slow, timeout=0.3, cancel_on_kill=False).execute(run.context())
    stored = variables.get(record_name(), deserialize_json=True)
    assert stored["state"] == "owned" and stored["job_id"] == airbyte.jobs(airbyte.slow)[0]["id"]
    assert "of airbyte_dag run manual__2026-01-01 started" in (variables.descriptions[record_name()] or "")
    told = [r.getMessage() for r in caplog.records if "no task state store" in r.getMessage()]
    if not caplog.records:  # Airflow 3.3 logs a task's lines through its own handler, to stdout
        told = [line for line in capsys.readouterr().out.splitlines() if "no task state store" in line]
    assert len(told) == 1 and record_name() in told[0]  # once per try, naming the Variable

    job_id = run_to_end(operator(airbyte.slow, deferrable=deferrable), run.next_try())
    assert statuses(airbyte, airbyte.slow) == ["succeeded"]
    assert job_id == airbyte.jobs(airbyte.slow)[0]["id"]
    # Kept: until Airflow has recorded the success, a retry must still find the job.
    assert variables.get(record_name(), deserialize_json=True)["job_id"] == job_id


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_try_failing_after_its_job_succeeded_is_retried_without_a_second_sync(
    airbyte: Any, variables: Variables, asynchronous: bool
) -> None:
    """The try's work is done but Airflow fails it after ``execute`` returned (a lost XCom write, a
    timeout signal): the retry answers the same job and starts nothing."""
    run = RunWithoutStore()
    first = run_to_end(operator(airbyte.fast, asynchronous=asynchronous), run.context())
    again = run_to_end(operator(airbyte.fast, asynchronous=asynchronous), run.next_try())
    assert again == first and len(airbyte.jobs(airbyte.fast)) == 1
    if asynchronous:
        airbyte.advance(60)


def test_a_run_made_again_under_the_same_id_starts_its_own_sync(airbyte: Any, variables: Variables) -> None:
    """``dag.test`` (or a delete and a new trigger) makes a run again under the same run id: it has
    another start, so it never finds the old run's record (here: a job left running)."""
    airbyte.update_connection(airbyte.slow, running_s=60.0)
    with pytest.raises(AirbyteTimeout):
        operator(airbyte.slow, timeout=0.3, cancel_on_kill=False).execute(RunWithoutStore().context())
    (old,) = airbyte.jobs(airbyte.slow)
    airbyte.cancel_job(old["id"])
    airbyte.update_connection(airbyte.slow, running_s=0.3)
    again = RunWithoutStore(started="2026-01-01T00:09:00+00:00")
    job_id = run_to_end(operator(airbyte.slow), again.context())
    assert job_id != old["id"] and [j["status"] for j in airbyte.jobs(airbyte.slow)] == [
        "cancelled",
        "succeeded",
    ]
    assert record_name("2026-01-01T00:09:00+00:00") != record_name()


def test_a_crash_between_create_and_storing_the_id_adopts_the_job(airbyte: Any, variables: Variables) -> None:
    from airflow_provider_airbyte_sync.core.record import Generation, StartRecord

    run = RunWithoutStore()
    sent = StartRecord(
        airbyte.fast, "sync", Generation(0, run.max_tries), "sent", note=0, sent_at=(airbyte.now(),)
    )
    variables.set(record_name(), sent.to_dict(), serialize_json=True)
    job = airbyte.start_job(airbyte.fast)
    assert run_to_end(operator(airbyte.fast), run.next_try()) == job
    assert len(airbyte.jobs(airbyte.fast)) == 1


@pytest.mark.leaves_running("the deferral is not resumed: no trigger runs")
def test_the_record_is_in_the_variable_before_the_task_defers(airbyte: Any, variables: Variables) -> None:
    with pytest.raises(TaskDeferred) as deferred:
        operator(airbyte.fast, deferrable=True).execute(RunWithoutStore().context())
    stored = variables.get(record_name(), deserialize_json=True)
    assert stored["job_id"] == deferred.value.trigger.job_id and stored["state"] == "owned"


def test_a_lost_write_fails_the_task_before_anything_is_sent(airbyte: Any, variables: Variables) -> None:
    variables.lose_writes = True
    with pytest.raises(compat.AirflowException, match="Could not keep this task's airbyte_job"):
        operator(airbyte.fast).execute(RunWithoutStore().context())
    assert airbyte.jobs(airbyte.fast) == []


def test_the_task_state_store_is_used_where_airflow_has_one(variables: Variables) -> None:
    run = Run()
    assert compat.state_store(run.context(), logging.getLogger("t"), "airbyte_job") is run.store
    assert variables.values == {}


def test_variable_names_fit_airflow_keys_whatever_the_ids() -> None:
    name = compat.variable_name("d" * 250, "r" * 250, "t" * 250, 12, "airbyte_sensor")
    assert len(name) <= 250 and name.startswith("airbyte_sync.airbyte_sensor.")
    assert name != compat.variable_name("d" * 250, "r" * 250, "t" * 250, 13, "airbyte_sensor")
