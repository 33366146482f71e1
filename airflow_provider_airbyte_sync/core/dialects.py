"""The two dialects of Airbyte's API, each operation a flow: build each request, read each answer.

The *config* API (OSS ``/api/v1``, every call a POST with a JSON body) and the *public* API (Cloud
``https://api.airbyte.com/v1``, OSS ``/api/public/v1``).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import replace
from typing import Any

from airflow_provider_airbyte_sync.core import wire
from airflow_provider_airbyte_sync.core.settings import Flavour, Settings, join
from airflow_provider_airbyte_sync.core.status import AirbyteConnection, AirbyteJob, parse_time
from airflow_provider_airbyte_sync.core.values import normal_uuid
from airflow_provider_airbyte_sync.core.wire import Request, Resource, Response

NIL_UUID = "00000000-0000-0000-0000-000000000000"
_CONFIG_TYPES = {"sync": "sync", "reset": "reset_connection", "clear": "clear"}
_FROM_CONFIG_TYPE = {"reset_connection": "reset", "sync": "sync", "clear": "clear", "refresh": "refresh"}


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _failure_line(attempt: Mapping[str, Any]) -> str | None:
    summary = attempt.get("failureSummary") or {}
    failures = summary.get("failures") or []
    if not failures:
        return None
    first = failures[0]
    origin = first.get("failureOrigin") or "unknown origin"
    kind = first.get("failureType") or "unknown type"
    message = first.get("externalMessage") or first.get("internalMessage") or "no message"
    return f"{origin}/{kind}: {message}"


def _answer_job_id(value: Any) -> int:
    """A job id in an answer: a positive JSON integer, nothing else."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"not a job id: {value!r}")
    return value


def job_from_config(data: Mapping[str, Any]) -> AirbyteJob:
    """Read a config-API ``JobInfoRead``/``JobWithAttemptsRead``/``JobInfoLightRead``.

    Raises ``ValueError``/``KeyError``/``TypeError``/``AttributeError`` on a body of another shape.
    """
    job = data["job"]
    attempts = [a.get("attempt", a) for a in data.get("attempts") or []]
    stats = job.get("aggregatedStats") or {}
    rows = _int(stats.get("recordsCommitted", stats.get("recordsEmitted")))
    size = _int(stats.get("bytesCommitted", stats.get("bytesEmitted")))
    if rows is None and attempts:
        last = attempts[-1]
        totals = last.get("totalStats") or {}
        rows = _int(totals.get("recordsCommitted", last.get("recordsSynced")))
        size = _int(totals.get("bytesCommitted", last.get("bytesSynced")))
    failures = tuple(line for a in attempts if (line := _failure_line(a)))
    return AirbyteJob(
        job_id=_answer_job_id(job["id"]),
        connection_id=normal_uuid(job.get("configId")),
        job_type=_FROM_CONFIG_TYPE.get(job.get("configType", ""), job.get("configType") or "sync"),
        status=str(job.get("status") or "").lower(),
        created_at=parse_time(job.get("createdAt")),
        updated_at=parse_time(job.get("updatedAt")),
        started_at=parse_time(job.get("startedAt")),
        rows_synced=rows,
        bytes_synced=size,
        attempts=len(attempts),
        failure=failures[-1] if failures else None,
        attempt_failures=failures,
    )


def job_from_public(data: Mapping[str, Any]) -> AirbyteJob:
    """Read a public-API ``JobResponse``; ``lastUpdatedAt`` is only there once the job ended."""
    return AirbyteJob(
        job_id=_answer_job_id(data["jobId"]),
        connection_id=normal_uuid(data.get("connectionId")),
        job_type=str(data.get("jobType") or "sync").lower(),
        status=str(data.get("status") or "").lower(),
        created_at=parse_time(data.get("startTime")),
        updated_at=parse_time(data.get("lastUpdatedAt")),
        rows_synced=_int(data.get("rowsSynced")),
        bytes_synced=_int(data.get("bytesSynced")),
    )


_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, OverflowError)


def _read_job(response: Response, action: str, reader: Any) -> AirbyteJob:
    data = wire.parse_json(response, action)
    try:
        return reader(data)
    except _SHAPE_ERRORS as exc:
        raise wire.malformed(response, action, "an Airbyte job") from exc


def _read_jobs(response: Response, action: str, key: str, reader: Any) -> list[AirbyteJob]:
    """A listing's jobs, newest first; a body of any other shape is an error, never "no jobs"."""
    data = wire.parse_json(response, action)
    items = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise wire.malformed(response, action, f"a list of jobs ({key!r})")
    try:
        jobs = [reader(item) for item in items]
    except _SHAPE_ERRORS as exc:
        raise wire.malformed(response, action, "Airbyte jobs") from exc
    return sorted(jobs, key=lambda job: job.job_id, reverse=True)


class Dialect:
    """Build requests and read answers for one API flavour. Subclasses fill in the two dialects."""

    flavour: Flavour
    _list_one_job: Request

    def __init__(self, settings: Settings, conn_id: str = "") -> None:
        self.settings = settings
        self.conn_id = conn_id

    def _raise(
        self, response: Response, action: str, subject: Any = "", resource: Resource = "other"
    ) -> None:
        wire.raise_for_answer(
            response, action=action, conn_id=self.conn_id, subject=str(subject), resource=resource
        )

    def _read_connection(self, response: Response, connection_id: str) -> AirbyteConnection:
        """Both APIs name a connection's fields alike (ConnectionRead, ConnectionResponse)."""
        self._raise(response, "get connection", connection_id, resource="connection")
        data = wire.parse_json(response, "get connection")
        if not isinstance(data, Mapping) or not isinstance(data.get("status"), str):
            raise wire.malformed(response, "get connection", "an Airbyte connection")
        return AirbyteConnection(
            connection_id=normal_uuid(data.get("connectionId")) or connection_id,
            name=data.get("name") or "",
            status=str(data.get("status") or "").lower(),
            workspace_id=data.get("workspaceId"),
        )

    # Each flow below is a generator: ``result = yield from dialect.get_job(1)``.
    def check_credentials(self) -> Generator[Request, Response, None]:
        """One cheap call that needs the credentials (a health check does not)."""
        response = yield self._list_one_job
        self._raise(response, "list jobs with the connection's credentials")
        wire.parse_json(response, "list jobs")

    def get_connection(self, connection_id: str) -> Generator[Request, Response, AirbyteConnection]:
        raise NotImplementedError

    def create_kind(self, job_type: str) -> str:
        """The job type a create for ``job_type`` is sent as, by what this server is known to have."""
        return job_type

    def submit(self, connection_id: str, kind: str) -> Generator[Request, Response, AirbyteJob | None]:
        """Send one create to ``kind``'s endpoint; ``None``: this server has no such endpoint (nothing
        was made; :meth:`create_kind` now names its predecessor).
        """
        raise NotImplementedError

    def create(self, connection_id: str, job_type: str) -> Generator[Request, Response, AirbyteJob]:
        """Create a job of ``job_type``, as its predecessor where this server lacks its endpoint."""
        while True:
            job = yield from self.submit(connection_id, self.create_kind(job_type))
            if job is not None:
                return job

    def get_job(self, job_id: int) -> Generator[Request, Response, AirbyteJob]:
        raise NotImplementedError

    def cancel(self, job_id: int) -> Generator[Request, Response, AirbyteJob | None]:
        raise NotImplementedError

    def list_jobs(
        self, connection_id: str, *, limit: int = 20, offset: int = 0, job_type: str | None = None
    ) -> Generator[Request, Response, list[AirbyteJob]]:
        """Jobs of a connection, newest first."""
        raise NotImplementedError

    def workspace_of(self, connection_id: str) -> Generator[Request, Response, str | None]:
        raise NotImplementedError

    def failure_reason(self, job: AirbyteJob) -> Generator[Request, Response, AirbyteJob]:
        """Fill in Airbyte's failure reason of a failed job (only the config API has it)."""
        raise NotImplementedError

    def find_running_job(
        self, connection_id: str, job_type: str | None = None
    ) -> Generator[Request, Response, AirbyteJob | None]:
        """The newest job of the connection that has not ended, if any."""
        jobs = yield from self.list_jobs(connection_id, limit=20, job_type=job_type)
        return next((job for job in jobs if job.state in ("in_progress", "unknown")), None)

    def newest_job_id(self, connection_id: str, job_type: str) -> Generator[Request, Response, int]:
        """The newest id of the connection's jobs (0 if none): job ids only grow.

        Syncs and resets always (a note only needs to be no older than any job of ours), and
        clears when a clear is asked for (a 2022 server refuses "clear" as a listing type).
        """
        jobs = yield from self.list_jobs(connection_id, limit=1)
        newest = max((job.job_id for job in jobs), default=0)
        if job_type == "clear":
            clears = yield from self.list_jobs(connection_id, limit=1, job_type="clear")
            newest = max([newest, *(job.job_id for job in clears)])
        return newest


class ConfigDialect(Dialect):
    """The config API: ``POST {base}/connections/sync`` and friends, epoch-second times."""

    flavour: Flavour = "config"
    _list_one_job = Request(
        "POST",
        "jobs/list",
        json={"configTypes": ["sync"], "configId": NIL_UUID, "pagination": {"pageSize": 1, "rowOffset": 0}},
    )
    # Polling never downloads attempt logs: jobs/get_without_logs (2023+), else jobs/get_light.
    _job_paths = ("jobs/get_without_logs", "jobs/get_light")

    def __init__(self, settings: Settings, conn_id: str = "") -> None:
        super().__init__(settings, conn_id)
        self._job_path_index = 0
        self._no_clear_type = False
        self._no_clear_endpoint = False

    def get_connection(self, connection_id: str) -> Generator[Request, Response, AirbyteConnection]:
        response = yield Request("POST", "connections/get", json={"connectionId": connection_id})
        return self._read_connection(response, connection_id)

    def create_kind(self, job_type: str) -> str:
        # Servers before 2026 have no clear endpoint; reset is its predecessor (and makes a reset).
        return "reset" if job_type == "clear" and self._no_clear_endpoint else job_type

    def submit(self, connection_id: str, kind: str) -> Generator[Request, Response, AirbyteJob | None]:
        path = {"sync": "connections/sync", "reset": "connections/reset", "clear": "connections/clear"}
        response = yield Request("POST", path[kind], json={"connectionId": connection_id}, kind="create")
        if kind == "clear" and response.status == 404 and not wire.says_not_found(response, "connection"):
            self._no_clear_endpoint = True
            return None
        self._raise(response, f"start a {kind} of connection", connection_id, resource="connection")
        return _read_job(response, f"start a {kind}", job_from_config)

    def get_job(self, job_id: int) -> Generator[Request, Response, AirbyteJob]:
        while True:
            path = self._job_paths[self._job_path_index]
            response = yield Request("POST", path, json={"id": job_id})
            if response.status == 404 and self._job_path_index + 1 < len(self._job_paths):
                self._job_path_index += 1  # an older server: remember and fall back
                continue
            self._raise(response, "get job", job_id, resource="job")
            return _read_job(response, f"get job {job_id}", job_from_config)

    def cancel(self, job_id: int) -> Generator[Request, Response, AirbyteJob | None]:
        response = yield Request("POST", "jobs/cancel", json={"id": job_id}, kind="cancel")
        self._raise(response, "cancel job", job_id, resource="job")
        return _read_job(response, f"cancel job {job_id}", job_from_config)

    def list_jobs(
        self, connection_id: str, *, limit: int = 20, offset: int = 0, job_type: str | None = None
    ) -> Generator[Request, Response, list[AirbyteJob]]:
        # A clear is listed with its predecessor, reset (older servers make a reset of it); servers
        # before 2026 refuse "clear" as a config type (400): they are asked for resets, and remembered.
        if job_type == "clear":
            types = ["reset_connection"] if self._no_clear_type else ["clear", "reset_connection"]
        else:
            types = [_CONFIG_TYPES[job_type]] if job_type else ["sync", "reset_connection"]
        body = {
            "configTypes": types,
            "configId": connection_id,
            "pagination": {"pageSize": limit, "rowOffset": offset},
        }
        response = yield Request("POST", "jobs/list", json=body)
        no_clear_type = response.status == 400 and "configtypes" in wire.airbyte_message(response).lower()
        if "clear" in types and no_clear_type:
            self._no_clear_type = True
            body["configTypes"] = ["reset_connection"]
            response = yield Request("POST", "jobs/list", json=body)
        self._raise(response, "list jobs of connection", connection_id, resource="connection")
        return _read_jobs(response, "list jobs", "jobs", job_from_config)

    def find_running_job(
        self, connection_id: str, job_type: str | None = None
    ) -> Generator[Request, Response, AirbyteJob | None]:
        running = yield from super().find_running_job(connection_id, job_type)
        if running is not None or job_type is not None or self._no_clear_type:
            return running
        # A running clear blocks a sync too (listed with resets; older servers have none).
        return (yield from super().find_running_job(connection_id, "clear"))

    def failure_reason(self, job: AirbyteJob) -> Generator[Request, Response, AirbyteJob]:
        if job.failure or self._job_path_index == 0 or not job.connection_id:
            return job  # jobs/get_without_logs already carried the attempts
        # Older servers: jobs/get_light has no attempts, jobs/list has them without logs.
        jobs = yield from self.list_jobs(job.connection_id, limit=20)
        detailed = next((candidate for candidate in jobs if candidate.job_id == job.job_id), None)
        if detailed is None:
            return job
        return replace(job, failure=detailed.failure, attempt_failures=detailed.attempt_failures)

    def workspace_of(self, connection_id: str) -> Generator[Request, Response, str | None]:
        body = {"connectionId": connection_id}
        response = yield Request("POST", "workspaces/get_by_connection_id", json=body)
        if not response.ok:
            return None
        data = wire.parse_json(response, "get the workspace")
        return data.get("workspaceId") if isinstance(data, Mapping) else None


class PublicDialect(Dialect):
    """The public API: ``POST {base}/jobs``, ``GET {base}/jobs/{id}``, ISO times, problem bodies."""

    flavour: Flavour = "public"
    _list_one_job = Request("GET", "jobs", params={"limit": 1})

    def get_connection(self, connection_id: str) -> Generator[Request, Response, AirbyteConnection]:
        response = yield Request("GET", f"connections/{connection_id}")
        return self._read_connection(response, connection_id)

    def submit(self, connection_id: str, kind: str) -> Generator[Request, Response, AirbyteJob | None]:
        body = {"connectionId": connection_id, "jobType": kind}
        response = yield Request("POST", "jobs", json=body, kind="create")
        self._raise(response, f"start a {kind} of connection", connection_id, resource="connection")
        return _read_job(response, f"start a {kind}", job_from_public)

    def get_job(self, job_id: int) -> Generator[Request, Response, AirbyteJob]:
        response = yield Request("GET", f"jobs/{job_id}")
        self._raise(response, "get job", job_id, resource="job")
        return _read_job(response, f"get job {job_id}", job_from_public)

    def cancel(self, job_id: int) -> Generator[Request, Response, AirbyteJob | None]:
        response = yield Request("DELETE", f"jobs/{job_id}", kind="cancel")
        if response.status == 409 and "state-conflict" in wire.problem_title(response):
            return None  # the job already ended: nothing left to cancel
        self._raise(response, "cancel job", job_id, resource="job")
        return _read_job(response, f"cancel job {job_id}", job_from_public)

    def list_jobs(
        self, connection_id: str, *, limit: int = 20, offset: int = 0, job_type: str | None = None
    ) -> Generator[Request, Response, list[AirbyteJob]]:
        # Ascending unless asked; page with offset (the server's next links break behind a proxy).
        params = {
            "connectionId": connection_id,
            "limit": min(limit, 100),
            "offset": offset,
            "orderBy": "createdAt|DESC",
            "jobType": job_type,
        }
        response = yield Request("GET", "jobs", params=params)
        self._raise(response, "list jobs of connection", connection_id, resource="connection")
        return _read_jobs(response, "list jobs", "data", job_from_public)

    def workspace_of(self, connection_id: str) -> Generator[Request, Response, str | None]:
        connection = yield from self.get_connection(connection_id)
        return connection.workspace_id

    def failure_reason(self, job: AirbyteJob) -> Generator[Request, Response, AirbyteJob]:
        if not self.settings.config_api_url:
            return job
        url = join(self.settings.config_api_url, "jobs/get_without_logs")
        response = yield Request("POST", url, json={"id": job.job_id})
        if not response.ok:
            return job  # a reason is a bonus: never let it hide the failure itself
        try:
            detailed = job_from_config(response.json())
        except (*_SHAPE_ERRORS, UnicodeDecodeError):
            return job
        return replace(
            job,
            failure=detailed.failure,
            attempt_failures=detailed.attempt_failures,
            attempts=detailed.attempts,
        )


def dialect_for(settings: Settings, conn_id: str = "") -> Dialect:
    return (ConfigDialect if settings.flavour == "config" else PublicDialect)(settings, conn_id)
