"""``AirbyteEmulator``: an Airbyte server in a thread, for tests, demos and benchmarks.

It wires the pieces together: the HTTP server (``httpserver``), the state (``state``), the two APIs
(``config_api``, ``public_api``), authentication (``auth``), plus what a fake needs and a real
server lacks: counters, a recording of every exchange, injected faults (``add_fault``), listings
that lag behind the jobs (``lag_listings``), actions run just before a request is handled
(``on_request``), latency and random 503s.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from airflow_provider_airbyte_sync.testing.auth import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    Authenticator,
)
from airflow_provider_airbyte_sync.testing.config_api import ConfigApi
from airflow_provider_airbyte_sync.testing.httpserver import DROP, RESET, HttpServer, Request, Response
from airflow_provider_airbyte_sync.testing.public_api import PublicApi
from airflow_provider_airbyte_sync.testing.responses import (
    JSON,
    HttpError,
    json_response,
    known_exception,
    problem,
)
from airflow_provider_airbyte_sync.testing.routing import Match, Router
from airflow_provider_airbyte_sync.testing.state import (
    CONFIG_TO_PUBLIC_JOB_TYPE,
    DEFAULT_CONNECTIONS,
    DEFAULT_WORKSPACE_ID,
    PUBLIC_TO_CONFIG_JOB_TYPE,
    Clock,
    EmulatorState,
    normalize_connection_spec,
)

__all__ = ["AirbyteEmulator", "Fault", "RequestHook", "load_connections_file"]

log = logging.getLogger(__name__)

SERVER_VERSIONS = ("2026", "2022")
#: A body cut off mid-value: what a client sees from a proxy that truncated an answer.
MALFORMED_BODY = b'{"job": {"id": 1, "configType": "sync", "status": "runn'


class _Matching:
    """What a fault and a request hook share: which requests they match, and how many more."""

    path: str
    method: str | None
    count: int | None
    hits: int
    _pattern: re.Pattern[str]

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)
        if self.method is not None:
            self.method = self.method.upper()

    @property
    def remaining(self) -> int | None:
        """Matches left (``None``: unlimited)."""
        return None if self.count is None else max(0, self.count - self.hits)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self._pattern.search(path) is not None


@dataclass(eq=False)
class Fault(_Matching):
    """A rule that makes the next ``count`` matching requests misbehave (see ``add_fault``)."""

    path: str
    method: str | None = None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] | None = None
    delay_s: float = 0.0
    drop: bool = False
    reset: bool = False
    malformed: bool = False
    after: bool = False
    count: int | None = 1
    hits: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def describe(self) -> str:
        what = [k for k in ("drop", "reset", "malformed") if getattr(self, k)]
        if self.status is not None:
            what.append(f"status={self.status}")
        if self.delay_s:
            what.append(f"delay={self.delay_s}s")
        if self.after:
            what.append("after")
        return ",".join(what) or "headers"

    def outcome(self, real: Response | None) -> Response | object | None:
        """What to answer instead of ``real`` (``None``: answer ``real``, possibly with extra headers)."""
        if self.reset:
            return RESET
        if self.drop:
            return DROP
        if self.malformed:
            return Response(200, MALFORMED_BODY, JSON)
        headers = dict(self.headers or {})
        content_type = None
        for name in list(headers):
            if name.lower() == "content-type":
                content_type = headers.pop(name)
        if self.status is not None:
            body, payload = self.body, self.body
            if body is None:
                data = b""
            elif isinstance(body, bytes):
                data = body
                content_type = content_type or "application/octet-stream"
            elif isinstance(body, str):
                data = body.encode()
                is_html = body.lstrip().startswith("<")
                content_type = content_type or ("text/html" if is_html else "text/plain")
            else:
                data = json.dumps(body).encode()
                content_type = content_type or JSON
            return Response(self.status, data, content_type, headers or None, payload=payload)
        if real is not None and (headers or content_type):
            merged = dict(real.headers or {})
            merged.update(headers)
            return Response(
                real.status,
                real.body,
                content_type or real.content_type,
                merged,
                payload=real.payload,
                close=real.close,
            )
        return None


@dataclass(eq=False)
class RequestHook(_Matching):
    """An action run before the next ``count`` matching requests are handled (see ``on_request``)."""

    path: str
    action: Callable[[], Any]
    method: str | None = None
    count: int | None = 1
    hits: int = 0
    #: What the action raised, one entry per hit that failed (the request is handled all the same).
    errors: list[Exception] = field(default_factory=list)
    _pattern: re.Pattern[str] = field(init=False, repr=False)


_Rule = TypeVar("_Rule", Fault, RequestHook)


class _Rules(Generic[_Rule]):
    """Rules (faults or hooks) taken by the first match, each for ``count`` matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []

    def add(self, fault: _Rule) -> None:
        with self._lock:
            self._rules.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[_Rule]:
        with self._lock:
            return list(self._rules)

    def take(self, method: str, path: str) -> _Rule | None:
        if not self._rules:  # the common case: no lock on the hot path
            return None
        with self._lock:
            for fault in self._rules:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.count is not None and fault.hits >= fault.count:
                        self._rules.remove(fault)
                    return fault
        return None


class _Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.tcp_connections = 0
        self.by_endpoint: dict[str, int] = {}

    def request(self, key: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_endpoint[key] = self.by_endpoint.get(key, 0) + 1

    def connection(self) -> None:
        with self._lock:
            self.tcp_connections += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "tcp_connections": self.tcp_connections,
                "by_endpoint": dict(self.by_endpoint),
            }

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.tcp_connections = 0
            self.by_endpoint = {}


def load_connections_file(path: str | Path) -> list[dict[str, Any]]:
    """Read ``{"connections": [{"connectionId", "name", "status", "workspaceId", ...script}]}``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    items = data.get("connections") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f'{path}: expected {{"connections": [...]}}')
    return [normalize_connection_spec(item) for item in items]


def _parse_body(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class AirbyteEmulator:
    """A faithful Airbyte server (config API + public API) running in a background thread.

    >>> with AirbyteEmulator() as airbyte:
    ...     requests.post(f"{airbyte.config_api_url}/connections/sync", json={"connectionId": ...})

    Jobs follow their connection's *script* (see :meth:`add_connection`) against a clock that tests
    move with :meth:`advance`. Misbehaviour on demand: :meth:`add_fault` (errors, drops, delays,
    garbled answers), :meth:`lag_listings` (new jobs show late in listings) and :meth:`on_request`
    (something happens on Airbyte's side just as a request arrives); :meth:`clear_faults` ends them.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        auth: str = "none",
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        token_lifetime_s: float = 900,
        refuse_form_token: bool = False,
        server_version: str = "2026",
        ssl_context: ssl.SSLContext | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        latency_s: float = 0.0,
        error_rate: float = 0.0,
        seed: int | None = None,
        connections: Iterable[Mapping[str, Any]] | None = None,
        default_workspace: bool = True,
        record: bool = False,
        record_limit: int = 10_000,
    ) -> None:
        if server_version not in SERVER_VERSIONS:
            raise ValueError(f"server_version must be one of {SERVER_VERSIONS}, not {server_version!r}")
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if ssl_context is None and certfile:
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.load_cert_chain(certfile, keyfile)
        self.host = host
        self.server_version = server_version
        self.latency_s = latency_s
        self.error_rate = error_rate
        self._rng = random.Random(seed)
        self._clock = Clock()
        self._state = EmulatorState(server_version=server_version, clock=self._clock)
        self._auth = Authenticator(
            auth,
            username=username,
            password=password,
            client_id=client_id,
            client_secret=client_secret,
            token_lifetime_s=token_lifetime_s,
            clock=self._clock.now,
        )
        self._config_api = ConfigApi(self._state, self._auth, server_version)
        routes = self._config_api.routes()
        if server_version != "2022":
            # The public API arrived in 2023: older servers answer 404 there.
            routes += PublicApi(self._state, self._auth, refuse_form_token=refuse_form_token).routes()
        self._router = Router(routes)
        self._stats = _Stats()
        self._faults: _Rules[Fault] = _Rules()
        self._hooks: _Rules[RequestHook] = _Rules()
        self._record = record
        self._exchanges: deque[dict[str, Any]] = deque(maxlen=record_limit)
        self._exchanges_lock = threading.Lock()
        self._server = HttpServer(
            self._handle,
            host=host,
            port=port,
            ssl_context=ssl_context,
            on_connect=self._stats.connection,
            clock=self._clock.now,
        )

        if default_workspace:
            self._state.add_workspace(DEFAULT_WORKSPACE_ID, "Default Workspace")
        if connections is not None:
            for spec in connections:
                self.add_connection(**normalize_connection_spec(spec))
        elif default_workspace:
            for spec in DEFAULT_CONNECTIONS:
                self.add_connection(**spec, workspace_id=DEFAULT_WORKSPACE_ID)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> AirbyteEmulator:
        """Start serving (returns once the port accepts connections)."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (idempotent)."""
        self._server.stop()

    def __enter__(self) -> AirbyteEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server.running

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        """Server root, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self._server.scheme}://{host}:{self.port}"

    @property
    def config_api_url(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def public_api_url(self) -> str:
        """OSS layout of the public API."""
        return f"{self.url}/api/public/v1"

    @property
    def cloud_api_url(self) -> str:
        """Cloud layout (``https://api.airbyte.com/v1``) of the public API."""
        return f"{self.url}/v1"

    # -- clock -----------------------------------------------------------------------------------

    def now(self) -> float:
        """The emulator's current time (epoch seconds)."""
        return self._clock.now()

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward: jobs progress and tokens age without sleeping."""
        self._clock.advance(seconds)

    # -- connections -----------------------------------------------------------------------------

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
        """Add a connection and answer its id.

        Script options (each job freezes the script it was created with): ``pending_s`` (0.5),
        ``queued_s`` (0: seconds of ``queued`` after pending, 2026 servers), ``running_s`` (3.0),
        ``outcome`` (``succeeded``/``failed``/``cancelled``), ``incomplete_attempts`` (failed attempts
        before the last one, each followed by ``incomplete_s`` (1.0) of ``incomplete``), ``failure``
        (``{failureOrigin, failureType, externalMessage}`` of failed attempts), ``rows_per_s`` (1000),
        ``bytes_per_row`` (200).
        """
        return self._state.add_connection(
            connection_id,
            name=name,
            status=status,
            workspace_id=workspace_id,
            source_id=source_id,
            destination_id=destination_id,
            **script,
        )

    def update_connection(self, connection_id: str, **changes: Any) -> None:
        """Change ``name``/``status``/``workspace_id`` or script options; new jobs follow them."""
        self._state.update_connection(connection_id, **changes)

    def connections(self) -> list[dict[str, Any]]:
        """Snapshots of every connection (ids, name, status, workspace, script)."""
        return self._state.connections()

    def connection(self, connection_id: str) -> dict[str, Any]:
        return self._state.connection(connection_id)

    def connection_id(self, name: str) -> str:
        """The id of the connection called ``name`` (e.g. ``"Postgres → BigQuery"``); an id is
        answered as it is. Raises ``KeyError`` naming the connections there are."""
        connections = self.connections()
        for conn in connections:
            if name in (conn["name"], conn["connection_id"]):
                return str(conn["connection_id"])
        known = ", ".join(repr(c["name"]) for c in connections) or "none"
        raise KeyError(f"no connection named {name!r}; there are: {known}")

    def next_job(self, connection: str, *, already_running_s: float | None = None, **script: Any) -> None:
        """Script the next job the code under test starts on ``connection`` (a name or an id).

        ``script`` takes :meth:`add_connection`'s options and applies to that one job only; later
        jobs follow the connection's own script again. Calls queue up, one per job::

            airbyte.next_job("Postgres → BigQuery", outcome="failed")  # fails, with Airbyte's reason
            airbyte.next_job(cid, queued_s=60)  # waits a minute in the queue (pending on 2022 servers)
            airbyte.next_job(cid, incomplete_attempts=2)  # two incomplete attempts, then succeeds
            airbyte.next_job(cid, already_running_s=5)  # the create meets a running sync (409)

        ``already_running_s``: Airbyte's own sync of that many seconds starts just before the create
        arrives, so a sync is refused as "already running" (a reset or clear cancels it instead, as
        Airbyte does); the job created after it follows ``script``. Jobs started from Airbyte's side
        (:meth:`start_job`) are never scripted here.
        """
        self._state.plan_next_job(self.connection_id(connection), script, already_running_s)

    # -- jobs ------------------------------------------------------------------------------------

    def start_job(self, connection_id: str, job_type: str = "sync") -> int:
        """Start a job from Airbyte's side (its scheduler, or a user in the UI); answer its id.

        ``job_type`` is a public name (``sync``, ``reset``, ``clear``, ``refresh``) or a config
        type (``reset_connection``). Raises ``SyncAlreadyRunning``/``ConnectionNotActive``/
        ``UnknownConnection`` like the API would refuse it.
        """
        config_type = PUBLIC_TO_CONFIG_JOB_TYPE.get(job_type, job_type)
        if config_type not in CONFIG_TO_PUBLIC_JOB_TYPE:
            raise ValueError(f"unknown job type {job_type!r}")
        if self.server_version == "2022" and config_type in ("clear", "refresh"):
            raise ValueError(f"{job_type} jobs do not exist on 2022 servers")
        return self._state.create_job(connection_id, config_type, origin="airbyte").job_id

    def cancel_job(self, job_id: int) -> bool:
        """Cancel a job from Airbyte's side; answer whether it was still running."""
        _view, changed = self._state.cancel_job(job_id)
        return changed

    def job(self, job_id: int) -> dict[str, Any]:
        """Snapshot of a job: ``id``, ``connection_id``, ``job_type``, ``status``, ``created_at``, ..."""
        return self._state.job(job_id).snapshot()

    def jobs(self, connection_id: str | None = None, *, origin: str | None = None) -> list[dict[str, Any]]:
        """Snapshots of all jobs (of one connection, given by id or name), oldest first.

        ``origin="api"``: only the jobs created over the API (by the code under test);
        ``"airbyte"``: only those started from Airbyte's side. Each snapshot has ``id``,
        ``job_type``, ``status``, ``origin``, ``attempts`` and more (see :meth:`job`).
        """
        if connection_id is not None:
            names = {c["name"]: c["connection_id"] for c in self.connections()}
            connection_id = names.get(connection_id, connection_id)
        views = self._state.jobs(connection_id=connection_id)
        return [v.snapshot() for v in views if origin is None or v.origin == origin]

    def forget_job(self, job_id: int) -> None:
        """Delete a job: later lookups answer "Could not find job" (the id is never reused)."""
        self._state.forget_job(job_id)

    # -- auth ------------------------------------------------------------------------------------

    @property
    def auth(self) -> str:
        """The auth mode asked of clients: ``none``, ``basic`` or ``token``."""
        return self._auth.mode

    def credentials(self) -> dict[str, str]:
        """What clients log in with: ``username``/``password`` (basic), ``client_id``/``client_secret``."""
        a = self._auth
        return {
            "username": a.username,
            "password": a.password,
            "client_id": a.client_id,
            "client_secret": a.client_secret,
        }

    def issue_token(self) -> str:
        """A valid bearer token for the configured client, without an HTTP round trip."""
        return self._auth.issue_token(self._auth.client_id, self._auth.client_secret)[0]

    # -- counters and recording ------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """``{"requests", "tcp_connections", "by_endpoint": {"POST /api/v1/jobs/get": n, ...}}``.

        Templated paths count under their template (``GET /api/public/v1/jobs/{jobId}``).
        """
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    def exchanges(self) -> list[dict[str, Any]]:
        """Recorded exchanges (``record=True``), oldest first by answer.

        Each has ``received`` (epoch seconds the request arrived, before any ``on_request`` action
        or fault delay) and ``time`` (when it was answered, dropped or reset, or when the client
        went away while a fault held the answer back), ``method``, ``path``,
        ``query``, ``request_headers``, ``request_body``, ``status`` (``None`` when no answer was
        sent), ``response_headers``, ``response_body`` and ``fault`` (what an injected fault did).
        """
        with self._exchanges_lock:
            return copy.deepcopy(list(self._exchanges))

    def clear_exchanges(self) -> None:
        with self._exchanges_lock:
            self._exchanges.clear()

    def open_connections(self) -> int:
        """TCP connections open right now."""
        return self._server.open_connections()

    def close_idle_connections(self) -> int:
        """Close idle keep-alive connections silently (a stale keep-alive); answer how many."""
        return self._server.close_idle_connections()

    # -- faults ----------------------------------------------------------------------------------

    def add_fault(
        self,
        path: str,
        *,
        method: str | None = None,
        status: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
        drop: bool = False,
        reset: bool = False,
        malformed: bool = False,
        after: bool = False,
        count: int | None = 1,
    ) -> Fault:
        """Make the next ``count`` requests whose path matches the regex ``path`` misbehave.

        ``status``/``body``/``headers`` answer instead; ``delay_s`` waits first (other connections
        go on); ``drop`` closes without answering; ``reset`` aborts with a TCP RST; ``malformed``
        answers 200 with truncated JSON. With ``after=True`` the request is handled for real
        first (a job IS created) and then delayed/dropped/replaced. ``count=None``: every match.
        A request meets at most one fault: the oldest rule that matches it.
        """
        fault = Fault(path, method, status, body, headers, delay_s, drop, reset, malformed, after, count)
        self._faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        """End every misbehaviour: faults, request hooks and the listing lag (hidden jobs show)."""
        self._faults.clear()
        self._hooks.clear()
        self._state.clear_listing_lag()

    def faults(self) -> list[Fault]:
        """Rules still waiting for matches."""
        return self._faults.list()

    def lag_listings(self, reads: int | None = None, seconds: float | None = None) -> None:
        """Make job listings lag behind, as a read replica does: new jobs show late.

        Each job created after this call (over HTTP or with :meth:`start_job`) is left out of job
        listings (config API ``POST jobs/list``; public API ``GET jobs``) until ``reads`` listing
        requests have been answered after its creation, or ``seconds`` have passed since it on the
        emulator's clock, whichever comes first (give one or both). Everything else sees the job at
        once: reads by id (``jobs/get*``, ``GET jobs/{id}``), cancels, and the one-job-per-connection
        rule (a create meets 409 for a job no listing shows yet). Listings stay valid answers: the
        job is simply not in them yet. A later call replaces the lag for jobs created after it;
        :meth:`clear_faults` ends it.

        >>> airbyte.lag_listings(reads=2)  # the next job appears in the third listing after it
        """
        self._state.set_listing_lag(reads, seconds)

    def on_request(
        self,
        path: str,
        action: Callable[[], Any],
        *,
        method: str | None = None,
        count: int | None = 1,
    ) -> RequestHook:
        """Call ``action()`` when one of the next ``count`` requests matching ``path`` arrives.

        The worst moment on demand: the action runs just before the request is handled (before
        any fault applies to it), e.g. another party's sync landing right before ours::

            airbyte.on_request(r"/connections/sync$", lambda: airbyte.start_job(connection_id))

        ``path`` is a regex searched in the request path, ``method`` an optional HTTP method;
        ``count=None``: every match. Like faults, a request triggers at most one hook (the oldest
        that matches). The action runs on the server's thread: it may use this object's Python API
        (``start_job``, ``cancel_job``, ``lag_listings``, ...) but must not send HTTP requests to
        this emulator. What it raises is kept in the hook's ``errors`` and the request is handled
        all the same. :meth:`clear_faults` removes hooks not yet used up.
        """
        hook = RequestHook(path, action, method, count)
        self._hooks.add(hook)
        return hook

    # -- request dispatch (runs on the server's loop thread) -------------------------------------

    def _handle(self, request: Request) -> Response | Awaitable[Response | object]:
        received = time.time()
        match = self._router.resolve(request.method, request.path)
        self._stats.request(f"{request.method} {match.endpoint or request.path}")
        hook = self._hooks.take(request.method, request.path)
        if hook is not None:
            try:
                hook.action()
            except Exception as exc:
                log.warning("on_request action for %s %s failed: %r", request.method, request.path, exc)
                hook.errors.append(exc)
        fault = self._faults.take(request.method, request.path)
        if fault is not None or self.latency_s > 0:
            return self._handle_slowly(request, match, fault, received)
        response = self._respond(request, match)
        if self._record:
            self._remember(request, match, response, None, received)
        return response

    async def _handle_slowly(
        self, request: Request, match: Match, fault: Fault | None, received: float
    ) -> Response | object:
        try:
            outcome = await self._misbehave(request, match, fault)
        except asyncio.CancelledError:
            # The client went away while the answer was held back (it timed out): nothing was sent.
            if self._record:
                self._remember(request, match, DROP, fault, received)
            raise
        if self._record:
            self._remember(request, match, outcome, fault, received)
        return outcome

    async def _misbehave(self, request: Request, match: Match, fault: Fault | None) -> Response | object:
        outcome: Response | object | None
        if fault is not None and not fault.after:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            outcome = fault.outcome(None)
            if outcome is None:
                outcome = self._respond(request, match)
                replaced = fault.outcome(outcome)  # extra headers only
                outcome = replaced if replaced is not None else outcome
        else:
            outcome = self._respond(request, match)
            if fault is not None:
                # after=True: the work is done (e.g. the job exists); now the answer misbehaves.
                if fault.delay_s:
                    await asyncio.sleep(fault.delay_s)
                replaced = fault.outcome(outcome)
                outcome = replaced if replaced is not None else outcome
        if self.latency_s > 0 and isinstance(outcome, Response):
            await asyncio.sleep(self.latency_s)
        return outcome

    def _respond(self, request: Request, match: Match) -> Response:
        if self.error_rate > 0 and self._rng.random() < self.error_rate:
            return self._unavailable(match.api)
        route = match.route
        if route is None or not route.anonymous:
            denied = self._auth.check(request, "public" if match.api == "public" else "config")
            if denied is not None:
                return denied
        if route is None:
            return self._no_route(request, match)
        try:
            return route.handler(request, match.params)
        except HttpError as exc:
            return exc.response
        except Exception:
            log.exception("emulator handler failed on %s %s", request.method, request.path)
            if match.api == "public":
                return problem("unexpected-problem", "The emulator failed to handle this request")
            return known_exception(500, "Internal Server Error", "java.lang.RuntimeException")

    def _unavailable(self, api: str) -> Response:
        if api == "public":
            return problem("service-unavailable")
        return json_response({"message": "Service Unavailable"}, 503)

    def _no_route(self, request: Request, match: Match) -> Response:
        # Micronaut's own 404/405 bodies; a public path on a server that has the public API gets a problem.
        if match.status == 405:
            return json_response(
                {
                    "message": "Method Not Allowed",
                    "_embedded": {
                        "errors": [
                            {
                                "message": (
                                    f"Method [{request.method}] not allowed for URI [{request.path}]. "
                                    f"Allowed methods: [{', '.join(match.allowed)}]"
                                )
                            }
                        ]
                    },
                },
                405,
                {"Allow": ", ".join(match.allowed)},
            )
        if match.api == "public" and self.server_version != "2022":
            return problem("resource-not-found", data={"resourceType": "path", "resourceId": request.path})
        return json_response(
            {
                "message": "Not Found",
                "_embedded": {"errors": [{"message": "Page Not Found"}]},
            },
            404,
        )

    def _remember(
        self,
        request: Request,
        match: Match,
        outcome: Response | object,
        fault: Fault | None,
        received: float,
    ) -> None:
        if isinstance(outcome, Response):
            headers = {"Content-Length": str(len(outcome.body))}
            if outcome.content_type:
                headers["Content-Type"] = outcome.content_type
            headers.update(outcome.headers or {})
            status: int | None = outcome.status
            payload = outcome.payload if outcome.payload is not None else _parse_body(outcome.body)
        else:
            headers, status, payload = {}, None, None
        entry = {
            "received": received,
            "time": time.time(),
            "method": request.method,
            "path": request.path,
            "query": {k: list(v) for k, v in request.query.items()},
            "query_string": request.query_string,
            "endpoint": match.endpoint,
            "request_headers": dict(request.headers),
            "request_body": _parse_body(request.body),
            "status": status,
            "response_headers": headers,
            "response_body": copy.deepcopy(payload),
            "fault": fault.describe() if fault is not None else None,
        }
        with self._exchanges_lock:
            self._exchanges.append(entry)
