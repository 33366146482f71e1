"""Timeouts and hook calls as DAGs written for ``apache-airflow-providers-airbyte`` use them.

Moved over by changing the imports only: a deferred sync bounded by ``execution_timeout`` (the
job is cancelled and the task fails with the reason), and a hook called from a Python task that
catches ``AirflowException`` around ``wait_for_job`` as the official hook's callers do.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.exceptions import AirflowException
from airflow.providers.standard.operators.python import PythonOperator

from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook
from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator

SLOW_CONNECTION_ID = "9b2f6c1e-3d4a-4b5c-8e7f-0a1b2c3d4e5f"
FAILING_CONNECTION_ID = "c4d5e6f7-0819-4a2b-9c3d-4e5f60718293"


def sync_and_report(connection_id: str) -> str:
    hook = AirbyteHook(airbyte_conn_id="airbyte_default", timeout=30)
    job = hook.submit_sync_connection(connection_id=connection_id)
    try:
        hook.wait_for_job(job_id=job.job_id, wait_seconds=0, timeout=600)
    except AirflowException as error:
        return f"handled: {error}"
    return "succeeded"


with DAG(
    dag_id="airbyte_official_timeouts",
    schedule=None,
    start_date=datetime(2021, 1, 1),
    catchup=False,
) as dag:
    AirbyteTriggerSyncOperator(
        task_id="deferred_past_execution_timeout",
        connection_id=SLOW_CONNECTION_ID,
        deferrable=True,
        wait_seconds=1,
        timeout=3600,
        execution_timeout=timedelta(seconds=4),
    )
    PythonOperator(
        task_id="hook_call_that_catches",
        python_callable=sync_and_report,
        op_args=[FAILING_CONNECTION_ID],
    )
