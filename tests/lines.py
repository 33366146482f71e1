"""What the tests import that moved between the Airflow 3 lines (the product's own is ``compat``)."""

from __future__ import annotations

try:
    from airflow.sdk.exceptions import TaskDeferralTimeout, TaskDeferred
except ImportError:  # Airflow 3.0, 3.1
    from airflow.exceptions import TaskDeferralTimeout, TaskDeferred  # type: ignore[no-redef]

__all__ = ["TaskDeferralTimeout", "TaskDeferred"]
