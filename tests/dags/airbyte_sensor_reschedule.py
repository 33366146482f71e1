"""A DAG for ``tests/test_real_airflow.py``: the sensor in reschedule mode, a poke every 10 s.

Not faster: Airflow 3.3 fails a rescheduled sensor whose next poke starts before the scheduler has
seen the last poke's process exit ("finished with state success, but the task instance's state
attribute is running"); that report can take [workers] min_heartbeat_interval (5 s) and a loop.

The job to watch comes from the run's conf (``{"job_id": ...}``): a job Airbyte itself started.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_airbyte_sync.sensors.airbyte import AirbyteJobSensor

with DAG(
    dag_id="airbyte_sensor_reschedule", schedule=None, catchup=False, params={"job_id": 1}, tags=["test"]
):
    AirbyteJobSensor(
        task_id="wait", airbyte_job_id="{{ params.job_id }}", mode="reschedule", poke_interval=10, timeout=600
    )
