"""Deferrable: the worker slot is freed while the triggerer watches the sync."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator
from airflow_provider_airbyte_sync.sensors.airbyte import AirbyteJobSensor

SALESFORCE_TO_REDSHIFT = "3d2b8e6f-1c4a-4f7e-9b0d-5e6f7a8b9c0d"
STRIPE_TO_SNOWFLAKE = "a4f09c1e-6d3b-4c9a-9d5e-2f1e8b7c6a01"

with DAG(dag_id="example_airbyte_deferrable", schedule=None, catchup=False, tags=["airbyte"]) as dag:
    AirbyteTriggerSyncOperator(
        task_id="sync_salesforce_deferred",
        connection_id=SALESFORCE_TO_REDSHIFT,
        deferrable=True,
        wait_seconds=1,  # deferred watches default to 15 s; short here so the example ends fast
        timeout=600,
    )
    started = AirbyteTriggerSyncOperator(
        task_id="start_stripe_sync",
        connection_id=STRIPE_TO_SNOWFLAKE,
        asynchronous=True,
    )
    AirbyteJobSensor(
        task_id="wait_for_stripe_deferred",
        airbyte_job_id=started.output,
        deferrable=True,
        poke_interval=1,
        timeout=600,
    )
