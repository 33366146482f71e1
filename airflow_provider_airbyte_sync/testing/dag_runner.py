"""Run a DAG under ``airflow dags test`` in a throw-away Airflow, and read what the run did.

Each run is a subprocess with an Airflow home of its own: a copy of a SQLite database migrated once
(``airflow db migrate`` takes seconds; a copy, milliseconds) and a DAGs folder holding only a link
to the DAG file, so Airflow parses nothing else. Airflow runs the DAG its own way (``dags test``
runs every task, deferrals included, in that one process) and the result is read from the
database: the run's state, each task's state and every XCom. Nothing here imports Airflow or the
rest of the provider; the subprocess does (``python -m`` this module).

    runner = DagTestRunner(tmp_dir)
    run = runner.run("dags/my_dag.py")          # or runner.run(dag): its fileloc and dag_id
    assert run.state == "success", run.explain()
    assert run.tasks == {"sync": "success", "report": "success"}
    run.xcom("sync", key="airbyte_job")

Works on Airflow 3.0 to 3.3: it uses only the CLI, the default SQLite database and the tables
``dag_run``, ``task_instance`` and ``xcom``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DagTestError", "DagTestRun", "DagTestRunner"]

#: The subprocess exit status when the file holds no DAG, several DAGs and no ``dag_id``, or import errors.
NOT_ONE_DAG = 3


class DagTestError(RuntimeError):
    """The DAG could not be run: Airflow's database could not be set up, the file defines no such
    DAG, or the run did not finish in time. The message ends with Airflow's output."""


@dataclass(frozen=True)
class DagTestRun:
    """What one ``airflow dags test`` run did."""

    dag_id: str
    #: The DAG run's state (``success``, ``failed``), ``None`` if Airflow recorded no run.
    state: str | None
    #: Each task instance's state: ``{(task_id, map_index): state}`` (``map_index`` -1 unless mapped).
    task_instances: dict[tuple[str, int], str | None]
    #: Every XCom of the run: ``{(task_id, map_index, key): value}``.
    xcoms: dict[tuple[str, int, str], Any]
    returncode: int
    output: str  # what Airflow printed, stdout then stderr
    home: Path  # the run's Airflow home (its logs and database stay there)
    seconds: float  # wall time of the subprocess

    @property
    def tasks(self) -> dict[str, str | None]:
        """Each task's state by task id; a mapped task's instances as ``task_id[index]``."""
        return {
            task if index < 0 else f"{task}[{index}]": state
            for (task, index), state in sorted(self.task_instances.items())
        }

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """One XCom value; ``KeyError`` naming those there are if it is missing."""
        try:
            return self.xcoms[(task_id, map_index, key)]
        except KeyError:
            there = sorted(f"{t}[{i}]:{k}" if i >= 0 else f"{t}:{k}" for t, i, k in self.xcoms)
            raise KeyError(
                f"no XCom {key!r} of {task_id!r}; there are: {', '.join(there) or 'none'}"
            ) from None

    def explain(self, chars: int = 6000) -> str:
        """A summary for an assertion message: state, tasks and the end of Airflow's output."""
        return f"DAG {self.dag_id!r}: run {self.state}, tasks {self.tasks}\n{self.output[-chars:]}"


class DagTestRunner:
    """Runs DAG files under ``airflow dags test``, each in a fresh copy of one migrated database.

    ``root``: a folder for the template and each run's home (kept for inspection). ``python``:
    the interpreter that has Airflow (default: this one). ``env``: variables for every run, over
    ``os.environ`` as it is when a run starts.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, python: str | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.root = Path(root)
        self.python = python or sys.executable
        self.env = dict(env or {})
        self._lock = threading.Lock()
        self._template: Path | None = None
        self._runs = 0

    def _environment(self, home: Path, dags: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, **self.env, **(extra or {})}
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                # Airflow starts parts of itself as `airflow ...` from PATH: this interpreter's first.
                "PATH": os.pathsep.join(p for p in (str(Path(self.python).parent), env.get("PATH", "")) if p),
            }
        )
        return env

    def template(self) -> Path:
        """The migrated database every run copies (``airflow db migrate`` on first use)."""
        with self._lock:
            if self._template is None:
                home = self.root / "template"
                (home / "dags").mkdir(parents=True, exist_ok=True)
                result = subprocess.run(  # noqa: S603 - the interpreter given, Airflow's own CLI
                    [self.python, "-m", "airflow", "db", "migrate"],
                    env=self._environment(home, home / "dags"),
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                if result.returncode != 0:
                    raise DagTestError(
                        f"airflow db migrate failed:\n{(result.stdout + result.stderr)[-6000:]}"
                    )
                self._template = home / "airflow.db"
            return self._template

    def run(
        self,
        dag: str | os.PathLike[str] | Any,
        dag_id: str | None = None,
        *,
        conf: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        dags_folder: str | os.PathLike[str] | None = None,
        timeout: float = 600,
    ) -> DagTestRun:
        """Run one DAG and answer what the run did (a failed run is an answer, not an error).

        ``dag``: a DAG file, or a DAG object whose file (``fileloc``) defines it at module level.
        ``dag_id``: needed when the file defines several DAGs. ``conf``: the run's conf.
        ``dags_folder``: the DAGs folder to use, holding the file (default: a folder of this run
        holding only a link to the file; the file's own folder is put on ``PYTHONPATH`` so its
        imports of sibling modules work as in a DAGs folder).
        """
        if not isinstance(dag, (str, os.PathLike)):
            dag_id = dag_id or dag.dag_id
            dag = dag.fileloc
        source = Path(dag).resolve()
        if not source.is_file():
            raise FileNotFoundError(f"no DAG file {source}")
        template = self.template()
        with self._lock:
            self._runs += 1
            home = self.root / f"run-{self._runs}"
        home.mkdir(parents=True)
        shutil.copyfile(template, home / "airflow.db")
        if dags_folder is not None:
            dags, path = Path(dags_folder).resolve(), source
            if dags not in source.parents:
                raise ValueError(f"{source} is not inside the DAGs folder {dags}")
        else:
            dags = home / "dags"
            dags.mkdir()
            path = dags / source.name
            try:
                path.symlink_to(source)
            except OSError:  # no symlinks here (some Windows setups): a copy does as well
                shutil.copyfile(source, path)
        extra = dict(env or {})
        pythonpath = {**os.environ, **self.env, **extra}.get("PYTHONPATH", "")
        extra["PYTHONPATH"] = os.pathsep.join(p for p in (str(source.parent), pythonpath) if p)
        command = [self.python, "-m", __name__, str(path)]
        if dag_id:
            command += ["--dag-id", dag_id]
        if conf is not None:
            command += ["--conf", json.dumps(conf)]
        started = time.monotonic()
        try:
            result = subprocess.run(  # noqa: S603 - the interpreter given, this module, the DAG file
                command,
                env=self._environment(home, dags, extra),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = _text(exc.stdout) + _text(exc.stderr)
            raise DagTestError(f"the DAG run took longer than {timeout} s:\n{output[-6000:]}") from None
        seconds = time.monotonic() - started
        output = result.stdout + result.stderr
        if result.returncode == NOT_ONE_DAG:
            raise DagTestError(output[-6000:])
        return _read_run(home / "airflow.db", dag_id, result.returncode, output, home, seconds)


def _text(data: str | bytes | None) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data or ""


def _read_run(
    db_path: Path, dag_id: str | None, returncode: int, output: str, home: Path, seconds: float
) -> DagTestRun:
    """The run in a database that holds only it."""
    db = sqlite3.connect(db_path)
    try:
        row = db.execute("SELECT dag_id, run_id, state FROM dag_run ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return DagTestRun(dag_id or "?", None, {}, {}, returncode, output, home, seconds)
        dag_id, run_id, state = row
        tis = db.execute(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        )
        xcoms = db.execute(
            "SELECT task_id, map_index, key, value FROM xcom WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        )
        return DagTestRun(
            dag_id=dag_id,
            state=state,
            task_instances={(t, i): s for t, i, s in tis.fetchall()},
            xcoms={(t, i, k): _json(v) for t, i, k, v in xcoms.fetchall()},
            returncode=returncode,
            output=output,
            home=home,
            seconds=seconds,
        )
    finally:
        db.close()


def _json(value: Any) -> Any:
    # SQLite's JSON column hands numbers back as numbers and objects as text.
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- the subprocess: find the DAG id if needed, then hand over to Airflow's CLI ----------------------


def _only_dag_id(path: str, dag_id: str | None) -> str:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2 and later
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]  # Airflow 3.0 and 3.1

    bag = DagBag(dag_folder=path)  # examples are off in the environment
    if bag.import_errors:
        errors = "\n".join(f"{file}: {error}" for file, error in bag.import_errors.items())
        raise SystemExit(_fail(f"{path} does not import:\n{errors}"))
    ids = sorted(bag.dag_ids)
    if dag_id is not None:
        if dag_id not in ids:
            found = ", ".join(ids) or "no DAG at module level"
            raise SystemExit(_fail(f"{path} defines no DAG {dag_id!r} (it defines: {found})"))
        return dag_id
    if len(ids) != 1:
        raise SystemExit(_fail(f"{path} defines {len(ids)} DAGs ({', '.join(ids)}): say which with dag_id"))
    return ids[0]


def _fail(message: str) -> int:
    print(message, file=sys.stderr, flush=True)
    return NOT_ONE_DAG


def main(argv: Sequence[str] | None = None) -> None:
    import argparse
    import runpy

    parser = argparse.ArgumentParser(description="airflow dags test, for one DAG file")
    parser.add_argument("path")
    parser.add_argument("--dag-id")
    parser.add_argument("--conf")
    args = parser.parse_args(argv)
    dag_id = _only_dag_id(args.path, args.dag_id)
    sys.argv = ["airflow", "dags", "test", dag_id, "--dagfile-path", args.path]
    if args.conf:
        sys.argv += ["--conf", args.conf]
    runpy.run_module("airflow", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
