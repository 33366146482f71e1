"""Shared fixtures: Airflow connections from the environment, an emulator per test."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    """Tests must not see each other's tokens (each transport's cache is process-wide on purpose).

    Only transports already imported are touched: importing them here would import Airflow early.
    """
    _clear_tokens()
    yield
    _clear_tokens()


def _clear_tokens() -> None:
    for name in ("airbyte", "airbyte_async"):
        module = sys.modules.get(f"airflow_provider_airbyte_sync.hooks.{name}")
        if module is not None:
            module.TOKENS._tokens.clear()


@pytest.fixture(autouse=True)
def _no_defer_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process deferrals have no scheduler to race with: triggers fire as soon as the job ends.

    The real-Airflow tests run in their own processes and keep the real hold.
    """
    from airflow_provider_airbyte_sync import tasks

    monkeypatch.setattr(tasks, "DEFER_SETTLE_S", 0.0)


# The pauses between the listing reads that look for the job of an unanswered create, in-process.
QUICK_RECONCILE_PAUSES_S = (0.0, 0.05, 0.1, 0.2)


@pytest.fixture(autouse=True)
def _quick_reconcile(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests look for the job of an unanswered create over 0.35 s, not 7.5 s.

    The rule is the same; only the pauses between the listing reads are shorter.
    """
    from airflow_provider_airbyte_sync.core import protocol

    monkeypatch.setattr(protocol, "RECONCILE_PAUSES_S", QUICK_RECONCILE_PAUSES_S)


@pytest.fixture
def airflow_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define an Airflow connection through ``AIRFLOW_CONN_<ID>`` (JSON) and return its id."""

    def define(conn_id: str = "airbyte_test", **fields: Any) -> str:
        fields.setdefault("conn_type", "airbyte_sync")
        if isinstance(fields.get("extra"), dict):
            fields["extra"] = json.dumps(fields["extra"])
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
        return conn_id

    return define


# Jobs created over HTTP (by the code under test) across the suite, and those a test left running.
AUDIT = {"tests": 0, "created": 0, "left_running": 0, "marked": 0}


def audit_jobs(emulator: Any, request: pytest.FixtureRequest) -> None:
    """Count the jobs the code under test created; fail a test that left one running unexpectedly.

    Nothing this provider starts may be left running by a task that ended, failed or was killed,
    unless the test says why (``@pytest.mark.leaves_running("why")``: an asynchronous start, a
    deferral whose trigger the test never runs, ``cancel_on_kill=False``).
    """
    from airflow_provider_airbyte_sync.testing import TERMINAL_STATUSES  # the witness's own rule

    created = [job for job in emulator.jobs() if job["origin"] == "api"]
    left = [(job["id"], job["status"]) for job in created if job["status"] not in TERMINAL_STATUSES]
    AUDIT["tests"] += 1
    AUDIT["created"] += len(created)
    AUDIT["left_running"] += len(left)
    if left and request.node.get_closest_marker("leaves_running") is not None:
        AUDIT["marked"] += len(left)
    elif left:
        pytest.fail(f"Airbyte jobs left running by the code under test: {left}", pytrace=False)


@pytest.fixture(scope="session")
def job_audit() -> Callable[[Any, pytest.FixtureRequest], None]:
    """``audit_jobs`` for fixtures of their own (importing this module again would count apart)."""
    return audit_jobs


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if AUDIT["tests"]:
        terminalreporter.write_line(
            f"Airbyte emulator audit: {AUDIT['created']} jobs created over HTTP by the code under test in "
            f"{AUDIT['tests']} tests; {AUDIT['left_running']} left running, {AUDIT['marked']} of them in "
            "tests marked leaves_running."
        )


@pytest.fixture
def emulator_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Start Airbyte emulators with any options; all are audited and stopped after the test."""
    from airflow_provider_airbyte_sync.testing import AirbyteEmulator

    started: list[AirbyteEmulator] = []

    def start(**options: Any) -> AirbyteEmulator:
        emulator = AirbyteEmulator(**options).start()
        started.append(emulator)
        return emulator

    yield start
    try:
        for emulator in started:
            audit_jobs(emulator, request)
    finally:
        for emulator in started:
            emulator.stop()


@pytest.fixture
def airbyte_at(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """Start an emulator reached through ``airbyte_default`` over the config or the public API.

    When the test has already failed, jobs of the code under test still running are ended from
    Airbyte's side, so the job audit does not report the same defect a second time.
    """
    from airflow_provider_airbyte_sync.testing import TERMINAL_STATUSES

    started: list[Any] = []

    def start(api: str = "config", **options: Any) -> Any:
        emulator = emulator_factory(**options)
        airflow_conn("airbyte_default", **conn_fields(emulator, api))
        started.append(emulator)
        return emulator

    failed_before = request.session.testsfailed
    yield start
    if request.session.testsfailed > failed_before:
        for emulator in started:
            for job in emulator.jobs():
                if job["origin"] == "api" and job["status"] not in TERMINAL_STATUSES:
                    emulator.cancel_job(job["id"])


def conn_fields(emulator: Any, deployment: str = "config", auth: str = "none") -> dict[str, Any]:
    """Airflow connection fields for one way of reaching the emulator (as a user would set them)."""
    from airflow_provider_airbyte_sync.testing import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_PASSWORD,
        DEFAULT_USERNAME,
    )

    fields: dict[str, Any] = {"conn_type": "airbyte_sync"}
    if deployment == "config":
        fields.update(host="127.0.0.1", port=emulator.port)
    elif deployment == "public":
        fields.update(host=emulator.public_api_url)
    elif deployment == "cloud":
        fields.update(host=emulator.cloud_api_url)
    elif deployment == "official":
        fields.update(conn_type="airbyte", host=emulator.public_api_url)
    if auth == "basic":
        fields.update(login=DEFAULT_USERNAME, password=DEFAULT_PASSWORD)
    elif auth == "client_credentials":
        fields.update(login=DEFAULT_CLIENT_ID, password=DEFAULT_CLIENT_SECRET)
        if deployment == "config":
            fields["extra"] = {"auth_type": "client_credentials"}
    elif auth == "bearer":
        fields.update(extra={"token": emulator.issue_token()})
    return fields
