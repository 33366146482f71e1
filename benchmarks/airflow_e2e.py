"""Figure 5: job end to task end on a real Airflow (scheduler, triggerer, LocalExecutor workers).

Figure 4 stops when the operator returns or the trigger yields its event; here the clock runs on to
the moment Airflow records the task's end, which adds Airflow's own work: for a deferred task, the
triggerer hands the event over, the scheduler queues the task again and a worker starts to run
``execute_complete``. One blocking and one deferrable DAG, each run ``runs`` times at a poll interval
of ``interval``; every run syncs its own connection, and the jobs last 12, 17, 22 ... s so that their
ends (and Airflow's resumes) do not overlap much. Jobs end after the deferred trigger's 8 s hold.

The deployment is the one the end-to-end tests use (``tests/real_airflow.py``): SQLite, a scheduler
loop of 0.2-1 s, ``[workers] min_heartbeat_interval`` at its default.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from table import Row

ROOT = Path(__file__).resolve().parent.parent
MODES = ("blocking", "deferred")
DAG_FILE = """
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator

for mode in ("blocking", "deferred"):
    with DAG(f"bench_{mode}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
             max_active_runs=16):
        AirbyteTriggerSyncOperator(
            task_id="sync",
            connection_id="{{ dag_run.conf['connection_id'] }}",
            deferrable=mode == "deferred",
            wait_seconds=INTERVAL,
            timeout=600,
        )
"""


def measure(runs: int = 3, interval: float = 5.0) -> dict[str, Any]:
    """Per mode, seconds from the job's end: ``seen`` (the poll that saw it logged it), ``airflow``
    (from then to the task's recorded end) and ``total``; one value per run."""
    sys.path.insert(0, str(ROOT))
    from airflow_provider_airbyte_sync.testing import AirbyteEmulator
    from tests.airflow_env import emulator_conn
    from tests.real_airflow import RealAirflow

    with tempfile.TemporaryDirectory(prefix="bench-airflow-") as tmp, AirbyteEmulator() as emulator:
        dags = Path(tmp) / "dags"
        dags.mkdir()
        (dags / "bench_dags.py").write_text(DAG_FILE.replace("INTERVAL", repr(float(interval))))
        plan: list[tuple[str, str]] = []
        for index in range(runs):
            for mode in ("blocking", "deferred"):
                connection_id = str(uuid.uuid4())
                running_s = 12.0 + 5.0 * index + (2.5 if mode == "deferred" else 0.0)
                emulator.add_connection(
                    connection_id, name=f"{mode} {index}", pending_s=0.5, running_s=running_s
                )
                plan.append((mode, connection_id))
        extra = {"AIRFLOW_CONN_AIRBYTE_DEFAULT": emulator_conn(emulator.port)}
        with RealAirflow(Path(tmp) / "home", dags=dags, extra_env=extra) as airflow:
            for mode in ("blocking", "deferred"):
                airflow.wait_for_dag(f"bench_{mode}")
                airflow.unpause(f"bench_{mode}")
            started = [
                (mode, cid, airflow.trigger(f"bench_{mode}", {"connection_id": cid})) for mode, cid in plan
            ]
            result: dict[str, Any] = {"interval": interval, "runs": runs, "failed": 0}
            for mode in ("blocking", "deferred"):
                result[mode] = {"seen": [], "airflow": [], "total": []}
            for mode, connection_id, run_id in started:
                dag_id = f"bench_{mode}"
                run = airflow.wait_for_dag_run(dag_id, run_id, timeout=180)
                ti = airflow.task_instance(dag_id, run_id, "sync")
                (job,) = emulator.jobs(connection_id)
                seen = _seen_at(airflow, mode, dag_id, run_id, job["id"])
                if run["state"] != "success" or job["status"] != "succeeded" or seen is None:
                    result["failed"] += 1
                    continue
                task_end = _epoch(ti["end_date"])
                ended = float(job["ended_at"])
                result[mode]["seen"].append(round(seen - ended, 3))
                result[mode]["airflow"].append(round(task_end - seen, 3))
                result[mode]["total"].append(round(task_end - ended, 3))
    return result


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _seen_at(airflow: Any, mode: str, dag_id: str, run_id: str, job_id: int) -> float | None:
    """When the poll that saw the job succeed logged it: the worker (blocking) or the triggerer."""
    if mode == "blocking":
        entries = airflow.worker_log(dag_id, run_id, "sync")
    else:
        entries = [e for lines in airflow.trigger_logs(dag_id, run_id, "sync").values() for e in lines]
    line = f"Airbyte job {job_id}: succeeded"
    times = [_epoch(e["timestamp"]) for e in entries if str(e.get("event", "")).startswith(line)]
    return min(times) if times else None


def summary(values: list[float]) -> str:
    """Median / max, as the table shows them."""
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f}"


def rows(real: dict[str, Any]) -> list[Row]:
    """Two rows per mode, ours only (no goals: Airflow's share is not this provider's)."""
    label = "5. real Airflow, {}, {:g} s polls, {} runs: {} (s, median / max)"
    parts = (("job end to task end", "total"), ("of it, Airflow's share after the poll", "airflow"))
    return [
        Row(
            "real",
            label.format(mode, real["interval"], real["runs"], what),
            real[mode],
            None,
            _summary_of(key),
        )
        for mode in MODES
        for what, key in parts
    ]


def _summary_of(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda part: summary(part[key])


def notes(real: dict[str, Any]) -> list[str]:
    return [
        f"real Airflow {mode}: job end to the poll that saw it {real[mode]['seen']} s, then to the task's "
        f"recorded end {real[mode]['airflow']} s (Airflow's share), runs failed: {real['failed']}"
        for mode in MODES
    ]


if __name__ == "__main__":
    print(json.dumps(measure()))
