"""In-memory Airbyte state: workspaces, connections, jobs and their scripted lifecycle.

Nothing here runs in the background. A job stores when it was created, a frozen copy of its
connection's *script* (how long each phase lasts, how it ends) and, if someone cancelled it, when.
Its status, attempts and row counts are computed from those and the clock whenever somebody asks,
so a test can move a fake clock forward and watch a sync progress without sleeping.

Every public method takes the one ``threading.Lock``: the HTTP server calls in from its event loop
thread while tests call in from theirs.

Listings may lag (:meth:`EmulatorState.set_listing_lag`), as a read replica behind the database
does: a job created while a lag is set stays out of job listings for a number of listing reads or
seconds after its creation, while reads of the job by id and the one-job-per-connection rule see it
at once. A replica is behind in time, never out of order: while a job is hidden, every job created
after it is hidden too.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONFIG_TO_PUBLIC_JOB_TYPE",
    "CONNECTION_STATUSES",
    "DEFAULT_CONNECTIONS",
    "DEFAULT_FAILURE",
    "DEFAULT_ORGANIZATION_ID",
    "DEFAULT_WORKSPACE_ID",
    "PUBLIC_TO_CONFIG_JOB_TYPE",
    "SCRIPT_DEFAULTS",
    "TERMINAL_STATUSES",
    "AttemptView",
    "Clock",
    "ConnectionNotActive",
    "EmulatorState",
    "JobView",
    "SyncAlreadyRunning",
    "UnknownConnection",
    "UnknownJob",
    "UnknownWorkspace",
]

#: Workspace of the default connections (fixed so that docs and demos can name it).
DEFAULT_WORKSPACE_ID = "5ae6b09b-fdec-41af-aaf7-7d94cfc33ef6"
#: OSS servers put every workspace in this one organization.
DEFAULT_ORGANIZATION_ID = "00000000-0000-0000-0000-000000000000"

CONNECTION_STATUSES = ("active", "inactive", "deprecated", "locked")
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
OUTCOMES = ("succeeded", "failed", "cancelled")

#: Public API ``jobType`` -> config API ``configType``.
PUBLIC_TO_CONFIG_JOB_TYPE = {
    "sync": "sync",
    "reset": "reset_connection",
    "clear": "clear",
    "refresh": "refresh",
}
CONFIG_TO_PUBLIC_JOB_TYPE = {v: k for k, v in PUBLIC_TO_CONFIG_JOB_TYPE.items()}

#: Failure reported by a failed attempt when the script names none.
DEFAULT_FAILURE: dict[str, Any] = {
    "failureOrigin": "source",
    "failureType": "system_error",
    "externalMessage": "Something went wrong in the connector. See the logs for more details.",
}
#: Failure Airbyte records on the attempt that was running when a job got cancelled.
CANCELLATION_FAILURE: dict[str, Any] = {
    "failureOrigin": "airbyte_platform",
    "failureType": "manual_cancellation",
    "externalMessage": "The sync was cancelled.",
}

#: What a connection's jobs do unless told otherwise (see ``AirbyteEmulator.add_connection``).
SCRIPT_DEFAULTS: dict[str, Any] = {
    "pending_s": 0.5,
    "queued_s": 0.0,
    "running_s": 3.0,
    "outcome": "succeeded",
    "incomplete_attempts": 0,
    "incomplete_s": 1.0,
    "failure": None,
    "rows_per_s": 1000.0,
    "bytes_per_row": 200,
}

#: The connections a fresh emulator serves (``default_workspace=True``, no ``connections``).
DEFAULT_CONNECTIONS: list[dict[str, Any]] = [
    {
        "connection_id": "15bc3800-82e4-48c3-a32d-620661273f28",
        "name": "Postgres → BigQuery",
        "status": "active",
        "pending_s": 0.5,
        "running_s": 3.5,
        "rows_per_s": 2500.0,
        "bytes_per_row": 180,
    },
    {
        "connection_id": "a4f09c1e-6d3b-4c9a-9d5e-2f1e8b7c6a01",
        "name": "Stripe → Snowflake",
        "status": "active",
        "pending_s": 0.5,
        "running_s": 6.0,
        "rows_per_s": 800.0,
        "bytes_per_row": 1200,
    },
    {
        "connection_id": "3d2b8e6f-1c4a-4f7e-9b0d-5e6f7a8b9c0d",
        "name": "Salesforce → Redshift",
        "status": "active",
        "pending_s": 0.5,
        "queued_s": 1.0,
        "running_s": 8.0,
        "rows_per_s": 1500.0,
        "bytes_per_row": 640,
    },
    {
        "connection_id": "7c4e2b1a-0f3d-4e5b-8a6c-9d0e1f2a3b4c",
        "name": "Legacy MySQL → S3",
        "status": "inactive",
    },
    {
        "connection_id": "e1d2c3b4-a5f6-4789-8abc-def012345678",
        "name": "Broken API → Postgres",
        "status": "active",
        "pending_s": 0.5,
        "running_s": 2.0,
        "outcome": "failed",
        "rows_per_s": 50.0,
        "failure": {
            "failureOrigin": "source",
            "failureType": "config_error",
            "externalMessage": (
                "Unable to connect to the API: HTTP 401 Unauthorized. Check the API key configured on "
                "the source."
            ),
        },
    },
]


class UnknownConnection(LookupError):
    """No connection with this id."""


class UnknownWorkspace(LookupError):
    """No workspace with this id."""


class UnknownJob(LookupError):
    """No job with this id (never created, or forgotten)."""


class SyncAlreadyRunning(RuntimeError):
    """A job of this connection has not ended yet; Airbyte runs one job per connection."""


class ConnectionNotActive(RuntimeError):
    """Only an active connection can run a job."""


class Clock:
    """Wall clock plus an offset that tests move forward with :meth:`advance`."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            # Statuses are cached once terminal; a clock going back would contradict them.
            raise ValueError("the emulator clock only moves forward")
        self._offset += seconds


@dataclass
class Workspace:
    workspace_id: str
    name: str
    slug: str
    customer_id: str
    organization_id: str = DEFAULT_ORGANIZATION_ID


@dataclass
class Connection:
    connection_id: str
    name: str
    status: str
    workspace_id: str
    source_id: str
    destination_id: str
    created_at: float
    script: dict[str, Any]

    def snapshot(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "name": self.name,
            "status": self.status,
            "workspace_id": self.workspace_id,
            "source_id": self.source_id,
            "destination_id": self.destination_id,
            "created_at": self.created_at,
            **copy.deepcopy(self.script),
        }


@dataclass(frozen=True)
class _AttemptPlan:
    start: float
    end: float
    result: str  # how its running phase ends: "failed", "succeeded" or "cancelled"


@dataclass
class Job:
    job_id: int
    connection_id: str
    config_type: str
    created_at: float
    script: dict[str, Any]
    origin: str  # "api" or "airbyte" (started by Airbyte's scheduler through the Python API)
    pending_end: float
    queued_end: float
    attempts: tuple[_AttemptPlan, ...]
    cancelled_at: float | None = None
    terminal: bool = False  # cached once seen terminal: the clock never goes back
    # Listing lag: (listing reads answered, clock time) from which listings show the job; None: at once.
    listed_from: tuple[int | None, float | None] | None = None

    @property
    def natural_end(self) -> float:
        return self.attempts[-1].end


@dataclass
class AttemptView:
    """One attempt of a job as it looks at a given moment."""

    number: int
    status: str  # running, failed, succeeded
    created_at: float
    updated_at: float
    ended_at: float | None
    records: int
    bytes: int
    failure: dict[str, Any] | None  # FailureReason without timestamp; set on failed attempts


@dataclass
class JobView:
    """A job as it looks at a given moment; what the HTTP handlers render."""

    job_id: int
    connection_id: str
    config_type: str
    status: str
    created_at: float
    updated_at: float
    started_at: float | None
    ended_at: float | None
    now: float
    origin: str = "api"  # "api": created through HTTP; "airbyte": started from Airbyte's side
    attempts: list[AttemptView] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def records(self) -> int:
        return sum(a.records for a in self.attempts)

    @property
    def bytes(self) -> int:
        return sum(a.bytes for a in self.attempts)

    @property
    def job_type(self) -> str:
        return CONFIG_TO_PUBLIC_JOB_TYPE.get(self.config_type, self.config_type)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.job_id,
            "connection_id": self.connection_id,
            "job_type": self.job_type,
            "config_type": self.config_type,
            "status": self.status,
            "origin": self.origin,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "ended_at": self.ended_at,
            "rows": self.records,
            "bytes": self.bytes,
            "attempts": [
                {
                    "id": a.number,
                    "status": a.status,
                    "created_at": a.created_at,
                    "ended_at": a.ended_at,
                    "rows": a.records,
                    "bytes": a.bytes,
                    "failure": copy.deepcopy(a.failure),
                }
                for a in self.attempts
            ],
        }


def _derived_uuid(base: str, what: str) -> str:
    # Stable ids for the source/destination of a connection so repeated runs agree.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"airbyte-emulator:{what}:{base}"))


def normalize_connection_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Accept a connection in Python form (``connection_id``) or Airbyte JSON form (``connectionId``)."""
    aliases = {
        "connectionId": "connection_id",
        "workspaceId": "workspace_id",
        "sourceId": "source_id",
        "destinationId": "destination_id",
        "id": "connection_id",
    }
    return {aliases.get(k, k): v for k, v in spec.items()}


def _validate_script(script: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(script) - set(SCRIPT_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown connection script option(s): {', '.join(sorted(unknown))}")
    out = dict(script)
    if "outcome" in out and out["outcome"] not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {out['outcome']!r}")
    for key in ("pending_s", "queued_s", "running_s", "incomplete_s", "rows_per_s"):
        if key in out and (out[key] is None or float(out[key]) < 0):
            raise ValueError(f"{key} must be a number >= 0")
    if "incomplete_attempts" in out and int(out["incomplete_attempts"]) < 0:
        raise ValueError("incomplete_attempts must be >= 0")
    if out.get("failure") is not None and not isinstance(out["failure"], Mapping):
        raise TypeError("failure must be a dict like {'failureOrigin', 'failureType', 'externalMessage'}")
    return copy.deepcopy(out)


class EmulatorState:
    """All of the emulator's data, behind one lock."""

    def __init__(self, *, server_version: str = "2026", clock: Clock | None = None) -> None:
        self.server_version = server_version
        self.clock = clock or Clock()
        self.lock = threading.Lock()
        self._workspaces: dict[str, Workspace] = {}
        self._connections: dict[str, Connection] = {}
        self._jobs: dict[int, Job] = {}
        self._jobs_by_connection: dict[str, list[int]] = {}
        # Job ids come from one counter that only grows, as Airbyte's database sequence does;
        # forgetting a job never frees its id.
        self._next_job_id = 1
        # Listing lag (reads, seconds) given to jobs created from now on, and the listings answered so far.
        self._listing_lag: tuple[int | None, float | None] | None = None
        self._lagged: set[int] = set()  # jobs that may still be hidden from listings
        self._listings_answered = 0
        # One-shot plans for the next jobs the code under test creates, per connection, oldest first.
        self._next_jobs: dict[str, list[tuple[dict[str, Any], float | None]]] = {}

    # -- workspaces and connections ------------------------------------------------------------

    def _ensure_workspace(self, workspace_id: str, name: str | None = None) -> Workspace:
        ws = self._workspaces.get(workspace_id)
        if ws is None:
            if name is None:
                name = (
                    "Default Workspace"
                    if workspace_id == DEFAULT_WORKSPACE_ID
                    else (f"Workspace {workspace_id[:8]}")
                )
            slug = name.lower().replace(" ", "-")
            ws = Workspace(
                workspace_id=workspace_id,
                name=name,
                slug=slug,
                customer_id=_derived_uuid(workspace_id, "customer"),
            )
            self._workspaces[workspace_id] = ws
        return ws

    def add_workspace(self, workspace_id: str, name: str | None = None) -> str:
        with self.lock:
            return self._ensure_workspace(str(uuid.UUID(str(workspace_id))), name).workspace_id

    def add_connection(
        self,
        connection_id: str | None = None,
        *,
        name: str | None = None,
        status: str = "active",
        workspace_id: str | None = None,
        source_id: str | None = None,
        destination_id: str | None = None,
        **script: Any,
    ) -> str:
        cid = str(uuid.UUID(str(connection_id))) if connection_id else str(uuid.uuid4())
        if status not in CONNECTION_STATUSES:
            raise ValueError(f"status must be one of {CONNECTION_STATUSES}, not {status!r}")
        full_script = dict(SCRIPT_DEFAULTS)
        full_script.update(_validate_script(script))
        with self.lock:
            if cid in self._connections:
                raise ValueError(f"connection {cid} already exists")
            ws = self._ensure_workspace(str(uuid.UUID(str(workspace_id or DEFAULT_WORKSPACE_ID))))
            self._connections[cid] = Connection(
                connection_id=cid,
                name=name or f"Connection {cid[:8]}",
                status=status,
                workspace_id=ws.workspace_id,
                source_id=str(source_id or _derived_uuid(cid, "source")),
                destination_id=str(destination_id or _derived_uuid(cid, "destination")),
                created_at=float(int(self.clock.now())),
                script=full_script,
            )
            self._jobs_by_connection.setdefault(cid, [])
        return cid

    def update_connection(self, connection_id: str, **changes: Any) -> None:
        attrs = {
            k: changes.pop(k)
            for k in list(changes)
            if k in ("name", "status", "workspace_id", "source_id", "destination_id")
        }
        script = _validate_script(changes)
        if "status" in attrs and attrs["status"] not in CONNECTION_STATUSES:
            raise ValueError(f"status must be one of {CONNECTION_STATUSES}, not {attrs['status']!r}")
        with self.lock:
            conn = self._connection(connection_id)
            if "workspace_id" in attrs:
                attrs["workspace_id"] = self._ensure_workspace(
                    str(uuid.UUID(str(attrs["workspace_id"])))
                ).workspace_id
            for key, value in attrs.items():
                setattr(conn, key, value)
            # Only jobs created from now on follow the new script: each job froze its own copy.
            conn.script.update(script)

    def _connection(self, connection_id: str) -> Connection:
        conn = self._connections.get(str(connection_id))
        if conn is None:
            raise UnknownConnection(str(connection_id))
        return conn

    def connection(self, connection_id: str) -> dict[str, Any]:
        with self.lock:
            return self._connection(connection_id).snapshot()

    def connections(self, workspace_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        wanted = set(workspace_ids) if workspace_ids else None
        with self.lock:
            return [
                c.snapshot() for c in self._connections.values() if wanted is None or c.workspace_id in wanted
            ]

    def workspace(self, workspace_id: str) -> Workspace:
        with self.lock:
            ws = self._workspaces.get(str(workspace_id))
            if ws is None:
                raise UnknownWorkspace(str(workspace_id))
            return copy.copy(ws)

    def workspace_of_connection(self, connection_id: str) -> Workspace:
        with self.lock:
            conn = self._connection(connection_id)
            return copy.copy(self._workspaces[conn.workspace_id])

    # -- jobs ----------------------------------------------------------------------------------

    def create_job(self, connection_id: str, config_type: str, *, origin: str = "api") -> JobView:
        """Start a job the way Airbyte's scheduler does, enforcing one job per connection.

        A sync (or refresh) while another job runs is refused with :class:`SyncAlreadyRunning`; a
        reset or clear cancels the running job first, as Airbyte's connection workflow does.
        """
        with self.lock:
            now = self.clock.now()
            conn = self._connection(connection_id)
            if conn.status != "active":
                raise ConnectionNotActive(conn.connection_id)
            plan = self._take_next_job_plan(conn.connection_id, origin)
            script, already_running_s = plan if plan is not None else ({}, None)
            if already_running_s is not None:
                # Airbyte's own sync lands just before this create (its scheduler, or a user in the UI).
                busy = {"pending_s": 0.0, "queued_s": 0.0, "incomplete_attempts": 0, "outcome": "succeeded"}
                busy["running_s"] = already_running_s
                self._register(self._plan_job(conn, "sync", now, "airbyte", busy), now)
            running = self._live_jobs(conn.connection_id, now)
            if running:
                if config_type in ("sync", "refresh"):
                    raise SyncAlreadyRunning(conn.connection_id)
                for job in running:
                    job.cancelled_at = now
            job = self._plan_job(conn, config_type, now, origin, script)
            self._register(job, now)
            return self._view(job, now)

    def _register(self, job: Job, now: float) -> None:
        if self._listing_lag is not None:
            reads, seconds = self._listing_lag
            job.listed_from = (
                None if reads is None else self._listings_answered + reads,
                None if seconds is None else now + seconds,
            )
            self._lagged.add(job.job_id)
        self._jobs[job.job_id] = job
        self._jobs_by_connection[job.connection_id].append(job.job_id)

    def plan_next_job(
        self, connection_id: str, script: Mapping[str, Any], already_running_s: float | None = None
    ) -> None:
        """Give the next job created over the API for this connection ``script`` (over the
        connection's own); with ``already_running_s``, Airbyte's own sync of that many seconds starts
        just before that create, so a sync is refused (409). Plans queue up, one per job."""
        checked = _validate_script(script)
        if already_running_s is not None and float(already_running_s) < 0:
            raise ValueError("already_running_s must be a number >= 0")
        with self.lock:
            conn = self._connection(connection_id)
            plan = (checked, None if already_running_s is None else float(already_running_s))
            self._next_jobs.setdefault(conn.connection_id, []).append(plan)

    def _take_next_job_plan(
        self, connection_id: str, origin: str
    ) -> tuple[dict[str, Any], float | None] | None:
        plans = self._next_jobs.get(connection_id)
        if origin != "api" or not plans:
            return None
        return plans.pop(0)

    def _plan_job(
        self,
        conn: Connection,
        config_type: str,
        now: float,
        origin: str,
        overrides: Mapping[str, Any] | None = None,
    ) -> Job:
        script = copy.deepcopy({**conn.script, **(overrides or {})})
        pending_end = now + float(script["pending_s"])
        queued_end = pending_end + float(script["queued_s"])
        running_s = float(script["running_s"])
        plans = []
        cursor = queued_end
        for _ in range(int(script["incomplete_attempts"])):
            plans.append(_AttemptPlan(cursor, cursor + running_s, "failed"))
            cursor += running_s + float(script["incomplete_s"])
        plans.append(_AttemptPlan(cursor, cursor + running_s, script["outcome"]))
        job = Job(
            job_id=self._next_job_id,
            connection_id=conn.connection_id,
            config_type=config_type,
            created_at=now,
            script=script,
            origin=origin,
            pending_end=pending_end,
            queued_end=queued_end,
            attempts=tuple(plans),
        )
        self._next_job_id += 1
        return job

    def _live_jobs(self, connection_id: str, now: float) -> list[Job]:
        live = []
        for job_id in self._jobs_by_connection.get(connection_id, ()):
            job = self._jobs.get(job_id)
            if job is not None and not self._is_terminal(job, now):
                live.append(job)
        return live

    def _is_terminal(self, job: Job, now: float) -> bool:
        if not job.terminal and (
            (job.cancelled_at is not None and now >= job.cancelled_at) or now >= job.natural_end
        ):
            job.terminal = True
        return job.terminal

    def set_listing_lag(self, reads: int | None = None, seconds: float | None = None) -> None:
        """Hide each job created from now on from listings for ``reads`` listings or ``seconds``.

        A hidden job shows in listings once ``reads`` listing requests have been answered after its
        creation, or ``seconds`` have passed since it (whichever comes first; ``None``: that bound
        does not apply). Jobs created before this call are not affected; a later call replaces
        the lag for jobs created after it.
        """
        if reads is None and seconds is None:
            raise ValueError("give reads, seconds or both")
        if reads is not None and (isinstance(reads, bool) or int(reads) != reads or reads < 0):
            raise ValueError("reads must be a whole number >= 0")
        if seconds is not None and float(seconds) < 0:
            raise ValueError("seconds must be >= 0")
        with self.lock:
            self._listing_lag = (
                None if reads is None else int(reads),
                None if seconds is None else float(seconds),
            )

    def clear_listing_lag(self) -> None:
        """Stop lagging: every job shows in listings from now on."""
        with self.lock:
            self._listing_lag = None
            for job_id in self._lagged:
                self._jobs[job_id].listed_from = None
            self._lagged.clear()

    def _hidden_from(self, now: float) -> int | None:
        """The oldest job a listing may not show yet: it and every newer job are left out."""
        self._lagged = {job_id for job_id in self._lagged if not self._listed(self._jobs[job_id], now)}
        return min(self._lagged, default=None)

    def _listed(self, job: Job, now: float) -> bool:
        if job.listed_from is None:
            return True
        reads, at = job.listed_from
        return (reads is not None and self._listings_answered >= reads) or (at is not None and now >= at)

    def cancel_job(self, job_id: int) -> tuple[JobView, bool]:
        """Cancel a job; answer its view and whether it was still running (terminal jobs stay as they are)."""
        with self.lock:
            now = self.clock.now()
            job = self._job(job_id)
            if self._is_terminal(job, now):
                return self._view(job, now), False
            job.cancelled_at = now
            return self._view(job, now), True

    def _job(self, job_id: int) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise UnknownJob(str(job_id))
        return job

    def job(self, job_id: int) -> JobView:
        with self.lock:
            return self._view(self._job(job_id), self.clock.now())

    def forget_job(self, job_id: int) -> None:
        with self.lock:
            job = self._jobs.pop(job_id, None)
            if job is None:
                raise UnknownJob(str(job_id))
            self._lagged.discard(job_id)
            self._jobs_by_connection[job.connection_id].remove(job_id)

    def jobs(
        self,
        *,
        connection_id: str | None = None,
        config_types: Iterable[str] | None = None,
        statuses: Iterable[str] | None = None,
        workspace_ids: Iterable[str] | None = None,
        listing: bool = False,
    ) -> list[JobView]:
        """Views of the matching jobs, oldest first.

        ``listing=True`` for the API's job listings: jobs the listing lag hides are left out, and the
        call counts as one listing answered.
        """
        types = set(config_types) if config_types else None
        wanted_status = set(statuses) if statuses else None
        workspaces = set(workspace_ids) if workspace_ids else None
        with self.lock:
            now = self.clock.now()
            if connection_id is not None:
                ids = list(self._jobs_by_connection.get(str(connection_id), ()))
            else:
                ids = sorted(self._jobs)
            hidden_from = self._hidden_from(now) if listing else None
            views = []
            for job_id in ids:
                job = self._jobs[job_id]
                if hidden_from is not None and job_id >= hidden_from:
                    continue
                if types is not None and job.config_type not in types:
                    continue
                if workspaces is not None:
                    conn = self._connections.get(job.connection_id)
                    if conn is None or conn.workspace_id not in workspaces:
                        continue
                view = self._view(job, now)
                if wanted_status is not None and view.status not in wanted_status:
                    continue
                views.append(view)
            if listing:
                self._listings_answered += 1
            return views

    # -- the lifecycle ---------------------------------------------------------------------------

    def _view(self, job: Job, now: float) -> JobView:
        """Compute what ``job`` looks like at ``now``."""
        cancelled_at = job.cancelled_at
        cancelled = cancelled_at is not None and now >= cancelled_at
        horizon = cancelled_at if cancelled_at is not None and cancelled else now
        script = job.script
        rate = float(script["rows_per_s"])
        bytes_per_row = int(script["bytes_per_row"])
        failure = dict(script["failure"] or DEFAULT_FAILURE)

        attempts: list[AttemptView] = []
        transitions = [job.created_at]
        status = "pending"
        if horizon >= job.pending_end and job.queued_end > job.pending_end:
            # "queued" (waiting for capacity) only exists on 2026 servers; older ones say pending.
            status = "queued" if self.server_version != "2022" else "pending"
            transitions.append(job.pending_end)
        for number, plan in enumerate(job.attempts):
            if horizon < plan.start:
                break
            transitions.append(plan.start)
            if horizon < plan.end:
                # Still running at the horizon: either now, or cut short by a cancellation.
                elapsed = horizon - plan.start
                records = int(rate * elapsed)
                if cancelled:
                    attempts.append(
                        AttemptView(
                            number,
                            "failed",
                            plan.start,
                            horizon,
                            horizon,
                            records,
                            records * bytes_per_row,
                            dict(CANCELLATION_FAILURE),
                        )
                    )
                else:
                    attempts.append(
                        AttemptView(
                            number,
                            "running",
                            plan.start,
                            horizon,
                            None,
                            records,
                            records * bytes_per_row,
                            None,
                        )
                    )
                    status = "running"
                break
            records = int(rate * (plan.end - plan.start))
            transitions.append(plan.end)
            if plan.result == "succeeded":
                attempts.append(
                    AttemptView(
                        number,
                        "succeeded",
                        plan.start,
                        plan.end,
                        plan.end,
                        records,
                        records * bytes_per_row,
                        None,
                    )
                )
            else:
                reason = CANCELLATION_FAILURE if plan.result == "cancelled" else failure
                attempts.append(
                    AttemptView(
                        number,
                        "failed",
                        plan.start,
                        plan.end,
                        plan.end,
                        records,
                        records * bytes_per_row,
                        dict(reason),
                    )
                )
            # Between a failed attempt and the retry the job is "incomplete" (not terminal).
            status = "incomplete" if number < len(job.attempts) - 1 else plan.result

        ended_at: float | None = None
        if cancelled:
            status = "cancelled"
            ended_at = horizon
            transitions.append(horizon)
        elif horizon >= job.natural_end:
            ended_at = job.natural_end
        started_at = job.attempts[0].start if attempts else None
        return JobView(
            job_id=job.job_id,
            connection_id=job.connection_id,
            config_type=job.config_type,
            status=status,
            created_at=job.created_at,
            updated_at=max(transitions),
            started_at=started_at,
            ended_at=ended_at,
            now=now,
            origin=job.origin,
            attempts=attempts,
        )
