"""Asynchronous: start the sync, return at once, and watch the job with a sensor in reschedule mode."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator
from airflow_provider_airbyte_sync.sensors.airbyte import AirbyteJobSensor

STRIPE_TO_SNOWFLAKE = "a4f09c1e-6d3b-4c9a-9d5e-2f1e8b7c6a01"

with DAG(dag_id="example_airbyte_async_sensor", schedule=None, catchup=False, tags=["airbyte"]) as dag:
    start = AirbyteTriggerSyncOperator(
        task_id="start_stripe_sync",
        connection_id=STRIPE_TO_SNOWFLAKE,
        asynchronous=True,
    )
    AirbyteJobSensor(
        task_id="wait_for_stripe_sync",
        airbyte_job_id=start.output,
        poke_interval=1,
        timeout=600,
    )
