"""A user's DAG: start the orders sync without waiting, then watch the job with a sensor."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator
from airflow_provider_airbyte_sync.sensors.airbyte import AirbyteJobSensor

ORDERS = "5a1c7e2e-3b0f-4d8e-9c61-0e4b2f7d9a11"

with DAG(dag_id="orders_async", schedule=None, catchup=False):
    start = AirbyteTriggerSyncOperator(task_id="start_orders", connection_id=ORDERS, asynchronous=True)
    AirbyteJobSensor(task_id="wait_for_orders", airbyte_job_id=start.output, poke_interval=1, timeout=600)
