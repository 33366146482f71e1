"""Handlers of Airbyte's public API, served under ``/api/public/v1`` (OSS) and ``/v1`` (Cloud).

Shapes follow ``public-api-2026.yaml``; errors are RFC 9457 problems from
``public-api-problems-2026.yaml``. Times are rendered like Java's ``OffsetDateTime.toString()``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from airflow_provider_airbyte_sync.testing.auth import Authenticator, InvalidCredentials
from airflow_provider_airbyte_sync.testing.formats import java_duration, java_offset_datetime
from airflow_provider_airbyte_sync.testing.httpserver import Request, Response
from airflow_provider_airbyte_sync.testing.responses import HttpError, json_response, problem
from airflow_provider_airbyte_sync.testing.routing import PUBLIC_PREFIXES, Route
from airflow_provider_airbyte_sync.testing.state import (
    PUBLIC_TO_CONFIG_JOB_TYPE,
    ConnectionNotActive,
    EmulatorState,
    JobView,
    SyncAlreadyRunning,
    UnknownConnection,
    UnknownJob,
)

__all__ = ["PublicApi", "job_response"]

JOB_STATUSES = ("pending", "queued", "running", "incomplete", "failed", "succeeded", "cancelled")
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


def job_response(v: JobView) -> dict[str, Any]:
    """A ``JobResponse``; ``lastUpdatedAt`` only once the job ended."""
    end = v.ended_at if v.ended_at is not None else v.now
    out: dict[str, Any] = {
        "jobId": v.job_id,
        "status": v.status,
        "jobType": v.job_type,
        "connectionId": v.connection_id,
        # startTime is the creation time: the queue wait counts in it.
        "startTime": java_offset_datetime(v.created_at),
        "duration": java_duration(int(end) - int(v.created_at)),
        "bytesSynced": v.bytes,
        "rowsSynced": v.records,
    }
    if v.ended_at is not None:
        out["lastUpdatedAt"] = java_offset_datetime(v.ended_at)
    return out


def connection_response(c: dict[str, Any]) -> dict[str, Any]:
    """A ``ConnectionResponse``."""
    return {
        "connectionId": c["connection_id"],
        "name": c["name"],
        "sourceId": c["source_id"],
        "destinationId": c["destination_id"],
        "workspaceId": c["workspace_id"],
        "status": c["status"],
        "schedule": {"scheduleType": "manual"},
        "nonBreakingSchemaUpdatesBehavior": "ignore",
        "namespaceDefinition": "destination",
        "prefix": "",
        "configurations": {"streams": []},
        "createdAt": int(c["created_at"]),
        "tags": [],
    }


def _bad(message: str) -> HttpError:
    return HttpError(problem("bad-request", message))


def _one(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[0] if values else None


def _int_param(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = _one(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(f"{name}: must be an integer, not {raw!r}") from None
    if value < low:
        raise _bad(f"{name}: must be greater than or equal to {low}")
    if high is not None and value > high:
        raise _bad(f"{name}: must be less than or equal to {high}")
    return value


def _uuid_or_400(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _bad(f"{name}: not a valid UUID: {value!r}") from None


def _uuid_list(request: Request, name: str) -> list[str]:
    out: list[str] = []
    for raw in request.query.get(name, []):
        out.extend(_uuid_or_400(part.strip(), name) for part in raw.split(",") if part.strip())
    return out


def _time_param(request: Request, name: str) -> float | None:
    raw = _one(request, name)
    if raw is None:
        return None
    try:
        if raw.isdigit():  # the spec's examples use epoch milliseconds
            return int(raw) / 1000
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _bad(f"{name}: not a date-time: {raw!r}") from None


class PublicApi:
    """Public API handlers over one :class:`EmulatorState`."""

    def __init__(self, state: EmulatorState, auth: Authenticator, *, refuse_form_token: bool = False) -> None:
        self.state = state
        self.auth = auth
        self.refuse_form_token = refuse_form_token

    def routes(self) -> list[Route]:
        routes = []
        for p in PUBLIC_PREFIXES:
            routes += [
                Route("GET", f"{p}/health", self.health, "public", anonymous=True),
                Route("POST", f"{p}/applications/token", self.applications_token, "public", anonymous=True),
                Route("POST", f"{p}/jobs", self.create_job, "public"),
                Route("GET", f"{p}/jobs", self.list_jobs, "public"),
                Route("GET", f"{p}/jobs/{{jobId}}", self.get_job, "public"),
                Route("DELETE", f"{p}/jobs/{{jobId}}", self.cancel_job, "public"),
                Route("GET", f"{p}/connections", self.list_connections, "public"),
                Route("GET", f"{p}/connections/{{connectionId}}", self.get_connection, "public"),
            ]
        return routes

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _prefix(request: Request) -> str:
        for p in PUBLIC_PREFIXES:
            if request.path.startswith(p + "/"):
                return p
        return PUBLIC_PREFIXES[0]

    def _page_links(
        self, request: Request, resource: str, offset: int, limit: int, total: int
    ) -> dict[str, str]:
        """``next``/``previous`` as absolute URLs built from the Host header, like the server does."""
        host = request.headers.get("host", "localhost")
        base = f"{request.scheme}://{host}{self._prefix(request)}/{resource}"
        kept = [(k, v) for k, v in parse_qsl(request.query_string) if k not in ("limit", "offset")]
        links = {}
        if offset + limit < total:
            links["next"] = f"{base}?{urlencode([*kept, ('limit', limit), ('offset', offset + limit)])}"
        if offset > 0:
            prev = max(0, offset - limit)
            links["previous"] = f"{base}?{urlencode([*kept, ('limit', limit), ('offset', prev)])}"
        return links

    @staticmethod
    def _json_body(request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError:
            raise HttpError(problem("unprocessable-entity", "The request body is not valid JSON")) from None
        if not isinstance(body, dict):
            raise HttpError(problem("unprocessable-entity", "The request body must be a JSON object"))
        return body

    def _job_id(self, params: dict[str, str]) -> int:
        raw = params["jobId"]
        if not raw.isdigit():
            raise _bad(f"jobId: must be an integer, not {raw!r}")
        return int(raw)

    @staticmethod
    def _job_404(job_id: int) -> HttpError:
        return HttpError(
            problem("resource-not-found", data={"resourceType": "job", "resourceId": str(job_id)})
        )

    @staticmethod
    def _connection_404(connection_id: str) -> HttpError:
        return HttpError(
            problem("resource-not-found", data={"resourceType": "connection", "resourceId": connection_id})
        )

    # -- handlers --------------------------------------------------------------------------------

    def health(self, request: Request, params: dict[str, str]) -> Response:
        return json_response({"available": True})

    def applications_token(self, request: Request, params: dict[str, str]) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            if self.refuse_form_token:
                # Some deployments only bind JSON here; users hit this with form-encoded clients.
                return json_response(
                    {
                        "message": "Unsupported Media Type",
                        "_embedded": {
                            "errors": [
                                {
                                    "message": (
                                        "Content Type [application/x-www-form-urlencoded] not allowed. "
                                        "Allowed types: [application/json]"
                                    )
                                }
                            ]
                        },
                    },
                    415,
                )
            body: dict[str, Any] = dict(parse_qsl(request.body.decode("utf-8", "replace")))
        else:
            body = self._json_body(request)
        client_id, client_secret = body.get("client_id"), body.get("client_secret")
        if not client_id or not client_secret:
            raise _bad("client_id and client_secret are required")
        grant = body.get("grant_type", body.get("grant-type", "client_credentials"))
        if grant != "client_credentials":
            raise _bad(f"Unsupported grant_type: {grant!r}")
        try:
            token, lifetime = self.auth.issue_token(str(client_id), str(client_secret))
        except InvalidCredentials as exc:
            raise _bad(str(exc)) from None
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": lifetime})

    def create_job(self, request: Request, params: dict[str, str]) -> Response:
        body = self._json_body(request)
        raw_cid, job_type = body.get("connectionId"), body.get("jobType")
        if not raw_cid or not job_type:
            raise _bad("connectionId and jobType are required")
        if job_type not in PUBLIC_TO_CONFIG_JOB_TYPE:
            raise _bad(f"jobType must be one of {', '.join(PUBLIC_TO_CONFIG_JOB_TYPE)}, not {job_type!r}")
        cid = _uuid_or_400(str(raw_cid), "connectionId")
        try:
            view = self.state.create_job(cid, PUBLIC_TO_CONFIG_JOB_TYPE[job_type])
        except UnknownConnection:
            raise self._connection_404(cid) from None
        except ConnectionNotActive:
            raise HttpError(problem("state-conflict", "Can only sync an active connection")) from None
        except SyncAlreadyRunning:
            raise HttpError(problem("try-again-later", f"A sync is already running for: {cid}")) from None
        return json_response(job_response(view))

    def get_job(self, request: Request, params: dict[str, str]) -> Response:
        job_id = self._job_id(params)
        try:
            return json_response(job_response(self.state.job(job_id)))
        except UnknownJob:
            raise self._job_404(job_id) from None

    def cancel_job(self, request: Request, params: dict[str, str]) -> Response:
        job_id = self._job_id(params)
        try:
            view, changed = self.state.cancel_job(job_id)
        except UnknownJob:
            raise self._job_404(job_id) from None
        if not changed:
            raise HttpError(
                problem(
                    "state-conflict",
                    f"Job {job_id} is not running (status: {view.status}) and cannot be cancelled",
                )
            )
        return json_response(job_response(view))

    def list_jobs(self, request: Request, params: dict[str, str]) -> Response:
        limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _int_param(request, "offset", 0, 0)
        raw_cid = _one(request, "connectionId")
        cid = _uuid_or_400(raw_cid, "connectionId") if raw_cid else None
        if cid is not None:
            try:
                self.state.connection(cid)
            except UnknownConnection:
                raise self._connection_404(cid) from None
        status = _one(request, "status")
        if status is not None and status not in JOB_STATUSES:
            raise _bad(f"status: must be one of {', '.join(JOB_STATUSES)}, not {status!r}")
        job_type = _one(request, "jobType")
        if job_type is not None and job_type not in PUBLIC_TO_CONFIG_JOB_TYPE:
            raise _bad(f"jobType: must be one of {', '.join(PUBLIC_TO_CONFIG_JOB_TYPE)}, not {job_type!r}")
        order_by = _one(request, "orderBy") or "createdAt|ASC"
        field_name, _, direction = order_by.partition("|")
        direction = direction or "ASC"
        if field_name not in ("createdAt", "updatedAt") or direction not in ("ASC", "DESC"):
            raise _bad(
                f"orderBy: expected createdAt|ASC, createdAt|DESC, updatedAt|ASC or updatedAt|DESC, "
                f"not {order_by!r}"
            )
        bounds = {
            name: _time_param(request, name)
            for name in ("createdAtStart", "createdAtEnd", "updatedAtStart", "updatedAtEnd")
        }
        views = self.state.jobs(
            listing=True,
            connection_id=cid,
            config_types=[PUBLIC_TO_CONFIG_JOB_TYPE[job_type]] if job_type else None,
            statuses=[status] if status else None,
            workspace_ids=_uuid_list(request, "workspaceIds") or None,
        )
        views = [
            v
            for v in views
            if _within(v.created_at, bounds["createdAtStart"], bounds["createdAtEnd"])
            and _within(v.updated_at, bounds["updatedAtStart"], bounds["updatedAtEnd"])
        ]
        if field_name == "createdAt":
            views.sort(key=lambda v: (v.created_at, v.job_id), reverse=direction == "DESC")
        else:
            views.sort(key=lambda v: (int(v.updated_at), v.job_id), reverse=direction == "DESC")
        page = views[offset : offset + limit]
        body: dict[str, Any] = self._page_links(request, "jobs", offset, limit, len(views))
        body["data"] = [job_response(v) for v in page]
        return json_response(body)

    def get_connection(self, request: Request, params: dict[str, str]) -> Response:
        cid = params["connectionId"]
        try:
            cid = str(uuid.UUID(cid))
            return json_response(connection_response(self.state.connection(cid)))
        except (ValueError, UnknownConnection):
            raise self._connection_404(cid) from None

    def list_connections(self, request: Request, params: dict[str, str]) -> Response:
        limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _int_param(request, "offset", 0, 0)
        include_deleted = (_one(request, "includeDeleted") or "false").lower() == "true"
        workspaces = _uuid_list(request, "workspaceIds") or None
        conns = [
            c for c in self.state.connections(workspaces) if include_deleted or c["status"] != "deprecated"
        ]
        body: dict[str, Any] = self._page_links(request, "connections", offset, limit, len(conns))
        body["data"] = [connection_response(c) for c in conns[offset : offset + limit]]
        return json_response(body)


def _within(t: float, low: float | None, high: float | None) -> bool:
    return (low is None or t >= low) and (high is None or t <= high)
