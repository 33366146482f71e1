"""Figure: the wall time of one DAG run under the DAG-testing kit's runner (``airflow dags test``).

What a user's test pays per ``airflow_dags_test(...)``: a subprocess with a copy of a database
migrated once (the migration is measured apart, paid once per session), the DAG parsed, the run
executed in that process. Two DAGs: one plain task (Airflow's own cost) and a sync of a 1 s job
against the emulator, then a report task.

    python benchmarks/dag_runs.py --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from table import Row, build, number, render

ROOT = Path(__file__).resolve().parent.parent
PLAIN_DAG = """
from airflow.sdk import DAG, task

with DAG(dag_id="plain", schedule=None, catchup=False):
    @task
    def one() -> int:
        return 1

    one()
"""


def measure(runs: int = 3) -> dict[str, Any]:
    """Seconds: ``migrate`` (once), and per DAG the wall time of each run."""
    sys.path.insert(0, str(ROOT))
    from airflow_provider_airbyte_sync.testing import AirbyteEmulator
    from airflow_provider_airbyte_sync.testing.airflow_connection import conn_json, connection_fields
    from airflow_provider_airbyte_sync.testing.dag_runner import DagTestRunner

    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    with tempfile.TemporaryDirectory(prefix="bench-dag-runs-") as tmp, AirbyteEmulator() as emulator:
        emulator.add_connection(
            "5a1c7e2e-3b0f-4d8e-9c61-0e4b2f7d9a11", name="orders", pending_s=0.2, running_s=1
        )
        env["AIRFLOW_CONN_AIRBYTE_DEFAULT"] = conn_json(connection_fields(emulator))
        runner = DagTestRunner(Path(tmp) / "runs", env=env)
        started = time.monotonic()
        runner.template()
        res: dict[str, Any] = {"migrate": time.monotonic() - started, "runs": {}}
        plain = Path(tmp) / "plain.py"
        plain.write_text(PLAIN_DAG)
        for name, path in (("plain", plain), ("sync", ROOT / "tests" / "user_dags" / "orders_sync.py")):
            times = []
            for _ in range(runs):
                run = runner.run(path)
                if not run.succeeded:
                    raise RuntimeError(run.explain())
                times.append(run.seconds)
            res["runs"][name] = times
    return res


def rows(res: dict[str, Any]) -> list[Row]:
    out = [
        Row(
            "kit.migrate",
            "DAG tests: airflow db migrate, once per session (s)",
            {"s": res["migrate"]},
            None,
            number("s"),
        )
    ]
    labels = {
        "plain": "DAG tests: one run, a plain task (s, median / max)",
        "sync": "DAG tests: one run, a 1 s sync and a report (s, median / max)",
    }
    for name, times in res["runs"].items():
        record = {"median": statistics.median(times), "max": max(times)}
        out.append(Row(f"kit.run.{name}", labels[name], record, None, number("median", "max")))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="runs of each DAG (default 3)")
    args = p.parse_args(argv)
    print(render(build(rows(measure(args.runs)))))
    print("Cells: median / max of the runs; the migration is paid once per pytest session.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
