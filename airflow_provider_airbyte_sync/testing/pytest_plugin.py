"""pytest plugin: Airbyte emulator and DAG-run fixtures (registered through the ``pytest11`` entry point).

Top-level imports stay light: pytest loads this module in every session of every project that has
the provider installed, so the emulator and the DAG runner are imported only when a test asks.

``airbyte_emulator`` starts an emulator and points an Airflow connection (``airbyte_default``) at
it through ``AIRFLOW_CONN_AIRBYTE_DEFAULT`` for the test's duration: in-process code, ``dag.test()``
and ``airflow dags test`` subprocesses all reach it. Options for one test go through a marker::

    @pytest.mark.airbyte_emulator(api="public", auth="client_credentials", conn_id="my_airbyte")
    def test_something(airbyte_emulator): ...

``api``: ``config`` (default), ``public`` (OSS layout) or ``cloud`` (Cloud layout); ``auth``:
``none``, ``basic``, ``bearer``, ``client_credentials`` (or the emulator's own ``token``);
``conn_id``: the connection to set (``None``: none); anything else goes to ``AirbyteEmulator``.

``airflow_dags_test`` runs a DAG file under ``airflow dags test`` in a throw-away Airflow (SQLite
migrated once per session) and answers its run: state, task states, XComs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_airbyte_sync.testing.dag_runner import DagTestRun, DagTestRunner
    from airflow_provider_airbyte_sync.testing.emulator import AirbyteEmulator

#: Marker options the plugin reads itself; the others are ``AirbyteEmulator`` keyword arguments.
_CONNECTION_OPTIONS = ("api", "conn_id", "conn_extra")
_CONNECTION_KEY = pytest.StashKey["AirbyteConnection | None"]()


@dataclass(frozen=True)
class AirbyteConnection:
    """The Airflow connection the ``airbyte_emulator`` fixture set for the test."""

    conn_id: str
    fields: dict[str, Any]
    env_var: str  # AIRFLOW_CONN_<ID>
    env_value: str  # its JSON value


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "airbyte_emulator(api='config', auth='none', conn_id='airbyte_default', **kwargs): options of the "
        "airbyte_emulator fixture (the other keyword arguments go to AirbyteEmulator)",
    )


@pytest.fixture
def airbyte_emulator(request: pytest.FixtureRequest) -> Iterator[AirbyteEmulator]:
    """A started Airbyte emulator on a free port of 127.0.0.1, reached through an Airflow connection
    (``airbyte_default`` unless the marker says otherwise); stopped and the variable restored after."""
    from airflow_provider_airbyte_sync.testing import airflow_connection as ac
    from airflow_provider_airbyte_sync.testing.emulator import AirbyteEmulator

    marker = request.node.get_closest_marker("airbyte_emulator")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    api = kwargs.pop("api", "config")
    conn_id = kwargs.pop("conn_id", "airbyte_default")
    conn_extra = kwargs.pop("conn_extra", None) or {}
    auth = kwargs.get("auth", "none")
    conn_auth = None
    if auth in ac.CONNECTION_AUTH_MODES:  # a connection's mode: the emulator asks for what it needs
        conn_auth = auth
        kwargs["auth"] = ac.EMULATOR_AUTH[auth]
    emulator = AirbyteEmulator(**kwargs)
    emulator.start()
    patch = pytest.MonkeyPatch()
    try:
        connection = None
        if conn_id is not None:
            fields = ac.connection_fields(emulator, api, conn_auth, **conn_extra)
            connection = AirbyteConnection(conn_id, fields, ac.env_var(conn_id), ac.conn_json(fields))
            patch.setenv(connection.env_var, connection.env_value)
        request.node.stash[_CONNECTION_KEY] = connection
        yield emulator
    finally:
        patch.undo()
        emulator.stop()


@pytest.fixture
def airbyte_connection(
    request: pytest.FixtureRequest, airbyte_emulator: AirbyteEmulator
) -> AirbyteConnection:
    """The Airflow connection ``airbyte_emulator`` set: ``conn_id``, ``fields``, ``env_var``."""
    connection = request.node.stash.get(_CONNECTION_KEY, None)
    if connection is None:
        pytest.fail("the airbyte_emulator marker set conn_id=None: no Airflow connection", pytrace=False)
    return connection


@pytest.fixture(scope="session")
def airflow_dags_test_runner(tmp_path_factory: pytest.TempPathFactory) -> DagTestRunner:
    """One throw-away Airflow for the session: its database is migrated on the first run, then
    copied for each run."""
    from airflow_provider_airbyte_sync.testing.dag_runner import DagTestRunner

    return DagTestRunner(tmp_path_factory.mktemp("airflow-dags-test"))


@pytest.fixture
def airflow_dags_test(airflow_dags_test_runner: DagTestRunner) -> Callable[..., DagTestRun]:
    """``airflow_dags_test(dag_file_or_dag, dag_id=None, conf=None, env=None)``: run the DAG under
    ``airflow dags test`` in a subprocess and answer its run (``state``, ``tasks``, ``xcom(...)``).

    The subprocess inherits the environment as it is at the call, so the connection that
    ``airbyte_emulator`` set reaches it (see ``DagTestRunner.run`` for the options).
    """

    return airflow_dags_test_runner.run
