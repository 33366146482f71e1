"""The Airbyte emulator, exercised over real HTTP.

Jobs move on a fake clock (``emulator.advance``), so no test sleeps through a sync.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_airbyte_sync.testing import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_CONNECTION_ID,
    DEFAULT_CONNECTIONS,
    DEFAULT_WORKSPACE_ID,
    FAILING_CONNECTION_ID,
    INACTIVE_CONNECTION_ID,
    AirbyteEmulator,
    SyncAlreadyRunning,
    decode_jwt_payload,
    java_duration,
    java_offset_datetime,
)
from tests.tls import make_self_signed_ca

PROBLEM = "application/problem+json"
# Subprocesses must import this checkout's package even from another working directory.
PACKAGE_ROOT = str(Path(__import__("airflow_provider_airbyte_sync").__file__).resolve().parents[1])
ERRORS = "https://reference.airbyte.com/reference/errors"


@pytest.fixture
def emu() -> Iterator[AirbyteEmulator]:
    with AirbyteEmulator() as emulator:
        yield emulator


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def config(
    emu: AirbyteEmulator, http: requests.Session, name: str, body: Any, **kw: Any
) -> requests.Response:
    return http.post(f"{emu.config_api_url}/{name}", json=body, timeout=5, **kw)


def sync(emu: AirbyteEmulator, http: requests.Session, cid: str) -> int:
    r = config(emu, http, "connections/sync", {"connectionId": cid})
    assert r.status_code == 200, r.text
    return r.json()["job"]["id"]


def job(emu: AirbyteEmulator, http: requests.Session, job_id: int, how: str = "get_without_logs") -> dict:
    r = config(emu, http, f"jobs/{how}", {"id": job_id})
    assert r.status_code == 200, r.text
    return r.json()


# -- formats -------------------------------------------------------------------------------------


def test_java_offset_datetime_drops_zero_seconds() -> None:
    assert java_offset_datetime(1679707850) == "2023-03-25T01:30:50Z"
    assert java_offset_datetime(1679707800) == "2023-03-25T01:30Z"
    assert java_offset_datetime(1679707800.9) == "2023-03-25T01:30Z"


def test_java_duration() -> None:
    assert [java_duration(s) for s in (0, 5, 60, 125, 3600, 176583)] == [
        "PT0S",
        "PT5S",
        "PT1M",
        "PT2M5S",
        "PT1H",
        "PT49H3M3S",
    ]


# -- config API: lifecycle -------------------------------------------------------------------------


def test_health_and_unknown_paths(emu: AirbyteEmulator, http: requests.Session) -> None:
    r = http.get(f"{emu.config_api_url}/health")
    assert (r.status_code, r.json()) == (200, {"available": True})
    assert r.headers["Content-Type"] == "application/json"
    assert http.get(f"{emu.public_api_url}/health").status_code == 200
    assert http.get(f"{emu.cloud_api_url}/health").status_code == 200
    r = http.get(f"{emu.config_api_url}/jobs/get")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert config(emu, http, "nope/nothing", {}).status_code == 404
    r = http.get(f"{emu.public_api_url}/nothing")
    assert r.status_code == 404 and r.headers["Content-Type"] == PROBLEM
    assert r.json()["title"] == "resource-not-found"


def test_sync_lifecycle_pending_running_succeeded(emu: AirbyteEmulator, http: requests.Session) -> None:
    cid = emu.add_connection(name="pg", pending_s=1, running_s=10, rows_per_s=100, bytes_per_row=10)
    r = config(emu, http, "connections/sync", {"connectionId": cid})
    assert r.status_code == 200
    info = r.json()
    created = info["job"]["createdAt"]
    assert info["job"]["status"] == "pending" and info["job"]["configType"] == "sync"
    assert info["job"]["configId"] == cid and info["attempts"] == []
    assert abs(created - time.time()) < 5  # epoch seconds, not milliseconds
    job_id = info["job"]["id"]

    emu.advance(3)
    first = job(emu, http, job_id)
    assert first["job"]["status"] == "running"
    assert first["job"]["startedAt"] >= created
    assert first["attempts"][0]["attempt"]["status"] == "running"
    assert "logs" not in first["attempts"][0]
    rows1 = first["job"]["aggregatedStats"]["recordsEmitted"]
    assert 150 <= rows1 <= 300

    emu.advance(3)
    second = job(emu, http, job_id)
    stats = second["job"]["aggregatedStats"]
    assert stats["recordsEmitted"] > rows1
    assert stats["bytesEmitted"] == stats["recordsEmitted"] * 10
    assert stats["recordsCommitted"] == stats["recordsEmitted"]

    emu.advance(10)
    done = job(emu, http, job_id)
    assert done["job"]["status"] == "succeeded"
    attempt = done["attempts"][0]["attempt"]
    assert attempt["status"] == "succeeded" and attempt["endedAt"] >= attempt["createdAt"]
    assert attempt["recordsSynced"] == 1000 and attempt["bytesSynced"] == 10000
    assert done["job"]["aggregatedStats"]["recordsCommitted"] == 1000

    full = job(emu, http, job_id, "get")
    assert "aggregatedStats" not in full["job"]
    assert full["attempts"][0]["logs"]["logLines"]
    light = job(emu, http, job_id, "get_light")
    assert set(light) == {"job"} and "aggregatedStats" not in light["job"]
    assert light["job"]["status"] == "succeeded"
    assert emu.job(job_id)["status"] == "succeeded"


def test_queued_between_pending_and_running(emu: AirbyteEmulator, http: requests.Session) -> None:
    cid = emu.add_connection(pending_s=1, queued_s=5, running_s=2)
    job_id = sync(emu, http, cid)
    assert job(emu, http, job_id)["job"]["status"] == "pending"
    emu.advance(2)
    assert job(emu, http, job_id)["job"]["status"] == "queued"
    assert http.get(f"{emu.public_api_url}/jobs/{job_id}").json()["status"] == "queued"
    emu.advance(5)
    assert job(emu, http, job_id)["job"]["status"] == "running"
    emu.advance(2)
    assert job(emu, http, job_id)["job"]["status"] == "succeeded"


def test_incomplete_attempts_then_success(emu: AirbyteEmulator, http: requests.Session) -> None:
    failure = {
        "failureOrigin": "destination",
        "failureType": "transient_error",
        "externalMessage": "Warehouse connection reset",
    }
    cid = emu.add_connection(pending_s=0, running_s=4, incomplete_attempts=2, incomplete_s=3, failure=failure)
    job_id = sync(emu, http, cid)
    seen = []
    for _ in range(8):
        info = job(emu, http, job_id)
        seen.append((info["job"]["status"], len(info["attempts"])))
        emu.advance(2)
    # running 0-4, incomplete 4-7, running 7-11, incomplete 11-14, running 14-18, succeeded
    assert seen == [
        ("running", 1),
        ("running", 1),
        ("incomplete", 1),
        ("incomplete", 1),
        ("running", 2),
        ("running", 2),
        ("incomplete", 2),
        ("running", 3),
    ]
    emu.advance(10)
    info = job(emu, http, job_id)
    assert info["job"]["status"] == "succeeded"
    attempts = [a["attempt"] for a in info["attempts"]]
    assert [a["status"] for a in attempts] == ["failed", "failed", "succeeded"]
    assert [a["id"] for a in attempts] == [0, 1, 2]
    reason = attempts[0]["failureSummary"]["failures"][0]
    assert {k: reason[k] for k in failure} == failure
    assert isinstance(reason["timestamp"], int) and reason["timestamp"] > 10**12  # milliseconds
    assert "failureSummary" not in attempts[2]


def test_failed_job_has_failure_summary(emu: AirbyteEmulator, http: requests.Session) -> None:
    job_id = sync(emu, http, FAILING_CONNECTION_ID)
    emu.advance(30)
    info = job(emu, http, job_id)
    assert info["job"]["status"] == "failed"
    summary = info["attempts"][-1]["attempt"]["failureSummary"]
    reason = summary["failures"][0]
    assert reason["failureOrigin"] == "source" and reason["failureType"] == "config_error"
    assert "401" in reason["externalMessage"]
    assert summary["partialSuccess"] is True
    public = http.get(f"{emu.public_api_url}/jobs/{job_id}").json()
    assert public["status"] == "failed" and "lastUpdatedAt" in public


def test_outcome_cancelled_from_airbyte_side(emu: AirbyteEmulator, http: requests.Session) -> None:
    cid = emu.add_connection(pending_s=0, running_s=2, outcome="cancelled")
    job_id = sync(emu, http, cid)
    emu.advance(3)
    info = job(emu, http, job_id)
    assert info["job"]["status"] == "cancelled"
    assert info["attempts"][0]["attempt"]["failureSummary"]["failures"][0]["failureType"] == (
        "manual_cancellation"
    )


def test_second_sync_is_409_on_config_api(emu: AirbyteEmulator, http: requests.Session) -> None:
    job_id = sync(emu, http, DEFAULT_CONNECTION_ID)
    r = config(emu, http, "connections/sync", {"connectionId": DEFAULT_CONNECTION_ID})
    assert r.status_code == 409
    body = r.json()
    assert body["message"] == f"A sync is already running for: {DEFAULT_CONNECTION_ID}"
    assert body["exceptionClassName"].endswith("ValueConflictKnownException")
    emu.advance(60)
    assert sync(emu, http, DEFAULT_CONNECTION_ID) == job_id + 1


def test_second_sync_is_409_try_again_later_on_public_api(
    emu: AirbyteEmulator, http: requests.Session
) -> None:
    body = {"connectionId": DEFAULT_CONNECTION_ID, "jobType": "sync"}
    first = http.post(f"{emu.public_api_url}/jobs", json=body)
    assert first.status_code == 200
    created = first.json()
    assert created["status"] == "pending" and created["jobType"] == "sync"
    assert "lastUpdatedAt" not in created
    r = http.post(f"{emu.cloud_api_url}/jobs", json=body)
    assert r.status_code == 409
    assert r.headers["Content-Type"] == PROBLEM
    assert r.json() == {
        "type": f"{ERRORS}#try-again-later",
        "title": "try-again-later",
        "status": 409,
        "detail": "Please try again later.",
        "data": {"message": f"A sync is already running for: {DEFAULT_CONNECTION_ID}"},
    }


def test_inactive_connection(emu: AirbyteEmulator, http: requests.Session) -> None:
    r = config(emu, http, "connections/sync", {"connectionId": INACTIVE_CONNECTION_ID})
    assert r.status_code == 500 and r.json()["message"] == "Can only sync an active connection"
    body = {"connectionId": INACTIVE_CONNECTION_ID, "jobType": "sync"}
    r = http.post(f"{emu.public_api_url}/jobs", json=body)
    assert r.status_code == 409
    body = r.json()
    assert body["type"] == f"{ERRORS}#409-state-conflict"
    assert (body["title"], body["status"]) == ("state-conflict", 409)
    assert body["data"]["message"] == "Can only sync an active connection"
    for status in ("deprecated", "locked"):
        cid = emu.add_connection(status=status)
        assert config(emu, http, "connections/sync", {"connectionId": cid}).status_code == 500


def test_cancel(emu: AirbyteEmulator, http: requests.Session) -> None:
    cid = emu.add_connection(pending_s=0, running_s=100, rows_per_s=10)
    job_id = sync(emu, http, cid)
    emu.advance(5)
    r = config(emu, http, "jobs/cancel", {"id": job_id})
    assert r.status_code == 200
    info = r.json()
    assert info["job"]["status"] == "cancelled"
    attempt = info["attempts"][0]["attempt"]
    assert attempt["status"] == "failed" and attempt["recordsSynced"] == 50
    # Cancelling an ended job on the config API answers it unchanged...
    again = config(emu, http, "jobs/cancel", {"id": job_id})
    assert again.status_code == 200 and again.json()["job"] == info["job"]
    # ...while the public API says it is not running.
    r = http.delete(f"{emu.public_api_url}/jobs/{job_id}")
    assert r.status_code == 409 and r.headers["Content-Type"] == PROBLEM
    assert r.json()["title"] == "state-conflict"
    assert r.json()["type"] == f"{ERRORS}#409-state-conflict"

    r = http.post(f"{emu.public_api_url}/jobs", json={"connectionId": cid, "jobType": "sync"})
    job2 = r.json()["jobId"]
    r = http.delete(f"{emu.public_api_url}/jobs/{job2}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and "lastUpdatedAt" in r.json()


def test_unknown_job_is_500(emu: AirbyteEmulator, http: requests.Session) -> None:
    for name in ("jobs/get", "jobs/get_light", "jobs/get_without_logs", "jobs/cancel"):
        r = config(emu, http, name, {"id": 424242})
        assert r.status_code == 500 and r.json()["message"] == "Could not find job with id: 424242", name
    job_id = sync(emu, http, DEFAULT_CONNECTION_ID)
    emu.forget_job(job_id)
    r = config(emu, http, "jobs/get", {"id": job_id})
    assert r.status_code == 500 and r.json()["message"] == f"Could not find job with id: {job_id}"
    r = http.get(f"{emu.public_api_url}/jobs/{job_id}")
    assert r.status_code == 404 and r.json()["title"] == "resource-not-found"
    # Ids never come back: the next job gets a new one.
    assert sync(emu, http, DEFAULT_CONNECTION_ID) == job_id + 1


def test_bad_requests(emu: AirbyteEmulator, http: requests.Session) -> None:
    unknown = str(uuid.uuid4())
    r = config(emu, http, "connections/get", {"connectionId": unknown})
    assert r.status_code == 404
    assert r.json()["message"] == f"Could not find configuration for STANDARD_SYNC: {unknown}."
    assert config(emu, http, "connections/sync", {}).status_code == 400
    assert config(emu, http, "jobs/get", {"id": "x"}).status_code == 400
    r = http.post(
        f"{emu.config_api_url}/jobs/get", data="{nope", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    r = http.post(f"{emu.public_api_url}/jobs", json={"connectionId": unknown, "jobType": "sync"})
    assert r.status_code == 404 and r.json()["data"] == {"resourceType": "connection", "resourceId": unknown}
    r = http.post(f"{emu.public_api_url}/jobs", json={"connectionId": unknown, "jobType": "nap"})
    assert r.status_code == 400 and r.json()["title"] == "bad-request"


def test_connections_and_workspace(emu: AirbyteEmulator, http: requests.Session) -> None:
    r = config(emu, http, "connections/get", {"connectionId": DEFAULT_CONNECTION_ID})
    conn = r.json()
    for key in (
        "connectionId",
        "name",
        "sourceId",
        "destinationId",
        "syncCatalog",
        "status",
        "breakingChange",
    ):
        assert key in conn
    assert conn["name"] == "Postgres → BigQuery" and conn["status"] == "active"
    r = config(emu, http, "connections/list", {"workspaceId": DEFAULT_WORKSPACE_ID})
    ids = [c["connectionId"] for c in r.json()["connections"]]
    assert ids == [c["connection_id"] for c in DEFAULT_CONNECTIONS]
    ws = config(emu, http, "workspaces/get_by_connection_id", {"connectionId": DEFAULT_CONNECTION_ID}).json()
    for key in ("workspaceId", "organizationId", "customerId", "name", "slug", "initialSetupComplete"):
        assert key in ws
    assert ws["workspaceId"] == DEFAULT_WORKSPACE_ID

    public = http.get(f"{emu.public_api_url}/connections/{DEFAULT_CONNECTION_ID}").json()
    for key in (
        "connectionId",
        "name",
        "sourceId",
        "destinationId",
        "workspaceId",
        "status",
        "schedule",
        "configurations",
        "createdAt",
        "tags",
    ):
        assert key in public
    assert public["workspaceId"] == DEFAULT_WORKSPACE_ID
    page = http.get(
        f"{emu.public_api_url}/connections",
        params={"workspaceIds": DEFAULT_WORKSPACE_ID, "limit": 2, "offset": 2},
    ).json()
    assert [c["connectionId"] for c in page["data"]] == ids[2:4]
    assert page["next"].endswith(
        "/api/public/v1/connections?workspaceIds=" + DEFAULT_WORKSPACE_ID + "&limit=2&offset=4"
    )
    assert page["previous"].endswith("limit=2&offset=0")
    r = http.get(f"{emu.public_api_url}/connections/{uuid.uuid4()}")
    assert r.status_code == 404 and r.json()["title"] == "resource-not-found"


def test_jobs_list_config_api(emu: AirbyteEmulator, http: requests.Session) -> None:
    cid = emu.add_connection(pending_s=0, running_s=1)
    ids = []
    for _ in range(5):
        ids.append(sync(emu, http, cid))
        emu.advance(2)
    running = sync(emu, http, cid)
    body = {"configTypes": ["sync"], "configId": cid, "pagination": {"pageSize": 2, "rowOffset": 1}}
    r = config(emu, http, "jobs/list", body).json()
    assert r["totalJobCount"] == 6
    assert [j["job"]["id"] for j in r["jobs"]] == [ids[4], ids[3]]  # newest first
    assert "aggregatedStats" in r["jobs"][0]["job"]
    assert r["jobs"][0]["attempts"][0]["status"] == "succeeded"  # AttemptRead, not AttemptInfoRead
    body = {**body, "statuses": ["running"], "pagination": {"pageSize": 10}}
    r = config(emu, http, "jobs/list", body).json()
    assert [j["job"]["id"] for j in r["jobs"]] == [running] and r["totalJobCount"] == 1
    r = config(emu, http, "jobs/list", {"configTypes": ["reset_connection"], "configId": cid}).json()
    assert r == {"jobs": [], "totalJobCount": 0}
    assert config(emu, http, "jobs/list", {"configId": cid}).status_code == 400


def test_jobs_list_public_api(emu: AirbyteEmulator, http: requests.Session) -> None:
    cid = emu.add_connection(pending_s=0, running_s=1)
    ids = []
    for _ in range(5):
        ids.append(
            http.post(f"{emu.public_api_url}/jobs", json={"connectionId": cid, "jobType": "sync"}).json()[
                "jobId"
            ]
        )
        emu.advance(2)
    url = f"{emu.public_api_url}/jobs"
    r = http.get(url, params={"connectionId": cid}).json()
    assert [j["jobId"] for j in r["data"]] == ids  # ascending unless asked otherwise
    assert "next" not in r and "previous" not in r
    r = http.get(
        url,
        params={"connectionId": cid, "orderBy": "createdAt|DESC", "limit": 2, "offset": 2},
        headers={"Host": "airbyte.example.com:8000"},
    ).json()
    assert [j["jobId"] for j in r["data"]] == [ids[2], ids[1]]
    assert r["next"] == (
        f"http://airbyte.example.com:8000/api/public/v1/jobs?connectionId={cid}"
        "&orderBy=createdAt%7CDESC&limit=2&offset=4"
    )
    assert r["previous"].endswith("&limit=2&offset=0")
    cloud = http.get(f"{emu.cloud_api_url}/jobs", params={"connectionId": cid, "limit": 1}).json()
    assert cloud["next"].startswith(f"{emu.url}/v1/jobs?")
    assert http.get(url, params={"limit": 101}).status_code == 400
    assert http.get(url, params={"limit": 100}).status_code == 200
    assert http.get(url, params={"status": "running,pending"}).status_code == 400
    succeeded = http.get(url, params={"connectionId": cid, "status": "succeeded"}).json()
    assert succeeded["data"][0]["jobId"] == ids[0]
    assert http.get(url, params={"connectionId": cid, "jobType": "reset"}).json()["data"] == []
    assert http.get(url, params={"connectionId": str(uuid.uuid4())}).status_code == 404


def test_public_job_times_and_duration(emu: AirbyteEmulator, http: requests.Session) -> None:
    cid = emu.add_connection(pending_s=5, running_s=120)
    # Put the clock 0.1 s after a whole minute: the creation time has zero seconds.
    emu.advance(60 - emu.now() % 60 + 0.1)
    created = http.post(f"{emu.public_api_url}/jobs", json={"connectionId": cid, "jobType": "sync"}).json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", created["startTime"]), created["startTime"]
    assert created["duration"] == "PT0S"
    emu.advance(130)
    done = http.get(f"{emu.public_api_url}/jobs/{created['jobId']}").json()
    assert done["status"] == "succeeded"
    assert done["duration"] == "PT2M5S"
    assert done["lastUpdatedAt"].endswith(":05Z")
    assert done["rowsSynced"] == 120_000 and done["bytesSynced"] == 120_000 * 200


def test_reset_and_clear_cancel_a_running_sync(emu: AirbyteEmulator, http: requests.Session) -> None:
    cid = emu.add_connection(pending_s=0, running_s=100)
    sync_id = sync(emu, http, cid)
    r = config(emu, http, "connections/clear", {"connectionId": cid})
    assert r.status_code == 200 and r.json()["job"]["configType"] == "clear"
    assert emu.job(sync_id)["status"] == "cancelled"
    reset = http.post(f"{emu.public_api_url}/jobs", json={"connectionId": cid, "jobType": "reset"}).json()
    assert reset["jobType"] == "reset"
    assert config(emu, http, "jobs/get_light", {"id": reset["jobId"]}).json()["job"]["configType"] == (
        "reset_connection"
    )


def test_python_api_jobs_and_scripts(emu: AirbyteEmulator, http: requests.Session) -> None:
    cid = emu.add_connection(pending_s=0, running_s=5)
    job_id = emu.start_job(cid)
    with pytest.raises(SyncAlreadyRunning):
        emu.start_job(cid)
    assert config(emu, http, "connections/sync", {"connectionId": cid}).status_code == 409
    assert emu.cancel_job(job_id) is True
    assert emu.cancel_job(job_id) is False
    snap = emu.job(job_id)
    assert (snap["id"], snap["connection_id"], snap["job_type"], snap["status"]) == (
        job_id,
        cid,
        "sync",
        "cancelled",
    )
    assert snap["origin"] == "airbyte"
    # A script change applies to jobs created afterwards only.
    first = emu.start_job(cid)
    emu.update_connection(cid, outcome="failed", running_s=1)
    emu.advance(2)
    assert emu.job(first)["status"] == "running"
    emu.advance(4)
    assert emu.job(first)["status"] == "succeeded"
    second = emu.start_job(cid)
    emu.advance(2)
    assert emu.job(second)["status"] == "failed"
    assert [j["id"] for j in emu.jobs(cid)] == [job_id, first, second]
    emu.update_connection(cid, status="inactive")
    assert config(emu, http, "connections/sync", {"connectionId": cid}).status_code == 500
    with pytest.raises(TypeError):
        emu.update_connection(cid, runing_s=3)


# -- auth ----------------------------------------------------------------------------------------


def test_basic_auth() -> None:
    with AirbyteEmulator(auth="basic") as emu, requests.Session() as http:
        r = config(emu, http, "connections/get", {"connectionId": DEFAULT_CONNECTION_ID})
        assert r.status_code == 401
        assert r.headers["Content-Type"] == "text/html"
        assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert "<title>401 Authorization Required</title>" in r.text
        assert (
            config(
                emu,
                http,
                "connections/get",
                {"connectionId": DEFAULT_CONNECTION_ID},
                auth=("airbyte", "wrong"),
            ).status_code
            == 401
        )
        ok = config(
            emu,
            http,
            "connections/get",
            {"connectionId": DEFAULT_CONNECTION_ID},
            auth=("airbyte", "password"),
        )
        assert ok.status_code == 200
        assert http.get(f"{emu.public_api_url}/jobs", auth=("airbyte", "password")).status_code == 200
        assert http.get(f"{emu.public_api_url}/jobs").status_code == 401
        assert http.get(f"{emu.config_api_url}/health").status_code == 200
        assert http.get(f"{emu.public_api_url}/health").status_code == 200


def test_token_auth_lifecycle() -> None:
    with AirbyteEmulator(auth="token", token_lifetime_s=180) as emu, requests.Session() as http:
        creds = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
        grant = {**creds, "grant_type": "client_credentials"}
        r = http.post(f"{emu.public_api_url}/applications/token", json=grant)
        assert r.status_code == 200
        body = r.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 180
        token = body["access_token"]
        assert token.count(".") == 2
        claims = decode_jwt_payload(token)
        assert claims["exp"] - claims["iat"] == 180 and claims["sub"] == DEFAULT_CLIENT_ID

        cfg = http.post(f"{emu.config_api_url}/applications/token", json=creds)
        assert set(cfg.json()) == {"access_token"}

        bearer = {"Authorization": f"Bearer {token}"}
        sync_body = {"connectionId": DEFAULT_CONNECTION_ID}
        assert config(emu, http, "connections/get", sync_body).status_code == 401
        r = http.get(f"{emu.public_api_url}/jobs")
        assert r.status_code == 401 and r.json()["title"] == "invalid-api-key"
        assert r.json()["type"] == f"{ERRORS}#invalid-api-key"
        # One token opens both APIs.
        assert config(emu, http, "connections/get", sync_body, headers=bearer).status_code == 200
        assert http.get(f"{emu.public_api_url}/jobs", headers=bearer).status_code == 200
        assert http.get(f"{emu.config_api_url}/health").status_code == 200

        emu.advance(181)
        r = config(emu, http, "connections/get", sync_body, headers=bearer)
        assert r.status_code == 401 and "message" in r.json()
        assert http.get(f"{emu.public_api_url}/jobs", headers=bearer).status_code == 401
        forged = {"Authorization": "Bearer a.b.c"}
        assert http.get(f"{emu.public_api_url}/jobs", headers=forged).status_code == 401

        # Form bodies work unless the deployment refuses them.
        r = http.post(
            f"{emu.public_api_url}/applications/token", data={**creds, "grant_type": "client_credentials"}
        )
        assert r.status_code == 200 and r.json()["expires_in"] == 180
        wrong = {"client_id": DEFAULT_CLIENT_ID, "client_secret": "nope"}
        r = http.post(f"{emu.public_api_url}/applications/token", json=wrong)
        assert r.status_code == 400 and "Invalid client id or token" in r.text
        r = http.post(f"{emu.config_api_url}/applications/token", json=wrong)
        assert r.status_code == 400 and r.json()["message"] == "Invalid client id or token"


def test_refuse_form_token() -> None:
    with AirbyteEmulator(auth="token", refuse_form_token=True) as emu:
        creds = {
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "grant_type": "client_credentials",
        }
        r = requests.post(f"{emu.public_api_url}/applications/token", data=creds, timeout=5)
        assert r.status_code == 415
        r = requests.post(f"{emu.public_api_url}/applications/token", json=creds, timeout=5)
        assert r.status_code == 200 and r.json()["expires_in"] == 900


# -- faults, counters, recording -------------------------------------------------------------------


def test_fault_status_and_count(emu: AirbyteEmulator, http: requests.Session) -> None:
    fault = emu.add_fault(r"/jobs/get$", status=502, body="<html>Bad Gateway</html>", count=2)
    job_id = sync(emu, http, DEFAULT_CONNECTION_ID)
    for _ in range(2):
        r = config(emu, http, "jobs/get", {"id": job_id})
        assert r.status_code == 502 and r.headers["Content-Type"] == "text/html"
    assert config(emu, http, "jobs/get", {"id": job_id}).status_code == 200
    assert fault.hits == 2 and fault.remaining == 0 and emu.faults() == []
    emu.add_fault(
        "jobs/get_light", method="POST", status=503, body={"message": "busy"}, headers={"Retry-After": "1"}
    )
    r = config(emu, http, "jobs/get_light", {"id": job_id})
    assert r.status_code == 503 and r.json() == {"message": "busy"} and r.headers["Retry-After"] == "1"
    emu.add_fault("health", method="POST", status=500)  # wrong method: never matches a GET
    assert http.get(f"{emu.config_api_url}/health").status_code == 200
    emu.clear_faults()
    assert emu.faults() == []


def test_fault_drop_reset_malformed(emu: AirbyteEmulator, http: requests.Session) -> None:
    emu.add_fault("connections/get", drop=True)
    with pytest.raises(requests.ConnectionError):
        config(emu, http, "connections/get", {"connectionId": DEFAULT_CONNECTION_ID})
    emu.add_fault("connections/get", reset=True)
    with pytest.raises(requests.ConnectionError):
        config(emu, http, "connections/get", {"connectionId": DEFAULT_CONNECTION_ID})
    emu.add_fault("connections/get", malformed=True)
    r = config(emu, http, "connections/get", {"connectionId": DEFAULT_CONNECTION_ID})
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    assert config(emu, http, "connections/get", {"connectionId": DEFAULT_CONNECTION_ID}).status_code == 200


def test_fault_after_creates_the_job_then_drops(emu: AirbyteEmulator, http: requests.Session) -> None:
    emu.add_fault("connections/sync", after=True, drop=True)
    with pytest.raises(requests.ConnectionError):
        config(emu, http, "connections/sync", {"connectionId": DEFAULT_CONNECTION_ID})
    jobs = emu.jobs(DEFAULT_CONNECTION_ID)
    assert len(jobs) == 1 and jobs[0]["status"] == "pending"
    # The blind retry meets the job it created.
    assert config(emu, http, "connections/sync", {"connectionId": DEFAULT_CONNECTION_ID}).status_code == 409


def test_fault_delay_does_not_block_others(emu: AirbyteEmulator) -> None:
    emu.add_fault("public/v1/jobs$", method="POST", after=True, delay_s=0.6)
    cid = DEFAULT_CONNECTION_ID
    with pytest.raises(requests.Timeout):
        requests.post(
            f"{emu.public_api_url}/jobs", json={"connectionId": cid, "jobType": "sync"}, timeout=0.2
        )
    assert len(emu.jobs(cid)) == 1  # created although the caller timed out
    results: dict[str, float] = {}

    def slow() -> None:
        start = time.monotonic()
        requests.get(f"{emu.config_api_url}/health", timeout=5)
        results["slow"] = time.monotonic() - start

    emu.add_fault("^/api/v1/health$", delay_s=0.5)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.05)
    start = time.monotonic()
    assert requests.get(f"{emu.public_api_url}/health", timeout=5).status_code == 200
    fast = time.monotonic() - start
    t.join()
    assert fast < 0.3 and results["slow"] >= 0.45


def _listed(emu: AirbyteEmulator, http: requests.Session, cid: str) -> tuple[list[int], list[int]]:
    """Job ids of ``cid`` as the config API's and the public API's listings show them (two reads)."""
    config_ids = [
        j["job"]["id"]
        for j in config(emu, http, "jobs/list", {"configTypes": ["sync"], "configId": cid}).json()["jobs"]
    ]
    public = http.get(f"{emu.public_api_url}/jobs", params={"connectionId": cid}, timeout=5).json()
    return sorted(config_ids), [j["jobId"] for j in public["data"]]


def test_lag_listings_by_reads(emu: AirbyteEmulator, http: requests.Session) -> None:
    cid = emu.add_connection(pending_s=0, running_s=0.5)
    before = sync(emu, http, cid)
    emu.advance(1)
    emu.lag_listings(reads=3)
    assert _listed(emu, http, cid) == ([before], [before])  # older jobs are not hidden; two reads
    late = sync(emu, http, cid)
    assert _listed(emu, http, cid) == ([before], [before])  # reads 1 and 2 after its creation
    body = {"configTypes": ["sync"], "configId": cid}
    r = config(emu, http, "jobs/list", body).json()  # read 3: still hidden, and the count agrees
    assert [j["job"]["id"] for j in r["jobs"]] == [before] and r["totalJobCount"] == 1
    # Reads by id and the one-sync-at-a-time rule see it at once.
    assert job(emu, http, late)["job"]["status"] == "running"
    assert http.get(f"{emu.public_api_url}/jobs/{late}", timeout=5).json()["jobId"] == late
    assert config(emu, http, "connections/sync", {"connectionId": cid}).status_code == 409
    assert _listed(emu, http, cid) == ([before, late], [before, late])  # the fourth read shows it
    # Jobs started from Airbyte's side lag too; clear_faults ends the lag at once.
    emu.advance(1)
    theirs = emu.start_job(cid)
    assert _listed(emu, http, cid) == ([before, late], [before, late])
    emu.clear_faults()
    assert _listed(emu, http, cid) == ([before, late, theirs], [before, late, theirs])
    emu.advance(1)
    after = sync(emu, http, cid)
    assert _listed(emu, http, cid)[0] == [before, late, theirs, after]  # new jobs are not hidden either


def test_lag_listings_by_seconds(emu: AirbyteEmulator, http: requests.Session) -> None:
    cid = emu.add_connection(pending_s=0, running_s=100)
    emu.lag_listings(seconds=5)
    hidden = sync(emu, http, cid)
    for _ in range(3):
        assert _listed(emu, http, cid) == ([], [])
    emu.advance(5)
    assert _listed(emu, http, cid) == ([hidden], [hidden])
    # Both bounds: whichever comes first.
    emu.cancel_job(hidden)
    emu.lag_listings(reads=1, seconds=60)
    second = sync(emu, http, cid)
    public = http.get(f"{emu.public_api_url}/jobs", params={"connectionId": cid}, timeout=5).json()
    assert [j["jobId"] for j in public["data"]] == [hidden]
    assert _listed(emu, http, cid) == ([hidden, second], [hidden, second])
    with pytest.raises(ValueError):
        emu.lag_listings()
    with pytest.raises(ValueError):
        emu.lag_listings(reads=-1)


def test_a_lagging_listing_never_shows_a_newer_job_before_an_older_one(
    emu: AirbyteEmulator, http: requests.Session
) -> None:
    # A replica is behind in time: a job hidden for longer hides every job created after it.
    cid = emu.add_connection(pending_s=0, running_s=0.01)
    emu.lag_listings(reads=4)
    older = emu.start_job(cid)
    emu.advance(1)
    emu.lag_listings(reads=1)
    newer = emu.start_job(cid)
    assert _listed(emu, http, cid) == ([], [])  # reads 1 and 2: both hidden
    assert _listed(emu, http, cid) == ([], [])  # reads 3 and 4: the newer is due, the older is not
    assert _listed(emu, http, cid) == ([older, newer], [older, newer])


def test_on_request_runs_the_action_just_before_the_request(
    emu: AirbyteEmulator, http: requests.Session
) -> None:
    cid = emu.add_connection(pending_s=0, running_s=100)
    theirs: list[int] = []
    hook = emu.on_request(r"/connections/sync$", lambda: theirs.append(emu.start_job(cid)))
    r = config(emu, http, "connections/sync", {"connectionId": cid})
    assert r.status_code == 409  # their job landed first
    assert [j["id"] for j in emu.jobs(cid)] == theirs and emu.jobs(cid)[0]["origin"] == "airbyte"
    assert hook.hits == 1 and hook.remaining == 0 and hook.errors == []
    emu.cancel_job(theirs[0])
    assert config(emu, http, "connections/sync", {"connectionId": cid}).status_code == 200  # used up
    # A method filter, several matches, and an action that fails: the request is handled anyway.
    hook = emu.on_request("jobs", lambda: emu.start_job(cid), method="GET", count=2)
    assert config(emu, http, "jobs/list", {"configTypes": ["sync"], "configId": cid}).status_code == 200
    assert hook.hits == 0  # a POST: not this hook's
    for _ in range(2):
        assert (
            http.get(f"{emu.public_api_url}/jobs", params={"connectionId": cid}, timeout=5).status_code == 200
        )
    assert hook.hits == 2 and [type(e).__name__ for e in hook.errors] == ["SyncAlreadyRunning"] * 2
    # The action may set other misbehaviour, e.g. a listing lag for the job this very request creates.
    for j in emu.jobs(cid):
        emu.cancel_job(j["id"])
    emu.on_request("/api/public/v1/jobs$", lambda: emu.lag_listings(reads=1), method="POST")
    created = http.post(
        f"{emu.public_api_url}/jobs", json={"connectionId": cid, "jobType": "sync"}, timeout=5
    )
    assert created.json()["jobId"] not in _listed(emu, http, cid)[0]
    emu.on_request("health", lambda: None, count=None)
    emu.clear_faults()
    assert http.get(f"{emu.config_api_url}/health", timeout=5).status_code == 200


def test_recording_says_when_a_request_arrived_and_when_it_was_answered() -> None:
    with AirbyteEmulator(record=True) as emu, requests.Session() as http:
        emu.add_fault("health", delay_s=0.3)
        http.get(f"{emu.config_api_url}/health", timeout=5)
        emu.add_fault("connections/sync", after=True, delay_s=0.3)
        sync(emu, http, DEFAULT_CONNECTION_ID)
        delayed, created = emu.exchanges()
        assert delayed["time"] - delayed["received"] >= 0.29
        assert created["time"] - created["received"] >= 0.29
        # the job was created when the request arrived, not when its answer left
        assert abs(emu.jobs(DEFAULT_CONNECTION_ID)[0]["created_at"] - created["received"]) < 0.1
        # A client that resets its connection while the answer is held back still leaves its
        # exchange in the recording, with no answer.
        emu.add_fault("jobs/get", after=True, delay_s=2)
        body = b'{"id": 1}'
        with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as raw:
            raw.sendall(
                b"POST /api/v1/jobs/get HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            time.sleep(0.2)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        deadline = time.monotonic() + 2
        while len(emu.exchanges()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        gave_up = emu.exchanges()[-1]
        assert gave_up["path"] == "/api/v1/jobs/get" and gave_up["status"] is None
        assert gave_up["fault"] == "delay=2s,after" and gave_up["time"] - gave_up["received"] < 1


def test_error_rate_and_latency() -> None:
    with AirbyteEmulator(error_rate=1.0, seed=1) as emu:
        r = requests.get(f"{emu.config_api_url}/health", timeout=5)
        assert r.status_code == 503
        r = requests.get(f"{emu.public_api_url}/jobs", timeout=5)
        assert r.status_code == 503 and r.json()["title"] == "service-unavailable"
    with AirbyteEmulator(error_rate=0.5, seed=7) as emu, requests.Session() as http:
        codes = [http.get(f"{emu.config_api_url}/health").status_code for _ in range(40)]
        assert 5 < codes.count(503) < 35 and set(codes) == {200, 503}
    with AirbyteEmulator(latency_s=0.2) as emu:
        start = time.monotonic()
        assert requests.get(f"{emu.config_api_url}/health", timeout=5).status_code == 200
        assert time.monotonic() - start >= 0.2


def test_counters_count_requests_and_connections(emu: AirbyteEmulator) -> None:
    with requests.Session() as http:
        http.get(f"{emu.config_api_url}/health")
        config(emu, http, "connections/get", {"connectionId": DEFAULT_CONNECTION_ID})
    stats = emu.stats()
    assert stats["requests"] == 2 and stats["tcp_connections"] == 1
    assert stats["by_endpoint"] == {"GET /api/v1/health": 1, "POST /api/v1/connections/get": 1}
    requests.get(f"{emu.public_api_url}/jobs/1", timeout=5)
    requests.get(f"{emu.public_api_url}/jobs/2", timeout=5)
    stats = emu.stats()
    assert stats["tcp_connections"] == 3
    assert stats["by_endpoint"]["GET /api/public/v1/jobs/{jobId}"] == 2
    emu.reset_stats()
    assert emu.stats() == {"requests": 0, "tcp_connections": 0, "by_endpoint": {}}


def test_close_idle_connections(emu: AirbyteEmulator, http: requests.Session) -> None:
    http.get(f"{emu.config_api_url}/health")
    assert emu.open_connections() == 1
    assert emu.close_idle_connections() == 1
    deadline = time.monotonic() + 2
    while emu.open_connections() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emu.open_connections() == 0
    assert http.get(f"{emu.config_api_url}/health").status_code == 200  # the client reconnects
    assert emu.stats()["tcp_connections"] == 2


def test_recording() -> None:
    with AirbyteEmulator(record=True, record_limit=3) as emu, requests.Session() as http:
        sync(emu, http, DEFAULT_CONNECTION_ID)
        http.get(f"{emu.public_api_url}/jobs", params={"limit": 5})
        exchanges = emu.exchanges()
        assert len(exchanges) == 2
        first, second = exchanges
        assert first["method"] == "POST" and first["path"] == "/api/v1/connections/sync"
        assert first["request_body"] == {"connectionId": DEFAULT_CONNECTION_ID}
        assert first["status"] == 200 and first["response_body"]["job"]["status"] == "pending"
        assert first["response_headers"]["Content-Type"] == "application/json"
        assert first["request_headers"]["content-type"] == "application/json"
        assert second["query"] == {"limit": ["5"]} and second["endpoint"] == "/api/public/v1/jobs"
        for _ in range(3):
            http.get(f"{emu.config_api_url}/health")
        assert len(emu.exchanges()) == 3  # bounded


# -- HTTP details ----------------------------------------------------------------------------------


def _raw(port: int, payload: bytes, expect_answers: int = 1) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        data = b""
        while data.count(b"HTTP/1.1 ") < expect_answers or not data.endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_raw_http_pipelining_chunked_and_close(emu: AirbyteEmulator) -> None:
    get = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
    data = _raw(emu.port, get * 3, expect_answers=3)
    assert data.count(b"HTTP/1.1 200 OK") == 3 and data.count(b"Content-Length: 18") == 3

    body = json.dumps({"connectionId": DEFAULT_CONNECTION_ID}).encode()
    chunked = (
        b"POST /api/v1/connections/get HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\n"
        + f"{len(body[:10]):x}\r\n".encode()
        + body[:10]
        + b"\r\n"
        + f"{len(body[10:]):x}\r\n".encode()
        + body[10:]
        + b"\r\n0\r\n\r\n"
    )
    data = _raw(emu.port, chunked)
    assert data.startswith(b"HTTP/1.1 200 OK") and b"Postgres" in data

    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk  # the server closes: recv returns b""
    assert b"Connection: close" in data and data.endswith(b'{"available":true}')

    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK")

    assert _raw(emu.port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")


def test_half_closed_client_still_gets_its_answer(emu: AirbyteEmulator) -> None:
    emu.add_fault("health", delay_s=0.1)
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b'{"available":true}')


def test_restart_keeps_state_and_port() -> None:
    emu = AirbyteEmulator()
    emu.start()
    try:
        port = emu.port
        with requests.Session() as http:
            job_id = sync(emu, http, DEFAULT_CONNECTION_ID)
        emu.stop()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{emu.config_api_url}/health", timeout=5)
        emu.start()
        assert emu.port == port
        with requests.Session() as http:
            assert job(emu, http, job_id, "get_light")["job"]["id"] == job_id
    finally:
        emu.stop()


def test_many_concurrent_keep_alive_connections(emu: AirbyteEmulator) -> None:
    socks = [socket.create_connection(("127.0.0.1", emu.port), timeout=10) for _ in range(500)]
    try:
        for s in socks:
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in socks:
            data = b""
            while not data.endswith(b"}"):
                data += s.recv(4096)
            assert data.startswith(b"HTTP/1.1 200")
        assert emu.open_connections() == 500
    finally:
        for s in socks:
            s.close()
    stats = emu.stats()
    assert stats["tcp_connections"] == 500 and stats["requests"] == 500


# -- 2022 servers ----------------------------------------------------------------------------------


def test_server_version_2022() -> None:
    with AirbyteEmulator(server_version="2022") as emu, requests.Session() as http:
        cid = emu.add_connection(pending_s=1, queued_s=5, running_s=3)
        assert config(emu, http, "connections/clear", {"connectionId": cid}).status_code == 404
        job_id = sync(emu, http, cid)
        assert config(emu, http, "jobs/get_without_logs", {"id": job_id}).status_code == 404
        emu.advance(2)
        assert job(emu, http, job_id, "get")["job"]["status"] == "pending"  # no "queued" in 2022
        emu.advance(6)
        info = job(emu, http, job_id, "get")
        assert info["job"]["status"] == "running" and "startedAt" not in info["job"]
        listed = config(emu, http, "jobs/list", {"configTypes": ["sync"], "configId": cid}).json()
        assert "aggregatedStats" not in listed["jobs"][0]["job"]
        attempt = listed["jobs"][0]["attempts"][0]
        assert attempt["recordsSynced"] > 0 and "recordsEmitted" in attempt["totalStats"]
        r = http.get(f"{emu.public_api_url}/jobs/{job_id}")
        assert r.status_code == 404
        assert http.get(f"{emu.cloud_api_url}/health").status_code == 404
        r = config(emu, http, "connections/sync", {"connectionId": cid})
        assert r.status_code == 409


# -- TLS, CLI, pytest plugin -----------------------------------------------------------------------


def test_tls_with_self_signed_ca(tmp_path: Any) -> None:
    ca, cert, key = make_self_signed_ca(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with AirbyteEmulator(ssl_context=ctx) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        r = requests.get(f"{emu.config_api_url}/health", verify=ca, timeout=5)
        assert r.status_code == 200
        r = requests.get(f"https://localhost:{emu.port}/api/public/v1/health", verify=ca, timeout=5)
        assert r.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{emu.config_api_url}/health", timeout=5)
        page = requests.get(f"{emu.public_api_url}/jobs", params={"limit": 1}, verify=ca, timeout=5)
        assert page.status_code == 200
        # The refused handshake was an accepted socket too, but never a request.
        assert (emu.stats()["tcp_connections"], emu.stats()["requests"]) == (4, 3)
    with AirbyteEmulator() as emu:
        # An https client on the http port gets an error at once, not a timeout.
        start = time.monotonic()
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"https://127.0.0.1:{emu.port}/api/v1/health", verify=ca, timeout=5)
        assert time.monotonic() - start < 2
    with AirbyteEmulator(certfile=cert, keyfile=key) as emu:
        assert requests.get(f"{emu.config_api_url}/health", verify=ca, timeout=5).status_code == 200


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def test_cli_serves_until_sigterm(tmp_path: Any) -> None:
    config_file = tmp_path / "connections.json"
    extra = str(uuid.uuid4())
    config_file.write_text(
        json.dumps(
            {
                "connections": [
                    {"connectionId": extra, "name": "From file", "status": "active", "running_s": 1}
                ]
            }
        )
    )
    cid = str(uuid.uuid4())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_airbyte_sync.testing",
            "--port",
            "0",
            "--auth",
            "basic",
            "--config",
            str(config_file),
            "--connection",
            f"{cid}:My: conn:inactive",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Airbyte emulator listening on http://127.0.0.1:")
        url = line.split()[4]
        assert f"{cid}:inactive" in line and f"{extra}:active" in line
        auth = ("airbyte", "password")
        r = requests.post(f"{url}/api/v1/connections/get", json={"connectionId": cid}, auth=auth, timeout=5)
        assert r.json()["name"] == "My: conn" and r.json()["status"] == "inactive"
        assert requests.get(f"{url}/api/v1/health", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_pytest_plugin_fixture(tmp_path: Any) -> None:
    (tmp_path / "test_uses_fixture.py").write_text(
        textwrap.dedent("""
        import pytest
        import requests

        def test_default(airbyte_emulator):
            r = requests.get(airbyte_emulator.config_api_url + "/health", timeout=5)
            assert r.json() == {"available": True}

        @pytest.mark.airbyte_emulator(auth="token")
        def test_marker(airbyte_emulator):
            assert requests.get(airbyte_emulator.public_api_url + "/jobs").status_code == 401
    """)
    )
    env = _env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "airflow_provider_airbyte_sync.testing.pytest_plugin",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    # The plugin module itself stays light: the emulator is imported by the fixture only.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, airflow_provider_airbyte_sync.testing.pytest_plugin; "
            "print('airflow_provider_airbyte_sync.testing.emulator' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=_env(),
    )
    assert probe.stdout.strip() == "False", probe.stderr


def test_default_connections_and_basic_header_variants() -> None:
    with AirbyteEmulator(auth="basic", username="u", password="p:w") as emu:
        header = "basic " + base64.b64encode(b"u:p:w").decode()
        r = requests.post(
            f"{emu.config_api_url}/connections/list",
            json={"workspaceId": DEFAULT_WORKSPACE_ID},
            headers={"Authorization": header},
            timeout=5,
        )
        assert r.status_code == 200
        names = {c["name"]: c["status"] for c in r.json()["connections"]}
        assert names == {c["name"]: c["status"] for c in DEFAULT_CONNECTIONS}
    with AirbyteEmulator(default_workspace=False) as emu:
        assert emu.connections() == []
