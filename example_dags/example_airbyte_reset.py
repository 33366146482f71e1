"""Reset: clear a connection's destination data (``job_type="clear"`` on 2026 servers, else reset)."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator

POSTGRES_TO_BIGQUERY = "15bc3800-82e4-48c3-a32d-620661273f28"

with DAG(dag_id="example_airbyte_reset", schedule=None, catchup=False, tags=["airbyte"]) as dag:
    AirbyteTriggerSyncOperator(
        task_id="reset_postgres_to_bigquery",
        connection_id=POSTGRES_TO_BIGQUERY,
        job_type="reset",
        wait_seconds=1,
        timeout=600,
    )
