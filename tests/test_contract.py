"""Contract tests: every request the hook sends and every answer the emulator gives, checked against
Airbyte's own OpenAPI specs (``tests/contract/specs``, or the folder named by ``$AIRBYTE_API_SPECS``).

The hook is driven through every operation against the emulator in each deployment flavour (config
API, OSS public API, Cloud layout) and auth mode; each recorded exchange is then validated: the
request against the spec of its API, the response against the spec's answer for its status, by
openapi-core. Where the real server is known to answer a status its spec does not declare (409 for
a sync already running, 500 for an unknown job id, ...) the spec is patched to declare it, with a
body that must say so (``contract.openapi.UNDECLARED_ANSWERS``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from contract import openapi
from contract.openapi import Api, Violation
from openapi_spec_validator import validate as validate_spec

from airflow_provider_airbyte_sync.core.errors import (
    AirbyteConnectionNotActive,
    AirbyteConnectionNotFound,
    AirbyteError,
    AirbyteJobFailed,
    AirbyteJobNotFound,
    AirbyteSyncAlreadyRunning,
)
from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook
from airflow_provider_airbyte_sync.testing import (
    DEFAULT_CLIENT_SECRET,
    DEFAULT_CONNECTION_ID,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    DEFAULT_WORKSPACE_ID,
    FAILING_CONNECTION_ID,
    INACTIVE_CONNECTION_ID,
    SALESFORCE_REDSHIFT_CONNECTION_ID,
    STRIPE_SNOWFLAKE_CONNECTION_ID,
    AirbyteEmulator,
)

#: Client ids are UUIDs on real deployments (the hook infers client credentials from one).
CLIENT_ID = "0da998a2-0d7b-49c7-bb6e-9f7eb9cc68a0"
UNKNOWN_JOB_ID = 987654
UNKNOWN_CONNECTION_ID = "00000000-0000-4000-8000-00000000dead"


# --------------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def specs() -> dict[str, Api]:
    """The three API specs (patched, the problems merged in), built once per session; skips when
    the folder lacks them."""
    directory = openapi.specs_dir()
    missing = openapi.missing_specs(directory)
    if missing:
        pytest.skip(
            f"Airbyte OpenAPI specs missing from {directory} ({', '.join(missing)}): the contract tests "
            f"validate against Airbyte's published spec files and have nothing to check without them. "
            f"Restore tests/contract/specs or set {openapi.ENV_VAR} to a folder holding them."
        )
    names = (openapi.CONFIG_2026, openapi.CONFIG_2022, openapi.PUBLIC_2026)
    return {name: openapi.load_api(name, directory) for name in names}


def specs_for_path(specs: Mapping[str, Api], path: str, server_version: str = "2026") -> list[Api]:
    """The specs that describe a concrete path of the emulator."""
    if path.startswith("/api/public/"):
        # OSS serves the public API; the 2026 config spec carries the same paths under /public/v1.
        return [specs[openapi.CONFIG_2026], specs[openapi.PUBLIC_2026]]
    if path.startswith("/api/"):
        return [specs[openapi.CONFIG_2022 if server_version == "2022" else openapi.CONFIG_2026]]
    if path.startswith("/v1/"):
        return [specs[openapi.PUBLIC_2026]]
    return []


def describe(index: int, exchange: Mapping[str, Any]) -> str:
    query = f"?{exchange['query_string']}" if exchange.get("query_string") else ""
    return f"#{index} {exchange['method']} {exchange['path']}{query} -> {exchange['status']}"


def violations_of(
    specs: Mapping[str, Api],
    exchanges: list[dict[str, Any]],
    server_version: str = "2026",
    only_declared: bool = False,
    check_requests: bool = True,
) -> tuple[list[str], Counter[str]]:
    """Every violation of every exchange (one line each), and how many exchanges each spec checked.

    What the real server answers beyond its spec (409 for a sync already running, ...) is part of
    the patched specs (``openapi.UNDECLARED_ANSWERS``), so nothing is excused here.
    ``only_declared``: skip exchanges whose operation the spec lacks (an older server answering 404
    for an endpoint it does not have yet). ``check_requests=False``: check the answers only
    (requests made wrong on purpose).
    """
    lines: list[str] = []
    checked: Counter[str] = Counter()
    for index, exchange in enumerate(exchanges):
        applicable = specs_for_path(specs, exchange["path"], server_version)
        if not applicable:
            lines.append(f"{describe(index, exchange)}: no spec describes this path")
        for api in applicable:
            if only_declared and api.find(exchange["method"], exchange["path"]) is None:
                continue
            checked[api.name] += 1
            for violation in openapi.validate_exchange(api, exchange, check_request=check_requests):
                lines.append(f"{describe(index, exchange)} [{api.name}] {violation}")
    return lines, checked


# --------------------------------------------------------------------------------------------------
# Flavours: how an Airflow connection reaches the emulator
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Flavour:
    api: str  # config, oss-public, cloud
    auth: str  # none, basic, token

    @property
    def id(self) -> str:
        return f"{self.api}-{self.auth}"

    @property
    def public(self) -> bool:
        return self.api != "config"


FLAVOURS = [
    Flavour("config", "none"),
    Flavour("config", "basic"),
    Flavour("config", "token"),
    Flavour("oss-public", "none"),
    Flavour("oss-public", "basic"),
    Flavour("oss-public", "token"),
    Flavour("cloud", "token"),
]


def define_connection(monkeypatch: pytest.MonkeyPatch, emulator: AirbyteEmulator, flavour: Flavour) -> str:
    fields: dict[str, Any] = {"conn_type": "airbyte_sync"}
    extra: dict[str, Any] = {}
    if flavour.api == "config":
        fields.update(host="127.0.0.1", port=emulator.port)
        extra["api_type"] = "config"  # a bare host with a UUID login would mean the public API
    elif flavour.api == "oss-public":
        fields["host"] = emulator.public_api_url
    else:
        fields["host"] = emulator.cloud_api_url
        extra["api_type"] = "public"
    if flavour.auth == "basic":
        fields.update(login=DEFAULT_USERNAME, password=DEFAULT_PASSWORD)
        if flavour.public:
            extra["auth_type"] = "basic"  # a public API URL with login/password means client credentials
    elif flavour.auth == "token":
        fields.update(login=CLIENT_ID, password=DEFAULT_CLIENT_SECRET)
    fields["extra"] = json.dumps(extra)
    monkeypatch.setenv("AIRFLOW_CONN_AB", json.dumps(fields))
    return "ab"


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., AirbyteEmulator]]:
    started: list[AirbyteEmulator] = []

    def start(**options: Any) -> AirbyteEmulator:
        emulator = AirbyteEmulator(record=True, client_id=CLIENT_ID, **options).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


def hook_for(monkeypatch: pytest.MonkeyPatch, emulator: AirbyteEmulator, flavour: Flavour) -> AirbyteHook:
    # Waiting moves the emulator's clock instead of sleeping: a 4 s sync takes no wall time.
    monkeypatch.setattr("airflow_provider_airbyte_sync.hooks.airbyte.time.sleep", emulator.advance)
    return AirbyteHook(define_connection(monkeypatch, emulator, flavour))


# --------------------------------------------------------------------------------------------------
# The scenario: every hook operation, the happy paths and the refusals
# --------------------------------------------------------------------------------------------------
def drive_every_operation(hook: AirbyteHook, emulator: AirbyteEmulator, server_version: str = "2026") -> None:
    """Call every hook operation against ``emulator``.

    On a 2022 server jobs are listed by type only (listing every type sends ``clear``, see
    ``test_listing_jobs_of_every_type_follows_the_2022_spec``) and a failed job carries no reason
    (the hook polls ``jobs/get_light`` there, which has no attempts).
    """
    untyped_listing = server_version != "2022"
    ok, message = hook.test_connection()
    assert ok, message

    connection = hook.get_airbyte_connection(DEFAULT_CONNECTION_ID)
    assert connection.status == "active"
    assert hook.check_active(DEFAULT_CONNECTION_ID).connection_id == DEFAULT_CONNECTION_ID
    with pytest.raises(AirbyteConnectionNotActive):
        hook.check_active(INACTIVE_CONNECTION_ID)
    with pytest.raises(AirbyteConnectionNotActive):
        hook.run(hook.dialect.submit(INACTIVE_CONNECTION_ID, "sync"))  # what Airbyte answers itself
    with pytest.raises(AirbyteConnectionNotFound):
        hook.get_airbyte_connection(UNKNOWN_CONNECTION_ID)

    # A sync, a second one refused (409), start_job attaching to the running one.
    job = hook.submit_job(DEFAULT_CONNECTION_ID, "sync")
    with pytest.raises(AirbyteSyncAlreadyRunning):
        hook.submit_job(DEFAULT_CONNECTION_ID, "sync")
    job_type = None if untyped_listing else "sync"
    if untyped_listing:
        attached, owned = hook.start_job(DEFAULT_CONNECTION_ID, "sync", if_running="attach")
        assert (attached.job_id, owned) == (job.job_id, False)
    assert hook.get_job_details(job.job_id).job_id == job.job_id
    assert hook.find_running_job(DEFAULT_CONNECTION_ID, job_type).job_id == job.job_id
    assert [j.job_id for j in hook.list_jobs(DEFAULT_CONNECTION_ID, job_type=job_type)] == [job.job_id]
    done = hook.wait_for_job(job.job_id, wait_seconds=0.5)
    assert done.status == "succeeded"
    assert hook.find_running_job(DEFAULT_CONNECTION_ID, job_type) is None

    # start_job owning a new job; cancel it, then cancel it again once it has ended.
    if untyped_listing:
        started, owned = hook.start_job(STRIPE_SNOWFLAKE_CONNECTION_ID, "sync")
        assert owned
    else:
        started = hook.submit_job(STRIPE_SNOWFLAKE_CONNECTION_ID, "sync")
    emulator.advance(1)
    cancelled = hook.cancel_job(started.job_id)
    assert cancelled is None or cancelled.status == "cancelled"
    again = hook.cancel_job(started.job_id)
    assert again is None or again.status == "cancelled"

    # Reset, then clear (which cancels the running reset), their listing by type, and a wait.
    reset = hook.submit_job(SALESFORCE_REDSHIFT_CONNECTION_ID, "reset")
    clear = hook.submit_job(SALESFORCE_REDSHIFT_CONNECTION_ID, "clear")
    assert clear.job_id > reset.job_id
    assert hook.list_jobs(SALESFORCE_REDSHIFT_CONNECTION_ID, job_type="reset")
    assert hook.wait_for_job(clear.job_id, wait_seconds=2).status == "succeeded"

    # A failing sync: the failure reason comes from the config API, whatever the flavour.
    failing = hook.submit_job(FAILING_CONNECTION_ID, "sync")
    reason = "Unable to connect to the API" if server_version != "2022" else None
    with pytest.raises(AirbyteJobFailed, match=reason):
        hook.wait_for_job(failing.job_id, wait_seconds=1)

    # Unknown job ids.
    with pytest.raises(AirbyteJobNotFound):
        hook.get_job_details(UNKNOWN_JOB_ID)
    with pytest.raises(AirbyteJobNotFound):
        hook.cancel_job(UNKNOWN_JOB_ID)

    assert hook.get_workspace_id(DEFAULT_CONNECTION_ID) == DEFAULT_WORKSPACE_ID
    url = hook.job_url(DEFAULT_CONNECTION_ID)
    assert url is not None
    assert f"/workspaces/{DEFAULT_WORKSPACE_ID}/connections/{DEFAULT_CONNECTION_ID}/" in url


#: What the scenario must have exercised, per spec (operation templates): a shrinking scenario
#: would otherwise pass by checking less.
EXPECTED_OPERATIONS = {
    "config": {
        "post /v1/jobs/list",
        "post /v1/connections/get",
        "post /v1/connections/sync",
        "post /v1/connections/reset",
        "post /v1/connections/clear",
        "post /v1/jobs/get_without_logs",
        "post /v1/jobs/cancel",
        "post /v1/workspaces/get_by_connection_id",
    },
    "public": {
        "get /jobs",
        "post /jobs",
        "get /jobs/{jobId}",
        "delete /jobs/{jobId}",
        "get /connections/{connectionId}",
    },
}


def operations_seen(api: Api, exchanges: list[dict[str, Any]]) -> set[str]:
    return {op for e in exchanges if (op := api.find(e["method"], e["path"])) is not None}


@pytest.mark.parametrize("flavour", FLAVOURS, ids=lambda f: f.id)
def test_every_exchange_of_the_hook_follows_the_specs(
    specs: dict[str, Api],
    start_emulator: Callable[..., AirbyteEmulator],
    monkeypatch: pytest.MonkeyPatch,
    flavour: Flavour,
) -> None:
    emulator = start_emulator(auth={"none": "none", "basic": "basic", "token": "token"}[flavour.auth])
    hook = hook_for(monkeypatch, emulator, flavour)
    try:
        drive_every_operation(hook, emulator)
    finally:
        # Reported even when the scenario broke: a contract violation is often why it broke.
        exchanges = emulator.exchanges()
        lines, checked = violations_of(specs, exchanges)
        assert not lines, (
            f"{len(lines)} contract violation(s) in {len(exchanges)} exchanges of flavour {flavour.id}:\n"
            + "\n".join(lines)
        )
    if flavour.auth == "token":
        assert any(e["path"].endswith("/applications/token") for e in exchanges)
    if flavour.api == "config":
        missing = EXPECTED_OPERATIONS["config"] - operations_seen(specs[openapi.CONFIG_2026], exchanges)
    else:
        missing = EXPECTED_OPERATIONS["public"] - operations_seen(specs[openapi.PUBLIC_2026], exchanges)
        # Failure reasons come from the config API beside the public one.
        assert "post /v1/jobs/get_without_logs" in operations_seen(specs[openapi.CONFIG_2026], exchanges)
    assert not missing, f"the scenario no longer exercises {sorted(missing)}"
    assert sum(checked.values()) >= len(exchanges)


# --------------------------------------------------------------------------------------------------
# Answers the hook never asks for: the rest of what the emulator serves
# --------------------------------------------------------------------------------------------------
def test_the_rest_of_the_emulators_answers_follow_the_specs(
    specs: dict[str, Api], start_emulator: Callable[..., AirbyteEmulator]
) -> None:
    emulator = start_emulator(auth="token")
    token = emulator.issue_token()
    auth = {"Authorization": f"Bearer {token}"}
    config, public, cloud = emulator.config_api_url, emulator.public_api_url, emulator.cloud_api_url
    cid = DEFAULT_CONNECTION_ID
    with requests.Session() as http:
        http.get(f"{config}/health")
        http.post(
            f"{config}/applications/token",
            json={"client_id": CLIENT_ID, "client_secret": "wrong", "grant_type": "client_credentials"},
        )
        http.post(f"{config}/connections/list", json={"workspaceId": DEFAULT_WORKSPACE_ID}, headers=auth)
        job_id = http.post(f"{config}/connections/sync", json={"connectionId": cid}, headers=auth).json()
        job_id = job_id["job"]["id"]
        emulator.advance(2)
        http.post(f"{config}/jobs/get", json={"id": job_id}, headers=auth)
        http.post(f"{config}/jobs/get_light", json={"id": job_id}, headers=auth)
        http.post(
            f"{config}/jobs/list",
            headers=auth,
            json={
                "configTypes": ["sync"],
                "configId": cid,
                "statuses": ["running"],
                "orderByField": "updatedAt",
                "orderByMethod": "ASC",
                "pagination": {"pageSize": 5, "rowOffset": 0},
            },
        )
        http.post(
            f"{config}/jobs/get", data="{not json", headers={**auth, "Content-Type": "application/json"}
        )
        for base in (public, cloud):
            http.get(f"{base}/health")
            http.post(
                f"{base}/applications/token",
                data={
                    "client_id": CLIENT_ID,
                    "client_secret": DEFAULT_CLIENT_SECRET,
                    "grant_type": "client_credentials",
                },
            )
            http.post(
                f"{base}/applications/token",
                json={"client_id": CLIENT_ID, "client_secret": "wrong", "grant_type": "client_credentials"},
            )
            http.get(
                f"{base}/connections",
                params={"workspaceIds": DEFAULT_WORKSPACE_ID, "limit": 2, "offset": 1},
                headers=auth,
            )
            http.get(f"{base}/connections/{cid}", headers=auth)
            http.get(
                f"{base}/jobs",
                params={"connectionId": cid, "status": "running", "jobType": "sync", "limit": 1},
                headers=auth,
            )
            http.get(
                f"{base}/jobs",
                params={
                    "workspaceIds": DEFAULT_WORKSPACE_ID,
                    "orderBy": "updatedAt|ASC",
                    "limit": 1,
                    "offset": 1,
                },
                headers=auth,
            )
            http.get(f"{base}/jobs/{job_id}", headers=auth)
            http.get(f"{base}/jobs/{UNKNOWN_JOB_ID}", headers=auth)
            http.post(f"{base}/jobs", json={"connectionId": cid, "jobType": "sync"}, headers=auth)
            http.get(f"{base}/connections/{cid}", headers={"Authorization": "Bearer expired"})
        emulator.advance(30)
        http.get(f"{public}/jobs/{job_id}", headers=auth)
        http.delete(f"{public}/jobs/{job_id}", headers={"Authorization": f"Bearer {emulator.issue_token()}"})
    exchanges = emulator.exchanges()
    lines, _checked = violations_of(specs, exchanges, check_requests=False)
    assert not lines, f"{len(lines)} contract violation(s) in {len(exchanges)} exchanges:\n" + "\n".join(
        lines
    )


def test_lagging_listings_still_follow_the_specs(
    specs: dict[str, Api], start_emulator: Callable[..., AirbyteEmulator]
) -> None:
    emulator = start_emulator()
    cid = emulator.add_connection(pending_s=0, running_s=100)
    emulator.lag_listings(reads=5)
    config, public = emulator.config_api_url, emulator.public_api_url
    with requests.Session() as http:
        hidden = http.post(f"{config}/connections/sync", json={"connectionId": cid}).json()["job"]["id"]
        body = {"configTypes": ["sync"], "configId": cid, "pagination": {"pageSize": 5, "rowOffset": 0}}
        for _ in range(3):  # six listings: hidden in five, shown in the sixth
            http.post(f"{config}/jobs/list", json=body)
            http.get(f"{public}/jobs", params={"connectionId": cid, "limit": 5})
        http.post(f"{config}/connections/sync", json={"connectionId": cid})  # 409: it runs, unlisted
    exchanges = emulator.exchanges()
    listed = [
        [j["job"]["id"] for j in e["response_body"]["jobs"]]
        if e["method"] == "POST"
        else [j["jobId"] for j in e["response_body"]["data"]]
        for e in exchanges
        if e["path"].endswith("/jobs/list") or e["method"] == "GET"
    ]
    assert listed == [[], [], [], [], [], [hidden]]
    lines, _checked = violations_of(specs, exchanges)
    assert not lines, "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The 2022 server mode against the 2022 spec
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("auth", ["none", "basic"])
def test_a_2022_server_answers_follow_the_2022_spec(
    specs: dict[str, Api],
    start_emulator: Callable[..., AirbyteEmulator],
    monkeypatch: pytest.MonkeyPatch,
    auth: str,
) -> None:
    emulator = start_emulator(server_version="2022", auth=auth)
    hook = hook_for(monkeypatch, emulator, Flavour("config", auth))
    drive_every_operation(hook, emulator, server_version="2022")
    # And what the hook does not ask a 2022 server for.
    basic = (DEFAULT_USERNAME, DEFAULT_PASSWORD) if auth == "basic" else None
    config = emulator.config_api_url
    with requests.Session() as http:
        http.get(f"{config}/health")
        http.post(f"{config}/connections/list", json={"workspaceId": DEFAULT_WORKSPACE_ID}, auth=basic)
        http.post(f"{config}/jobs/get", json={"id": 1}, auth=basic)
        http.post(
            f"{config}/jobs/list",
            json={"configTypes": ["reset_connection"], "configId": SALESFORCE_REDSHIFT_CONNECTION_ID},
            auth=basic,
        )
    exchanges = emulator.exchanges()

    spec = specs[openapi.CONFIG_2022]
    absent = [e for e in exchanges if spec.find(e["method"], e["path"]) is None]
    # Endpoints newer than the server (clear, get_without_logs) are answered 404 and the hook falls back.
    assert {e["path"].rsplit("/api/v1/", 1)[-1] for e in absent} == {
        "connections/clear",
        "jobs/get_without_logs",
    }
    assert all(e["status"] == 404 for e in absent)
    lines, checked = violations_of(specs, exchanges, server_version="2022", only_declared=True)
    assert not lines, (
        f"{len(lines)} contract violation(s) in {checked[spec.name]} exchanges of the 2022 server:\n"
        + "\n".join(lines)
    )
    assert checked[spec.name] == len(exchanges) - len(absent)
    # The 2022 server must not answer with what only 2026 servers know.
    assert not any(
        e["response_body"] and "aggregatedStats" in json.dumps(e["response_body"]) for e in exchanges
    )


def test_listing_jobs_of_every_type_follows_the_2022_spec(
    specs: dict[str, Api], start_emulator: Callable[..., AirbyteEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = start_emulator(server_version="2022")
    hook = hook_for(monkeypatch, emulator, Flavour("config", "none"))
    job = hook.submit_job(DEFAULT_CONNECTION_ID, "sync")
    try:
        hook.start_job(DEFAULT_CONNECTION_ID, "sync", if_running="attach")
        assert hook.find_running_job(DEFAULT_CONNECTION_ID).job_id == job.job_id
    except AirbyteError:
        pass  # the server refused the listing: the contract check below says why
    lines, _checked = violations_of(specs, emulator.exchanges(), server_version="2022", only_declared=True)
    assert not lines, "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The validator itself must be able to fail
# --------------------------------------------------------------------------------------------------
def _messages(found: list[Violation]) -> list[str]:
    return [f"{v.kind}: {v.message}" for v in found]


def test_validator_reports_a_missing_required_field(specs: dict[str, Api]) -> None:
    config = specs[openapi.CONFIG_2026]
    found = openapi.validate_request(config, "POST", "/api/v1/connections/sync", body={"connection": "x"})
    assert _messages(found) == ["InvalidRequestBody: body: 'connectionId' is a required property"]
    answer = {
        "job": {"id": 1, "configType": "sync", "createdAt": 1, "updatedAt": 1, "status": "running"},
        "attempts": [],
    }
    found = openapi.validate_response(config, "POST", "/api/v1/jobs/get", 200, "application/json", answer)
    assert _messages(found) == ["InvalidData: body /job: 'configId' is a required property"]
    found = openapi.validate_request(config, "POST", "/api/v1/jobs/get")
    assert [v.kind for v in found] == ["MissingRequiredRequestBody"]


def test_validator_reports_a_wrong_type(specs: dict[str, Api]) -> None:
    config = specs[openapi.CONFIG_2026]
    found = openapi.validate_request(config, "POST", "/api/v1/jobs/get", body={"id": "seven"})
    assert _messages(found) == ["InvalidRequestBody: body /id: 'seven' is not of type 'integer'"]
    found = openapi.validate_response(
        config, "GET", "/api/v1/health", 200, "application/json", {"available": "yes"}
    )
    assert _messages(found) == ["InvalidData: body /available: 'yes' is not of type 'boolean'"]
    # Formats are checked too: a connection id must be a UUID.
    found = openapi.validate_request(config, "POST", "/api/v1/connections/sync", body={"connectionId": "x1"})
    assert _messages(found) == ["InvalidRequestBody: body /connectionId: 'x1' is not a 'uuid'"]


def test_validator_reports_a_wrong_enum_value(specs: dict[str, Api]) -> None:
    public = specs[openapi.PUBLIC_2026]
    job = {
        "jobId": 1,
        "status": "done",
        "jobType": "sync",
        "startTime": "2023-03-25T01:30Z",
        "connectionId": DEFAULT_CONNECTION_ID,
    }
    found = openapi.validate_response(public, "GET", "/v1/jobs/1", 200, "application/json", job)
    assert [m.split(" is not one of")[0] for m in _messages(found)] == ["InvalidData: body /status: 'done'"]
    body = {"connectionId": DEFAULT_CONNECTION_ID, "jobType": "resync"}
    found = openapi.validate_request(public, "POST", "/api/public/v1/jobs", body=body)
    assert [m.split(" is not one of")[0] for m in _messages(found)] == [
        "InvalidRequestBody: body /jobType: 'resync'"
    ]
    old = specs[openapi.CONFIG_2022]
    body = {"configTypes": ["clear"], "configId": "x"}
    found = openapi.validate_request(old, "POST", "/api/v1/jobs/list", body=body)
    # clear is newer than the 2022 server
    assert [m.split(" is not one of")[0] for m in _messages(found)] == [
        "InvalidRequestBody: body /configTypes/0: 'clear'"
    ]


def test_validator_reports_undeclared_and_invalid_parameters(specs: dict[str, Api]) -> None:
    public = specs[openapi.PUBLIC_2026]
    query = {"connectionId": [DEFAULT_CONNECTION_ID], "sort": ["desc"], "limit": ["500"]}
    found = openapi.validate_request(public, "GET", "/v1/jobs", query)
    assert sorted(_messages(found)) == [
        "InvalidParameter: query parameter limit: 500 is greater than the maximum of 100",
        "UndeclaredParameter: query parameter sort not declared",
    ]
    found = openapi.validate_request(public, "GET", "/v1/jobs/abc")
    assert len(found) == 1 and found[0].message.startswith("path parameter jobId:"), found
    config = specs[openapi.CONFIG_2026]
    found = openapi.validate_request(config, "POST", "/api/v1/jobs/get", {"verbose": "1"}, {"id": 1})
    assert _messages(found) == ["UndeclaredParameter: query parameter verbose not declared"]


def test_validator_reports_unknown_paths_methods_statuses_and_content_types(specs: dict[str, Api]) -> None:
    config = specs[openapi.CONFIG_2026]
    found = openapi.validate_request(config, "POST", "/api/v1/jobs/launch", body={})
    assert [v.kind for v in found] == ["PathNotFound"] and "/api/v1/jobs/launch" in found[0].message
    found = openapi.validate_request(config, "GET", "/api/v1/jobs/get")
    assert [v.kind for v in found] == ["OperationNotFound"] and "get" in found[0].message
    found = openapi.validate_response(config, "POST", "/api/v1/jobs/get", 418, "application/json", {})
    assert _messages(found) == ["ResponseNotFound: Unknown response http status: 418"]
    found = openapi.validate_response(config, "POST", "/api/v1/jobs/get", 200, "text/html", "<html></html>")
    assert [v.kind for v in found] == ["DataValidationError"] and "text/html" in found[0].message
    form = "application/x-www-form-urlencoded"
    found = openapi.validate_request(config, "POST", "/api/v1/jobs/get", body="id=1", content_type=form)
    assert [v.kind for v in found] == ["RequestBodyValidationError"] and form in found[0].message


def test_validator_checks_problem_bodies_against_the_problems_spec(specs: dict[str, Api]) -> None:
    public = specs[openapi.PUBLIC_2026]
    good = {
        "status": 404,
        "type": "https://reference.airbyte.com/reference/errors#resource-not-found",
        "title": "resource-not-found",
        "detail": "The requested resource could not be found.",
        "data": {"resourceType": "job", "resourceId": "7"},
    }
    problem = "application/problem+json"
    assert openapi.validate_response(public, "GET", "/v1/jobs/7", 404, problem, good) == []
    # The problem's defaults are its constants: a 404 problem saying status 400 is wrong.
    bad = {**good, "status": 400, "data": {"resourceType": "job"}}
    found = openapi.validate_response(public, "GET", "/v1/jobs/7", 404, problem, bad)
    assert sorted(_messages(found)) == [
        "InvalidData: body /data: 'resourceId' is a required property",
        "InvalidData: body /status: 400 is not one of [404]",
    ]
    unknown = {"type": "about:blank", "title": "teapot", "status": 404}
    found = openapi.validate_response(public, "GET", "/v1/jobs/7", 404, problem, unknown)
    assert any(m.startswith("InvalidData: body /title: 'teapot'") for m in _messages(found)), found


def test_the_real_servers_undeclared_answers_pass_only_when_they_say_so(specs: dict[str, Api]) -> None:
    config = specs[openapi.CONFIG_2026]
    running = {"message": "A sync is already running for: x", "exceptionClassName": "x"}
    assert (
        openapi.validate_response(
            config, "POST", "/api/v1/connections/sync", 409, "application/json", running
        )
        == []
    )
    other = {"message": "Conflict"}
    found = openapi.validate_response(
        config, "POST", "/api/v1/connections/sync", 409, "application/json", other
    )
    assert _messages(found) == ["InvalidData: body /message: 'Conflict' does not match '(?i)already running'"]
    found = openapi.validate_response(
        config, "POST", "/api/v1/connections/get", 409, "application/json", running
    )
    assert [v.kind for v in found] == ["ResponseNotFound"]  # only where the server is known to answer it
    public = specs[openapi.PUBLIC_2026]
    expired = {
        "status": 401,
        "type": "https://reference.airbyte.com/reference/errors#invalid-api-key",
        "title": "invalid-api-key",
        "detail": "The API key in the Authorization header is invalid.",
    }
    assert (
        openapi.validate_response(public, "GET", "/v1/jobs/7", 401, "application/problem+json", expired) == []
    )


def test_violations_never_carry_credentials(specs: dict[str, Api]) -> None:
    public = specs[openapi.PUBLIC_2026]
    form = f"client_id={CLIENT_ID}&client_secret=s3cr3t-value&grant_type=client_credentials"
    found = openapi.validate_request(public, "POST", "/v1/applications/token", body=form)
    assert [v.kind for v in found] == ["RequestBodyValidationError"]  # form text sent as JSON
    assert "client_secret=***" in found[0].message and "s3cr3t" not in found[0].message
    answer = '{"access_token": "eyJ.s3cr3t.sig", "token_type": "Bearer"'  # cut short: not JSON
    ok = "application/json"
    found = openapi.validate_response(public, "POST", "/v1/applications/token", 200, ok, answer)
    assert [v.kind for v in found] == ["DataValidationError"]
    assert '"access_token": "***"' in found[0].message and "s3cr3t" not in found[0].message


def test_validator_is_lenient_where_the_specs_say_so(specs: dict[str, Api]) -> None:
    config = specs[openapi.CONFIG_2026]
    # Properties the schema does not name are allowed (OpenAPI's default).
    body = {"connectionId": DEFAULT_CONNECTION_ID, "extra": True}
    assert openapi.validate_request(config, "POST", "/api/v1/connections/sync", body=body) == []
    # The 3.1 public spec's `nullable: true` (a 3.0 keyword) still lets a field be null.
    public = specs[openapi.PUBLIC_2026]
    page = {"data": [], "next": None, "previous": "https://api.airbyte.com/v1/groups?offset=0"}
    ok = "application/json"
    assert openapi.validate_response(public, "GET", "/v1/groups", 200, ok, page) == []
    found = openapi.validate_response(public, "GET", "/v1/groups", 200, ok, {**page, "next": 5})
    assert _messages(found) == ["InvalidData: body /next: 5 is not of type 'string', 'null'"]


@pytest.mark.parametrize(
    ("name", "published_fails_with"),
    [
        (openapi.CONFIG_2026, "None for not nullable"),
        (openapi.CONFIG_2022, "None for not nullable"),
        (openapi.PUBLIC_2026, "DataplaneCreateResponseBody' does not exist"),
    ],
)
def test_the_adapter_turns_each_published_spec_into_a_valid_one(name: str, published_fails_with: str) -> None:
    directory = openapi.specs_dir()
    if openapi.missing_specs(directory):
        pytest.skip("Airbyte OpenAPI specs missing")
    with pytest.raises(Exception, match=published_fails_with):
        validate_spec(openapi._parse(directory / name))
    validate_spec(openapi.patched_spec(name, directory))  # raises if a patch broke the document


def test_spec_folder_can_be_moved_with_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv(openapi.ENV_VAR, str(tmp_path))
    assert openapi.specs_dir() == tmp_path
    assert openapi.missing_specs() == list(openapi.SPEC_FILES)
    monkeypatch.delenv(openapi.ENV_VAR)
    assert openapi.specs_dir() == openapi.DEFAULT_DIR
