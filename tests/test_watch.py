"""The watch loop: decisions that survive serialization, and one loop for the hook, trigger and sensor.

The sensor tests run each poke on a fresh sensor object with only the task state store carried
over, as reschedule mode does (each poke may be another process); HTTP goes to the emulator.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_airbyte_sync.core import retry, status, watch
from airflow_provider_airbyte_sync.core.errors import (
    AirbyteConfigError,
    AirbyteJobFailed,
    AirbyteJobNotFound,
    AirbyteUnreachable,
)
from airflow_provider_airbyte_sync.core.status import AirbyteJob
from airflow_provider_airbyte_sync.core.watch import Failed, Poll, Succeeded, TimedOut, Watch
from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook
from airflow_provider_airbyte_sync.sensors.airbyte import AirbyteJobSensor
from airflow_provider_airbyte_sync.triggers.airbyte import AirbyteSyncTrigger
from tests.conftest import conn_fields
from tests.task_context import Run

STATUSES = ("pending", "running", "incomplete", "succeeded", "failed", "cancelled", "paused_for_capacity")


def _round_trip(w: Watch) -> Watch:
    return Watch.from_dict(json.loads(json.dumps(w.to_dict())))  # JSON, as the state store keeps it


def _random_outcome(rng: random.Random, failures: list[str]) -> Any:
    roll = rng.random()
    if roll < 0.25:
        return AirbyteUnreachable(f"no answer {rng.randint(0, 9)}")  # transient
    if roll < 0.27:
        return AirbyteJobNotFound("Airbyte does not know job 7")  # final: raised
    if rng.random() < 0.2:
        failures.append(f"source/system_error: attempt {len(failures) + 1}")
    status = rng.choice(STATUSES[:3] + STATUSES[-1:]) if rng.random() < 0.85 else rng.choice(STATUSES)
    return AirbyteJob(
        7,
        "c",
        "sync",
        status,
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        rows_synced=rng.choice([None, rng.randint(0, 10**6)]),
        attempt_failures=tuple(failures),
    )


def _decide(w: Watch, outcome: Any, now: float) -> Any:
    try:
        return w.decide(outcome, now)
    except Exception as exc:  # what the loop raises is part of the decision
        return (type(exc), str(exc))


@pytest.mark.parametrize("seed", range(200))
def test_a_restored_watch_decides_as_the_original(seed: int) -> None:
    rng = random.Random(seed)
    now = 1_800_000_000.0
    deadline = rng.choice([None, now + rng.uniform(50, 3000)])
    original = Watch(
        7,
        poll_interval=15,
        deadline=deadline,
        unknown_grace=rng.choice([0, 60, 300]),
        error_budget=rng.choice([0, 45, 600]),
    )
    restored = _round_trip(original)
    failures: list[str] = []
    for _ in range(60):
        now += rng.choice([0.0, rng.uniform(0, 40), rng.uniform(0, 400)])
        outcome = _random_outcome(rng, failures)
        expected, got = _decide(original, outcome, now), _decide(restored, outcome, now)
        assert got == expected
        assert restored.to_dict() == original.to_dict()
        if not isinstance(expected, Poll):
            break
        restored = _round_trip(restored)  # every step, as every poke of a rescheduled sensor


def test_to_dict_carries_every_attribute_and_is_json() -> None:
    w = Watch(3, poll_interval=2.5, deadline=1_800_000_100.0, unknown_grace=30, error_budget=40)
    w.decide(AirbyteJob(3, "c", "sync", "running", attempt_failures=("x",)), 1_800_000_000.0)
    w.decide(AirbyteUnreachable("down"), 1_800_000_005.0)
    stored = w.to_dict()
    assert set(stored) - {"version"} == set(vars(w))  # a new attribute must be stored too
    assert vars(_round_trip(w)) == vars(w)
    assert stored["errors_since"] == 1_800_000_005.0 and stored["last_status"] == "running"


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({**Watch(1, poll_interval=1).to_dict(), "version": 2}, "version 2, which this release"),
        ({"status": "running", "unknown_since": None}, "version None"),  # the sensor's earlier memory
        ("not a dict", "version None"),
        ({"version": 1, "job_id": 1}, "damaged"),
        ({**Watch(1, poll_interval=1).to_dict(), "poll_interval": "soon"}, "damaged"),
    ],
)
def test_from_dict_refuses_other_versions_and_damage(stored: Any, message: str) -> None:
    with pytest.raises(AirbyteConfigError, match=message):
        Watch.from_dict(stored)


# ------------------------------------------------------------------------------------------------
# The sensor in reschedule mode: the watch's clocks hold across pokes
# ------------------------------------------------------------------------------------------------
def _poke(job_id: int, context: dict[str, Any]) -> Any:
    """One reschedule: a fresh sensor object (a new process), only the task state store carried over."""
    sensor = AirbyteJobSensor(task_id="wait", airbyte_job_id=job_id, poke_interval=5, mode="reschedule")
    return sensor.poke(context)


def stored(run: Run) -> dict[str, Any]:
    """The watch the last poke left in the task state store."""
    from airflow_provider_airbyte_sync.sensors.airbyte import STATE_KEY

    return run.store.values[STATE_KEY]["watch"]


def test_rescheduled_sensor_fails_once_errors_outlast_the_budget_and_not_before(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, "MAX_TRIES", 1)  # one request a poke: each poke is one failed poll
    monkeypatch.setattr(watch, "ERROR_BUDGET_S", 1.5)
    emulator = emulator_factory()
    airflow_conn("airbyte_default", **conn_fields(emulator, "config"))
    job = emulator.start_job(emulator.add_connection(name="slow", pending_s=0, running_s=600))
    run = Run()
    assert _poke(job, run.context()) is False  # the job is seen: no error yet
    emulator.add_fault(r"/jobs/get", status=503, count=None)
    assert _poke(job, run.context()) is False
    first_error = stored(run)["errors_since"]
    assert _poke(job, run.context()) is False
    assert stored(run)["errors_since"] == first_error and time.time() - first_error < 1.5
    time.sleep(max(0.0, first_error + 1.6 - time.time()))
    with pytest.raises(AirbyteUnreachable, match=f"Gave up watching Airbyte job {job}.*budget 2s"):
        _poke(job, run.context())
    # A retry is a new try: its budget starts afresh.
    assert _poke(job, run.next_try()) is False


def test_rescheduled_sensor_fails_once_an_unknown_status_outlasts_the_grace_and_not_before(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status, "UNKNOWN_STATUS_GRACE_S", 1.5)
    emulator = emulator_factory()
    airflow_conn("airbyte_default", **conn_fields(emulator, "public"))
    body = {"jobId": 77, "status": "paused_for_capacity", "jobType": "sync", "connectionId": "c",
            "startTime": "2026-01-01T00:00Z"}  # fmt: skip
    emulator.add_fault(r"/jobs/77$", status=200, body=body, count=None)
    run = Run()
    assert _poke(77, run.context()) is False
    first_seen = stored(run)["unknown_since"]
    assert _poke(77, run.context()) is False
    assert stored(run)["unknown_since"] == first_seen and time.time() - first_seen < 1.5
    time.sleep(max(0.0, first_seen + 1.6 - time.time()))
    with pytest.raises(AirbyteJobFailed, match=r"paused_for_capacity.*never treated as success"):
        _poke(77, run.context())


# ------------------------------------------------------------------------------------------------
# One loop: the hook, the trigger and the sensor report the same lines for the same polls
# ------------------------------------------------------------------------------------------------
class Lines:
    """A logger that keeps what it was told, as (level, text)."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def log(self, level: int, msg: str, *args: Any) -> None:
        self.lines.append((level, msg % args if args else msg))

    def info(self, msg: str, *args: Any) -> None:
        self.log(logging.INFO, msg, *args)

    def warning(self, msg: str, *args: Any) -> None:
        self.log(logging.WARNING, msg, *args)

    def error(self, msg: str, *args: Any) -> None:
        self.log(logging.ERROR, msg, *args)

    def debug(self, msg: str, *args: Any) -> None:
        self.log(logging.DEBUG, msg, *args)


def recording(cls: type, lines: Lines) -> Any:
    """``cls`` whose ``log`` is ``lines``."""
    return type(f"Recording{cls.__name__}", (cls,), {"log": property(lambda self: lines)})


def anonymous(lines: list[tuple[int, str]], job_id: int) -> list[tuple[int, str]]:
    """The lines with the job id as ``N``: each driver watches a job of its own."""
    return [(level, re.sub(rf"\b{job_id}\b", "N", text)) for level, text in lines]


def scripted_polls(emulator: Any, job_id: int, created: float) -> None:
    """Poll k of ``job_id`` sees the job at ``created + 10 k`` seconds; poll 3 fails (503).

    The clock is set per poll, not per wall second, so every driver sees the same job at each poll.
    """
    polls = iter(range(1, 100))

    def tick() -> None:
        k = next(polls)
        emulator.advance(max(0.0, created + 10 * k - emulator.now()))
        if k == 3:
            emulator.add_fault(r"/jobs/get", status=503, count=1)

    emulator.on_request(r"/jobs/get", tick, count=None)


def test_hook_trigger_and_sensor_log_the_same_lines_for_the_same_polls(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, "MAX_TRIES", 1)  # one request a poll
    emulator = emulator_factory()
    conn_id = airflow_conn("airbyte_default", **conn_fields(emulator, "config"))
    # pending [0, 15), running [15, 35), incomplete [35, 55), running [55, 75), then succeeded;
    # no rows, so the lines do not depend on the milliseconds between a poll and its answer.
    connection_id = emulator.add_connection(
        name="c", pending_s=15, running_s=20, incomplete_attempts=1, incomplete_s=20, rows_per_s=0
    )

    def start() -> int:
        emulator.clear_faults()
        created = emulator.now()
        job_id = emulator.start_job(connection_id)
        scripted_polls(emulator, job_id, created)
        return job_id

    seen: dict[str, list[tuple[int, str]]] = {}
    job_id = start()
    hook = recording(AirbyteHook, Lines())(conn_id)
    assert hook.wait_for_job(job_id, wait_seconds=0.01, timeout=60).status == "succeeded"
    seen["hook"] = anonymous(hook.log.lines, job_id)

    job_id = start()
    trigger = recording(AirbyteSyncTrigger, Lines())(job_id, conn_id, poll_interval=0.01)
    (event,) = asyncio.run(_events(trigger))
    assert event.payload["status"] == "succeeded"
    seen["trigger"] = anonymous(trigger.log.lines, job_id)

    job_id = start()
    lines, run, result = Lines(), Run(), False
    for _ in range(20):
        sensor = recording(AirbyteJobSensor, lines)(task_id="wait", airbyte_job_id=job_id, mode="reschedule")
        result = sensor.poke(run.context())
        if result:
            break
    assert result and result.is_done
    seen["sensor"] = anonymous(lines.lines, job_id)

    assert seen["hook"] == seen["trigger"] == seen["sensor"]
    texts = [re.sub(r", .*", "", text) for _, text in seen["hook"]]
    assert texts[:3] == ["Airbyte job N: pending", "Airbyte job N: running", "Polling Airbyte job N failed"]
    assert texts[3:] == [
        "Airbyte job N: incomplete",
        "Airbyte job N: an attempt failed",
        "Airbyte job N: running",
        "Airbyte job N: succeeded",
    ]


def test_a_token_endpoint_failing_mid_watch_is_a_failed_poll_for_hook_and_trigger(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's read includes the driver's own token fetch: its failure counts against the budget."""
    monkeypatch.setattr(retry, "MAX_TRIES", 1)  # one request a poll
    emulator = emulator_factory(auth="token")
    conn_id = airflow_conn(**conn_fields(emulator, "public", "client_credentials"))
    connection_id = emulator.add_connection(name="c", pending_s=0.05, running_s=0.3)

    def start() -> int:
        job_id = emulator.start_job(connection_id)
        # Each driver has its own token cache, still empty: its first two polls fail at the token.
        emulator.add_fault(r"/applications/token", status=503, count=2)
        return job_id

    hook = recording(AirbyteHook, Lines())(conn_id)
    assert hook.wait_for_job(start(), wait_seconds=0.01, timeout=60).status == "succeeded"
    trigger = recording(AirbyteSyncTrigger, Lines())(start(), conn_id, poll_interval=0.01)
    (event,) = asyncio.run(_events(trigger))
    assert event.payload["status"] == "succeeded", event.payload
    for lines in (hook.log.lines, trigger.log.lines):
        failed = [text for _, text in lines if "failed, will poll again" in text]
        assert len(failed) == 2, lines


async def _events(trigger: Any) -> list[Any]:
    return [event async for event in trigger.run()]


def test_the_loop_ends_typed_and_times_out_at_the_deadline() -> None:
    w = Watch(5, poll_interval=10, deadline=100.0)
    assert w.decide(AirbyteJob(5, "c", "sync", "running"), 95.0) == Poll(
        5.0, ((logging.INFO, "Airbyte job 5: running"),)
    )
    assert isinstance(w.decide(AirbyteJob(5, "c", "sync", "running"), 100.0), TimedOut)
    done = AirbyteJob(5, "c", "sync", "succeeded")
    assert w.decide(done, 101.0) == Succeeded(done, ((logging.INFO, "Airbyte job 5: succeeded"),))
    failed = AirbyteJob(5, "c", "sync", "cancelled")
    assert isinstance(Watch(5, poll_interval=1).decide(failed, 0.0), Failed)
