"""DAGs for ``tests/test_real_airflow.py``: one Airbyte sync each, against a real scheduler and triggerer.

The Airbyte connection comes from the run's conf (``{"connection_id": ...}``), so each scenario
uses its own emulator connection and counts its own jobs. Polls every second, retries after one.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator

CONNECTION = "{{ params.connection_id }}"
PARAMS = {"connection_id": "15bc3800-82e4-48c3-a32d-620661273f28"}  # overridden by the run's conf

# Deferred, 10 minutes allowed: marked failed or success while deferred, cleared after success.
with DAG(dag_id="airbyte_deferred", schedule=None, catchup=False, params=PARAMS, tags=["test"]):
    AirbyteTriggerSyncOperator(
        task_id="sync", connection_id=CONNECTION, deferrable=True, wait_seconds=1, timeout=600
    )

# Deferred with a 5 s timeout: the trigger's deadline passes while the job runs.
with DAG(dag_id="airbyte_deferred_timeout", schedule=None, catchup=False, params=PARAMS, tags=["test"]):
    AirbyteTriggerSyncOperator(
        task_id="sync", connection_id=CONNECTION, deferrable=True, wait_seconds=1, timeout=5
    )

# Deferred, an hour allowed, in a DAG run allowed 10 s: the run times out while the task is deferred.
with DAG(
    dag_id="airbyte_deferred_dagrun_timeout",
    schedule=None,
    catchup=False,
    params=PARAMS,
    tags=["test"],
    dagrun_timeout=timedelta(seconds=10),
):
    AirbyteTriggerSyncOperator(
        task_id="sync", connection_id=CONNECTION, deferrable=True, wait_seconds=1, timeout=3600
    )

# Deferred with a retry: a try that fails while the job runs is followed by one that re-attaches.
with DAG(dag_id="airbyte_deferred_retry", schedule=None, catchup=False, params=PARAMS, tags=["test"]):
    AirbyteTriggerSyncOperator(
        task_id="sync",
        connection_id=CONNECTION,
        deferrable=True,
        wait_seconds=1,
        timeout=600,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )

# Blocking (the worker polls) with a retry: its worker process can be killed mid-sync.
with DAG(dag_id="airbyte_blocking_retry", schedule=None, catchup=False, params=PARAMS, tags=["test"]):
    AirbyteTriggerSyncOperator(
        task_id="sync",
        connection_id=CONNECTION,
        wait_seconds=1,
        timeout=600,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
