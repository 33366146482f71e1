"""Regression tests for starting an Airbyte job exactly once, judged by the emulator's own records.

Each test drives the public operator, sensor or hook over real HTTP against the emulator and checks
what Airbyte itself recorded: the jobs created over the API, their statuses, the cancels. Together
they prove that a task:

- never adopts, or cancels, a job someone else started, even when a note from an earlier try of the
  task is stale;
- starts one job per intended sync when a create's answer is lost, a listing lags, a proxy answers
  404 or a connection id is written in upper case;
- fails with the provider's own errors, and creates nothing, on malformed listings;
- refuses bad arguments and bad connection settings before creating anything;
- refuses an answer of unbounded size, naming the limit, without downloading it again;
- reports Airbyte's own queue time, starts a reset where a server has no clear, and gives advice
  that fits the ``if_running`` in use.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_airbyte_sync.core.errors import (
    AirbyteConfigError,
    AirbyteError,
    AirbyteSyncAlreadyRunning,
    AirbyteTimeout,
)
from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook
from airflow_provider_airbyte_sync.sensors.airbyte import AirbyteJobSensor
from airflow_provider_airbyte_sync.testing import DEFAULT_WORKSPACE_ID, TERMINAL_STATUSES
from tests.conftest import conn_fields
from tests.lines import TaskDeferred
from tests.task_context import Run
from tests.test_operator import operator, run_to_end

QUICK = {"pending_s": 0.05, "running_s": 0.3}
SLOW = {"pending_s": 0.05, "running_s": 600}
APIS = ["config", "public"]
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
NGINX_404 = {
    "status": 404,
    "body": "<html><body><h1>404 Not Found</h1>nginx</body></html>",
    "headers": {"Content-Type": "text/html"},
}
GATEWAY_404 = {"status": 404, "body": {"message": "no Route matched with those values"}}
CREATE_ENDPOINTS = (
    "POST /api/v1/connections/sync",
    "POST /api/v1/connections/reset",
    "POST /api/v1/connections/clear",
    "POST /api/public/v1/jobs",
)
JOB_READ_ENDPOINTS = {
    "config": ("POST /api/v1/jobs/get_without_logs", "POST /api/v1/jobs/get_light", "POST /api/v1/jobs/get"),
    "public": ("GET /api/public/v1/jobs/{jobId}",),
}


# ------------------------------------------------------------------------------------------ helpers
def connection(emulator: Any, **script: Any) -> str:
    return emulator.add_connection(name="regression", workspace_id=DEFAULT_WORKSPACE_ID, **script)


def api_jobs(emulator: Any) -> list[dict[str, Any]]:
    """The jobs the code under test created over HTTP, oldest first."""
    return [job for job in emulator.jobs() if job["origin"] == "api"]


def creates(emulator: Any) -> int:
    """How many requests to create a job the emulator received."""
    by_endpoint = emulator.stats()["by_endpoint"]
    return sum(by_endpoint.get(endpoint, 0) for endpoint in CREATE_ENDPOINTS)


def lose_create_answer(emulator: Any, api: str) -> None:
    """The next create is handled (the job exists), then its connection drops without an answer."""
    if api == "config":
        emulator.add_fault(r"/api/v1/connections/sync$", drop=True, after=True)
    else:
        emulator.add_fault(r"/jobs$", method="POST", drop=True, after=True)


def answer_listing(emulator: Any, api: str, body: Any, count: int | None) -> None:
    """The next ``count`` job listings (every one with ``None``) answer 200 with ``body``."""
    if api == "config":
        emulator.add_fault(r"/jobs/list$", status=200, body=body, count=count)
    else:
        emulator.add_fault(r"/jobs$", method="GET", status=200, body=body, count=count)


def lag_listing(emulator: Any, api: str, reads: int) -> None:
    """A read replica behind: the next ``reads`` listings show no job at all."""
    empty = (
        {"jobs": [], "totalJobCount": 0} if api == "config" else {"data": [], "previous": None, "next": None}
    )
    answer_listing(emulator, api, empty, reads)


def fault_job_read(emulator: Any, api: str, count: int | None, **answer: Any) -> None:
    """The next ``count`` reads of a single job (any of the config API's job-read paths) answer ``answer``."""
    if api == "config":
        emulator.add_fault(r"/api/v1/jobs/get(_without_logs|_light)?$", count=count, **answer)
    else:
        emulator.add_fault(r"/jobs/\d+$", method="GET", count=count, **answer)


def run_tries(
    run: Run, make_task: Callable[[], Any], tries: int = 3, context: dict[str, Any] | None = None
) -> tuple[int | None, list[AirbyteError]]:
    """Run tries of one task instance (a fresh operator each, as Airflow does) until one returns.

    A try may fail with an ``AirbyteError``; the next one is Airflow's retry. Answers the returned
    job id (``None`` when no try returned) and the errors of the failed tries.
    """
    context = context if context is not None else run.context()
    errors: list[AirbyteError] = []
    for attempt in range(tries):
        if attempt:
            context = run.next_try()
        try:
            return run_to_end(make_task(), context), errors
        except AirbyteError as exc:
            errors.append(exc)
    return None, errors


def still_running(emulator: Any, job_id: int) -> bool:
    """Whether Airbyte's record shows the job still going (never cancelled, not ended)."""
    return emulator.job(job_id)["status"] not in TERMINAL_STATUSES


def names_job(message: str, job_id: int) -> bool:
    return re.search(rf"(?<![\w-]){job_id}(?![\w-])", message) is not None


# ---------------------------------------------------- 1. a stale note never adopts another's job
@pytest.mark.parametrize("api", APIS)
@MODES
def test_stale_note_across_tries_never_adopts_a_later_foreign_job(
    airbyte_at: Any, api: str, deferrable: bool
) -> None:
    airbyte = airbyte_at(api)
    conn = connection(airbyte, **SLOW)
    first_foreign = airbyte.start_job(conn)
    run = Run()

    def task(**kwargs: Any) -> Any:
        return operator(conn, if_running="wait", deferrable=deferrable, **kwargs)

    with pytest.raises(AirbyteTimeout):
        run_to_end(task(timeout=0.5), run.context())
    airbyte.cancel_job(first_foreign)
    later_foreign = airbyte.start_job(conn)
    airbyte.update_connection(conn, **QUICK)  # our own job, once started, ends quickly

    # The note of try 1 predates the later foreign job: that job is newer, yet it is not this task's.
    with pytest.raises(AirbyteTimeout):
        run_to_end(task(timeout=0.5), run.next_try())
    # waited on, never cancelled
    assert still_running(airbyte, later_foreign), airbyte.job(later_foreign)["status"]
    assert api_jobs(airbyte) == []

    airbyte.cancel_job(later_foreign)
    ours = run_to_end(task(), run.next_try())
    assert [(job["id"], job["status"]) for job in api_jobs(airbyte)] == [(ours, "succeeded")]


@pytest.mark.parametrize("api", APIS)
@MODES
def test_stale_note_with_if_running_fail_names_the_later_foreign_job(
    airbyte_at: Any, api: str, deferrable: bool
) -> None:
    airbyte = airbyte_at(api)
    conn = connection(airbyte, **SLOW)
    first_foreign = airbyte.start_job(conn)
    run = Run()

    def task() -> Any:
        return operator(conn, if_running="fail", deferrable=deferrable, timeout=0.5)

    with pytest.raises(AirbyteSyncAlreadyRunning) as first:
        run_to_end(task(), run.context())
    assert first.value.job_id == first_foreign
    airbyte.cancel_job(first_foreign)
    later_foreign = airbyte.start_job(conn)

    with pytest.raises(AirbyteSyncAlreadyRunning) as second:
        run_to_end(task(), run.next_try())
    assert second.value.job_id == later_foreign and names_job(str(second.value), later_foreign)
    assert still_running(airbyte, later_foreign), airbyte.job(later_foreign)["status"]  # never cancelled
    assert api_jobs(airbyte) == []
    airbyte.cancel_job(later_foreign)


# ------------------------------------------ 2. a lost create answer and a listing lagging 4 reads
@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("if_running", ["wait", "fail", "attach"])
def test_lost_create_answer_and_a_listing_lagging_four_reads_start_one_job(
    airbyte_at: Any, api: str, if_running: str
) -> None:
    airbyte = airbyte_at(api)
    conn = connection(airbyte, **QUICK)
    lose_create_answer(airbyte, api)
    lag_listing(airbyte, api, reads=4)
    returned, errors = run_tries(Run(), lambda: operator(conn, if_running=if_running))
    jobs = api_jobs(airbyte)
    assert len(jobs) == 1, jobs
    assert returned == jobs[0]["id"], errors
    assert jobs[0]["status"] == "succeeded"


@pytest.mark.parametrize("api", APIS)
def test_lost_create_answer_with_attach_owns_the_job_and_cancels_it_on_timeout(
    airbyte_at: Any, api: str
) -> None:
    airbyte = airbyte_at(api)
    conn = connection(airbyte, **SLOW)
    lose_create_answer(airbyte, api)
    lag_listing(airbyte, api, reads=4)
    run = Run()
    context = run.context()
    timed_out, errors = None, []
    for attempt in range(3):
        if attempt:
            context = run.next_try()
        try:
            run_to_end(operator(conn, if_running="attach", timeout=1), context)
        except AirbyteTimeout as exc:
            timed_out = exc
            break
        except AirbyteError as exc:
            errors.append(exc)
    assert timed_out is not None, errors
    jobs = api_jobs(airbyte)
    assert [job["status"] for job in jobs] == ["cancelled"], jobs  # it was this task's: cancelled


# ------------------------------------------------------------- 3. a 404 that is not Airbyte's
@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("answer", [NGINX_404, GATEWAY_404], ids=["nginx-html", "gateway-json"])
def test_a_404_not_from_airbyte_on_the_retrys_first_read_starts_no_second_job(
    airbyte_at: Any, api: str, answer: dict[str, Any]
) -> None:
    airbyte = airbyte_at(api)
    conn = connection(airbyte, **QUICK)
    run = Run()
    with pytest.raises(TaskDeferred):  # try 1 stored its job id and deferred; its trigger never ran
        operator(conn, deferrable=True).execute(run.context())
    fault_job_read(airbyte, api, count=1, **answer)
    returned, errors = run_tries(
        run, lambda: operator(conn, deferrable=True), tries=2, context=run.next_try()
    )
    jobs = api_jobs(airbyte)
    assert len(jobs) == 1, jobs
    assert returned == jobs[0]["id"], errors
    assert jobs[0]["status"] == "succeeded"


@pytest.mark.parametrize("api", APIS)
def test_a_404_not_from_airbyte_during_a_blocking_watch_is_survived(airbyte_at: Any, api: str) -> None:
    airbyte = airbyte_at(api)
    conn = connection(airbyte, **QUICK)
    fault_job_read(airbyte, api, count=2, **NGINX_404)
    returned = run_to_end(operator(conn), Run().context())
    assert [(job["id"], job["status"]) for job in api_jobs(airbyte)] == [(returned, "succeeded")]


# ------------------------------------------------------------------------ 4. ids normalised
@pytest.mark.parametrize("api", APIS)
def test_an_upper_case_connection_id_reattaches_on_retry(airbyte_at: Any, api: str) -> None:
    airbyte = airbyte_at(api)
    conn = connection(airbyte, **QUICK)
    run = Run()
    with pytest.raises(TaskDeferred):
        operator(conn.upper(), deferrable=True).execute(run.context())
    retry = run.next_try()
    returned = run_to_end(operator(conn.upper(), deferrable=True), retry)
    assert [(job["id"], job["status"]) for job in api_jobs(airbyte)] == [(returned, "succeeded")]
    assert retry["ti"].xcoms["airbyte_job"]["connection_id"] == conn


# ------------------------------------------------------------------ 5. malformed 2xx listings
def malformed_listing(api: str, kind: str, connection_id: str) -> Any:
    """A 200 listing that is not what the API documents."""
    if kind == "json-list":
        return []
    if kind == "jobs-object":
        return {"jobs": {}} if api == "config" else {"data": {}}
    if kind == "message":
        return {"message": "ok"}
    if api == "config":
        job = {
            "id": 1,
            "configType": "sync",
            "configId": connection_id,
            "createdAt": 1_700_000_000,
            "updatedAt": 1_700_000_060,
            "status": "succeeded",
        }
        if kind == "non-integer-id":
            job["id"] = "abc"
        elif kind == "milliseconds":
            job["createdAt"], job["updatedAt"] = 1_700_000_000_000, 1_700_000_060_000
        return {"jobs": [{"job": job, "attempts": []}], "totalJobCount": 1}
    assert kind == "non-integer-id"
    public_job = {
        "jobId": "abc",
        "status": "succeeded",
        "jobType": "sync",
        "connectionId": connection_id,
        "startTime": "2023-11-14T22:13:20Z",
        "lastUpdatedAt": "2023-11-14T22:14:20Z",
        "duration": "PT1M",
        "bytesSynced": 0,
        "rowsSynced": 0,
    }
    return {"data": [public_job], "previous": None, "next": None}


MALFORMED = [
    (api, kind)
    for api in APIS
    for kind in ("json-list", "jobs-object", "non-integer-id", "milliseconds", "message")
    if not (api == "public" and kind == "milliseconds")  # public times are text, not epoch numbers
]


@pytest.mark.parametrize(("api", "kind"), MALFORMED)
def test_a_malformed_listing_before_the_create_fails_with_an_airbyte_error_and_creates_nothing(
    airbyte_at: Any, api: str, kind: str
) -> None:
    airbyte = airbyte_at(api)
    conn = connection(airbyte, **QUICK)
    answer_listing(airbyte, api, malformed_listing(api, kind, conn), count=None)
    with pytest.raises(AirbyteError) as raised:
        run_to_end(operator(conn), Run().context())
    assert not isinstance(raised.value, (AttributeError, KeyError, ValueError, TypeError))
    assert api_jobs(airbyte) == []


@pytest.mark.parametrize("api", APIS)
def test_a_malformed_note_listing_then_a_lost_create_answer_never_returns_an_old_job(
    airbyte_at: Any, api: str
) -> None:
    airbyte = airbyte_at(api)
    conn = connection(airbyte, **QUICK)
    old = airbyte.start_job(conn)
    airbyte.advance(5)
    assert airbyte.job(old)["status"] == "succeeded"
    answer_listing(airbyte, api, {"message": "ok"}, count=1)
    lose_create_answer(airbyte, api)
    returned, errors = run_tries(Run(), lambda: operator(conn))
    assert returned != old, "a try returned a job that succeeded before the task started"
    jobs = api_jobs(airbyte)
    assert len(jobs) == 1, (jobs, errors)
    if returned is not None:
        assert returned == jobs[0]["id"]


# ------------------------------------------------------------ 6. inputs checked before requests
@MODES
def test_a_timeout_given_as_text_works_like_the_number(airbyte_at: Any, deferrable: bool) -> None:
    airbyte = airbyte_at()
    conn = connection(airbyte, **QUICK)
    returned = run_to_end(operator(conn, timeout="60", deferrable=deferrable), Run().context())
    assert [(job["id"], job["status"]) for job in api_jobs(airbyte)] == [(returned, "succeeded")]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": math.nan},
        {"timeout": math.inf},
        {"timeout": "abc"},
        {"timeout": 0},
        {"timeout": -1},
        {"wait_seconds": math.nan},
    ],
    ids=["timeout-nan", "timeout-inf", "timeout-text", "timeout-zero", "timeout-negative", "wait-nan"],
)
def test_a_timeout_or_poll_interval_that_is_no_positive_finite_number_is_refused_before_any_create(
    airbyte_at: Any, kwargs: dict[str, Any]
) -> None:
    airbyte = airbyte_at()
    conn = connection(airbyte, **QUICK)
    with pytest.raises(AirbyteConfigError):
        run_to_end(operator(conn, **kwargs), Run().context())
    assert creates(airbyte) == 0
    assert api_jobs(airbyte) == []


@pytest.mark.parametrize(
    "job_id", ["1_0", True, 0, -3, "  "], ids=["underscore", "bool", "zero", "negative", "blank"]
)
def test_the_sensor_refuses_a_job_id_that_is_not_one_before_any_read(airbyte_at: Any, job_id: Any) -> None:
    airbyte = airbyte_at()
    conn = connection(airbyte, **QUICK)
    for _ in range(10):  # so that job 10 exists: "1_0" must not be read as it
        airbyte.start_job(conn)
        airbyte.advance(1)
    sensor = AirbyteJobSensor(task_id="wait", airbyte_job_id=job_id, poke_interval=0.05, timeout=2)
    with pytest.raises(AirbyteConfigError):
        sensor.execute(Run().context())
    assert airbyte.stats()["requests"] == 0


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_a_read_timeout_that_is_no_finite_number_is_refused_before_any_create(
    airbyte_at: Any, airflow_conn: Callable[..., str], value: str
) -> None:
    airbyte = airbyte_at()
    conn = connection(airbyte, **QUICK)
    fields = conn_fields(airbyte, "config")
    fields["extra"] = {"read_timeout": value}
    airflow_conn("airbyte_default", **fields)
    with pytest.raises(AirbyteConfigError, match="read_timeout"):
        run_to_end(operator(conn), Run().context())
    assert creates(airbyte) == 0
    assert api_jobs(airbyte) == []


# ---------------------------------------------------------------------- 7. unbounded answers
@pytest.mark.parametrize("api", APIS)
def test_an_oversized_job_answer_is_refused_naming_the_limit_after_one_download(
    airbyte_at: Any, api: str
) -> None:
    airbyte = airbyte_at(api)
    conn = connection(airbyte, **QUICK)
    job_id = airbyte.start_job(conn)
    fault_job_read(airbyte, api, count=None, status=200, body=b'{"x": "' + b"a" * (64 << 20) + b'"}')
    with pytest.raises(AirbyteError) as raised:
        AirbyteHook().get_job_details(job_id)
    assert re.search(r"MB|MiB|megabyte", str(raised.value)), str(raised.value)
    by_endpoint = airbyte.stats()["by_endpoint"]
    reads = {endpoint: by_endpoint.get(endpoint, 0) for endpoint in JOB_READ_ENDPOINTS[api]}
    assert reads[JOB_READ_ENDPOINTS[api][0]] == 1 and sum(reads.values()) == 1, reads


# ------------------------------------------------------------------------------- 8. smaller
@MODES
def test_queued_s_comes_from_airbytes_own_times(airbyte_at: Any, deferrable: bool) -> None:
    airbyte = airbyte_at("config")
    conn = connection(airbyte, pending_s=0.05, running_s=0.3)
    # The config API gives whole epoch seconds: start early in a second, so that the job's creation
    # and start (0.05 s apart) fall in the same second there as well.
    time.sleep((1.1 - time.time() % 1) % 1)
    context = Run().context()
    returned = run_to_end(operator(conn, wait_seconds=1, deferrable=deferrable), context)
    job = airbyte.job(returned)
    assert job["origin"] == "api" and job["status"] == "succeeded"
    own = job["started_at"] - job["created_at"]
    queued = context["ti"].xcoms["airbyte_job"]["queued_s"]
    assert queued is not None and abs(queued - own) < 0.5, (queued, own)


def test_a_clear_on_a_server_without_clear_starts_exactly_one_reset(airbyte_at: Any) -> None:
    airbyte = airbyte_at("config", server_version="2022")
    conn = connection(airbyte, **QUICK)
    returned = run_to_end(operator(conn, job_type="clear"), Run().context())
    jobs = [(job["id"], job["job_type"], job["status"]) for job in api_jobs(airbyte)]
    assert jobs == [(returned, "reset", "succeeded")]


def test_a_clear_sent_as_a_reset_whose_answer_is_lost_takes_that_reset_as_its_job(airbyte_at: Any) -> None:
    airbyte = airbyte_at("config", server_version="2022")
    conn = connection(airbyte, **QUICK)
    airbyte.add_fault(r"/api/v1/connections/reset$", drop=True, after=True)
    lag_listing(airbyte, "config", reads=2)
    returned, errors = run_tries(Run(), lambda: operator(conn, job_type="clear"))
    jobs = [(job["id"], job["job_type"], job["status"]) for job in api_jobs(airbyte)]
    assert jobs == [(returned, "reset", "succeeded")], errors


def test_a_clear_never_takes_another_partys_reset_for_its_own(airbyte_at: Any) -> None:
    airbyte = airbyte_at("config")
    conn = connection(airbyte, **SLOW)
    theirs: list[int] = []
    # Another party's reset lands just as our clear goes out, and our clear is lost on the way.
    airbyte.on_request(r"/connections/clear$", lambda: theirs.append(airbyte.start_job(conn, "reset")))
    airbyte.add_fault(r"/connections/clear$", drop=True)
    with pytest.raises(AirbyteSyncAlreadyRunning) as raised:
        run_to_end(operator(conn, job_type="clear", if_running="fail"), Run().context())
    assert names_job(str(raised.value), theirs[0])
    assert api_jobs(airbyte) == [] and still_running(airbyte, theirs[0])  # not taken, not cancelled


def test_if_running_fail_names_the_running_job_and_advises_wait_and_attach(airbyte_at: Any) -> None:
    airbyte = airbyte_at()
    conn = connection(airbyte, **SLOW)
    theirs = airbyte.start_job(conn)
    with pytest.raises(AirbyteSyncAlreadyRunning) as refused:
        operator(conn, if_running="fail").execute(Run().context())
    message = str(refused.value)
    assert refused.value.job_id == theirs and names_job(message, theirs), message
    assert "if_running='wait'" in message and "'attach'" in message, message
    assert still_running(airbyte, theirs), airbyte.job(theirs)["status"]
    assert api_jobs(airbyte) == []
    airbyte.cancel_job(theirs)


def test_if_running_attach_never_advises_attach(airbyte_at: Any) -> None:
    airbyte = airbyte_at()
    conn = connection(airbyte, **SLOW)
    errors: list[str] = []
    # the same running sync, then a running reset a sync cannot attach to
    for job_type in ("sync", "reset"):
        theirs = airbyte.start_job(conn, job_type)
        try:
            operator(conn, if_running="attach", timeout=0.3).execute(Run().context())
        except AirbyteError as exc:
            errors.append(str(exc))
        # not this task's: never cancelled
        assert still_running(airbyte, theirs), airbyte.job(theirs)["status"]
        airbyte.cancel_job(theirs)
    assert errors
    assert not [message for message in errors if "'attach'" in message], errors
    assert api_jobs(airbyte) == []


def test_a_wait_that_times_out_on_a_foreign_job_says_it_was_not_this_tasks(airbyte_at: Any) -> None:
    airbyte = airbyte_at()
    conn = connection(airbyte, **SLOW)
    theirs = airbyte.start_job(conn)
    with pytest.raises(AirbyteTimeout) as timed_out:
        operator(conn, if_running="wait", timeout=0.3).execute(Run().context())
    assert re.search(r"not this task's|not ours", str(timed_out.value)), str(timed_out.value)
    assert still_running(airbyte, theirs), airbyte.job(theirs)["status"]  # never cancelled
    assert api_jobs(airbyte) == []
    airbyte.cancel_job(theirs)
