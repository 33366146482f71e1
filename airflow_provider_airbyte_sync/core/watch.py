"""Watching a job to its end: pure decisions, and the one loop the hook, trigger and sensor share.

:class:`Watch` answers each poll (a job, or a transient error) with a typed decision that carries
what to log, so every driver reports the same things in the same words. :func:`watching` is the
loop as a flow of the core; the sensor takes one step of it per poke (see :meth:`Watch.to_dict`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_airbyte_sync.core import errors, status
from airflow_provider_airbyte_sync.core.record import Log, Sleep
from airflow_provider_airbyte_sync.core.status import AirbyteJob
from airflow_provider_airbyte_sync.core.wire import Request, Response

if TYPE_CHECKING:
    from airflow_provider_airbyte_sync.core.dialects import Dialect

# How long a watch survives Airbyte being unreachable or answering 5xx, counted from the first
# failed poll of a run of failures (each poll already retried its request with backoff).
ERROR_BUDGET_S = 600.0
# The version of Watch.to_dict(); from_dict refuses any other.
WATCH_VERSION = 1

Logs = tuple[tuple[int, str], ...]  # (logging level, line)


@dataclass(frozen=True)
class Poll:
    """Poll again after ``delay`` seconds."""

    delay: float
    logs: Logs = ()


@dataclass(frozen=True)
class Succeeded:
    job: AirbyteJob
    logs: Logs = ()


@dataclass(frozen=True)
class Failed:
    """The job failed or was cancelled, or kept a status this provider does not know past the grace."""

    job: AirbyteJob
    logs: Logs = ()


@dataclass(frozen=True)
class TimedOut:
    """The deadline passed; ``job`` is the last poll's (``None`` when that poll failed)."""

    job: AirbyteJob | None = None
    logs: Logs = ()


Ended = Succeeded | Failed | TimedOut
Decision = Poll | Ended
PollOutcome = AirbyteJob | errors.AirbyteError  # what one poll brought: the job, or the error it raised


def is_transient(error: Exception) -> bool:
    """Errors a watch outlives (within its budget): no answer, 5xx, 429, answers that are not Airbyte's.

    Only Airbyte's own definite answer (the job is unknown, the credentials are refused) ends a watch.
    """
    return getattr(error, "outcome", "final") in ("unknown", "refused")


def describe(job: AirbyteJob) -> str:
    """One line of progress: status, rows and bytes so far."""
    parts = [f"Airbyte job {job.job_id}: {job.status}"]
    if job.rows_synced is not None:
        parts.append(f"{job.rows_synced:,} rows")
    if job.bytes_synced is not None:
        parts.append(f"{job.bytes_synced:,} bytes")
    return ", ".join(parts)


def failure_message(job: AirbyteJob) -> str:
    """The task's failure message: job id, status and Airbyte's reason when it gave one."""
    text = f"Airbyte job {job.job_id} of connection {job.connection_id} ended {job.status}"
    if job.failure:
        text += f": {job.failure}"
    elif job.state == "unknown":
        text += " (a status this provider does not know; it is never treated as success)"
    return text.rstrip(".") + "."


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


class Watch:
    """Decisions for one job watch; :meth:`to_dict` and :meth:`from_dict` carry all of its state.

    :param job_id: the job watched.
    :param poll_interval: seconds between polls.
    :param deadline: wall-clock epoch seconds after which the watch times out (``None``: never).
    :param unknown_grace: seconds a status this provider does not know is waited out before failing
        (default ``status.UNKNOWN_STATUS_GRACE_S``).
    :param error_budget: seconds of consecutive transient errors the watch survives (default
        ``ERROR_BUDGET_S``).
    """

    def __init__(
        self,
        job_id: int,
        *,
        poll_interval: float,
        deadline: float | None = None,
        unknown_grace: float | None = None,
        error_budget: float | None = None,
    ) -> None:
        self.job_id = job_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.unknown_grace = status.UNKNOWN_STATUS_GRACE_S if unknown_grace is None else unknown_grace
        self.error_budget = ERROR_BUDGET_S if error_budget is None else error_budget
        self.last_status: str | None = None
        self.seen_failures = 0
        self.unknown_since: float | None = None
        self.errors_since: float | None = None
        self.running_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """All of the watch's state as JSON primitives, read back by :meth:`from_dict`."""
        return {"version": WATCH_VERSION, **vars(self)}  # every attribute is state

    @classmethod
    def from_dict(cls, data: Any) -> Watch:
        """The watch :meth:`to_dict` stored; a dict of another version or a damaged one is refused."""
        version = data.get("version") if isinstance(data, Mapping) else None
        if version != WATCH_VERSION:
            raise errors.AirbyteConfigError(
                f"This task's state store holds a job watch of version {version!r}, which this release of "
                f"the provider cannot read (it reads version {WATCH_VERSION}). Upgrade the provider on every "
                "worker, or clear the task to watch anew."
            )
        try:
            watch = cls(
                int(data["job_id"]),
                poll_interval=float(data["poll_interval"]),
                deadline=_seconds(data["deadline"]),
                unknown_grace=float(data["unknown_grace"]),
                error_budget=float(data["error_budget"]),
            )
            watch.last_status = data["last_status"]
            watch.seen_failures = int(data["seen_failures"])
            watch.unknown_since = _seconds(data["unknown_since"])
            watch.errors_since = _seconds(data["errors_since"])
            watch.running_at = _seconds(data["running_at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.AirbyteConfigError(
                f"This task's stored job watch is damaged ({exc!r}): clear the task."
            ) from None
        return watch

    def _next(
        self, now: float, logs: list[tuple[int, str]], job: AirbyteJob | None = None
    ) -> Poll | TimedOut:
        if self.deadline is not None and now >= self.deadline:
            return TimedOut(job, tuple(logs))
        delay = self.poll_interval
        if self.deadline is not None:
            delay = max(0.0, min(delay, self.deadline - now))
        return Poll(delay, tuple(logs))

    def decide(self, outcome: PollOutcome, now: float) -> Decision:
        """Decide after a poll (:meth:`on_job` or :meth:`on_error`)."""
        if isinstance(outcome, errors.AirbyteError):
            return self.on_error(outcome, now)
        return self.on_job(outcome, now)

    def on_job(self, job: AirbyteJob, now: float) -> Decision:
        """Decide after a poll that read the job."""
        logs: list[tuple[int, str]] = []
        self.errors_since = None
        if job.status != self.last_status:
            logs.append((logging.INFO, describe(job)))
        for line in job.attempt_failures[self.seen_failures :]:
            note = f"Airbyte job {job.job_id}: an attempt failed, Airbyte retries: {line}"
            logs.append((logging.WARNING, note))
        self.seen_failures = len(job.attempt_failures)
        if job.status == "running" and self.running_at is None:
            self.running_at = now
        self.last_status = job.status

        state = job.state
        if state == "succeeded":
            return Succeeded(job, tuple(logs))
        if state == "failed":
            return Failed(job, tuple(logs))
        if state == "unknown":
            if self.unknown_since is None:
                self.unknown_since = now
                logs.append(
                    (
                        logging.WARNING,
                        f"Airbyte job {job.job_id} has status {job.status!r}, which this provider does not "
                        f"know; waiting up to {self.unknown_grace:.0f}s for a known one.",
                    )
                )
            elif now - self.unknown_since >= self.unknown_grace:
                return Failed(job, tuple(logs))
        else:
            self.unknown_since = None
        return self._next(now, logs, job)

    def on_error(self, error: errors.AirbyteError, now: float) -> Poll | TimedOut:
        """Decide after a poll that failed; re-raises errors that are not transient or over budget."""
        if not is_transient(error):
            raise error
        if self.errors_since is None:
            self.errors_since = now
        elapsed = now - self.errors_since
        if elapsed >= self.error_budget:
            raise errors.AirbyteUnreachable(
                f"Gave up watching Airbyte job {self.job_id}: Airbyte kept failing for {elapsed:.0f}s "
                f"(budget {self.error_budget:.0f}s). Last error: {error}. The job may still be running; "
                "a retry of this task re-attaches to it."
            ) from error
        logs = [(logging.WARNING, f"Polling Airbyte job {self.job_id} failed, will poll again: {error}")]
        return self._next(now, logs)

    def timeout_error(self, timeout: float | None, limit: str = "timeout") -> errors.AirbyteTimeout:
        """The error of a watch past its deadline, naming the ``limit`` (``timeout`` or
        ``execution_timeout``) of ``timeout`` seconds that set it."""
        of = f" of {timeout}s" if timeout is not None else ""
        return errors.AirbyteTimeout(
            f"Airbyte job {self.job_id} did not end within the {limit}{of} "
            f"(last status: {self.last_status or 'unknown'})."
        )

    def queued_seconds(self, job: AirbyteJob) -> float | None:
        """Seconds the job waited to run: from Airbyte's own times when it gives them (config API),
        else up to the first poll that saw it running; ``None`` when neither is known.
        """
        if job.queued_s is not None:
            return job.queued_s
        if job.created_at is None or self.running_at is None:
            return None
        return max(0.0, self.running_at - job.created_at.timestamp())


@dataclass(frozen=True)
class Read:
    """Effect of :func:`watching`: drive ``flow`` and answer the job it read, or the
    :class:`AirbyteError` raised while reading it (by the flow, or by the driver, e.g. fetching a
    token): a failed poll is the watch's to judge, never the end of the loop.
    """

    flow: Generator[Request, Response, AirbyteJob]


def watching(watch: Watch, dialect: Dialect) -> Generator[Read | Log | Sleep, Any, Ended]:
    """The watch loop as a flow: :class:`Read` the job, decide, yield the decision's lines
    (:class:`Log`), :class:`Sleep`; answers the end (a failed job with Airbyte's reason). Errors a
    watch does not outlive are raised (:meth:`Watch.on_error`).
    """
    while True:
        decision = watch.decide((yield Read(dialect.get_job(watch.job_id))), time.time())
        for level, line in decision.logs:
            yield Log(level, line)
        if isinstance(decision, Failed):
            return Failed((yield from with_failure_reason(dialect, decision.job)), decision.logs)
        if not isinstance(decision, Poll):
            return decision
        yield Sleep(decision.delay)


def with_failure_reason(dialect: Dialect, job: AirbyteJob) -> Generator[Read, Any, AirbyteJob]:
    """``job`` with Airbyte's failure reason filled in when the API gave none (as it is if that fails)."""
    if job.failure or job.state == "succeeded":
        return job
    detailed = yield Read(dialect.failure_reason(job))
    return job if isinstance(detailed, errors.AirbyteError) else detailed


def waited_too_long(
    job_id: int, timeout: float | None, if_running: str = "wait", limit: str = "timeout"
) -> errors.AirbyteTimeout:
    """The timeout of a task that waited for another party's job and never started its own;
    ``limit`` names the argument that set ``timeout`` (``timeout`` or ``execution_timeout``)."""
    advice = f"Raise {limit}" + (
        ", or set if_running='attach' to watch the running job instead." if if_running == "wait" else "."
    )
    return errors.AirbyteTimeout(
        f"Timed out after {timeout}s waiting for Airbyte job {job_id} to end. That job is not this task's "
        "(it was running when this task wanted to start its own) and was not cancelled; this task's own "
        f"job was never started. {advice}"
    )


def failed_error(job: AirbyteJob) -> errors.AirbyteJobFailed:
    return errors.AirbyteJobFailed(failure_message(job), job=job.to_dict())


def summary(job: AirbyteJob, *, url: str | None = None, queued_s: float | None = None) -> dict[str, Any]:
    """The ``airbyte_job`` XCom: primitives only, times as ISO-8601 text."""
    duration = None
    if job.created_at and job.updated_at:
        duration = round((job.updated_at - job.created_at).total_seconds(), 3)
    return {
        "connection_id": job.connection_id,
        "job_id": job.job_id,
        "job_type": job.job_type,
        "status": job.status,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "succeeded_at": job.updated_at.isoformat() if job.updated_at and job.state == "succeeded" else None,
        "duration_s": duration,
        "queued_s": round(queued_s, 3) if queued_s is not None else None,
        "rows_synced": job.rows_synced,
        "bytes_synced": job.bytes_synced,
        "url": url,
    }
