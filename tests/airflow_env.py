"""A throw-away Airflow (SQLite) for end-to-end tests: environment, CLI runs, XCom reads."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "example_dags"


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # the venv's bin first: Airflow starts its parts as `airflow ...` from PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.update(extra)
    return env


def emulator_conn(port: int, **fields: Any) -> str:
    return json.dumps({"conn_type": "airbyte_sync", "host": "127.0.0.1", "port": port, **fields})


def airflow(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def xcoms(home: Path, dag_id: str) -> dict[tuple[str, int, str], Any]:
    """Every XCom of the newest run of ``dag_id``: {(task_id, map_index, key): value}."""
    rows = _newest_run_rows(home, dag_id, "SELECT task_id, map_index, key, value FROM xcom")
    return {(task, index, key): _json(value) for task, index, key, value in rows}


def _json(value: Any) -> Any:
    # SQLite's JSON column hands numbers back as numbers and objects as text.
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def task_states(home: Path, dag_id: str) -> dict[tuple[str, int], str]:
    """The state of every task instance of the newest run of ``dag_id``."""
    rows = _newest_run_rows(home, dag_id, "SELECT task_id, map_index, state FROM task_instance")
    return {(task, index): state for task, index, state in rows}


def _newest_run_rows(home: Path, dag_id: str, select: str) -> list[tuple[Any, ...]]:
    """Rows of ``select`` (from a table keyed by dag_id and run_id) for the newest run of ``dag_id``."""
    db = sqlite3.connect(home / "airflow.db")
    try:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        return db.execute(f"{select} WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)).fetchall()
    finally:
        db.close()
