"""Every example DAG parses, and runs to success under `airflow dags test` against the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_airbyte_sync.testing import AirbyteEmulator
from tests.airflow_env import DAGS, airflow, airflow_env, emulator_conn, task_states, xcoms

EXAMPLES = {
    "example_airbyte_sync": 1,
    "example_airbyte_async_sensor": 1,
    "example_airbyte_deferrable": 2,
    "example_airbyte_mapped": 3,
    "example_airbyte_reset": 1,
}


def test_example_dags_parse_without_import_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == set(EXAMPLES)


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("airflow-home")
    result = airflow(airflow_env(home), "db", "migrate")
    assert result.returncode == 0, result.stderr[-3000:]
    yield home


@pytest.fixture
def emulator(request: pytest.FixtureRequest, job_audit: Callable[..., None]) -> Iterator[AirbyteEmulator]:
    with AirbyteEmulator() as running:
        for connection in running.connections():  # the default workspace, with quicker jobs
            running.update_connection(connection["connection_id"], pending_s=0.2, running_s=1.0)
        yield running
        job_audit(running, request)


@pytest.mark.parametrize("dag_id", sorted(EXAMPLES))
def test_example_dag_succeeds_under_airflow_dags_test(
    airflow_home: Path, emulator: AirbyteEmulator, dag_id: str
) -> None:
    env = airflow_env(airflow_home, AIRFLOW_CONN_AIRBYTE_DEFAULT=emulator_conn(emulator.port))
    result = airflow(env, "dags", "test", dag_id)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    states = task_states(airflow_home, dag_id)
    assert states and set(states.values()) == {"success"}, states
    jobs = emulator.jobs()
    assert len(jobs) == EXAMPLES[dag_id], jobs  # one job per intended sync, none twice
    assert {job["status"] for job in jobs} == {"succeeded"}

    values = xcoms(airflow_home, dag_id)
    summaries = {k: v for k, v in values.items() if k[2] == "airbyte_job"}
    job_ids = {job["id"] for job in jobs}
    for (task_id, index, _), summary in summaries.items():
        assert summary["job_id"] in job_ids
        returned: Any = values.get((task_id, index, "return_value"))
        if "start" not in task_id:  # a finished watch: the summary of a succeeded job
            assert summary["status"] == "succeeded" and summary["succeeded_at"] and summary["rows_synced"] > 0
            assert summary["url"].endswith("/job-history")
        if "wait" not in task_id:
            assert returned == summary["job_id"]  # the return value is the job id, in every mode
    assert {s["job_id"] for s in summaries.values()} >= job_ids


OFFICIAL_STYLE = Path(__file__).parent / "dags_official"


def test_a_dag_written_for_the_official_provider_runs_with_only_its_imports_changed(
    airflow_home: Path, request: pytest.FixtureRequest, job_audit: Callable[..., None]
) -> None:
    from airflow_provider_airbyte_sync.testing import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    dag_file = (OFFICIAL_STYLE / "airbyte_official_style.py").read_text()
    ours = [line for line in dag_file.splitlines() if "airflow_provider_airbyte_sync" in line]
    assert ours and all(line.startswith("from airflow_provider_airbyte_sync.") for line in ours)

    with AirbyteEmulator(auth="token") as emulator:
        emulator.add_connection(
            "3f0b3c52-8d2a-4f0e-9a61-2c7d5e4b9a10", name="official", pending_s=0.2, running_s=1.0
        )
        # The official connection type, filled in as its docs say: the full base URL and client credentials.
        official = {
            "conn_type": "airbyte",
            "host": emulator.public_api_url,
            "login": DEFAULT_CLIENT_ID,
            "password": DEFAULT_CLIENT_SECRET,
        }
        env = airflow_env(
            airflow_home,
            AIRFLOW__CORE__DAGS_FOLDER=str(OFFICIAL_STYLE),
            AIRFLOW_CONN_AIRBYTE_DEFAULT=json.dumps(official),
        )
        result = airflow(env, "dags", "test", "airbyte_official_style")
        assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
        jobs = emulator.jobs()
        job_audit(emulator, request)
    states = task_states(airflow_home, "airbyte_official_style")
    assert len(states) == 6 and set(states.values()) == {"success"}, states
    assert len(jobs) == 4 and {job["status"] for job in jobs} == {"succeeded"}, jobs  # one per operator
    values = xcoms(airflow_home, "airbyte_official_style")
    started = {
        values[(task, -1, "return_value")]
        for task in ("blocking_sync", "async_sync", "deferrable_sync", "deferrable_async_sync")
    }
    assert started == {job["id"] for job in jobs}
    for sensor, operator in (("async_sensor", "async_sync"), ("deferrable_sensor", "deferrable_async_sync")):
        assert values[(sensor, -1, "return_value")]["job_id"] == values[(operator, -1, "return_value")]


def test_official_timeouts_and_hook_calls_behave_as_the_official_provider_documents(
    airflow_home: Path, request: pytest.FixtureRequest, job_audit: Callable[..., None]
) -> None:
    """A deferred sync past ``execution_timeout`` is cancelled and fails its task with the reason;
    a hook caller's ``except AirflowException`` catches a failed job, as with the official hook."""
    from tests.dags_official import airbyte_official_timeouts as dag_module

    with AirbyteEmulator() as emulator:
        emulator.add_connection(dag_module.SLOW_CONNECTION_ID, name="slow", pending_s=0.2, running_s=600)
        emulator.add_connection(
            dag_module.FAILING_CONNECTION_ID, name="failing", pending_s=0.2, running_s=0.5, outcome="failed"
        )
        env = airflow_env(
            airflow_home,
            AIRFLOW__CORE__DAGS_FOLDER=str(OFFICIAL_STYLE),
            AIRFLOW_CONN_AIRBYTE_DEFAULT=json.dumps(
                {"conn_type": "airbyte", "host": emulator.public_api_url}
            ),
        )
        result = airflow(env, "dags", "test", "airbyte_official_timeouts")
        output = result.stdout + result.stderr
        assert result.returncode != 0, output[-5000:]  # the timed-out task fails the run
        (slow,) = emulator.jobs(dag_module.SLOW_CONNECTION_ID)
        (failing,) = emulator.jobs(dag_module.FAILING_CONNECTION_ID)
        job_audit(emulator, request)
    assert slow["status"] == "cancelled" and failing["status"] == "failed"
    assert "execution_timeout" in output
    states = task_states(airflow_home, "airbyte_official_timeouts")
    expected = {("deferred_past_execution_timeout", -1): "failed", ("hook_call_that_catches", -1): "success"}
    assert states == expected, states
    handled = xcoms(airflow_home, "airbyte_official_timeouts")[("hook_call_that_catches", -1, "return_value")]
    assert handled.startswith("handled: ") and "failed" in handled
