"""A real Airflow for end-to-end tests: scheduler, triggerer, DAG processor and API server on SQLite.

``airflow dags test`` runs triggers inline, in its own process; only a real deployment shows what
the triggerer process does with a deferred task (``on_kill`` after a user's action, timeouts,
retries). :class:`RealAirflow` starts the four components as separate ``airflow ...`` processes
in a throw-away ``AIRFLOW_HOME``, each in its own process group and writing its own log file,
``<home>/components/<name>.log`` (``airflow standalone`` would interleave them in one stream). Up
in about 15 s, ``db migrate`` included. The tests drive it through the REST API (``/api/v2``; no
login: ``simple_auth_manager_all_admins``), as the UI would.

Every wait has a deadline; a timeout fails the test with the tail of every component's log.

A test module gets a started Airflow from the module-scoped ``real_airflow`` fixture, and may
define two module-scoped fixtures to shape it: ``real_airflow_dags`` (a folder, or several files
and folders gathered into one DAGs folder; default the repository's ``example_dags``) and
``real_airflow_env`` (extra environment, e.g. ``AIRFLOW_CONN_AIRBYTE_DEFAULT``)::

    from tests.real_airflow import RealAirflow
    from tests.real_airflow import real_airflow_fixture  # noqa: F401 (provides ``real_airflow``)

    @pytest.fixture(scope="module")
    def real_airflow_env(emulator):
        return {"AIRFLOW_CONN_AIRBYTE_DEFAULT": emulator_conn(emulator.port)}

    def test_it(real_airflow: RealAirflow) -> None:
        run_id = real_airflow.run_dag("example_airbyte_deferrable")
        assert real_airflow.wait_for_dag_run("example_airbyte_deferrable", run_id)["state"] == "success"
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DAGS = ROOT / "example_dags"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
STARTUP_DEADLINE_S = 120.0
MIGRATE_DEADLINE_S = 180.0
POLL_S = 0.2
# A throw-away deployment: a short grace. Airflow 3.3.2's triggerer sometimes takes 10 s to reap its
# runner after SIGTERM, and the DAG processor sometimes never exits on it.
STOP_GRACE_S = 5.0
FINISHED_RUN_STATES = frozenset({"success", "failed"})
FINISHED_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(home: Path) -> dict[str, str]:
    """This process's environment without any Airflow setting, pointed at ``home``'s SQLite DB.

    Shared with other tests that start Airflow parts: the venv's ``bin`` first on ``PATH``
    (Airflow starts its parts as ``airflow ...``), this checkout first on ``PYTHONPATH``, no
    example DAGs, and no login on the API.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and key != "AIRFLOW_HOME"
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",  # tests only: no login
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        # The package under test is this checkout's, not whichever one the venv has installed.
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
    )
    return env


def fast_env(port: int, dags_folder: Path) -> dict[str, str]:
    """Settings for a quick local deployment: the API on ``port``, short scheduling loops."""
    url = f"http://127.0.0.1:{port}"
    return {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        # Airflow 3.0 answers GET xcomEntries?deserialize=true only with this on (later lines always).
        "AIRFLOW__API__ENABLE_XCOM_DESERIALIZE_SUPPORT": "True",
        # One secret for every component: the API server checks the tokens the scheduler mints.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
        "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "1",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",
        # The log servers default to fixed ports (8793, 8794): two Airflows on one machine collide.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }


def gather_dags(target: Path, sources: Iterable[Path]) -> Path:
    """One DAGs folder made of symlinks to ``sources`` (files, or folders whose ``*.py`` files count)."""
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        files = sorted(source.glob("*.py")) if source.is_dir() else [source]
        for file in files:
            link = target / file.name
            if link.exists():
                raise ValueError(f"two DAG files named {file.name}")
            link.symlink_to(file.resolve())
    return target


def signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to the process group ``process`` leads (it was started in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def stop_groups(processes: Iterable[subprocess.Popen[bytes]], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every group, wait for the leaders, then SIGKILL what is left of each group."""
    processes = list(processes)
    for process in processes:
        signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:  # leaders that lingered, and children that outlived them
        signal_group(process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


class RealAirflow:
    """Airflow's scheduler, triggerer, DAG processor and API server, each in its own process.

    :param home: an empty folder for ``AIRFLOW_HOME`` (SQLite DB, logs, component logs).
    :param dags: the DAGs folder, or files and folders gathered (as symlinks) into ``home/dags``.
    :param extra_env: more environment for every component (connections, settings).
    """

    def __init__(
        self,
        home: Path,
        dags: Path | Iterable[Path] = EXAMPLE_DAGS,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.home = Path(home)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if isinstance(dags, Path) and dags.is_dir():
            self.dags_folder = dags
        else:
            self.dags_folder = gather_dags(self.home / "dags", [dags] if isinstance(dags, Path) else dags)
        self.env = {**base_env(self.home), **fast_env(self.port, self.dags_folder), **(extra_env or {})}
        self.log_dir = self.home / "components"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        # Every state seen while polling a task instance, in order: {(dag_id, run_id, task_id): [...]}
        self.seen_states: dict[tuple[str, str, str], list[str]] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> RealAirflow:
        """Migrate the DB, start the four components, return once the API reports them healthy."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        migrate_log = self.log_dir / "db-migrate.log"
        with migrate_log.open("wb") as log:
            migrated = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=MIGRATE_DEADLINE_S,
                check=False,
            )
        if migrated.returncode != 0:
            pytest.fail(f"airflow db migrate failed:\n{_tail(migrate_log)}")
        atexit.register(self.stop)
        for name in COMPONENTS:
            self.processes[name] = self._spawn(name)
        self.wait_until(self._healthy, "every component healthy", STARTUP_DEADLINE_S)
        return self

    def _spawn(self, name: str) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "airflow", name]
        if name == "api-server":
            args += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path(name).open("wb") as log:
            process = subprocess.Popen(
                args,
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with its children
            )
        (self.log_dir / f"{name}.pid").write_text(f"{process.pid}\n")
        return process

    def _healthy(self) -> bool:
        self.check_alive()
        try:
            health = self.session.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        except (requests.ConnectionError, requests.Timeout, ValueError):
            return False
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    def check_alive(self) -> None:
        """Fail if a component exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"airflow {name} exited with {process.returncode}\n{self.logs_tail()}")

    def stop(self) -> None:
        """Stop every component and its children (task workers, the triggerer's runner)."""
        processes, self.processes = self.processes, {}
        stop_groups(processes.values())
        self.session.close()
        atexit.unregister(self.stop)

    def __enter__(self) -> RealAirflow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ logs
    def log_path(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    def log_text(self, component: str) -> str:
        path = self.log_path(component)
        return path.read_text(errors="replace") if path.exists() else ""

    def logs_tail(self, chars: int = 4000) -> str:
        """The end of every component's log, for failure messages."""
        return "\n".join(
            f"----- {name} ({self.log_path(name)}) -----\n{_tail(self.log_path(name), chars)}"
            for name in COMPONENTS
        )

    # ------------------------------------------------------------------ waiting
    def wait_until(self, probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
        """Call ``probe`` until it returns something truthy; fail with every log's tail at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"Timed out after {timeout:.0f}s waiting for {what}\n{self.logs_tail()}")
            time.sleep(POLL_S)

    # ------------------------------------------------------------------ REST API
    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        try:
            response = self.session.request(method, f"{self.url}/api/v2{path}", **kwargs)
            if response.status_code == 401 and "Authorization" not in self.session.headers:
                # Airflow 3.0-3.2 want a token even when every user is an admin (tests only): the
                # simple auth manager hands one out for the asking.
                token = self.session.get(f"{self.url}/auth/token", timeout=30).json()["access_token"]
                self.session.headers["Authorization"] = f"Bearer {token}"
                response = self.session.request(method, f"{self.url}/api/v2{path}", **kwargs)
            return response
        except requests.RequestException as exc:
            self.check_alive()
            pytest.fail(f"{method} /api/v2{path}: {exc}\n{self.logs_tail()}")

    def api(self, method: str, path: str, *, ok: Iterable[int] = (200,), **kwargs: Any) -> Any:
        """Call ``/api/v2{path}``; answer the JSON body; fail on another status than ``ok``."""
        response = self._request(method, path, **kwargs)
        if response.status_code not in tuple(ok):
            pytest.fail(f"{method} /api/v2{path}: {response.status_code} {response.text[:2000]}")
        return response.json() if response.content else None

    def _get(self, path: str, **params: Any) -> Any:
        """GET answering None on 404."""
        response = self._request("GET", path, params=params)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            pytest.fail(f"GET /api/v2{path}: {response.status_code} {response.text[:2000]}")
        return response.json()

    def import_errors(self) -> list[dict[str, Any]]:
        return self.api("GET", "/importErrors")["import_errors"]

    def wait_for_dag(self, dag_id: str, timeout: float = 90.0) -> dict[str, Any]:
        """Wait until the DAG processor has parsed ``dag_id``; fail early on an import error."""

        def parsed() -> dict[str, Any] | None:
            self.check_alive()
            dag = self._get(f"/dags/{dag_id}")
            if dag is None and (errors := self.import_errors()):
                pytest.fail(f"DAG import errors: {errors}")
            return dag

        return self.wait_until(parsed, f"DAG {dag_id} to be parsed", timeout)

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Create a manual DAG run; answer its run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id is not None:
            body["dag_run_id"] = run_id
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run_dag(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Wait for the DAG to be parsed, unpause it and trigger a run; answer the run id."""
        self.wait_for_dag(dag_id)
        self.unpause(dag_id)
        return self.trigger(dag_id, conf, run_id)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait_for_dag_run(
        self,
        dag_id: str,
        run_id: str,
        states: Iterable[str] = FINISHED_RUN_STATES,
        timeout: float = 90.0,
    ) -> dict[str, Any]:
        """Wait until the run is in one of ``states`` (default: finished); answer the run."""
        wanted = set(states)

        def reached() -> dict[str, Any] | None:
            self.check_alive()
            run = self.dag_run(dag_id, run_id)
            return run if run["state"] in wanted else None

        return self.wait_until(reached, f"run {run_id} of {dag_id} in {sorted(wanted)}", timeout)

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """The task instance (``state``, ``try_number``, ``next_method``, ``pid``, ...) or ``{}``."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        ti = self._get(path if map_index < 0 else f"{path}/{map_index}") or {}
        seen = self.seen_states.setdefault((dag_id, run_id, task_id), [])
        state = ti.get("state")
        if state and (not seen or seen[-1] != state):
            seen.append(state)
        return ti

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of the task instance (the task instance history, then the current try)."""
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")[
            "task_instances"
        ]

    def wait_for_task(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Iterable[str] = FINISHED_TI_STATES,
        timeout: float = 90.0,
        until: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Wait until the task instance is in one of ``states`` (and ``until(ti)`` holds); answer it.

        Every state seen on the way is in ``seen_states[(dag_id, run_id, task_id)]``.
        """
        wanted = set(states)

        def reached() -> dict[str, Any] | None:
            self.check_alive()
            ti = self.task_instance(dag_id, run_id, task_id)
            if ti.get("state") in wanted and (until is None or until(ti)):
                return ti
            return None

        return self.wait_until(reached, f"{dag_id}.{task_id} ({run_id}) in {sorted(wanted)}", timeout)

    def states_seen(self, dag_id: str, run_id: str, task_id: str) -> list[str]:
        return list(self.seen_states.get((dag_id, run_id, task_id), []))

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> list[dict[str, Any]]:
        """Mark a task instance ``success``/``failed``/``skipped``, as a user does in the UI."""
        answer = self.api(
            "PATCH", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}", json={"new_state": state}
        )
        return answer["task_instances"]

    def clear(
        self, dag_id: str, run_id: str, task_ids: Iterable[str], *, only_failed: bool = False
    ) -> list[dict[str, Any]]:
        """Clear task instances of a run (and reset the run), as a user does in the UI."""
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": list(task_ids),
            "only_failed": only_failed,
            "reset_dag_runs": True,
        }
        return self.api("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """An XCom value, deserialized; fails when there is none."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.api("GET", path, params={"deserialize": "true"})["value"]

    def task_log(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        try_number: int | None = None,
        *,
        missing_ok: bool = False,
    ) -> str:
        """The task's log as text (the worker's part and the triggerer's part, as the UI shows it).

        A try that has not started yet has no log: an error, or ``""`` with ``missing_ok``.
        """
        if try_number is None:
            try_number = self.task_instance(dag_id, run_id, task_id)["try_number"]
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        answer = self._get(path, full_content="true")
        if answer is None:
            if missing_ok:
                return ""
            pytest.fail(f"no log for try {try_number} of {dag_id}.{task_id} ({run_id})")
        return "\n".join(_log_line(entry) for entry in answer["content"])

    def wait_for_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, text: str, timeout: float = 60.0
    ) -> str:
        """Wait until the try's log (worker and triggerer parts) contains ``text``; answer the log."""

        def logged() -> str | None:
            self.check_alive()
            log = self.task_log(dag_id, run_id, task_id, try_number, missing_ok=True)
            return log if text in log else None

        return self.wait_until(logged, f"{text!r} in the log of try {try_number} of {task_id}", timeout)

    def log_folder(self, dag_id: str, run_id: str, task_id: str) -> Path:
        """Where the task's log files are (Airflow's default ``log_filename_template``)."""
        return self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"

    def worker_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[dict[str, Any]]:
        """What the worker (task process) logged for this try: log entries (``event``, ``logger``, ...)."""
        path = self.log_folder(dag_id, run_id, task_id) / f"attempt={try_number}.log"
        return _json_lines(path) if path.exists() else []

    def trigger_logs(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1
    ) -> dict[int, list[dict[str, Any]]]:
        """What triggerers logged for this try: ``{triggerer job id: [log entries]}``.

        A triggerer writes a deferred task's trigger lines (JSON, one entry a line: ``event``,
        ``logger``, ``level``, ...) next to the worker's log, in
        ``attempt=<n>.log.trigger.<triggerer job id>.log``; the task log the UI shows merges them.
        (The triggerer's own output, ``components/triggerer.log``, does not carry them.)
        """
        prefix = f"attempt={try_number}.log.trigger."
        return {
            int(path.name[len(prefix) : -len(".log")]): _json_lines(path)
            for path in self.log_folder(dag_id, run_id, task_id).glob(f"{prefix}*.log")
        }

    def jobs(self, job_type: str) -> list[dict[str, Any]]:
        """Airflow's own jobs (``TriggererJob``, ``SchedulerJob``, ``DagProcessorJob``), alive or not."""
        return self.api("GET", "/jobs", params={"job_type": job_type})["jobs"]

    def state_store(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """A value of the task state store (what a try keeps for the next one), or None.

        On an Airflow without the store (3.0-3.2) the provider keeps it in a Variable: read that.
        """
        # The Variable's name hashes the run's start as the task saw it: find it by its description.
        described = f"{key} of task {task_id} (map index -1) of {dag_id} run {run_id} started "
        listed = self._get("/variables", limit=1000) or {"variables": []}
        for variable in listed["variables"]:
            ours = variable["key"].startswith(f"airbyte_sync.{key}.")
            if ours and described in (variable["description"] or ""):
                return json.loads(variable["value"])
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/state-store/{key}"
        entry = self._get(path)
        return entry["value"] if entry else None


def _log_line(entry: Any) -> str:
    if not isinstance(entry, Mapping):
        return str(entry)
    fields = {k: v for k, v in entry.items() if k not in ("timestamp", "level", "event", "logger")}
    line = f"[{entry.get('timestamp', '')}] {str(entry.get('level', '')).upper()} {entry.get('logger', '')}"
    line += f" - {entry.get('event', '')}"
    if fields:
        line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
    return line


def _json_lines(path: Path) -> list[dict[str, Any]]:
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = line
        entries.append(entry if isinstance(entry, dict) else {"event": line})
    return entries


def _tail(path: Path, chars: int = 4000) -> str:
    if not path.exists():
        return "(no log)"
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        file.seek(max(0, file.tell() - chars))
        return file.read().decode(errors="replace")


def _optional_fixture(request: pytest.FixtureRequest, name: str, default: Any) -> Any:
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        return default


@pytest.fixture(scope="module", name="real_airflow")
def real_airflow_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealAirflow]:
    """A started :class:`RealAirflow` for the module, stopped after it.

    Shaped by the module's optional fixtures ``real_airflow_dags`` and ``real_airflow_env``.
    """
    dags = _optional_fixture(request, "real_airflow_dags", EXAMPLE_DAGS)
    extra_env = _optional_fixture(request, "real_airflow_env", {})
    airflow = RealAirflow(tmp_path_factory.mktemp("real-airflow"), dags, extra_env)
    try:
        airflow.start()
        yield airflow
    finally:
        airflow.stop()
