"""What the operator and the sensor share: deferral, trigger events, XCom keys.

Light on purpose: DAG parsing imports it; the hook, the core and the trigger are imported late.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow_provider_airbyte_sync.compat import AirflowException
from airflow_provider_airbyte_sync.core.errors import AirbyteJobFailed, AirbyteTimeout

SUMMARY_XCOM = "airbyte_job"
URL_XCOM = "airbyte_job_url"
BLOCKING_POLL_INTERVAL_S = 3.0
# Deferred watches poll every 15 s by default: 1,000 watches at 3 s would be 333 requests a second.
DEFERRED_POLL_INTERVAL_S = 15.0
# The defer timeout is a backstop: the trigger's own deadline (which cancels the job) fires first.
DEFER_MARGIN_S = 300.0
# A trigger fires no sooner than this after the task deferred: Airflow 3.3 fails a deferred task
# resumed before the scheduler read its worker's exit report, which can take [workers]
# min_heartbeat_interval (5 s) and a scheduler loop or two. Only syncs ending that soon wait.
DEFER_SETTLE_S = 8.0
# The ``status`` of every event AirbyteSyncTrigger yields.
EVENT_STATUSES = ("succeeded", "failed", "timeout", "error")


def limit(task: Any) -> tuple[float, str]:
    """The seconds a try may wait for its job, and the argument that sets them: the earlier of the
    task's ``timeout`` and its ``execution_timeout`` (which Airflow does not enforce while deferred)."""
    execution = task.execution_timeout.total_seconds() if task.execution_timeout else None
    if execution is not None and execution < task.timeout:
        return execution, "execution_timeout"
    return task.timeout, "timeout"


def defer_watch(
    task: Any, job_id: int, deadline: float, method_name: str, kwargs: dict | None, **trigger: Any
) -> None:
    """Defer ``task`` to a trigger watching ``job_id`` until ``deadline``; resume it in ``method_name``."""
    # Imported here: DAG parsing imports the task modules, and only deferring needs the trigger.
    from airflow_provider_airbyte_sync.triggers.airbyte import AirbyteSyncTrigger

    task.defer(
        trigger=AirbyteSyncTrigger(
            job_id=job_id,
            conn_id=task.airbyte_conn_id,
            end_time=deadline,
            execution_deadline=deadline if limit(task)[1] == "execution_timeout" else None,
            not_before=time.time() + DEFER_SETTLE_S,
            **trigger,
        ),
        method_name=method_name,
        kwargs=kwargs,
        timeout=timedelta(seconds=max(deadline - time.time(), 0) + DEFER_MARGIN_S),
    )


def check_event(event: Any) -> Mapping[str, Any]:
    """Validate a trigger event (the one shape ``AirbyteSyncTrigger`` yields)."""
    if not isinstance(event, Mapping) or event.get("status") not in EVENT_STATUSES:
        raise AirflowException(f"Unexpected event from AirbyteSyncTrigger: {event!r}")
    return event


def raise_for_event(event: Mapping[str, Any]) -> None:
    """Fail the task for an event that is not success, with the trigger's message."""
    status = event["status"]
    if status == "succeeded":
        return
    if status == "failed":
        raise AirbyteJobFailed(event["message"], job=event.get("job"))
    if status == "timeout":
        raise AirbyteTimeout(event["message"])
    raise AirflowException(event["message"])
