"""What the operator and the sensor share: argument checks, trigger events, XCom keys.

Light on purpose: DAG parsing imports the operator and sensor modules, which import this one and
nothing heavier; the hook, the core and the trigger are imported when a task runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
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
# A trigger fires no sooner than this after the task deferred. Airflow 3.3 fails a deferred task
# that is resumed before the scheduler has processed the "success" its worker reported on exiting
# after defer() ("finished with state success, but the task instance's state attribute is
# queued"). The worker's supervisor can take [workers] min_heartbeat_interval (5 s) to report that
# exit, and the scheduler a loop or two to read it: 8 s. Only syncs ending that soon wait.
DEFER_SETTLE_S = 8.0
# The ``status`` of every event AirbyteSyncTrigger yields.
EVENT_STATUSES = ("succeeded", "failed", "timeout", "error")


def settle_until() -> float:
    """The trigger's ``not_before`` for a deferral starting now (epoch seconds)."""
    return time.time() + DEFER_SETTLE_S


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
