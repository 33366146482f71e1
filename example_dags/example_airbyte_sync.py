"""Blocking: start a sync of one Airbyte connection and wait for it in the worker.

Runs as-is against the Airbyte emulator (``python -m airflow_provider_airbyte_sync.testing``) with
``AIRFLOW_CONN_AIRBYTE_DEFAULT='{"conn_type": "airbyte_sync", "host": "localhost", "port": 8000}'``.
"""

from __future__ import annotations

from airflow.sdk import DAG, XComArg, task

from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator

POSTGRES_TO_BIGQUERY = "15bc3800-82e4-48c3-a32d-620661273f28"

with DAG(dag_id="example_airbyte_sync", schedule=None, catchup=False, tags=["airbyte"]) as dag:
    sync = AirbyteTriggerSyncOperator(
        task_id="sync_postgres_to_bigquery",
        connection_id=POSTGRES_TO_BIGQUERY,
        wait_seconds=1,
        timeout=600,
    )

    @task
    def report(summary: dict) -> dict:
        """Print what the sync did: rows, bytes and how long it took."""
        print(
            f"AIRBYTE SYNC SUMMARY: job {summary['job_id']} {summary['status']}: "
            f"{summary['rows_synced']} rows, {summary['bytes_synced']} bytes in {summary['duration_s']}s"
        )
        return summary

    report(XComArg(sync, key="airbyte_job"))
