"""The main job: run the example DAG against a local Airbyte emulator and print the sync summary.

Starts the emulator on a free loopback port, points ``airbyte_default`` at it, runs
``airflow dags test example_airbyte_sync`` on a throw-away SQLite Airflow home, prints the summary
the DAG reported (rows, bytes, duration), stops the emulator, and exits non-zero unless the sync
succeeded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from airflow_provider_airbyte_sync.testing import AirbyteEmulator

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "example_airbyte_sync"


def airflow_env(home: str, port: int) -> dict[str, str]:
    """Environment for a throw-away Airflow on SQLite that reads the example DAGs."""
    return {
        **os.environ,
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_AIRBYTE_DEFAULT": json.dumps(
            {"conn_type": "airbyte_sync", "host": "127.0.0.1", "port": port}
        ),
    }


def main() -> int:
    airflow = [sys.executable, "-m", "airflow"]
    with tempfile.TemporaryDirectory(prefix="airflow-home-") as home, AirbyteEmulator() as emulator:
        env = airflow_env(home, emulator.port)
        print(f"Airbyte emulator on {emulator.url}; Airflow home {home} (SQLite)", flush=True)
        subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)  # noqa: S603
        run = subprocess.run(  # noqa: S603
            [*airflow, "dags", "test", DAG_ID], env=env, capture_output=True, text=True
        )
        output = run.stdout + run.stderr
        found = re.search(r"AIRBYTE SYNC SUMMARY: (.*)", output)
        jobs = emulator.jobs()
    if run.returncode != 0 or not found:
        print(output[-4000:])
        print(f"FAILED: airflow dags test {DAG_ID} exited {run.returncode}", file=sys.stderr)
        return 1
    print(found.group(1).strip())
    print(f"Airbyte jobs started by the run: {len(jobs)} ({', '.join(j['status'] for j in jobs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
