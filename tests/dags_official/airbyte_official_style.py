"""A DAG written for ``apache-airflow-providers-airbyte``, moved over by changing its imports only.

Everything below the imports uses the official provider's idioms and argument names: a blocking
sync, an asynchronous sync watched by a sensor through ``.output``, and the deferrable forms of
both, on an Airflow connection of the official ``airbyte`` type.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG

from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator
from airflow_provider_airbyte_sync.sensors.airbyte import AirbyteJobSensor

CONNECTION_ID = "3f0b3c52-8d2a-4f0e-9a61-2c7d5e4b9a10"

with DAG(
    dag_id="airbyte_official_style",
    schedule=None,
    start_date=datetime(2021, 1, 1),
    dagrun_timeout=timedelta(minutes=60),
    catchup=False,
) as dag:
    blocking = AirbyteTriggerSyncOperator(
        task_id="blocking_sync",
        connection_id=CONNECTION_ID,
        airbyte_conn_id="airbyte_default",
        api_version="v1",
        wait_seconds=1,
        timeout=600,
    )
    started = AirbyteTriggerSyncOperator(
        task_id="async_sync",
        connection_id=CONNECTION_ID,
        asynchronous=True,
    )
    watched = AirbyteJobSensor(
        task_id="async_sensor",
        airbyte_job_id=started.output,
        poke_interval=1,
        timeout=600,
    )
    deferred = AirbyteTriggerSyncOperator(
        task_id="deferrable_sync",
        connection_id=CONNECTION_ID,
        deferrable=True,
        wait_seconds=1,
    )
    deferred_started = AirbyteTriggerSyncOperator(
        task_id="deferrable_async_sync",
        connection_id=CONNECTION_ID,
        asynchronous=True,
    )
    deferred_sensor = AirbyteJobSensor(
        task_id="deferrable_sensor",
        airbyte_job_id=deferred_started.output,
        deferrable=True,
        poke_interval=1,
    )
    blocking >> started
    watched >> deferred >> deferred_started
