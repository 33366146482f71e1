"""Many connections in parallel with dynamic task mapping: one mapped task instance per connection."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator

CONNECTIONS = [
    "15bc3800-82e4-48c3-a32d-620661273f28",
    "a4f09c1e-6d3b-4c9a-9d5e-2f1e8b7c6a01",
    "3d2b8e6f-1c4a-4f7e-9b0d-5e6f7a8b9c0d",
]

with DAG(dag_id="example_airbyte_mapped", schedule=None, catchup=False, tags=["airbyte"]) as dag:
    AirbyteTriggerSyncOperator.partial(
        task_id="sync_each",
        wait_seconds=1,
        timeout=600,
    ).expand(connection_id=CONNECTIONS)
