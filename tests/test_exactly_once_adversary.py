"""What an adversarial review of the start protocol found, kept as regression tests.

Each test drives the real operator over real HTTP and is judged by the emulator's own records;
its docstring names the promise and the rule of ``protocol.py`` that once broke it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any

import pytest

from airflow_provider_airbyte_sync.core.errors import AirbyteError, AirbyteTimeout
from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook
from airflow_provider_airbyte_sync.operators.airbyte import STATE_KEY
from airflow_provider_airbyte_sync.testing import TERMINAL_STATUSES
from tests.task_context import Run
from tests.test_exactly_once_regressions import (
    QUICK,
    SLOW,
    api_jobs,
    connection,
)
from tests.test_operator import operator, run_to_end


class Crash(BaseException):
    """The worker dies here (SIGKILL, OOM): nothing of the task runs after it."""


def crash_after_storing(run: Run, state: str) -> None:
    """The next ``set`` of a start record in ``state`` is stored, then the worker dies."""
    store = run.store
    real_set = store.set

    def set_then_crash(key: str, value: Any, **kwargs: Any) -> None:
        real_set(key, value, **kwargs)
        if key == STATE_KEY and isinstance(value, dict) and value.get("state") == state:
            store.set = real_set  # type: ignore[method-assign]
            raise Crash(f"worker killed after storing {state!r}")

    store.set = set_then_crash  # type: ignore[method-assign]


def origin_of(airbyte: Any, job_id: int | None) -> str | None:
    return None if job_id is None else airbyte.job(job_id)["origin"]


# ----------------------------------------------------------------------------------------------
# 1. A reset (or clear) with if_running="wait" cancels another party's running sync.
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("job_type", ["reset", "clear"])
def test_a_reset_or_clear_waits_for_a_running_sync_instead_of_cancelling_it(
    airbyte_at: Any, job_type: str
) -> None:
    """Promise: never a cancel of a job it did not create; if_running="wait": wait for the running
    job to end, never cancel it.

    Airbyte answers a reset/clear create while a sync runs by cancelling that sync (no 409). `_fresh`
    sends the create without first looking for a running job, so `if_running` never applies: the
    foreign sync is cancelled by this task's create. Rule at fault: `_fresh` (and `_busy` never runs).
    """
    airbyte = airbyte_at()
    conn = connection(airbyte, **SLOW)
    theirs = airbyte.start_job(conn, "sync")
    airbyte.update_connection(conn, **QUICK)  # our own job, once started, ends quickly
    with contextlib.suppress(AirbyteError):
        run_to_end(operator(conn, job_type=job_type, if_running="wait", timeout=3), Run().context())
    status = airbyte.job(theirs)["status"]
    airbyte.cancel_job(theirs)
    assert status != "cancelled", (
        f"another party's running sync {theirs} was cancelled by this task's {job_type}"
    )


# ----------------------------------------------------------------------------------------------
# 2. The note of a clear ignores clear jobs: a foreign clear that ended before the task is taken.
# ----------------------------------------------------------------------------------------------
def test_a_lost_clear_create_never_takes_a_clear_that_ended_before_the_note(airbyte_at: Any) -> None:
    """Promise: never another party's job taken as its own; never success for a job not its own.

    `newest_job_id` lists only sync and reset_connection jobs (config API), so on a server with
    `clear` jobs the note is older than a foreign clear that ran and ENDED before this task noted
    anything. When the create's answer is lost (here: it never reached Airbyte), `_look_for_ours`
    lists clears, finds that foreign clear "newer than the note" and created within the window's
    60 s margin before the send, takes it and reports its success. Not the documented ambiguity: the
    foreign job landed before the note, not between note and look-up. Rules at fault: `_fresh`'s
    note (`Dialect.newest_job_id`) and `_could_be_ours`.
    """
    airbyte = airbyte_at()
    conn = connection(airbyte, **QUICK)
    theirs = airbyte.start_job(conn, "clear")
    deadline = time.time() + 10
    while airbyte.job(theirs)["status"] not in TERMINAL_STATUSES and time.time() < deadline:
        time.sleep(0.05)
    assert airbyte.job(theirs)["status"] == "succeeded"
    # both creates of the try are dropped before Airbyte handles them: nothing of ours exists
    airbyte.add_fault(r"/api/v1/connections/clear$", drop=True, count=2)
    returned = None
    with contextlib.suppress(AirbyteError):
        returned = run_to_end(operator(conn, job_type="clear"), Run().context())
    assert returned is None or origin_of(airbyte, returned) == "api", (
        f"the task reported another party's clear {returned} (ended before the task began) as its own"
    )


# ----------------------------------------------------------------------------------------------
# 3. A create that never left the worker (connection refused) still opens the evidence window.
# ----------------------------------------------------------------------------------------------
def test_a_create_that_never_connected_opens_no_window_for_a_later_job(
    airbyte_at: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Promise: never another party's job taken as its own; never success for a job not its own.

    A connection refused (or a connect timeout) means the create never reached Airbyte: it is
    knowable that nothing was started. `_send` treats it as an unknown outcome, the "sent" record
    keeps the send time, and the retry's `_look_for_ours` takes any job of the connection created
    within create_timeout + 60 s of that send: here the sync Airbyte's own scheduler ran when
    Airbyte came back. Not the documented ambiguity (no create of ours was ever being handled).
    Rules at fault: `_send` / `_after_unknown` (an unsent create opens a window) and `_could_be_ours`.
    """
    airbyte = airbyte_at()
    conn = connection(airbyte, **QUICK)
    real_send_once = AirbyteHook._send_once

    def refused_create(self: AirbyteHook, plan: Any) -> Any:
        if plan.method == "POST" and plan.url.endswith("/connections/sync"):
            # nothing listens there: a genuine "connection refused" through the real code path
            plan = dataclasses.replace(plan, url="http://127.0.0.1:9/api/v1/connections/sync")
        return real_send_once(self, plan)

    run = Run()
    monkeypatch.setattr(AirbyteHook, "_send_once", refused_create)
    with pytest.raises(AirbyteError):
        run_to_end(operator(conn), run.context())
    monkeypatch.setattr(AirbyteHook, "_send_once", real_send_once)
    assert api_jobs(airbyte) == []  # nothing of ours was ever created

    theirs = airbyte.start_job(conn)  # Airbyte is back: its scheduler runs the connection's sync
    deadline = time.time() + 10
    while airbyte.job(theirs)["status"] not in TERMINAL_STATUSES and time.time() < deadline:
        time.sleep(0.05)

    returned = run_to_end(operator(conn), run.next_try())
    assert origin_of(airbyte, returned) == "api", (
        f"the retry reported Airbyte's scheduled job {returned} as this task's sync; "
        f"jobs: {airbyte.jobs(conn)}"
    )


# ----------------------------------------------------------------------------------------------
# 4. A 409 to a create is taken as evidence for a job created just before that refused create.
# ----------------------------------------------------------------------------------------------
def test_a_409_is_never_judged_by_the_time_of_the_create_it_refused(airbyte_at: Any) -> None:
    """Promise: never another party's job taken as its own; never a cancel of a job it did not create.

    Try 1 dies right after storing "sent" (its create never went out). The retry comes 10 minutes
    later (the record's send time is moved back, as the clock would have). Meanwhile another party
    started a sync. The retry's look-up rightly does not take it (created long after try 1's send),
    sends its create, and gets a 409 for that very sync. `_refused_after_unknown` then tests the
    running job against ALL send times, including the send that was just refused, whose window
    starts 60 s BEFORE it: the foreign sync (created seconds before the refused create) "passes" and
    is owned, watched, and cancelled on timeout. A refused create created nothing, so its own send
    time is no evidence. Rule at fault: `_refused_after_unknown` (via `_could_be_ours`'s window).
    """
    airbyte = airbyte_at()
    conn = connection(airbyte, **SLOW)
    run = Run()
    crash_after_storing(run, "sent")
    with pytest.raises(Crash):
        run_to_end(operator(conn), run.context())
    assert api_jobs(airbyte) == []
    record = run.store.values[STATE_KEY]
    record["sent_at"] = [when - 600 for when in record["sent_at"]]  # the retry comes 10 min later

    theirs = airbyte.start_job(conn)
    with contextlib.suppress(AirbyteTimeout):
        run_to_end(operator(conn, timeout=1), run.next_try())
    status = airbyte.job(theirs)["status"]
    owned = run.store.values[STATE_KEY]
    airbyte.cancel_job(theirs)
    assert status != "cancelled", f"the retry cancelled another party's sync {theirs}; record: {owned}"
    assert not (owned["state"] == "owned" and owned["job_id"] == theirs), owned


# ----------------------------------------------------------------------------------------------
# 5. A listed job without createdAt skips the evidence window altogether.
# ----------------------------------------------------------------------------------------------
def test_a_listed_job_without_a_creation_time_is_never_taken(airbyte_at: Any) -> None:
    """Promise: never another party's job taken as its own; never success for a job not its own.

    `_could_be_ours` answers True for any job newer than the note whose `createdAt` is missing,
    although the record has send times: a job from the gap between tries (created 10 minutes after
    the only create, which never even went out) is taken and its success reported. An answer
    without `createdAt` is not the API's shape and should be an unknown outcome, not a licence.
    Rule at fault: `_could_be_ours` (`job.created_at is None` -> True).
    """
    airbyte = airbyte_at()
    conn = connection(airbyte, **QUICK)
    run = Run()
    crash_after_storing(run, "sent")
    with pytest.raises(Crash):
        run_to_end(operator(conn), run.context())
    record = run.store.values[STATE_KEY]
    record["sent_at"] = [when - 600 for when in record["sent_at"]]  # the retry comes 10 min later

    theirs = airbyte.start_job(conn)
    deadline = time.time() + 10
    while airbyte.job(theirs)["status"] not in TERMINAL_STATUSES and time.time() < deadline:
        time.sleep(0.05)
    job = airbyte.job(theirs)
    listed = {
        "job": {
            "id": theirs,
            "configType": "sync",
            "configId": conn,
            "status": job["status"],
            "updatedAt": int(job["updated_at"]),
        },
        "attempts": [],
    }
    airbyte.add_fault(
        r"/api/v1/jobs/list$", status=200, body={"jobs": [listed], "totalJobCount": 1}, count=None
    )
    returned = None
    with contextlib.suppress(AirbyteError):
        returned = run_to_end(operator(conn), run.next_try())
    airbyte.clear_faults()
    assert returned is None or origin_of(airbyte, returned) == "api", (
        f"the retry reported another party's job {returned} (created 10 minutes after its create) as its own"
    )


# ----------------------------------------------------------------------------------------------
# 6. Airbyte's clock ahead of the worker's by more than the window: every lost answer duplicates.
# ----------------------------------------------------------------------------------------------
def test_airbytes_clock_five_minutes_ahead_still_finds_our_job(airbyte_at: Any) -> None:
    """Promise: never a duplicate job per intended sync.

    The window's upper end is send + create_timeout (180 s) + 60 s, measured with the worker's clock
    against Airbyte's `createdAt`. With Airbyte's clock 5 minutes ahead (an unsynchronised server;
    60 s behind breaks the lower end the same way), this task's own job, whose create answer was lost,
    fails the window although it is the only job newer than the note: a second job is created. The
    note alone already proves it is not older than the task; the window only rejects it here.
    Rule at fault: `_could_be_ours` (clock comparison across machines, margin 60 s).
    """
    airbyte = airbyte_at()
    conn = connection(airbyte, **QUICK)
    airbyte.advance(300)
    airbyte.add_fault(r"/api/v1/connections/sync$", drop=True, after=True)
    with contextlib.suppress(AirbyteError):
        run_to_end(operator(conn), Run().context())
    jobs = api_jobs(airbyte)
    assert len(jobs) == 1, f"one intended sync, {len(jobs)} jobs: {[(j['id'], j['status']) for j in jobs]}"


# ----------------------------------------------------------------------------------------------
# 7. A record of the earlier untyped format: a bare note takes any later job, even a foreign one.
# ----------------------------------------------------------------------------------------------
def test_a_bare_note_of_the_untyped_format_never_takes_a_later_job(airbyte_at: Any) -> None:
    """Promise: never another party's job taken as its own; never a cancel of a job it did not create.

    The earlier release stored `{"after_job_id": N, "job_id": None, "owned": True}` before each create,
    including the create that a 409 refused before it waited for another party's job. `_from_version_1`
    reads that bare note as "sent" with no send time, so `_could_be_ours` takes ANY later job of the
    kind: here Airbyte's scheduled sync that started after the upgrade. It is owned, and cancelled on
    timeout. Not in the README's two residual ambiguities (only the module's docstring admits it).
    Rule at fault: `_from_version_1` + `_could_be_ours` (`not record.sent_at` -> True).
    """
    airbyte = airbyte_at()
    conn = connection(airbyte, **SLOW)
    run = Run()
    run.store.set(
        STATE_KEY,
        {
            "connection_id": conn,
            "job_type": "sync",
            "clear_number": 0,
            "max_tries": run.max_tries,
            "after_job_id": 0,
            "job_id": None,
            "owned": True,
        },
    )
    theirs = airbyte.start_job(conn)  # started by Airbyte's scheduler after the upgrade
    with contextlib.suppress(AirbyteError):
        run_to_end(operator(conn, timeout=1), run.next_try())
    status = airbyte.job(theirs)["status"]
    airbyte.cancel_job(theirs)
    assert status != "cancelled", f"another party's sync {theirs} was taken as this task's and cancelled"


# ----------------------------------------------------------------------------------------------
# 8. Our create handled, its answer replaced by a 409 (a proxy re-sent the POST): the known limit.
# ----------------------------------------------------------------------------------------------
def test_a_proxy_resending_our_create_is_the_documented_limit(airbyte_at: Any) -> None:
    """A load balancer that re-sends a POST whose upstream answer it lost hands the client the 409
    of the re-sent request, while the first created the job. A 409's job is never taken as ours
    (the rule that keeps another party's job, created between our note and our create, from being
    owned and cancelled), so the task waits for that job to end, never cancelling it, and then
    starts its own: two jobs. The README says so and says not to let a proxy retry POSTs; this test
    keeps that statement true.
    """
    airbyte = airbyte_at()
    conn = connection(airbyte, **QUICK)
    airbyte.add_fault(
        r"/api/v1/connections/sync$",
        after=True,
        status=409,
        body={
            "message": f"A sync is already running for: {conn}",
            "exceptionClassName": "ValueConflictKnownException",
        },
    )
    returned = run_to_end(operator(conn), Run().context())
    first, second = api_jobs(airbyte)
    assert first["status"] == "succeeded"  # waited for, never cancelled
    assert (returned, second["status"]) == (second["id"], "succeeded")


# ----------------------------------------------------------------------------------------------
# 9. A huge timeout is accepted, then fails the deferrable task after its job was created.
# ----------------------------------------------------------------------------------------------
def test_a_huge_timeout_is_refused_before_any_request(airbyte_at: Any) -> None:
    """Promise (README, bad input): arguments are checked before any request, one error naming the fix.

    `positive_seconds` accepts `timeout=1e15`; `_defer_on` then builds `timedelta(seconds=1e15 + 300)`,
    which overflows AFTER the create: the task fails with a bare OverflowError while its job runs on,
    and every retry re-attaches and fails the same way. Unfriendly (no duplicate, no cancel).
    Rule at fault: `_validate` / `positive_seconds` (no upper bound).
    """
    airbyte = airbyte_at()
    conn = connection(airbyte, **QUICK)
    with pytest.raises(Exception) as failed:
        run_to_end(operator(conn, timeout=1e15, deferrable=True), Run().context())
    assert isinstance(failed.value, AirbyteError), repr(failed.value)
    assert api_jobs(airbyte) == [], "the bad timeout was refused only after a job was created"
