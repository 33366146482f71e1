"""Handlers of Airbyte's configuration API (``/api/v1``), in its 2026 and 2022 dialects.

Shapes follow ``config-api-2026.yaml`` / ``config-api-2022.yaml``; where the server is known to
disagree with its spec (500 instead of 404 for an unknown job id, 409 for a sync already running)
the server's behaviour wins, as described in the shared API notes.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from airflow_provider_airbyte_sync.testing.auth import Authenticator, InvalidCredentials
from airflow_provider_airbyte_sync.testing.httpserver import Request, Response
from airflow_provider_airbyte_sync.testing.responses import (
    HttpError,
    invalid_input,
    json_response,
    known_exception,
)
from airflow_provider_airbyte_sync.testing.routing import CONFIG_PREFIX, Route
from airflow_provider_airbyte_sync.testing.state import (
    AttemptView,
    ConnectionNotActive,
    EmulatorState,
    JobView,
    SyncAlreadyRunning,
    UnknownConnection,
    UnknownJob,
    UnknownWorkspace,
)

__all__ = ["ConfigApi", "attempt_read", "job_read"]

CONFIG_TYPES_2026 = (
    "check_connection_source",
    "check_connection_destination",
    "discover_schema",
    "get_spec",
    "sync",
    "reset_connection",
    "refresh",
    "clear",
)
CONFIG_TYPES_2022 = CONFIG_TYPES_2026[:6]
JOB_STATUSES_2026 = ("pending", "queued", "running", "incomplete", "failed", "succeeded", "cancelled")
JOB_STATUSES_2022 = tuple(s for s in JOB_STATUSES_2026 if s != "queued")
DEFAULT_PAGE_SIZE = 200


def _body(request: Request) -> dict[str, Any]:
    """The JSON object body; 422 when it is not JSON (Airbyte's behaviour), 400 when it is empty."""
    if not request.body.strip():
        raise HttpError(known_exception(400, "Required request body is missing"))
    try:
        body = request.json()
    except ValueError as exc:
        raise HttpError(invalid_input(f"Invalid json. {exc}")) from None
    if not isinstance(body, dict):
        raise HttpError(invalid_input("Invalid json. The request body must be a JSON object."))
    return body


def _required(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None:
        raise HttpError(known_exception(400, f"Required property '{name}' is missing from the request body"))
    return value


def _uuid(body: dict[str, Any], name: str) -> str:
    value = _required(body, name)
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise HttpError(known_exception(400, f"Property '{name}' is not a valid UUID: {value!r}")) from None


def _job_id(body: dict[str, Any]) -> int:
    value = _required(body, "id")
    # Jackson accepts a number or a numeric string for a long, nothing else.
    is_long = isinstance(value, int) or (isinstance(value, str) and value.isdigit())
    if isinstance(value, bool) or not is_long:
        raise HttpError(known_exception(400, f"Property 'id' must be an integer job id, not {value!r}"))
    return int(value)


def _secs(t: float | None) -> int | None:
    return None if t is None else int(t)


def attempt_read(a: AttemptView, version: str) -> dict[str, Any]:
    """An ``AttemptRead``."""
    stats: dict[str, Any] = {
        "recordsEmitted": a.records,
        "bytesEmitted": a.bytes,
        "stateMessagesEmitted": a.records // 1000,
        "recordsCommitted": a.records,
    }
    if version != "2022":
        stats["bytesCommitted"] = a.bytes
        stats["recordsRejected"] = 0
    read: dict[str, Any] = {
        "id": a.number,
        "status": a.status,
        "createdAt": int(a.created_at),
        "updatedAt": int(a.updated_at),
        "bytesSynced": a.bytes,
        "recordsSynced": a.records,
        "totalStats": stats,
        "streamStats": [],
    }
    if a.ended_at is not None:
        read["endedAt"] = int(a.ended_at)
    if a.failure is not None:
        reason = dict(a.failure)
        reason["timestamp"] = int((a.ended_at or a.updated_at) * 1000)  # milliseconds
        read["failureSummary"] = {"failures": [reason], "partialSuccess": a.records > 0}
    return read


def job_read(v: JobView, version: str, *, with_stats: bool) -> dict[str, Any]:
    """A ``JobRead``; ``aggregatedStats`` only where the server sends it and only on 2026 servers."""
    read: dict[str, Any] = {
        "id": v.job_id,
        "configType": v.config_type,
        "configId": v.connection_id,
        "createdAt": int(v.created_at),
        "updatedAt": int(v.updated_at),
        "status": v.status,
    }
    if version != "2022" and v.started_at is not None:
        read["startedAt"] = int(v.started_at)
    if v.config_type in ("reset_connection", "clear"):
        read["resetConfig"] = {"streamsToReset": []}
    if with_stats and version != "2022":
        records, size = v.records, v.bytes
        read["aggregatedStats"] = {
            "recordsEmitted": records,
            "bytesEmitted": size,
            "recordsCommitted": records,
            "bytesCommitted": size,
            "recordsRejected": 0,
        }
    return read


def _log_lines(v: JobView, a: AttemptView) -> list[str]:
    def ts(t: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))

    lines = [
        f"{ts(a.created_at)} platform > Executing worker wrapper. Airbyte version: emulator",
        f"{ts(a.created_at)} platform > Starting replication: connection {v.connection_id}, "
        f"job {v.job_id}, attempt {a.number}",
        f"{ts(a.updated_at)} replication-orchestrator > Records read: {a.records} ({a.bytes} bytes)",
    ]
    if a.status == "failed" and a.failure is not None:
        lines.append(f"{ts(a.updated_at)} platform > ERROR {a.failure.get('externalMessage', 'failed')}")
    elif a.status == "succeeded":
        lines.append(
            f"{ts(a.updated_at)} platform > Sync summary: status succeeded, {a.records} records committed"
        )
    return lines


class ConfigApi:
    """``/api/v1`` handlers over one :class:`EmulatorState`."""

    def __init__(self, state: EmulatorState, auth: Authenticator, version: str) -> None:
        self.state = state
        self.auth = auth
        self.version = version

    def routes(self) -> list[Route]:
        p = CONFIG_PREFIX
        post = [
            ("connections/get", self.connections_get),
            ("connections/list", self.connections_list),
            ("connections/sync", self.connections_sync),
            ("connections/reset", self.connections_reset),
            ("jobs/get", self.jobs_get),
            ("jobs/get_light", self.jobs_get_light),
            ("jobs/list", self.jobs_list),
            ("jobs/cancel", self.jobs_cancel),
            ("workspaces/get_by_connection_id", self.workspaces_get_by_connection_id),
        ]
        if self.version != "2022":
            # Added after the 2022 servers: those answer 404 for these paths.
            post += [
                ("connections/clear", self.connections_clear),
                ("jobs/get_without_logs", self.jobs_get_without_logs),
                ("applications/token", self.applications_token),
            ]
        routes = [Route("GET", f"{p}/health", self.health, "config", anonymous=True)]
        for name, handler in post:
            routes.append(
                Route("POST", f"{p}/{name}", handler, "config", anonymous=name == "applications/token")
            )
        return routes

    # -- rendering -------------------------------------------------------------------------------

    def _job_info(self, v: JobView, *, logs: bool, stats: bool) -> dict[str, Any]:
        attempts = []
        for a in v.attempts:
            item: dict[str, Any] = {"attempt": attempt_read(a, self.version)}
            if logs:
                if self.version != "2022":
                    item["logType"] = "formatted"
                item["logs"] = {"logLines": _log_lines(v, a)}
            attempts.append(item)
        return {"job": job_read(v, self.version, with_stats=stats), "attempts": attempts}

    def _connection_read(self, c: dict[str, Any]) -> dict[str, Any]:
        read: dict[str, Any] = {
            "connectionId": c["connection_id"],
            "name": c["name"],
            "namespaceDefinition": "destination",
            "namespaceFormat": "${SOURCE_NAMESPACE}",
            "prefix": "",
            "sourceId": c["source_id"],
            "destinationId": c["destination_id"],
            "operationIds": [],
            "syncCatalog": {"streams": []},
            "scheduleType": "manual",
            "status": c["status"],
            "breakingChange": False,
            "notifySchemaChanges": False,
            "nonBreakingChangesPreference": "ignore",
        }
        if self.version != "2022":
            read.update(
                {
                    "workspaceId": c["workspace_id"],
                    "created_at": int(c["created_at"]),
                    "notifySchemaChangesByEmail": False,
                    "backfillPreference": "disabled",
                }
            )
        return read

    def _job_or_500(self, job_id: int) -> JobView:
        try:
            return self.state.job(job_id)
        except UnknownJob:
            # The spec promises 404; the server answers 500.
            raise HttpError(
                known_exception(500, f"Could not find job with id: {job_id}", "java.lang.RuntimeException")
            ) from None

    def _connection_404(self, connection_id: str) -> HttpError:
        return HttpError(
            known_exception(
                404, f"Could not find configuration for STANDARD_SYNC: {connection_id}.", id=connection_id
            )
        )

    # -- handlers --------------------------------------------------------------------------------

    def health(self, request: Request, params: dict[str, str]) -> Response:
        return json_response({"available": True})

    def connections_get(self, request: Request, params: dict[str, str]) -> Response:
        cid = _uuid(_body(request), "connectionId")
        try:
            return json_response(self._connection_read(self.state.connection(cid)))
        except UnknownConnection:
            raise self._connection_404(cid) from None

    def connections_list(self, request: Request, params: dict[str, str]) -> Response:
        wid = _uuid(_body(request), "workspaceId")
        try:
            self.state.workspace(wid)
        except UnknownWorkspace:
            raise HttpError(
                known_exception(404, f"Could not find configuration for STANDARD_WORKSPACE: {wid}.", id=wid)
            ) from None
        return json_response(
            {
                "connections": [
                    self._connection_read(c)
                    for c in self.state.connections([wid])
                    if c["status"] != "deprecated"
                ],
            }
        )

    def _start(self, request: Request, config_type: str) -> Response:
        cid = _uuid(_body(request), "connectionId")
        try:
            view = self.state.create_job(cid, config_type)
        except UnknownConnection:
            raise self._connection_404(cid) from None
        except ConnectionNotActive:
            raise HttpError(known_exception(500, "Can only sync an active connection")) from None
        except SyncAlreadyRunning:
            raise HttpError(known_exception(409, f"A sync is already running for: {cid}")) from None
        return json_response(self._job_info(view, logs=True, stats=False))

    def connections_sync(self, request: Request, params: dict[str, str]) -> Response:
        return self._start(request, "sync")

    def connections_reset(self, request: Request, params: dict[str, str]) -> Response:
        return self._start(request, "reset_connection")

    def connections_clear(self, request: Request, params: dict[str, str]) -> Response:
        return self._start(request, "clear")

    def jobs_get(self, request: Request, params: dict[str, str]) -> Response:
        view = self._job_or_500(_job_id(_body(request)))
        return json_response(self._job_info(view, logs=True, stats=False))

    def jobs_get_light(self, request: Request, params: dict[str, str]) -> Response:
        view = self._job_or_500(_job_id(_body(request)))
        return json_response({"job": job_read(view, self.version, with_stats=False)})

    def jobs_get_without_logs(self, request: Request, params: dict[str, str]) -> Response:
        view = self._job_or_500(_job_id(_body(request)))
        return json_response(self._job_info(view, logs=False, stats=True))

    def jobs_cancel(self, request: Request, params: dict[str, str]) -> Response:
        job_id = _job_id(_body(request))
        try:
            view, _changed = self.state.cancel_job(job_id)
        except UnknownJob:
            raise HttpError(
                known_exception(500, f"Could not find job with id: {job_id}", "java.lang.RuntimeException")
            ) from None
        # A job that already ended is answered as it is: cancelling is then a no-op.
        return json_response(self._job_info(view, logs=True, stats=False))

    def jobs_list(self, request: Request, params: dict[str, str]) -> Response:
        body = _body(request)
        config_types = _required(body, "configTypes")
        allowed_types = CONFIG_TYPES_2022 if self.version == "2022" else CONFIG_TYPES_2026
        if not isinstance(config_types, list) or any(t not in allowed_types for t in config_types):
            raise HttpError(known_exception(400, f"configTypes must be a list of {', '.join(allowed_types)}"))
        statuses = body.get("statuses")
        allowed_statuses = JOB_STATUSES_2022 if self.version == "2022" else JOB_STATUSES_2026
        if statuses is not None and (
            not isinstance(statuses, list) or any(s not in allowed_statuses for s in statuses)
        ):
            raise HttpError(known_exception(400, f"statuses must be a list of {', '.join(allowed_statuses)}"))
        config_id = body.get("configId")
        pagination = body.get("pagination") or {}
        if not isinstance(pagination, dict):
            raise HttpError(known_exception(400, "pagination must be an object"))
        page_size = pagination.get("pageSize", DEFAULT_PAGE_SIZE)
        offset = pagination.get("rowOffset", 0)
        if not isinstance(page_size, int) or not isinstance(offset, int) or page_size < 0 or offset < 0:
            raise HttpError(known_exception(400, "pagination.pageSize and rowOffset must be integers >= 0"))
        order_field = body.get("orderByField", "createdAt")
        order_method = body.get("orderByMethod", "DESC")
        if order_field not in ("createdAt", "updatedAt") or order_method not in ("ASC", "DESC"):
            raise HttpError(known_exception(400, "orderByField/orderByMethod invalid"))
        views = self.state.jobs(
            listing=True,
            connection_id=str(config_id) if config_id is not None else None,
            config_types=config_types,
            statuses=statuses,
        )
        if order_field == "createdAt":
            views.sort(key=lambda v: (v.created_at, v.job_id), reverse=order_method == "DESC")
        else:
            views.sort(key=lambda v: (int(v.updated_at), v.job_id), reverse=order_method == "DESC")
        page = views[offset : offset + page_size]
        return json_response(
            {
                "jobs": [
                    {
                        "job": job_read(v, self.version, with_stats=True),
                        "attempts": [attempt_read(a, self.version) for a in v.attempts],
                    }
                    for v in page
                ],
                "totalJobCount": len(views),
            }
        )

    def workspaces_get_by_connection_id(self, request: Request, params: dict[str, str]) -> Response:
        cid = _uuid(_body(request), "connectionId")
        try:
            ws = self.state.workspace_of_connection(cid)
        except UnknownConnection:
            raise self._connection_404(cid) from None
        read: dict[str, Any] = {
            "workspaceId": ws.workspace_id,
            "customerId": ws.customer_id,
            "name": ws.name,
            "slug": ws.slug,
            "initialSetupComplete": True,
            "displaySetupWizard": False,
            "anonymousDataCollection": False,
            "news": False,
            "securityUpdates": False,
            "notifications": [],
            "firstCompletedSync": True,
            "feedbackDone": False,
        }
        if self.version != "2022":
            read["organizationId"] = ws.organization_id
            read["tombstone"] = False
        return json_response(read)

    def applications_token(self, request: Request, params: dict[str, str]) -> Response:
        body = _body(request)
        client_id = _required(body, "client_id")
        client_secret = _required(body, "client_secret")
        try:
            token, _lifetime = self.auth.issue_token(str(client_id), str(client_secret))
        except InvalidCredentials as exc:
            raise HttpError(known_exception(400, str(exc))) from None
        # The config API answers the token alone: callers read the JWT's exp claim.
        return json_response({"access_token": token})
