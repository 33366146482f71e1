"""The DAG-testing kit as a user meets it: fixtures, the DAG runner, the emulator's answers.

The block between the README markers below is the README's "Testing your DAGs" example, word for
word (``test_the_readme_example_is_this_files_code``). The DAGs it runs are in ``user_dags/``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_START, README_END = "# README example: start\n", "# README example: end\n"


@pytest.fixture(autouse=True)
def _this_checkout_in_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    """``airflow dags test`` subprocesses import the provider from this checkout, not an installed copy."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    )


# README example: start
DAGS = Path(__file__).parent / "user_dags"
ORDERS = "5a1c7e2e-3b0f-4d8e-9c61-0e4b2f7d9a11"  # the connection the DAGs sync


@pytest.fixture
def airbyte(airbyte_emulator):
    airbyte_emulator.add_connection(ORDERS, name="orders", pending_s=0.2, running_s=1)
    return airbyte_emulator  # reached through airbyte_default for the test's duration


def test_the_sync_succeeds_and_the_report_runs(airbyte, airflow_dags_test):
    run = airflow_dags_test(DAGS / "orders_sync.py")  # `airflow dags test` in a throw-away Airflow

    assert run.state == "success", run.explain()
    assert run.tasks == {"sync_orders": "success", "report": "success"}
    (job,) = airbyte.jobs("orders", origin="api")
    assert (job["job_type"], job["status"]) == ("sync", "succeeded")
    assert run.xcom("report") == {"job_id": job["id"], "rows": job["rows"]}


def test_a_failed_sync_fails_the_run_and_alerts(airbyte, airflow_dags_test, tmp_path, monkeypatch):
    airbyte.next_job("orders", outcome="failed")  # only the next job: the one after succeeds
    monkeypatch.setenv("ALERTS_FILE", str(tmp_path / "alerts"))  # where the DAG's callback writes

    run = airflow_dags_test(DAGS / "orders_sync.py")

    assert run.state == "failed", run.explain()
    assert run.tasks == {"sync_orders": "failed", "report": "upstream_failed"}
    assert (tmp_path / "alerts").read_text().startswith("orders_sync failed")
    assert [job["status"] for job in airbyte.jobs("orders")] == ["failed"]


def test_an_asynchronous_start_and_its_sensor(airbyte, airflow_dags_test):
    airbyte.next_job("orders", already_running_s=2)  # someone else's sync is running: 409, then ours

    run = airflow_dags_test(DAGS / "orders_async.py")

    assert run.tasks == {"start_orders": "success", "wait_for_orders": "success"}, run.explain()
    theirs, ours = airbyte.jobs("orders")
    assert (theirs["origin"], ours["origin"], ours["status"]) == ("airbyte", "api", "succeeded")
    assert run.xcom("start_orders") == ours["id"]


# README example: end


def test_the_readme_example_is_this_files_code() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    example = source[source.index(README_START) + len(README_START) : source.index(README_END)]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```python\n{example.strip()}\n```" in readme


def test_the_fixtures_come_from_this_checkout(request: pytest.FixtureRequest) -> None:
    """The ``pytest11`` entry point (named ``airbyte_emulator``) loaded this checkout's plugin:
    ``python -m pytest`` from the checkout puts it first on ``sys.path``."""
    plugin = request.config.pluginmanager.get_plugin("airbyte_emulator")
    assert plugin is not None and Path(plugin.__file__).resolve().is_relative_to(ROOT), plugin
    assert hasattr(plugin, "airflow_dags_test") and hasattr(plugin, "airbyte_connection")


# -- the connection the fixture sets -------------------------------------------------------------


def test_the_connection_is_set_for_the_test_and_restored_after(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import json, os, pytest

            def test_set(airbyte_emulator, airbyte_connection):
                fields = json.loads(os.environ["AIRFLOW_CONN_AIRBYTE_DEFAULT"])
                assert fields["host"] == airbyte_emulator.url and fields["conn_type"] == "airbyte_sync"
                assert airbyte_connection.conn_id == "airbyte_default" and airbyte_connection.fields == fields

            @pytest.mark.airbyte_emulator(conn_id="warehouse_airbyte", api="public")
            def test_named(airbyte_emulator):
                fields = json.loads(os.environ["AIRFLOW_CONN_WAREHOUSE_AIRBYTE"])
                assert fields["host"] == airbyte_emulator.public_api_url
                assert os.environ["AIRFLOW_CONN_AIRBYTE_DEFAULT"] == "theirs"

            @pytest.mark.airbyte_emulator(conn_id=None)
            def test_none(airbyte_emulator):
                assert os.environ["AIRFLOW_CONN_AIRBYTE_DEFAULT"] == "theirs"

            def test_after():
                assert os.environ["AIRFLOW_CONN_AIRBYTE_DEFAULT"] == "theirs"
                assert "AIRFLOW_CONN_WAREHOUSE_AIRBYTE" not in os.environ
            """
        )
    )
    env = {**os.environ, "AIRFLOW_CONN_AIRBYTE_DEFAULT": "theirs", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    plugin = "airflow_provider_airbyte_sync.testing.pytest_plugin"
    command = [sys.executable, "-m", "pytest", "-q", "-p", plugin, "-p", "no:cacheprovider", str(tmp_path)]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


SHAPES = [
    (api, auth)
    for api in ("config", "public", "cloud")
    for auth in ("none", "basic", "bearer", "client_credentials")
    if not (api != "config" and auth == "basic")  # the public API has no basic auth
]


@pytest.mark.parametrize(
    ("api", "auth"),
    [pytest.param(api, auth, marks=pytest.mark.airbyte_emulator(api=api, auth=auth)) for api, auth in SHAPES],
)
def test_every_deployment_shape_reaches_the_emulator_in_process(
    airbyte_emulator: Any, airbyte_connection: Any, api: str, auth: str
) -> None:
    from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook

    hook = AirbyteHook(airbyte_connection.conn_id)
    assert hook.settings.flavour == ("config" if api == "config" else "public")
    assert hook.settings.auth == auth
    job = hook.submit_sync_connection(airbyte_emulator.connection_id("Postgres → BigQuery"))
    airbyte_emulator.advance(60)
    assert hook.get_job_status(job.job_id) == "succeeded"
    expected_path = {"config": "/api/v1/", "public": "/api/public/v1/", "cloud": "/v1/"}[api]
    assert hook.settings.base_url.startswith(airbyte_emulator.url + expected_path.rstrip("/"))


# -- the emulator's answers for assertions ---------------------------------------------------------


def _sync(emulator: Any, connection_id: str) -> tuple[int, Any]:
    import requests

    answer = requests.post(
        f"{emulator.config_api_url}/connections/sync", json={"connectionId": connection_id}, timeout=10
    )
    return answer.status_code, answer.json()


def test_connections_by_name_and_the_jobs_the_code_under_test_created(airbyte_emulator: Any) -> None:
    cid = airbyte_emulator.connection_id("Stripe → Snowflake")
    assert airbyte_emulator.connection(cid)["name"] == "Stripe → Snowflake"
    assert airbyte_emulator.connection_id(cid) == cid
    with pytest.raises(KeyError, match="Postgres → BigQuery"):
        airbyte_emulator.connection_id("Stripe → Snowflak")
    airbyte_emulator.start_job(cid)  # Airbyte's scheduler
    airbyte_emulator.advance(60)
    status, body = _sync(airbyte_emulator, cid)
    assert status == 200
    assert [j["origin"] for j in airbyte_emulator.jobs("Stripe → Snowflake")] == ["airbyte", "api"]
    (ours,) = airbyte_emulator.jobs("Stripe → Snowflake", origin="api")
    assert (ours["id"], ours["job_type"], ours["status"]) == (body["job"]["id"], "sync", "pending")
    assert airbyte_emulator.jobs(cid) == airbyte_emulator.jobs("Stripe → Snowflake")


@pytest.mark.parametrize(
    ("plan", "checkpoints", "attempts"),
    [
        ({"outcome": "failed"}, [(5, "running"), (20, "failed")], 1),
        ({"queued_s": 30}, [(5, "queued"), (40, "running"), (60, "succeeded")], 1),
        (
            {"incomplete_attempts": 1},
            [(5, "running"), (11.5, "incomplete"), (15, "running"), (30, "succeeded")],
            2,
        ),
    ],
)
def test_the_next_job_follows_its_plan_and_the_one_after_the_connections_script(
    airbyte_emulator: Any, plan: dict[str, Any], checkpoints: list[tuple[float, str]], attempts: int
) -> None:
    cid = airbyte_emulator.add_connection(name="plain", pending_s=1, running_s=10)
    airbyte_emulator.next_job("plain", **plan)
    airbyte_emulator.start_job(cid)  # a job from Airbyte's side is never the one planned
    airbyte_emulator.advance(120)
    assert _sync(airbyte_emulator, cid)[0] == 200
    elapsed = 0.0
    for at, status in checkpoints:
        airbyte_emulator.advance(at - elapsed)
        elapsed = at
        assert airbyte_emulator.jobs(cid, origin="api")[-1]["status"] == status, (at, status)
    assert len(airbyte_emulator.jobs(cid, origin="api")[-1]["attempts"]) == attempts
    assert _sync(airbyte_emulator, cid)[0] == 200  # the next one follows the connection again
    airbyte_emulator.advance(600)
    last = airbyte_emulator.jobs(cid)[-1]
    assert (last["status"], len(last["attempts"])) == ("succeeded", 1)
    assert [j["status"] for j in airbyte_emulator.jobs(cid, origin="airbyte")] == ["succeeded"]


def test_the_next_create_meets_a_running_sync(airbyte_emulator: Any) -> None:
    cid = airbyte_emulator.connection_id("Postgres → BigQuery")
    airbyte_emulator.next_job(cid, already_running_s=5)
    status, body = _sync(airbyte_emulator, cid)
    assert status == 409, body
    (theirs,) = airbyte_emulator.jobs(cid)
    assert (theirs["origin"], theirs["status"]) == ("airbyte", "running")
    airbyte_emulator.advance(6)
    assert _sync(airbyte_emulator, cid)[0] == 200  # it ended: the next create is accepted


# -- the emulator's command line ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "api"), [([], "config"), (["--auth", "token", "--api", "cloud"], "cloud")]
)
def test_the_cli_prints_how_to_point_airflow_at_it(
    airflow_dags_test_runner: Any, tmp_path: Path, options: list[str], api: str
) -> None:
    command = [sys.executable, "-m", "airflow_provider_airbyte_sync.testing", "--port", "0", *options]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().split()[4]
            lines = [server.stdout.readline().rstrip("\n") for _ in range(3)]
        finally:
            server.terminate()
    assert lines[0].startswith("Point Airflow at it")
    name, _, value = lines[1].partition("=")
    (fields_json,) = shlex.split(value)
    fields = json.loads(fields_json)
    assert name == "AIRFLOW_CONN_AIRBYTE_DEFAULT"
    assert (
        fields["conn_type"] == "airbyte_sync" and fields["host"] == url + {"config": "", "cloud": "/v1"}[api]
    )
    add = shlex.split(lines[2])
    assert add[:4] == ["airflow", "connections", "add", "airbyte_default"]
    assert json.loads(add[add.index("--conn-json") + 1]) == fields

    # The command works as printed, in a throw-away Airflow.
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(airflow_dags_test_runner.template(), home / "airflow.db")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    result = subprocess.run(
        [sys.executable, "-m", *add], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    db = sqlite3.connect(home / "airflow.db")
    try:
        ((conn_type, host, extra),) = db.execute(
            "SELECT conn_type, host, extra FROM connection WHERE conn_id = 'airbyte_default'"
        ).fetchall()
    finally:
        db.close()
    assert (conn_type, host) == ("airbyte_sync", fields["host"]) and extra  # the extra is stored encrypted


def test_a_dag_object_runs_from_its_file_and_a_missing_dag_is_named(airflow_dags_test: Any) -> None:
    from types import SimpleNamespace

    from airflow_provider_airbyte_sync.testing.dag_runner import DagTestError

    built_in_a_test = SimpleNamespace(dag_id="built_in_a_test", fileloc=str(DAGS / "orders_sync.py"))
    with pytest.raises(DagTestError, match=r"defines no DAG 'built_in_a_test' \(it defines: orders_sync\)"):
        airflow_dags_test(built_in_a_test)
