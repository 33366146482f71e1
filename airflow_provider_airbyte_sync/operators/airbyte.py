"""``AirbyteTriggerSyncOperator``: start an Airbyte sync (or reset, or clear) and watch it to the end.

Thin on purpose: the hook starts jobs exactly once and watches them, the trigger watches them from
the triggerer; this module chooses the mode, keeps the job id where a retry finds it, and turns the
outcome into XCom values and task states. DAG parsing imports this module, so the hook, the
client and the trigger are imported only when the task runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, BaseOperatorLink, conf

from airflow_provider_airbyte_sync.errors import (
    AirbyteJobFailed,
    AirbyteJobNotFound,
    AirbyteSyncAlreadyRunning,
    AirbyteTimeout,
)
from airflow_provider_airbyte_sync.tasks import (
    BLOCKING_POLL_INTERVAL_S,
    DEFER_MARGIN_S,
    DEFERRED_POLL_INTERVAL_S,
    SUMMARY_XCOM,
    URL_XCOM,
    check_event,
    positive,
    raise_for_event,
    settle_until,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

    from airflow_provider_airbyte_sync.client import AirbyteJob
    from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook

STATE_KEY = "airbyte_job"  # task state store: the job (or the intent to create one) of this task


class AirbyteJobLink(BaseOperatorLink):
    """ "Airbyte job" button: the connection's job history in the Airbyte UI."""

    name = "Airbyte job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(key=URL_XCOM, ti_key=ti_key) or ""


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
    :param api_version: Airbyte API version, ``v1``.
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
        self.api_version = api_version
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

        return AirbyteHook(airbyte_conn_id=self.airbyte_conn_id, api_version=self.api_version)

    def _validate(self) -> None:
        """Check the rendered arguments before anything is started."""
        from airflow_provider_airbyte_sync import client

        self.connection_id = client.check_connection_id(self.connection_id)
        client.check_job_type(self.job_type)
        positive("timeout", self.timeout)
        if self.wait_seconds is not None:
            positive("wait_seconds", self.wait_seconds)
        client.check_if_running(self.if_running)

    @property
    def poll_interval(self) -> float:
        if self.wait_seconds is not None:
            return float(self.wait_seconds)
        return DEFERRED_POLL_INTERVAL_S if self.deferrable else BLOCKING_POLL_INTERVAL_S

    # ------------------------------------------------------------------ task state store
    def _store(self, context: Context) -> Any:
        return context.get("task_state_store")  # type: ignore[call-overload]

    def _generation(self, context: Context) -> dict[str, int | None]:
        """What changes when a user clears this task, and not when Airflow retries it.

        Clearing a task sets its ``max_tries`` to ``try_number + retries`` (a retry leaves it as is)
        and bumps the dag run's ``clear_number`` (so does clearing any other task of the run).
        """
        dag_run = context.get("dag_run")  # type: ignore[call-overload]
        ti = context.get("ti")  # type: ignore[call-overload]
        max_tries = getattr(ti, "max_tries", None)
        return {
            "clear_number": int(getattr(dag_run, "clear_number", 0) or 0),
            "max_tries": max_tries if isinstance(max_tries, int) else None,
        }

    def _same_generation(self, record: Mapping[str, Any], context: Context) -> bool:
        now = self._generation(context)
        if now["max_tries"] is not None and record.get("max_tries") is not None:
            return record["max_tries"] == now["max_tries"]
        return record.get("clear_number") == now["clear_number"]

    def _save(self, context: Context, **values: Any) -> None:
        store = self._store(context)
        if store is None:
            return
        record = {
            "connection_id": self.connection_id,
            "job_type": self.job_type,
            **self._generation(context),
            **values,
        }
        store.set(STATE_KEY, record)

    def _saved(self, context: Context) -> Mapping[str, Any] | None:
        """What an earlier try of this task (same Clear) stored, if anything."""
        store = self._store(context)
        record = store.get(STATE_KEY) if store is not None else None
        if not isinstance(record, Mapping):
            return None
        same = (
            record.get("connection_id") == self.connection_id
            and record.get("job_type") == self.job_type
            and self._same_generation(record, context)
        )
        if not same:
            self.log.info(
                "This task was cleared (or its arguments changed): starting a new %s.", self.job_type
            )
            return None
        return record

    def _resume(self, hook: AirbyteHook, record: Mapping[str, Any]) -> tuple[AirbyteJob, bool] | None:
        """The job an earlier try started, if it is still running or succeeded."""
        job = None
        try:
            if record.get("job_id") is not None:
                job = hook.get_job_details(record["job_id"])
            elif record.get("after_job_id") is not None:
                job = hook.job_after(self.connection_id, self.job_type, int(record["after_job_id"]))
        except AirbyteJobNotFound:
            self.log.warning(
                "Airbyte no longer knows job %s of an earlier try: starting anew.", record["job_id"]
            )
            return None
        if job is not None and job.connection_id not in (None, self.connection_id):
            # The Airflow connection now points at another Airbyte: that id is someone else's job.
            self.log.warning("Job %s belongs to another connection here: starting anew.", job.job_id)
            return None
        if job is None or job.state == "failed":
            return None
        self.log.info(
            "Airbyte job %s of an earlier try of this task is %s: resuming it.", job.job_id, job.status
        )
        return job, bool(record.get("owned", True))

    # ------------------------------------------------------------------ execution
    def execute(self, context: Context) -> int:
        self._validate()
        hook = self.hook
        deadline = time.time() + float(self.timeout)
        record = self._saved(context)
        resumed = self._resume(hook, record) if record else None
        if resumed is not None:
            job, self._owned = resumed
        else:
            job, self._owned = self._start(hook, context, deadline)
        self.job_id = job.job_id
        self._save(context, job_id=job.job_id, owned=self._owned)
        url = hook.job_url(self.connection_id)
        context["ti"].xcom_push(key=URL_XCOM, value=url)
        self.log.info("Airbyte job %s (%s): %s", job.job_id, job.status, url or "no UI link")

        if job.state == "succeeded":
            return self._finish(context, job, url)
        if self.asynchronous:
            from airflow_provider_airbyte_sync.watch import summary

            context["ti"].xcom_push(key=SUMMARY_XCOM, value=summary(job, url=url))
            return job.job_id
        if self.deferrable:
            self._defer_on(job.job_id, deadline, owned=self._owned, url=url)
        from airflow_provider_airbyte_sync.watch import Watch

        watch = Watch(job.job_id, poll_interval=self.poll_interval, deadline=deadline)
        done = hook.wait_for_job(
            job.job_id,
            self.poll_interval,
            self.timeout,
            cancel_on_timeout=self._owned and self.cancel_on_kill,
            watch=watch,
        )
        return self._finish(context, done, url, watch.queued_seconds(done, time.time()))

    def _start(self, hook: AirbyteHook, context: Context, deadline: float) -> tuple[AirbyteJob, bool]:
        """Start our job; with ``if_running="wait"`` in blocking mode, wait out a running one first."""
        while True:
            try:
                return hook.start_job(
                    self.connection_id,
                    self.job_type,
                    if_running=self.if_running,
                    remember=lambda last: self._save(context, after_job_id=last, job_id=None, owned=True),
                )
            except AirbyteSyncAlreadyRunning as busy:
                if self.if_running != "wait" or busy.job_id is None:
                    raise
                self.log.info(
                    "Airbyte job %s is running for this connection: waiting for it to end, then starting "
                    "ours (its data may predate this run).",
                    busy.job_id,
                )
                if self.deferrable:
                    self._defer_on(busy.job_id, deadline, owned=False, method_name="execute_after_wait")
                self._wait_out(hook, busy.job_id, deadline)

    def _wait_out(self, hook: AirbyteHook, job_id: int, deadline: float) -> None:
        """Wait for someone else's job to end, whatever its outcome; never cancel it."""
        remaining = deadline - time.time()
        if remaining <= 0:
            raise AirbyteTimeout(f"Timed out waiting for Airbyte job {job_id} (not ours) to end.")
        try:
            hook.wait_for_job(job_id, self.poll_interval, remaining, cancel_on_timeout=False)
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
        # Imported here: DAG parsing imports this module, and only deferring needs the trigger.
        from airflow_provider_airbyte_sync.triggers.airbyte import AirbyteSyncTrigger

        self.defer(
            trigger=AirbyteSyncTrigger(
                job_id=job_id,
                conn_id=self.airbyte_conn_id,
                end_time=deadline,
                poll_interval=self.poll_interval,
                owned=owned,
                cancel_on_kill=self.cancel_on_kill,
                connection_id=self.connection_id,
                url=url,
                timeout=float(self.timeout),
                not_before=settle_until(),
            ),
            method_name=method_name,
            kwargs={"deadline": deadline},
            timeout=timedelta(seconds=max(deadline - time.time(), 0) + DEFER_MARGIN_S),
        )

    def execute_after_wait(self, context: Context, event: Any = None, deadline: float | None = None) -> int:
        """Resumed after someone else's job ended (deferrable, ``if_running="wait"``): start ours."""
        event = check_event(event)
        if event["status"] in ("timeout", "error"):
            raise_for_event(event)
        self._validate()
        hook = self.hook
        deadline = deadline or time.time() + float(self.timeout)
        job, self._owned = self._start(hook, context, deadline)
        self.job_id = job.job_id
        self._save(context, job_id=job.job_id, owned=self._owned)
        url = hook.job_url(self.connection_id)
        context["ti"].xcom_push(key=URL_XCOM, value=url)
        self._defer_on(job.job_id, deadline, owned=self._owned, url=url)
        raise AssertionError("unreachable")  # pragma: no cover - defer() raises

    def execute_complete(self, context: Context, event: Any = None, deadline: float | None = None) -> int:
        """Resumed from the trigger: succeed with the job's summary or fail with its reason."""
        event = check_event(event)
        self.job_id = int(event["job_id"])
        raise_for_event(event)
        from airflow_provider_airbyte_sync.client import AirbyteJob

        job = AirbyteJob.from_dict(event["job"])
        return self._finish(context, job, event.get("url"), event.get("queued_s"))

    def _finish(
        self, context: Context, job: AirbyteJob, url: str | None, queued_s: float | None = None
    ) -> int:
        from airflow_provider_airbyte_sync.watch import failed_error, summary

        if job.state != "succeeded":
            raise failed_error(job)
        result = summary(job, url=url, queued_s=queued_s)
        context["ti"].xcom_push(key=SUMMARY_XCOM, value=result)
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
            store = self._store(context)
            record = store.get(STATE_KEY) if store is not None else None
            if isinstance(record, Mapping) and record.get("owned") and record.get("job_id") is not None:
                self.log.warning("The deferral timed out: cancelling Airbyte job %s.", record["job_id"])
                self.hook.cancel_quietly(int(record["job_id"]))
        return super().resume_execution(next_method, next_kwargs, context)

    def on_kill(self) -> None:
        """Cancel the job this task started (never one it attached to); safe before any submit."""
        if self.job_id is not None and self._owned and self.cancel_on_kill:
            self.hook.cancel_quietly(self.job_id)
