"""``AirbyteJobSensor``: wait for an Airbyte job this task did not start."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_airbyte_sync.compat import conf
from airflow_provider_airbyte_sync.core.errors import AirbyteError
from airflow_provider_airbyte_sync.exceptions import airflow_errors
from airflow_provider_airbyte_sync.tasks import SUMMARY_XCOM, check_event, defer_watch, limit, raise_for_event

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook

STATE_KEY = "airbyte_sensor"  # task state store: {"try_number", "watch": Watch.to_dict()} of the last poke


class AirbyteJobSensor(BaseSensorOperator):
    """Poke an Airbyte job every ``poke_interval`` seconds until it ends.

    Succeeds (returning the job summary, also in XCom ``airbyte_job``) when the job succeeded; fails
    with Airbyte's reason when it failed or was cancelled, or kept a status this provider does not
    know. The sensor never owns the job: its ``timeout`` fails the sensor and never cancels the job.
    The watch lives in the task state store, so in reschedule mode too each status change is logged
    once, Airbyte failing for longer than the error budget (10 minutes of consecutive errors) fails
    the try, and so does a status this provider does not know kept past its grace. Deferred, it
    polls at ``poke_interval`` from the triggerer.

    :param airbyte_job_id: the job to watch (templated), e.g. ``trigger.output``.
    :param airbyte_conn_id: Airflow connection id (templated).
    :param api_version: accepted and ignored, for DAGs moved from the official provider (which takes
        it); the API version is the Airflow connection's ``api_version`` extra field.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).

    Example::

        AirbyteJobSensor(task_id="wait", airbyte_job_id=sync.output, poke_interval=15, mode="reschedule")
    """

    template_fields: Sequence[str] = ("airbyte_job_id", "airbyte_conn_id")
    ui_color = "#6C5FC7"

    def __init__(
        self,
        *,
        airbyte_job_id: int | str,
        airbyte_conn_id: str = "airbyte_default",
        api_version: str = "v1",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        if deferrable:  # the official sensor's deferred defaults
            kwargs.setdefault("poke_interval", 5)
            kwargs.setdefault("timeout", 7 * 24 * 3600)
        super().__init__(**kwargs)
        self.airbyte_job_id = airbyte_job_id
        self.airbyte_conn_id = airbyte_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> AirbyteHook:
        """One hook (one kept-alive HTTP session) for all of this task's calls."""
        from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook

        return AirbyteHook(airbyte_conn_id=self.airbyte_conn_id)

    @airflow_errors
    def execute(self, context: Context) -> Any:
        from airflow_provider_airbyte_sync.core.values import check_job_id, positive_seconds

        job_id = check_job_id(self.airbyte_job_id)
        self.poke_interval = positive_seconds("poke_interval", self.poke_interval)
        self.timeout = positive_seconds("timeout", self.timeout)
        if not self.deferrable:
            return super().execute(context)
        defer_watch(
            self,
            job_id,
            time.time() + limit(self)[0],
            "execute_complete",
            None,
            poll_interval=float(self.poke_interval),
            owned=False,
            timeout=float(self.timeout),
        )

    @airflow_errors
    def poke(self, context: Context) -> PokeReturnValue | bool:
        """One step of the watch loop: restore the watch earlier pokes stored (each may have run in
        another process), poll once, decide, store it. A new try (a retry or a Clear) watches afresh.
        """
        from airflow_provider_airbyte_sync.core.values import check_job_id
        from airflow_provider_airbyte_sync.core.watch import Failed, Succeeded, Watch, failed_error, summary

        job_id = check_job_id(self.airbyte_job_id)
        hook = self.hook
        from airflow_provider_airbyte_sync.compat import forget, state_store

        store = state_store(context, self.log, STATE_KEY)
        try_number = getattr(context.get("ti"), "try_number", None)
        watch = Watch(job_id, poll_interval=float(self.poke_interval))
        saved: Any = (store.get(STATE_KEY) if store is not None else None) or {}
        if saved.get("try_number") == try_number and saved.get("watch") is not None:
            stored = Watch.from_dict(saved["watch"])
            if stored.job_id == job_id:  # another job id (re-rendered) is watched afresh
                watch = stored
        try:
            decision = watch.on_job(hook.get_job_details(job_id), time.time())
        except AirbyteError as exc:
            decision = watch.on_error(exc, time.time())  # re-raises what a watch does not outlive
        for level, line in decision.logs:
            self.log.log(level, line)
        if store is not None:
            store.set(STATE_KEY, {"try_number": try_number, "watch": watch.to_dict()})
        if isinstance(decision, Failed):
            raise failed_error(hook.with_failure_reason(decision.job))
        if isinstance(decision, Succeeded):
            result = summary(decision.job, url=hook.job_url(decision.job.connection_id or ""))
            context["ti"].xcom_push(key=SUMMARY_XCOM, value=result)
            forget(store, STATE_KEY)
            return PokeReturnValue(is_done=True, xcom_value=result)
        return False

    @airflow_errors
    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resumed from the trigger: return the summary or fail with the job's reason."""
        event = check_event(event)
        raise_for_event(event)
        from airflow_provider_airbyte_sync.core.status import AirbyteJob
        from airflow_provider_airbyte_sync.core.watch import summary

        job = AirbyteJob.from_dict(event["job"])
        result = summary(job, url=self.hook.job_url(job.connection_id or ""), queued_s=event.get("queued_s"))
        context["ti"].xcom_push(key=SUMMARY_XCOM, value=result)
        return result
