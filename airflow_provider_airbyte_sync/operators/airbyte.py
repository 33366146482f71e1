"""``AirbyteTriggerSyncOperator``: start an Airbyte sync (or reset, or clear) and watch it to the end.

Thin on purpose: the hook and the trigger do the work; this module chooses the mode and maps outcomes
to XCom values and task states. DAG parsing imports it: the hook, core and trigger are imported late.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, BaseOperatorLink

from airflow_provider_airbyte_sync import tasks
from airflow_provider_airbyte_sync.compat import conf
from airflow_provider_airbyte_sync.core.errors import AirbyteJobFailed, AirbyteTimeout
from airflow_provider_airbyte_sync.exceptions import airflow_errors

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

    from airflow_provider_airbyte_sync.core import record
    from airflow_provider_airbyte_sync.core.status import AirbyteJob
    from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook

STATE_KEY = "airbyte_job"  # task state store: the job (or the intent to create one) of this task


class AirbyteJobLink(BaseOperatorLink):
    """ "Airbyte job" button: the connection's job history in the Airbyte UI."""

    name = "Airbyte job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(key=tasks.URL_XCOM, ti_key=ti_key) or ""


class AirbyteTriggerSyncOperator(BaseOperator):
    """Start a sync (or reset, or clear) of an Airbyte connection and wait for it to end.

    The same arguments as the official provider's operator, so a DAG moves over by changing its
    imports. Three ways to run: blocking (``asynchronous=False``, the default: poll from the worker),
    ``asynchronous=True`` (return as soon as the job started; watch it with ``AirbyteJobSensor``),
    ``deferrable=True`` (free the worker slot while the triggerer watches).

    Exactly once: the job id is kept in the task state store before waiting, so a retried task
    watches its job (or returns its result if it already succeeded) instead of starting another; a
    user's Clear of the task starts a new sync. A job this task started is cancelled when the task is
    killed or times out (``cancel_on_kill``); a job it attached to or waited for never is.

    Returns the job id (XCom ``return_value``); XCom ``airbyte_job`` holds a summary: connection_id,
    job_id, job_type, status, created_at, succeeded_at, duration_s, queued_s, rows_synced,
    bytes_synced, url.

    :param connection_id: Airbyte connection UUID (templated).
    :param airbyte_conn_id: Airflow connection id (templated), default ``airbyte_default``.
    :param asynchronous: return right after the job started.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param api_version: accepted and ignored, for DAGs moved from the official provider (which takes
        it); the API version is the Airflow connection's ``api_version`` extra field.
    :param wait_seconds: seconds between polls; default 3 when blocking, 15 when deferred.
    :param timeout: seconds the job may take (from the task's start); then it is cancelled if owned.
    :param job_type: ``sync`` (default), ``reset`` or ``clear`` (templated).
    :param if_running: when a sync is already running: ``wait`` for it to end then start ours
        (default: the data must be fresher than this task), ``attach`` to it, or ``fail``.
    :param cancel_on_kill: cancel the owned job when the task is killed or times out (default True).

    Example::

        sync = AirbyteTriggerSyncOperator(
            task_id="sync_postgres",
            connection_id="15bc3800-82e4-48c3-a32d-620661273f28",
            deferrable=True,
        )
    """

    template_fields: Sequence[str] = ("connection_id", "airbyte_conn_id", "job_type")
    ui_color = "#6C5FC7"
    operator_extra_links = (AirbyteJobLink(),)

    def __init__(
        self,
        *,
        connection_id: str,
        airbyte_conn_id: str = "airbyte_default",
        asynchronous: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        api_version: str = "v1",
        wait_seconds: float | None = None,
        timeout: float = 3600,
        job_type: str = "sync",
        if_running: str = "wait",
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.connection_id = connection_id
        self.airbyte_conn_id = airbyte_conn_id
        self.asynchronous = asynchronous
        self.deferrable = deferrable
        self.wait_seconds = wait_seconds
        self.timeout = timeout
        self.job_type = job_type
        self.if_running = if_running
        self.cancel_on_kill = cancel_on_kill
        self.job_id: int | None = None
        self._owned = False

    @cached_property
    def hook(self) -> AirbyteHook:
        """One hook (one kept-alive HTTP session) for all of this task's calls."""
        from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook

        return AirbyteHook(airbyte_conn_id=self.airbyte_conn_id)

    def _validate(self) -> None:
        """Check and convert the rendered arguments before anything is sent (one error naming the fix)."""
        from airflow_provider_airbyte_sync.core import record, values

        self.connection_id = values.check_connection_id(self.connection_id)
        values.check_job_type(self.job_type)
        self.timeout = values.positive_seconds("timeout", self.timeout)
        if self.wait_seconds is not None:
            self.wait_seconds = values.positive_seconds("wait_seconds", self.wait_seconds, zero=True)
            if not self.wait_seconds:
                self.log.warning("wait_seconds=0: the job is polled without a pause between polls.")
        record.check_if_running(self.if_running)

    @property
    def poll_interval(self) -> float:
        if self.wait_seconds is not None:
            return float(self.wait_seconds)
        return tasks.DEFERRED_POLL_INTERVAL_S if self.deferrable else tasks.BLOCKING_POLL_INTERVAL_S

    # ------------------------------------------------------------------ task state store
    def _store(self, context: Context) -> Any:
        from airflow_provider_airbyte_sync.compat import state_store

        return state_store(context, self.log, STATE_KEY)

    def _ask(self, context: Context) -> record.Ask:
        """The protocol's view of this task: its arguments and what tells a retry from a Clear."""
        from airflow_provider_airbyte_sync.core import record

        dag_run = context.get("dag_run")
        max_tries = getattr(context.get("ti"), "max_tries", None)
        generation = record.Generation(
            clear_number=int(getattr(dag_run, "clear_number", 0) or 0),
            max_tries=max_tries if isinstance(max_tries, int) else None,
        )
        return record.Ask(self.connection_id, self.job_type, self.if_running, generation)

    def _record(self, context: Context) -> record.StartRecord | None:
        from airflow_provider_airbyte_sync.core import record

        store = self._store(context)
        return record.StartRecord.from_dict(store.get(STATE_KEY) if store is not None else None)

    def _persist(self, context: Context) -> Callable[[record.StartRecord], None] | None:
        store = self._store(context)
        return None if store is None else lambda stored: store.set(STATE_KEY, stored.to_dict())

    # ------------------------------------------------------------------ execution
    @airflow_errors
    def execute(self, context: Context) -> int:
        self._validate()
        return self._start(context, time.time() + tasks.limit(self)[0])

    def _start(self, context: Context, deadline: float) -> int:
        """Drive the start protocol; wait out another party's job when it says so; then watch ours."""
        from airflow_provider_airbyte_sync.core import record

        hook = self.hook
        while True:
            outcome = hook.start(self._ask(context), self._record(context), self._persist(context))
            if isinstance(outcome, record.Started):
                return self._watch(context, outcome.job, outcome.owned, deadline)
            busy = outcome.job.job_id
            self.log.info(
                "Airbyte job %s is running for this connection (not this task's): waiting for it to end, "
                "then starting ours (its data may predate this run).",
                busy,
            )
            if self.deferrable:
                self._defer_on(busy, deadline, owned=False, method_name="execute_after_wait")
            self._wait_out(hook, busy, deadline)

    def _watch(self, context: Context, job: AirbyteJob, owned: bool, deadline: float) -> int:
        """Watch this task's job (or the one it attached to) in the chosen mode."""
        hook = self.hook
        self.job_id, self._owned = job.job_id, owned
        url = hook.job_url(self.connection_id)
        context["ti"].xcom_push(key=tasks.URL_XCOM, value=url)
        self.log.info("Airbyte job %s (%s): %s", job.job_id, job.status, url or "no UI link")
        from airflow_provider_airbyte_sync.core.watch import Watch, failed_error, summary

        if job.state == "failed":  # e.g. found ended after a lost create's answer: never handed on
            raise failed_error(hook.with_failure_reason(job))
        if job.state == "succeeded":
            return self._finish(context, job, url)
        if self.asynchronous:
            context["ti"].xcom_push(key=tasks.SUMMARY_XCOM, value=summary(job, url=url))
            return job.job_id
        if self.deferrable:
            self._defer_on(job.job_id, deadline, owned=owned, url=url)
        watch = Watch(job.job_id, poll_interval=self.poll_interval, deadline=deadline)
        seconds, limit = tasks.limit(self)
        try:
            done = hook.wait_for_job(
                job.job_id,
                self.poll_interval,
                seconds,
                cancel_on_timeout=owned and self.cancel_on_kill,
                watch=watch,
            )
        except AirbyteTimeout:
            if limit == "timeout":
                raise
            raise watch.timeout_error(seconds, limit) from None
        return self._finish(context, done, url, watch.queued_seconds(done))

    def _wait_out(self, hook: AirbyteHook, job_id: int, deadline: float) -> None:
        """Wait for another party's job to end, whatever its outcome; never cancel it."""
        from airflow_provider_airbyte_sync.core.watch import waited_too_long

        seconds, limit = tasks.limit(self)
        remaining = deadline - time.time()
        if remaining <= 0:
            raise waited_too_long(job_id, seconds, self.if_running, limit)
        try:
            hook.wait_for_job(job_id, self.poll_interval, remaining, cancel_on_timeout=False)
        except AirbyteTimeout:
            raise waited_too_long(job_id, seconds, self.if_running, limit) from None
        except AirbyteJobFailed as exc:
            self.log.info("The running job ended unsuccessfully (%s); starting ours.", exc)

    def _defer_on(
        self,
        job_id: int,
        deadline: float,
        *,
        owned: bool,
        url: str | None = None,
        method_name: str = "execute_complete",
    ) -> None:
        if owned and self.cancel_on_kill:
            from airflow_provider_airbyte_sync.compat import say_what_a_kill_does

            say_what_a_kill_does(self.log, job_id)
        tasks.defer_watch(
            self,
            job_id,
            deadline,
            method_name,
            {"deadline": deadline},
            poll_interval=self.poll_interval,
            owned=owned,
            cancel_on_kill=self.cancel_on_kill,
            connection_id=self.connection_id,
            url=url,
            timeout=float(self.timeout),
        )

    @airflow_errors
    def execute_after_wait(self, context: Context, event: Any = None, deadline: float | None = None) -> int:
        """Resumed after another party's job ended (deferrable, ``if_running="wait"``): start ours."""
        event = tasks.check_event(event)
        if event["status"] == "timeout":
            from airflow_provider_airbyte_sync.core.watch import waited_too_long

            seconds, limit = tasks.limit(self)
            raise waited_too_long(int(event["job_id"]), seconds, self.if_running, limit)
        if event["status"] == "error":
            tasks.raise_for_event(event)
        self._validate()
        return self._start(context, deadline or time.time() + tasks.limit(self)[0])

    @airflow_errors
    def execute_complete(self, context: Context, event: Any = None, deadline: float | None = None) -> int:
        """Resumed from the trigger: succeed with the job's summary or fail with its reason."""
        event = tasks.check_event(event)
        self.job_id = int(event["job_id"])
        tasks.raise_for_event(event)
        from airflow_provider_airbyte_sync.core.status import AirbyteJob

        job = AirbyteJob.from_dict(event["job"])
        return self._finish(context, job, event.get("url"), event.get("queued_s"))

    def _finish(
        self, context: Context, job: AirbyteJob, url: str | None, queued_s: float | None = None
    ) -> int:
        from airflow_provider_airbyte_sync.core.watch import failed_error, summary

        if job.state != "succeeded":
            raise failed_error(job)
        result = summary(job, url=url, queued_s=queued_s)
        context["ti"].xcom_push(key=tasks.SUMMARY_XCOM, value=result)
        self.log.info(
            "Airbyte job %s succeeded: %s rows, %s bytes in %ss (%ss of it waiting to run).",
            job.job_id,
            result["rows_synced"],
            result["bytes_synced"],
            result["duration_s"],
            result["queued_s"] if result["queued_s"] is not None else "unknown",
        )
        return job.job_id

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume from the triggerer; when the defer timeout fired, cancel the abandoned job first.

        Airflow 3.3 resumes a timed-out deferral into ``__fail__`` and raises before any method of
        ours runs, so the trigger's event (and the job id in it) is lost: the job id comes from the
        task state store instead.
        """
        from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

        timed_out = (next_kwargs or {}).get("error") == TriggerFailureReason.TRIGGER_TIMEOUT
        if next_method == TRIGGER_FAIL_REPR and timed_out and self.cancel_on_kill:
            record = self._record(context)
            if record is not None and record.owned and record.job_id is not None:
                self.log.warning("The deferral timed out: cancelling Airbyte job %s.", record.job_id)
                self.hook.cancel_quietly(record.job_id)
        return super().resume_execution(next_method, next_kwargs, context)

    def on_kill(self) -> None:
        """Cancel the job this task started (never one it attached to); safe before any submit."""
        if self.job_id is not None and self._owned and self.cancel_on_kill:
            self.hook.cancel_quietly(self.job_id)
