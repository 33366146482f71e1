"""The exact requests on the wire, for each API and auth mode (requests-mock)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_airbyte_sync.core import tokens as core_tokens
from airflow_provider_airbyte_sync.core.errors import (
    AirbyteAuthError,
    AirbyteConfigError,
    AirbyteConnectionNotActive,
    AirbyteConnectionNotFound,
    AirbyteJobNotFound,
    AirbyteSyncAlreadyRunning,
    AirbyteUnexpectedAnswer,
    AirbyteUnreachable,
)
from airflow_provider_airbyte_sync.core.retry import MAX_TRIES, Attempts
from airflow_provider_airbyte_sync.core.settings import Settings
from airflow_provider_airbyte_sync.core.tokens import token_flow
from airflow_provider_airbyte_sync.core.transport import plan_for
from airflow_provider_airbyte_sync.core.wire import Request, Response, raise_for_answer
from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook

CID = "15bc3800-82e4-48c3-a32d-620661273f28"
CLIENT_ID = "0da998a2-0d7b-49c7-bb6e-9f7eb9cc68a0"
CONFIG = "http://airbyte:8000/api/v1"
PUBLIC = "http://airbyte:8000/api/public/v1"


def config_job(job_id: int = 7, status: str = "running", **extra: Any) -> dict[str, Any]:
    return {
        "job": {
            "id": job_id,
            "configType": "sync",
            "configId": CID,
            "createdAt": 1700000000,
            "updatedAt": 1700000030,
            "status": status,
            **extra,
        },
        "attempts": [],
    }


def public_job(job_id: int = 7, status: str = "running", **extra: Any) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "status": status,
        "jobType": "sync",
        "connectionId": CID,
        "startTime": "2023-03-25T01:30Z",
        **extra,
    }


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("airflow_provider_airbyte_sync.hooks.airbyte.time.sleep", slept.append)
    return slept


def basic_hook(airflow_conn: Callable[..., str]) -> AirbyteHook:
    return AirbyteHook(airflow_conn(host="airbyte", login="airbyte", password="password-1234"))


def cc_hook(airflow_conn: Callable[..., str], **extra: Any) -> AirbyteHook:
    return AirbyteHook(
        airflow_conn(host="airbyte", login=CLIENT_ID, password="client-secret-1234", extra=extra)
    )


def test_config_api_with_basic_auth_sends_exactly_these_requests(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    requests_mock.post(
        f"{CONFIG}/connections/get", json={"connectionId": CID, "name": "pg", "status": "active"}
    )
    requests_mock.post(f"{CONFIG}/connections/sync", json=config_job(status="pending"))
    job = basic_hook(airflow_conn).submit_sync_connection(CID)
    assert job.job_id == 7 and job.status == "pending" and job.connection_id == CID
    get, sync = requests_mock.request_history
    assert (get.method, get.url, get.json()) == ("POST", f"{CONFIG}/connections/get", {"connectionId": CID})
    assert (sync.method, sync.url, sync.json()) == (
        "POST",
        f"{CONFIG}/connections/sync",
        {"connectionId": CID},
    )
    expected = "Basic " + base64.b64encode(b"airbyte:password-1234").decode()
    assert get.headers["Authorization"] == sync.headers["Authorization"] == expected
    assert get.timeout == (10.0, 30.0)
    assert sync.timeout == (10.0, 180.0)  # only the create waits long


def test_public_api_with_client_credentials(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    requests_mock.post(
        f"{PUBLIC}/applications/token",
        json={"access_token": "tok-abcdef", "token_type": "Bearer", "expires_in": 900},
    )
    requests_mock.get(
        f"{PUBLIC}/connections/{CID}",
        json={"connectionId": CID, "name": "pg", "status": "active", "workspaceId": "w"},
    )
    requests_mock.post(f"{PUBLIC}/jobs", json=public_job(status="pending"))
    requests_mock.get(f"{PUBLIC}/jobs?connectionId={CID}", json={"data": []})
    hook = cc_hook(airflow_conn)
    job = hook.submit_job(CID, "clear")
    assert job.job_id == 7
    token, get_conn, *rest = requests_mock.request_history
    assert token.json() == {
        "client_id": CLIENT_ID,
        "client_secret": "client-secret-1234",
        "grant_type": "client_credentials",
    }
    assert "Authorization" not in token.headers
    assert get_conn.headers["Authorization"] == "Bearer tok-abcdef"
    create = rest[-1]
    assert create.json() == {"connectionId": CID, "jobType": "clear"}
    assert create.headers["Authorization"] == "Bearer tok-abcdef"
    # one token for the process: a second hook does not fetch again
    requests_mock.get(f"{PUBLIC}/jobs/7", json=public_job())
    cc_hook(airflow_conn).get_job_details(7)
    assert [r.url for r in requests_mock.request_history].count(f"{PUBLIC}/applications/token") == 1


def test_token_request_falls_back_to_a_form_body(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    requests_mock.post(
        f"{PUBLIC}/applications/token",
        [
            {"status_code": 415, "json": {"message": "Unsupported Media Type"}},
            {"json": {"access_token": "tok-form-1"}},
        ],
    )
    requests_mock.get(f"{PUBLIC}/jobs/7", json=public_job())
    cc_hook(airflow_conn).get_job_details(7)
    first, second, poll = requests_mock.request_history
    assert first.headers["Content-Type"] == "application/json"
    assert second.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "client_secret=client-secret-1234" in second.text
    assert poll.headers["Authorization"] == "Bearer tok-form-1"


def test_token_is_fetched_again_on_401(airflow_conn: Callable[..., str], requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        f"{PUBLIC}/applications/token",
        [{"json": {"access_token": "tok-old-1"}}, {"json": {"access_token": "tok-new-2"}}],
    )
    requests_mock.get(
        f"{PUBLIC}/jobs/7",
        [{"status_code": 401, "json": {"title": "invalid-api-key"}}, {"json": public_job()}],
    )
    assert cc_hook(airflow_conn).get_job_details(7).status == "running"
    polls = [r for r in requests_mock.request_history if r.url.endswith("/jobs/7")]
    assert [p.headers["Authorization"] for p in polls] == ["Bearer tok-old-1", "Bearer tok-new-2"]


def test_token_lifetime_from_expires_in_else_jwt_exp(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    now = 1_700_000_000
    payload = base64.urlsafe_b64encode(json.dumps({"exp": 4_000_000_000}).encode()).decode().rstrip("=")
    jwt = f"eyJhbGciOiJIUzI1NiJ9.{payload}.sig"
    requests_mock.post(f"{PUBLIC}/applications/token", json={"access_token": jwt})
    hook = cc_hook(airflow_conn)
    token, lifetime = hook.run(token_flow(hook.settings))
    assert token == jwt
    assert lifetime > 4_000_000_000 - now - 10**9  # from the JWT's exp, not the short default


@pytest.mark.parametrize(
    ("answer", "fix"),
    [
        ({"status_code": 400, "json": {"message": "Invalid client id or token"}}, "refused the credentials"),
        (
            {
                "status_code": 401,
                "text": "<html><body>401 Authorization Required</body></html>",
                "headers": {"Content-Type": "text/html"},
            },
            "HTML page",
        ),
        (
            {
                "status_code": 200,
                "text": "<!DOCTYPE html><html>login</html>",
                "headers": {"Content-Type": "text/html"},
            },
            "HTML page",
        ),
    ],
)
def test_bad_credentials_are_reported_as_such(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker, answer: dict[str, Any], fix: str
) -> None:
    requests_mock.post(f"{PUBLIC}/applications/token", **answer)
    with pytest.raises(AirbyteAuthError, match=fix) as error:
        cc_hook(airflow_conn).get_job_details(7)
    assert "client-secret-1234" not in str(error.value)


def test_polling_never_downloads_logs_and_falls_back_on_old_servers(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    requests_mock.post(f"{CONFIG}/jobs/get_without_logs", status_code=404, json={"message": "Not found"})
    requests_mock.post(f"{CONFIG}/jobs/get_light", json=config_job())
    hook = AirbyteHook(airflow_conn(host="airbyte"))
    hook.get_job_details(7)
    hook.get_job_details(7)
    paths = [r.path for r in requests_mock.request_history]
    assert paths == ["/api/v1/jobs/get_without_logs", "/api/v1/jobs/get_light", "/api/v1/jobs/get_light"]
    assert all(r.json() == {"id": 7} for r in requests_mock.request_history)


def test_rows_bytes_and_failure_reason_from_the_config_api(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    body = config_job(
        status="failed",
        aggregatedStats={
            "recordsEmitted": 12,
            "bytesEmitted": 340,
            "recordsCommitted": 10,
            "bytesCommitted": 300,
            "recordsRejected": 0,
        },
    )
    body["attempts"] = [
        {
            "attempt": {
                "id": 0,
                "status": "failed",
                "createdAt": 1,
                "updatedAt": 2,
                "failureSummary": {
                    "failures": [
                        {
                            "failureOrigin": "source",
                            "failureType": "config_error",
                            "externalMessage": "bad password",
                            "timestamp": 1,
                        }
                    ]
                },
            }
        },
    ]
    requests_mock.post(f"{CONFIG}/jobs/get_without_logs", json=body)
    job = AirbyteHook(airflow_conn(host="airbyte")).get_job_details("7")
    assert (job.rows_synced, job.bytes_synced, job.attempts) == (10, 300, 1)
    assert job.failure == "source/config_error: bad password"
    assert job.created_at is not None and job.created_at.tzinfo is not None


def test_public_failed_job_gets_its_reason_from_one_config_api_call(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    requests_mock.get(
        f"{PUBLIC}/jobs/7", json=public_job(status="failed", lastUpdatedAt="2023-03-25T01:31:05Z")
    )
    detail = config_job(status="failed")
    detail["attempts"] = [
        {
            "attempt": {
                "id": 0,
                "status": "failed",
                "createdAt": 1,
                "updatedAt": 2,
                "failureSummary": {
                    "failures": [
                        {
                            "failureOrigin": "destination",
                            "failureType": "system_error",
                            "externalMessage": "disk full",
                            "timestamp": 1,
                        }
                    ]
                },
            }
        }
    ]
    requests_mock.post(f"{CONFIG}/jobs/get_without_logs", json=detail)
    hook = AirbyteHook(airflow_conn(host=PUBLIC))
    with pytest.raises(Exception, match=r"job 7 .* ended failed: destination/system_error: disk full"):
        hook.wait_for_job(7, wait_seconds=1, timeout=60)
    assert [r.method + " " + r.path for r in requests_mock.request_history] == [
        "GET /api/public/v1/jobs/7",
        "POST /api/v1/jobs/get_without_logs",
    ]


def test_reads_are_retried_with_backoff_and_retry_after(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker, _no_sleep: list[float]
) -> None:
    requests_mock.get(
        f"{PUBLIC}/jobs/7",
        [
            {"status_code": 502},
            {"status_code": 429, "headers": {"Retry-After": "7"}},
            {"status_code": 503},
            {"json": public_job()},
        ],
    )
    assert AirbyteHook(airflow_conn(host=PUBLIC)).get_job_details(7).job_id == 7
    assert requests_mock.call_count == 4
    assert _no_sleep[1] == 7.0
    assert 0.5 <= _no_sleep[0] <= 1.0 and 2.0 <= _no_sleep[2] <= 4.0


def test_other_4xx_are_not_retried(airflow_conn: Callable[..., str], requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{PUBLIC}/jobs/7", status_code=400, json={"title": "bad-request", "detail": "nope"})
    with pytest.raises(AirbyteUnexpectedAnswer, match="HTTP 400: nope"):
        AirbyteHook(airflow_conn(host=PUBLIC)).get_job_details(7)
    assert requests_mock.call_count == 1


def test_a_create_is_never_retried_blindly(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    requests_mock.get(
        f"{PUBLIC}/connections/{CID}", json={"connectionId": CID, "name": "pg", "status": "active"}
    )
    requests_mock.post(f"{PUBLIC}/jobs", status_code=502)
    now = datetime.now(timezone.utc).isoformat()
    requests_mock.get(
        f"{PUBLIC}/jobs?connectionId={CID}",
        [
            {"json": {"data": [public_job(5, "succeeded")]}},
            {"json": {"data": [public_job(5, "succeeded"), public_job(9, "running", startTime=now)]}},
        ],
    )
    job, owned = AirbyteHook(airflow_conn(host=PUBLIC)).start_job(CID)
    # the create answered 502 once; a job newer than 5, created while the create was being
    # handled, appeared: it is ours, no second create
    assert (job.job_id, owned) == (9, True)
    assert [r.method for r in requests_mock.request_history].count("POST") == 1


def test_a_rate_limited_create_is_sent_again_after_retry_after(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker, _no_sleep: list[float]
) -> None:
    # 429 refuses the request before it is handled: nothing was started, sending it again is safe.
    requests_mock.get(
        f"{PUBLIC}/connections/{CID}", json={"connectionId": CID, "name": "pg", "status": "active"}
    )
    requests_mock.get(f"{PUBLIC}/jobs?connectionId={CID}", json={"data": [public_job(5, "succeeded")]})
    requests_mock.post(
        f"{PUBLIC}/jobs",
        [
            {"status_code": 429, "headers": {"Retry-After": "12"}, "json": {"title": "rate-limited"}},
            {"json": public_job(6, "pending")},
        ],
    )
    job, owned = AirbyteHook(airflow_conn(host=PUBLIC)).start_job(CID)
    assert (job.job_id, owned) == (6, True)
    assert [r.method for r in requests_mock.request_history].count("POST") == 2
    assert _no_sleep == [12.0]


def test_redirects_are_never_followed(airflow_conn: Callable[..., str], requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        f"{CONFIG}/jobs/get_without_logs",
        status_code=301,
        headers={"Location": "https://airbyte/api/v1/jobs/get_without_logs"},
    )
    with pytest.raises(AirbyteUnexpectedAnswer, match=r"redirect.*https://airbyte/api/v1"):
        AirbyteHook(airflow_conn(host="airbyte")).get_job_details(7)
    assert requests_mock.call_count == 1


def test_409_sync_running_is_classified_by_its_words(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    requests_mock.get(
        f"{PUBLIC}/connections/{CID}", json={"connectionId": CID, "name": "pg", "status": "active"}
    )
    requests_mock.get(f"{PUBLIC}/jobs?connectionId={CID}", json={"data": [public_job(11, "running")]})
    requests_mock.post(
        f"{PUBLIC}/jobs",
        status_code=409,
        json={
            "type": "https://reference.airbyte.com/reference/errors#try-again-later",
            "title": "try-again-later",
            "status": 409,
            "data": {"message": f"A sync is already running for: {CID}"},
        },
    )
    hook = AirbyteHook(airflow_conn(host=PUBLIC))
    with pytest.raises(AirbyteSyncAlreadyRunning, match="job 11") as error:
        hook.start_job(CID, if_running="fail")
    assert error.value.job_id == 11
    job, owned = hook.start_job(CID, if_running="attach")
    assert (job.job_id, owned) == (11, False)


def test_state_conflict_409_is_not_a_running_sync(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    requests_mock.get(
        f"{PUBLIC}/connections/{CID}", json={"connectionId": CID, "name": "pg", "status": "active"}
    )
    requests_mock.get(f"{PUBLIC}/jobs?connectionId={CID}", json={"data": []})
    requests_mock.post(
        f"{PUBLIC}/jobs",
        status_code=409,
        json={
            "type": "https://reference.airbyte.com/reference/errors#state-conflict",
            "title": "state-conflict",
            "status": 409,
            "detail": "Connection is not active",
        },
    )
    with pytest.raises(AirbyteConnectionNotActive):
        AirbyteHook(airflow_conn(host=PUBLIC)).start_job(CID)
    # cancelling a job that already ended is done, not an error
    requests_mock.delete(
        f"{PUBLIC}/jobs/7",
        status_code=409,
        json={
            "type": "https://reference.airbyte.com/reference/errors#state-conflict",
            "title": "state-conflict",
            "status": 409,
        },
    )
    assert AirbyteHook(airflow_conn(host=PUBLIC)).cancel_job(7) is None


def test_unknown_job_is_job_not_found(airflow_conn: Callable[..., str], requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        f"{CONFIG}/jobs/get_without_logs", status_code=500, json={"message": "Could not find job with id: 99"}
    )
    with pytest.raises(AirbyteJobNotFound, match="does not know job 99"):
        AirbyteHook(airflow_conn(host="airbyte")).get_job_details(99)


@pytest.mark.parametrize("bad", ["not-a-uuid", "", None, "15bc3800-82e4-48c3-a32d"])
def test_a_connection_id_that_is_not_a_uuid_sends_nothing(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker, bad: Any
) -> None:
    with pytest.raises(AirbyteConfigError, match="not an Airbyte connection id"):
        AirbyteHook(airflow_conn(host="airbyte")).submit_sync_connection(bad)
    assert requests_mock.call_count == 0


def test_malformed_extra_json_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_BROKEN", json.dumps({"conn_type": "airbyte_sync", "host": "a", "extra": "{oops"})
    )
    try:
        AirbyteHook("broken").settings  # noqa: B018
    except AirbyteConfigError as exc:
        assert "Extra field is not valid JSON" in str(exc)
    except Exception as exc:
        if type(exc).__name__ != "AirflowNotFoundException":
            raise
        pytest.skip("this Airflow (3.0, 3.1) drops a connection whose extra is not JSON before we read it")
    else:
        pytest.fail("a malformed extra was accepted")


def test_unreachable_server_names_the_fix(airflow_conn: Callable[..., str], requests_mock: rm.Mocker) -> None:
    import requests

    requests_mock.post(f"{CONFIG}/jobs/get_without_logs", exc=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(AirbyteUnreachable, match="Check the host, port and scheme"):
        AirbyteHook(airflow_conn(host="airbyte")).get_job_details(7)
    assert requests_mock.call_count == MAX_TRIES


def test_test_connection_sends_the_credentials(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    requests_mock.post(f"{CONFIG}/jobs/list", json={"jobs": [], "totalJobCount": 0})
    ok, message = basic_hook(airflow_conn).test_connection()
    assert ok, message
    (call,) = requests_mock.request_history
    assert call.headers["Authorization"].startswith("Basic ")
    assert call.timeout == (5.0, 10.0)
    requests_mock.post(
        f"{CONFIG}/jobs/list", status_code=401, text="<html>401</html>", headers={"Content-Type": "text/html"}
    )
    ok, message = basic_hook(airflow_conn).test_connection()
    assert not ok and "refused the credentials" in message and "password-1234" not in message


def test_an_answer_is_mapped_by_the_resource_the_request_declares() -> None:
    """The same words mean "no such connection" or "a sync runs" only from a request about a connection."""
    json_type = {"Content-Type": "application/json"}
    missing = Response(404, json_type, b'{"message": "Could not find configuration for STANDARD_SYNC: x"}')
    with pytest.raises(AirbyteConnectionNotFound):
        raise_for_answer(missing, action="get connection", resource="connection")
    with pytest.raises(AirbyteUnexpectedAnswer) as about_other:
        raise_for_answer(missing, action="check Airbyte's health", resource="other")
    assert about_other.value.outcome == "unknown"  # a 404 nobody declared: a proxy's, or a wrong path
    running = Response(409, json_type, f'{{"message": "A sync is already running for: {CID}"}}'.encode())
    with pytest.raises(AirbyteSyncAlreadyRunning) as conflict:
        raise_for_answer(running, action="start a sync of connection", resource="connection")
    assert conflict.value.connection_id == CID
    with pytest.raises(AirbyteUnexpectedAnswer) as about_job:
        raise_for_answer(running, action="cancel job", subject="7", resource="job")
    assert about_job.value.outcome == "final"


def test_the_core_plans_every_byte_and_timeout_of_a_request() -> None:
    basic = Settings(CONFIG, "config", "basic", "airbyte", "pw", connect_timeout=7.0, create_timeout=90.0)
    create = plan_for(basic, Request("POST", "connections/sync", json={"connectionId": CID}, kind="create"))
    assert (create.method, create.url) == ("POST", f"{CONFIG}/connections/sync")
    assert create.headers["Authorization"] == "Basic " + base64.b64encode(b"airbyte:pw").decode()
    assert create.headers["Content-Type"] == "application/json"
    assert create.headers["User-Agent"] == "airflow-provider-airbyte-sync"
    assert json.loads(create.body or b"") == {"connectionId": CID}
    assert (create.connect_timeout, create.read_timeout, create.had_auth) == (7.0, 90.0, True)
    quick = plan_for(basic, Request("GET", "health", auth=False), quick=True)
    assert "Authorization" not in quick.headers and quick.body is None and not quick.had_auth
    assert (quick.connect_timeout, quick.read_timeout) == (5.0, 10.0)
    cc = Settings(PUBLIC, "public", "client_credentials", CLIENT_ID, "s3cret", token_url=f"{PUBLIC}/t")
    form = plan_for(cc, Request("POST", f"{PUBLIC}/t", form={"a": "b c"}, kind="token", auth=False))
    assert form.headers["Content-Type"] == "application/x-www-form-urlencoded" and form.body == b"a=b+c"
    assert plan_for(cc, Request("GET", "jobs/7"), "tok").headers["Authorization"] == "Bearer tok"
    assert "s3cret" not in repr(form) and "tok" not in repr(plan_for(cc, Request("GET", "jobs/7"), "tok"))


def test_the_retry_rule_names_the_token_to_drop_and_holds_no_cache() -> None:
    cc = Settings(PUBLIC, "public", "client_credentials", CLIENT_ID, "s3cret", token_url=f"{PUBLIC}/t")
    attempts = Attempts(Request("GET", "jobs/7"), cc)
    assert attempts.after(Response(401), "old-token") == ("renew", 0.0, "old-token")
    assert attempts.after(Response(401), "new-token").action == "done"  # renewed once only
    assert not [v for v in vars(core_tokens).values() if isinstance(v, core_tokens.TokenCache)]


def test_get_connection_is_airflows_and_the_airbyte_connection_has_its_own_name(
    airflow_conn: Callable[..., str], requests_mock: rm.Mocker
) -> None:
    hook = basic_hook(airflow_conn)
    assert hook.get_connection("airbyte_test").host == "airbyte"  # Airflow's, whatever the id looks like
    requests_mock.post(
        f"{CONFIG}/connections/get", json={"connectionId": CID, "name": "pg", "status": "active"}
    )
    assert hook.get_airbyte_connection(CID).name == "pg"
    assert requests_mock.call_count == 1  # get_connection sent nothing to Airbyte
