"""``AirbyteSyncTrigger``: watch an Airbyte job from the triggerer, without blocking its event loop."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_airbyte_sync.core.errors import AirbyteError
from airflow_provider_airbyte_sync.core.watch import Failed, Succeeded, Watch, failure_message, watching
from airflow_provider_airbyte_sync.hooks.airbyte_async import AsyncAirbyteClient
from airflow_provider_airbyte_sync.tasks import DEFERRED_POLL_INTERVAL_S


class AirbyteSyncTrigger(BaseTrigger):
    """Poll an Airbyte job until it ends, then yield exactly one event.

    The event is ``{"status": "succeeded" | "failed" | "timeout" | "error", "job_id", "job",
    "message", "queued_s", "url", "connection_id"}`` with ``job`` the job as a dict of primitives.
    ``end_time`` is a wall-clock deadline (epoch seconds) kept inside the trigger, because Airflow
    3.3 does not enforce ``execution_timeout`` while a task is deferred; at the deadline a job this
    task ``owned`` is cancelled. ``on_kill`` (the task marked failed or success, or cleared) cancels
    an owned job too; ``cleanup`` and a triggerer restart never do.

    :param job_id: the Airbyte job to watch.
    :param conn_id: Airflow connection id.
    :param end_time: epoch seconds after which the watch times out, or ``None``.
    :param poll_interval: seconds between polls.
    :param owned: whether the task started this job (only then may it be cancelled).
    :param cancel_on_kill: cancel an owned job on timeout or kill.
    :param connection_id: the Airbyte connection, passed through to the event.
    :param url: link to the job in the Airbyte UI, passed through to the event.
    :param timeout: the task's timeout in seconds, for the timeout message.
    :param not_before: epoch seconds before which the event is not fired (see ``tasks.DEFER_SETTLE_S``).
    :param execution_deadline: epoch seconds at which the task's ``execution_timeout`` runs out, as
        the official provider's trigger takes it: the watch ends at the earlier of the two deadlines.
    """

    def __init__(
        self,
        job_id: int,
        conn_id: str = "airbyte_default",
        end_time: float | None = None,
        poll_interval: float = DEFERRED_POLL_INTERVAL_S,
        owned: bool = False,
        cancel_on_kill: bool = True,
        connection_id: str | None = None,
        url: str | None = None,
        timeout: float | None = None,
        not_before: float | None = None,
        execution_deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.job_id = int(job_id)
        self.conn_id = conn_id
        self.end_time = end_time
        self.poll_interval = float(poll_interval)
        self.owned = owned
        self.cancel_on_kill = cancel_on_kill
        self.connection_id = connection_id
        self.url = url
        self.timeout = timeout
        self.not_before = not_before
        self.execution_deadline = execution_deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Every argument of ``__init__``, as kept on ``self``."""
        names = list(inspect.signature(AirbyteSyncTrigger.__init__).parameters)[1:]
        return f"{type(self).__module__}.{type(self).__qualname__}", {n: getattr(self, n) for n in names}

    def _event(
        self, status: str, message: str, job: Any = None, queued_s: float | None = None
    ) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": status,
                "job_id": self.job_id,
                "job": job.to_dict() if job is not None else None,
                "message": message,
                "queued_s": queued_s,
                "url": self.url,
                "connection_id": self.connection_id,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # CancelledError is never caught: a triggerer restart must not end (or fail) the watch.
        try:
            event = await self._watch()
        except AirbyteError as exc:
            event = self._event("error", str(exc))
        if self.not_before is not None:
            # Airflow 3.3 fails a task resumed before the scheduler has seen its worker exit after
            # defer(): hold a quick ending until that exit has surely been reported.
            await asyncio.sleep(max(0.0, self.not_before - time.time()))
        yield event

    async def _watch(self) -> TriggerEvent:
        """Poll the job until it ends or the deadline passes; answer the one event to fire."""
        deadlines = [d for d in (self.end_time, self.execution_deadline) if d is not None]
        watch = Watch(self.job_id, poll_interval=self.poll_interval, deadline=min(deadlines, default=None))
        async with AsyncAirbyteClient(self.conn_id, keepalive_s=self.poll_interval + 30) as api:
            end = await api.run(watching(watch, api.dialect), self.log.log)
            if isinstance(end, Succeeded):
                queued = watch.queued_seconds(end.job)
                return self._event("succeeded", f"Airbyte job {self.job_id} succeeded.", end.job, queued)
            if isinstance(end, Failed):
                return self._event("failed", failure_message(end.job), end.job)
            if self.owned and self.cancel_on_kill:  # TimedOut
                await api.cancel_quietly(self.job_id)
            if self.execution_deadline is not None and watch.deadline == self.execution_deadline:
                return self._event("timeout", str(watch.timeout_error(None, "execution_timeout")), end.job)
            return self._event("timeout", str(watch.timeout_error(self.timeout)), end.job)

    async def is_still_running(self, hook: Any = None) -> bool:
        """Whether the job has not ended yet (the official trigger's check; ``hook`` is accepted and
        unused: the read goes through the async client, never a blocking hook)."""
        async with AsyncAirbyteClient(self.conn_id) as api:
            job = await api.run(api.dialect.get_job(self.job_id))
        return job.state == "in_progress"

    async def on_kill(self) -> None:
        """The task was marked failed or success, or cleared: cancel the job if this task started it."""
        if not (self.owned and self.cancel_on_kill):
            return
        try:
            async with AsyncAirbyteClient(self.conn_id) as api:
                await api.cancel_quietly(self.job_id)
        except AirbyteError as exc:
            self.log.error("Could not cancel Airbyte job %s: %s", self.job_id, exc)
