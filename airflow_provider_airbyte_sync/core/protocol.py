"""The start protocol: how a task starts its Airbyte job exactly once, across tries. Pure.

:func:`start` yields the effects of :mod:`.record` and returns an :class:`Outcome`; the hook drives
it. What a task knows is one typed, versioned :class:`StartRecord`, persisted at every step; its
states, the evidence behind each and what the next try does are :data:`STATE_TABLE` (the README's
exactly-once table is rendered from it, and a test keeps the two equal).

A job becomes ours only by evidence about our own create: its answer, or — after a create whose
answer was lost — a job of this connection and kind newer than the note, created while that create
was being handled. Where Airbyte makes the outcome unknowable (another party's create lands between
our note and the look-up that follows a lost answer), the oldest such job is taken and the log says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

from airflow_provider_airbyte_sync.core import errors
from airflow_provider_airbyte_sync.core.dialects import Dialect
from airflow_provider_airbyte_sync.core.record import (
    Ask,
    Busy,
    Flow,
    Log,
    Outcome,
    Persist,
    Sleep,
    Started,
    StartRecord,
    StateName,
    Steps,
)
from airflow_provider_airbyte_sync.core.status import AirbyteJob, check_active, same_kind
from airflow_provider_airbyte_sync.core.wire import outcome_unknown

# After a create with an unknown outcome, the listing is read again after each of these pauses
# before the job is taken as never created (a listing can lag behind the create).
RECONCILE_PAUSES_S: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0)
# A job can only come of our create while the server handles it: from the send until the create's
# read timeout has passed. Times are read on Airbyte's clock (its Date headers); this margin covers
# their whole seconds and the network's delay.
CLOCK_MARGIN_S = 5.0
# Creates sent within one try while their outcomes stay unknown (a retry may send more).
SENDS_PER_TRY = 2
# Rounds of "409, yet no running job is listed" before giving up (the job ended meanwhile).
REFUSED_ROUNDS = 3


# (state, the evidence it stands for, what the next try of the same task does, where in this module)
STATE_TABLE: tuple[tuple[str, str, str, str], ...] = (
    (
        "(none)",
        "nothing sent in this generation (first try, or a Clear)",
        "checks the connection is active; for a reset or clear, applies `if_running` to a running job "
        "first (Airbyte would cancel it, not answer 409); notes the newest job id (never below one an "
        "earlier try knew: job ids only grow, a listing may lag), persists `sent`, "
        "creates. A create that never reached Airbyte (no connection made) is sent again. One answered "
        "409 or another 4xx, or that never reached Airbyte, made nothing: the record says so before "
        "the next request, so no later job can pass for its job",
        "_fresh, _send, _made_nothing",
    ),
    (
        "sent",
        "a create went out (persisted before sending, with the job type it was sent as); no answer has "
        "said what came of it",
        f"reads the job listing ({len(RECONCILE_PAUSES_S)} times over {sum(RECONCILE_PAUSES_S):g} s: it "
        "may lag) for a job newer than the note, of the type one of its creates was sent as (a clear "
        "goes out as a reset only to a server without a clear endpoint, recorded before it is sent) "
        "and created while that create was being handled: ours. None: sends the create again "
        f"(at most {SENDS_PER_TRY} per try); a 409 then is ours only if the running job passes the same test",
        "_after_unknown, _look_for_ours, _refused_after_unknown",
    ),
    (
        "owned",
        "our create answered with this job, or it was found as above",
        "watches it; returns it if it succeeded; a new sync if it failed or Airbyte itself says it does "
        "not know it (a proxy's 404 or an HTML page is no such word); only this job is ever cancelled",
        "_take_up, _own",
    ),
    (
        "attached",
        '`if_running="attach"`: our create was refused (409) and a job of the same kind runs',
        "watches it; never cancels it",
        "_busy",
    ),
    (
        "waiting",
        "our create was refused (409) and another party's job runs",
        "waits for that job to end (never cancels it, never takes it or any later job as ours), then "
        'notes afresh and creates; `if_running="fail"` fails naming it',
        "_busy, _take_up",
    ),
)


def state_table_markdown() -> str:
    """:data:`STATE_TABLE` as the README shows it."""
    lines = ["| state | evidence | the next try of the same task | rule |", "|---|---|---|---|"]
    for state, evidence, then, where in STATE_TABLE:
        rules = ", ".join(f"`{name}`" for name in where.split(", "))
        lines.append(f"| `{state}` | {evidence} | {then} | {rules} |")
    return "\n".join(lines)


def start(
    dialect: Dialect, ask: Ask, record: StartRecord | None, clock: Callable[[], float] = time.time
) -> Flow:
    """Start (or take up again) the task's job; see the module's table for every rule."""
    # Job ids only grow: a job an earlier try knew of is older than anything a new create makes,
    # even when a lagging listing does not show it yet.
    floor = 0
    if record is not None and record.connection_id == ask.connection_id:
        floor = max(record.job_id or 0, record.note or 0)
    if record is not None and not _same_task(ask, record):
        yield Log(
            logging.INFO, f"This task was cleared (or its arguments changed): starting a new {ask.job_type}."
        )
        record = None
    if record is not None:
        outcome = yield from _take_up(dialect, ask, record, clock)
        if outcome == "elsewhere":
            floor = 0  # the stored job is another Airbyte's: its ids say nothing about this one's
        elif outcome is not None:
            return outcome
    return (yield from _fresh(dialect, ask, clock, floor))


def _same_task(ask: Ask, record: StartRecord) -> bool:
    return (
        record.connection_id == ask.connection_id
        and record.job_type == ask.job_type
        and record.generation.same_as(ask.generation)
    )


def _take_up(
    dialect: Dialect, ask: Ask, record: StartRecord, clock: Callable[[], float]
) -> Steps[Outcome | Literal["elsewhere"] | None]:
    """What an earlier try left: the outcome to go on with, or ``None`` to start afresh
    (``"elsewhere"``: afresh and from no floor, the stored job being another Airbyte's).
    """
    if record.state == "sent":
        return (yield from _after_unknown(dialect, ask, record, clock, SENDS_PER_TRY))
    if record.job_id is None:  # waiting, with no running job listed: note afresh
        return None
    try:
        job = yield from dialect.get_job(record.job_id)
    except errors.AirbyteJobNotFound:
        yield Log(logging.WARNING, f"Airbyte no longer knows job {record.job_id} of an earlier try.")
        return None
    if job.connection_id not in (None, ask.connection_id):
        # The Airflow connection now points at another Airbyte: that id is someone else's job.
        yield Log(logging.WARNING, f"Airbyte job {job.job_id} belongs to another connection here.")
        return "elsewhere"
    if record.state == "waiting":
        if job.state in ("succeeded", "failed"):
            return None  # the job we waited for ended: ours can start
        return (yield from _busy(dialect, ask, job))
    if job.state == "failed":
        yield Log(logging.INFO, f"Airbyte job {job.job_id} of an earlier try ended {job.status}.")
        return None
    yield Log(
        logging.INFO, f"Airbyte job {job.job_id} of an earlier try of this task is {job.status}: resuming it."
    )
    return Started(job, owned=record.owned)


def _fresh(dialect: Dialect, ask: Ask, clock: Callable[[], float], floor: int = 0) -> Flow:
    """Check the connection, note its newest job (never below ``floor``), persist "sent", create;
    apply ``if_running``.
    """
    connection = check_active((yield from dialect.get_connection(ask.connection_id)))
    if ask.job_type != "sync":
        # Airbyte answers a reset or clear sent while a sync runs by cancelling that sync, never
        # with a 409: if_running must be applied before sending.
        running = yield from dialect.find_running_job(ask.connection_id)
        if running is not None:
            return (yield from _busy(dialect, ask, running))
    for _ in range(REFUSED_ROUNDS):
        note = max(floor, (yield from dialect.newest_job_id(ask.connection_id, ask.job_type)))
        record = _sending(_record(ask, "sent", None, note=note), dialect, ask, clock)
        yield Persist(record)
        outcome = yield from _send(dialect, ask, record, clock, SENDS_PER_TRY - 1)
        if isinstance(outcome, Started):
            return replace(outcome, workspace_id=connection.workspace_id)
        if outcome is not None:
            return outcome
    raise errors.AirbyteSyncAlreadyRunning(
        f"Airbyte keeps answering that a sync is already running for connection {ask.connection_id} but "
        "lists no running job; nothing was started. Retry later.",
        connection_id=ask.connection_id,
    )


def _send(
    dialect: Dialect,
    ask: Ask,
    record: StartRecord,
    clock: Callable[[], float],
    resends: int,
    after_unknown: bool = False,
) -> Steps[Outcome | None]:
    """Send the create persisted in ``record``; ``None``: refused with nothing running (note afresh).

    What an answer proves is persisted before the next request, so a kill at any point leaves a
    record that says what was done.
    """
    try:
        job = yield from dialect.submit(ask.connection_id, record.sent_kinds[-1])
    except errors.AirbyteSyncAlreadyRunning:
        unsent = yield from _made_nothing(ask, record)
        if after_unknown:
            # An earlier create of ours had no answer: the running job may be its job.
            return (yield from _refused_after_unknown(dialect, ask, unsent))
        running = yield from dialect.find_running_job(ask.connection_id)
        if running is None:
            return None
        return (yield from _busy(dialect, ask, running))
    except errors.AirbyteError as exc:
        if not _maybe_created(exc):
            yield from _made_nothing(ask, record)
            raise
        yield Log(logging.WARNING, f"The request to start a {ask.job_type} has an unknown outcome: {exc}")
        return (yield from _after_unknown(dialect, ask, record, clock, resends))
    if job is None:
        # This server has no endpoint of that kind (nothing was made): send it as its predecessor,
        # recorded first, since its job is of that other type.
        record = _sending(_unsent(record), dialect, ask, clock)
        yield Persist(record)
        return (yield from _send(dialect, ask, record, clock, resends, after_unknown))
    return (yield from _own(ask, job, "was created by this task"))


def _maybe_created(error: errors.AirbyteError) -> bool:
    """Whether a failed create may have created its job.

    Only an unknown outcome may, and not a 4xx: Airbyte creates a job only when it answers 2xx, and
    a proxy's 4xx (an HTML 404 or 409) never stands for an upstream 2xx.
    """
    status = getattr(error, "status", None)
    return outcome_unknown(error) and not (isinstance(status, int) and 400 <= status < 500)


def _made_nothing(ask: Ask, record: StartRecord) -> Steps[StartRecord]:
    """Persist that the last create made nothing: it must never open a window for a later job."""
    unsent = _unsent(record) if len(record.sent_at) > 1 else _record(ask, "waiting", None)
    yield Persist(unsent)
    return unsent


def _sending(record: StartRecord, dialect: Dialect, ask: Ask, clock: Callable[[], float]) -> StartRecord:
    """``record`` with one more create about to go out: when, and as what job type."""
    kind = dialect.create_kind(ask.job_type)
    return replace(
        record, state="sent", sent_at=(*record.sent_at, clock()), sent_kinds=(*record.sent_kinds, kind)
    )


def _unsent(record: StartRecord) -> StartRecord:
    """``record`` without its last create (which made nothing)."""
    return replace(record, sent_at=record.sent_at[:-1], sent_kinds=record.sent_kinds[:-1])


def _after_unknown(
    dialect: Dialect, ask: Ask, record: StartRecord, clock: Callable[[], float], resends: int
) -> Steps[Outcome | None]:
    """A create went out and no answer said what came of it: find its job, or send once more."""
    mine = yield from _look_for_ours(dialect, ask, record)
    if mine is not None:
        return mine
    if resends <= 0:
        raise errors.AirbyteOutcomeUnknown(
            f"Could not start a {ask.job_type} of connection {ask.connection_id}: the request had no clear "
            f"answer and Airbyte lists no job newer than {record.note} (checked "
            f"{len(RECONCILE_PAUSES_S)} times over {sum(RECONCILE_PAUSES_S):.1f}s). As far as Airbyte "
            "shows, nothing was started; a retry of this task looks again before it creates anything."
        )
    if ask.job_type != "sync":
        # As before the first send: Airbyte cancels a running job for a reset or clear, no 409.
        running = yield from dialect.find_running_job(ask.connection_id)
        if running is not None:
            return (yield from _whose_running(dialect, ask, record, running))
    yield Log(logging.WARNING, "Airbyte lists no job of that request: sending it once more.")
    again = _sending(record, dialect, ask, clock)
    yield Persist(again)
    return (yield from _send(dialect, ask, again, clock, resends - 1, after_unknown=True))


def _look_for_ours(dialect: Dialect, ask: Ask, record: StartRecord) -> Steps[Started | None]:
    """The job our unanswered create made, read patiently from a listing that may lag, or ``None``."""
    for pause in RECONCILE_PAUSES_S:
        if pause:
            yield Sleep(pause)
        jobs = yield from dialect.list_jobs(ask.connection_id, limit=20, job_type=ask.job_type)
        _refuse_unknown_times(jobs, ask, record)
        candidates = [job for job in jobs if _could_be_ours(job, ask, record, dialect)]
        if candidates:
            job = min(candidates, key=lambda candidate: candidate.job_id)
            why = (
                f"is newer than the note ({record.note}) and came after this task's unanswered request: "
                "taken as its job (Airbyte cannot tell whose create made it; see the README's exactly-once "
                "section)"
            )
            return (yield from _own(ask, job, why))
    return None


def _refuse_unknown_times(jobs: list[AirbyteJob], ask: Ask, record: StartRecord) -> None:
    """A job newer than the note without a creation time cannot be told ours or not: say so."""
    for job in jobs:
        if record.note is not None and job.job_id > record.note and job.created_at is None:
            raise errors.AirbyteOutcomeUnknown(
                f"Airbyte lists job {job.job_id} of connection {ask.connection_id} without a creation "
                "time, so this task cannot tell whether its unanswered request made it. Nothing more was "
                "started; a retry of this task looks again."
            )


def _could_be_ours(job: AirbyteJob, ask: Ask, record: StartRecord, dialect: Dialect) -> bool:
    if record.note is None or job.job_id <= record.note:
        return False
    if job.connection_id not in (None, ask.connection_id):
        return False
    if not record.sent_at or job.created_at is None:
        return False  # no time to hold it against: never evidence
    # Only of the type one of our creates was sent as (a clear sent as a reset makes a reset, and
    # only then), while it was being handled (from its send to its read timeout).
    created = job.created_at.timestamp()
    handling = dialect.settings.create_timeout
    known = len(record.sent_kinds) == len(record.sent_at)
    kinds = record.sent_kinds if known else ("",) * len(record.sent_at)
    sends = zip(record.sent_at, kinds, strict=True)
    return any(
        (job.job_type == kind if kind else same_kind(ask.job_type, job.job_type))
        and sent - CLOCK_MARGIN_S <= created <= sent + handling + CLOCK_MARGIN_S
        for sent, kind in sends
    )


def _refused_after_unknown(dialect: Dialect, ask: Ask, record: StartRecord) -> Flow:
    """A 409 to a create sent after an earlier one had no answer: whose job runs?"""
    running = yield from dialect.find_running_job(ask.connection_id)
    if running is None:
        raise errors.AirbyteOutcomeUnknown(
            f"Could not start a {ask.job_type} of connection {ask.connection_id}: an earlier request had "
            "no clear answer, and Airbyte now says a sync is running but lists none. Nothing more was "
            "started; a retry of this task looks for the job again."
        )
    return (yield from _whose_running(dialect, ask, record, running))


def _whose_running(dialect: Dialect, ask: Ask, record: StartRecord, running: AirbyteJob) -> Flow:
    """A job runs while a create of ours has an unknown outcome: ours if it passes the test, else busy."""
    if _could_be_ours(running, ask, record, dialect):
        why = "runs: an earlier request of this task created it (its answer was lost)"
        return (yield from _own(ask, running, why))
    # Older than our note, of another kind, or created while none of our creates was being
    # handled: another party's job. Ours, if any, would have been listed and taken above.
    return (yield from _busy(dialect, ask, running))


def _busy(dialect: Dialect, ask: Ask, running: AirbyteJob) -> Flow:
    """Another party's job runs: attach to it, wait for it, or fail, as ``if_running`` says."""
    if ask.if_running == "attach" and same_kind(ask.job_type, running.job_type):
        yield Persist(_record(ask, "attached", running.job_id))
        yield Log(
            logging.INFO,
            f"A {running.job_type} is already running: attaching to Airbyte job {running.job_id} "
            "(not this task's: it is never cancelled).",
        )
        return Started(running, owned=False)
    yield Persist(_record(ask, "waiting", running.job_id))
    if ask.if_running == "fail":
        raise errors.AirbyteSyncAlreadyRunning(
            f"Airbyte job {running.job_id} ({running.job_type}) is already running for connection "
            f"{ask.connection_id}; nothing was started. Set if_running='wait' to wait for it to end and "
            "then sync, or if_running='attach' to watch it instead.",
            connection_id=ask.connection_id,
            job_id=running.job_id,
        )
    return Busy(running)


def _own(ask: Ask, job: AirbyteJob, why: str) -> Steps[Started]:
    yield Persist(_record(ask, "owned", job.job_id))
    yield Log(logging.INFO, f"Airbyte job {job.job_id} {why}.")
    return Started(job, owned=True)


def _record(ask: Ask, state: StateName, job_id: int | None, **sent: Any) -> StartRecord:
    return StartRecord(ask.connection_id, ask.job_type, ask.generation, state, job_id=job_id, **sent)
