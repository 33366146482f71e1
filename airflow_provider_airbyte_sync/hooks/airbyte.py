"""``AirbyteHook``: the Airflow connection and every blocking HTTP call to Airbyte.

It drives the flows of :mod:`airflow_provider_airbyte_sync.core` over one ``requests.Session``,
imported at the first request: DAG parsing imports this module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_airbyte_sync.compat import BaseHook
from airflow_provider_airbyte_sync.core import protocol, transport, values
from airflow_provider_airbyte_sync.core.dialects import Dialect, dialect_for
from airflow_provider_airbyte_sync.core.errors import AirbyteError, AirbyteSyncAlreadyRunning
from airflow_provider_airbyte_sync.core.record import (
    Ask,
    Busy,
    Log,
    Outcome,
    Persist,
    Sleep,
    Started,
    StartRecord,
    check_if_running,
)
from airflow_provider_airbyte_sync.core.retry import Attempts, ServerClock
from airflow_provider_airbyte_sync.core.settings import (
    Settings,
    job_url,
    request_timeout,
    settings_from_airflow,
)
from airflow_provider_airbyte_sync.core.status import AirbyteConnection, AirbyteJob, check_active
from airflow_provider_airbyte_sync.core.tokens import TokenCache, token_flow
from airflow_provider_airbyte_sync.core.watch import (
    Failed,
    Read,
    Succeeded,
    Watch,
    failed_error,
    watching,
    with_failure_reason,
)
from airflow_provider_airbyte_sync.core.wire import Request, Response
from airflow_provider_airbyte_sync.exceptions import raising_for_airflow

if TYPE_CHECKING:
    import ssl

    import requests
    import requests.adapters

T = TypeVar("T")

CONN_TYPE = "airbyte_sync"
DEFAULT_CONN_ID = "airbyte_default"
# The tokens of this process: a second hook of the same credentials reuses the first one's token.
TOKENS = TokenCache()
# One token fetch at a time in this process (threads of one worker share the cache). Re-entrant:
# on_kill runs in a signal handler, maybe while this thread is inside a fetch.
_TOKEN_LOCK = threading.RLock()


@raising_for_airflow
class AirbyteHook(BaseHook):
    """Talk to one Airbyte deployment (config API, OSS public API or Cloud) through an Airflow connection.

    No network and no connection lookup happen in ``__init__``: the connection is read at the first
    call. Job methods return :class:`~airflow_provider_airbyte_sync.core.status.AirbyteJob` whatever the
    API; errors are subclasses of :class:`~airflow_provider_airbyte_sync.core.errors.AirbyteError` whose
    messages name the fix and never contain a secret.

    :param airbyte_conn_id: Airflow connection id, of type ``airbyte_sync`` (or the official
        provider's ``airbyte``). Default ``airbyte_default``.
    :param api_version: accepted and ignored, for DAGs written for the official provider (which
        takes it); the API version is the connection's ``api_version`` extra field.
    :param timeout: seconds each request may take (connect, read and create), overriding the
        connection's timeouts, as the official provider's hook argument does.

    Every error its methods raise is also an ``AirflowException``
    (:mod:`~airflow_provider_airbyte_sync.exceptions`), as the official hook's are.

    Example::

        hook = AirbyteHook("airbyte_default")
        job = hook.submit_sync_connection("15bc3800-82e4-48c3-a32d-620661273f28")
        done = hook.wait_for_job(job.job_id, wait_seconds=15)
        print(done.rows_synced)
    """

    conn_name_attr = "airbyte_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Airbyte (sync)"

    def __init__(
        self, airbyte_conn_id: str = DEFAULT_CONN_ID, api_version: str = "v1", timeout: float | None = None
    ) -> None:
        super().__init__()
        self.airbyte_conn_id = airbyte_conn_id
        self.timeout = None if timeout is None else values.positive_seconds("AirbyteHook timeout", timeout)
        self.tokens = TOKENS  # what this hook sends with: the process's cache
        self._workspaces: dict[str, str] = {}  # connection id -> workspace id, as Airbyte told us
        self._clock = ServerClock()

    # ---------------------------------------------------------------- set-up (lazy)
    @cached_property
    def settings(self) -> Settings:
        """The connection as this provider reads it (looked up on first use)."""
        settings = settings_from_airflow(BaseHook.get_connection(self.airbyte_conn_id))
        if self.timeout is not None:
            settings = request_timeout(settings, self.timeout)
        if settings.secret:
            from airflow.sdk.log import mask_secret

            mask_secret(settings.secret)
        return settings

    @cached_property
    def dialect(self) -> Dialect:
        return dialect_for(self.settings, self.airbyte_conn_id)

    @cached_property
    def session(self) -> requests.Session:
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        context = transport.ssl_context(self.settings.verify)
        adapter = _ssl_adapter(context) if context is not None else HTTPAdapter()
        session.mount("https://", adapter)
        session.mount("http://", HTTPAdapter())
        if self.settings.proxies:
            session.proxies.update(self.settings.proxies)
        return session

    def get_conn(self) -> requests.Session:
        """The ``requests.Session`` every call goes through."""
        return self.session

    def create_api_session(self) -> requests.Session:
        """The official hook's name for the same session (there, its SDK's client)."""
        return self.session

    def get_conn_params(self, conn_id: str | None = None) -> dict[str, Any]:
        """The connection as the official hook summarises it (``host``, ``client_id``,
        ``client_secret``, ``token_url``, ``proxies``, ``timeout``), read as this provider reads it."""
        settings = self.settings
        if conn_id not in (None, self.airbyte_conn_id):
            settings = settings_from_airflow(BaseHook.get_connection(conn_id))
        return {
            "host": settings.base_url,
            "client_id": settings.login,
            "client_secret": settings.secret,
            "token_url": settings.token_url,
            "proxies": dict(settings.proxies) if settings.proxies else None,
            "timeout": self.timeout or settings.read_timeout,
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form's relabeling, placeholders and hidden fields (from the provider info)."""
        from airflow_provider_airbyte_sync import get_provider_info

        (form,) = (t["ui-field-behaviour"] for t in get_provider_info()["connection-types"])
        return {key.replace("-", "_"): value for key, value in form.items()}

    # ---------------------------------------------------------------- transport
    def run(
        self,
        flow: Generator[Any, Any, T],
        persist: Callable[[StartRecord], None] | None = None,
        *,
        quick: bool = False,
    ) -> T:
        """Drive a flow of the core to its result, doing each effect it yields (requests, records...).

        ``persist`` stores a start record where the task's next try finds it (the task state store);
        without it records are only kept by the flow itself. ``quick``: short timeouts, no retries.
        """
        try:
            effect = next(flow)
            while True:
                answer: Any = None
                if isinstance(effect, Request):
                    answer = self.send(effect, quick=quick)
                elif isinstance(effect, Persist):
                    if persist is not None:
                        persist(effect.record)
                elif isinstance(effect, Sleep):
                    time.sleep(effect.seconds)
                elif isinstance(effect, Log):
                    self.log.log(effect.level, effect.text)
                elif isinstance(effect, Read):
                    try:
                        answer = self.run(effect.flow, quick=quick)
                    except AirbyteError as exc:
                        answer = exc
                else:
                    raise TypeError(f"unknown effect {effect!r}")
                effect = flow.send(answer)
        except StopIteration as stop:
            return stop.value

    def send(self, request: Request, *, quick: bool = False) -> Response:
        """Send one request as the core plans it, following the retry rule of :class:`Attempts`."""
        attempts = Attempts(request, self.settings, quick=quick)
        while True:
            token = self._token(quick) if transport.needs_token(self.settings, request) else None
            response = self._send_once(transport.plan_for(self.settings, request, token, quick=quick))
            self._clock.saw(response)
            step = attempts.after(response, token)
            if step.drop:
                self.tokens.drop(self.settings.cache_key, step.drop)
            if step.action == "done":
                return response
            if step.action == "retry":
                self.log.warning(attempts.describe(response, step.delay))
                time.sleep(step.delay)

    def _token(self, quick: bool) -> str:
        """The client-credentials token from :attr:`tokens`, fetched (and masked) when it has none."""
        key = self.settings.cache_key
        with _TOKEN_LOCK:
            token = self.tokens.get(key, time.monotonic())
            if token is None:
                token, lifetime = self.run(token_flow(self.settings, self.airbyte_conn_id), quick=quick)
                from airflow.sdk.log import mask_secret

                mask_secret(token)
                self.tokens.put(key, token, lifetime, time.monotonic())
        return token

    def _send_once(self, plan: transport.Plan) -> Response:
        """Put the plan on the wire; the body is read no further than the core's cap."""
        import requests

        try:
            with self.session.request(
                plan.method,
                plan.url,
                data=plan.body,
                headers=dict(plan.headers),
                timeout=(plan.connect_timeout, plan.read_timeout),
                # Explicit, or $REQUESTS_CA_BUNDLE would silently override verify_ssl=false.
                verify=self.settings.verify is not False,
                allow_redirects=False,  # a redirected POST turns into a GET: never follow
                stream=True,
            ) as answer:
                body = transport.Body()
                for chunk in answer.iter_content(64 * 1024):
                    if not body.add(chunk):
                        break
                return transport.answered(plan, answer.status_code, answer.headers, body)
        except requests.exceptions.SSLError as exc:
            return transport.unanswered(plan, "tls", exc)
        except requests.exceptions.ConnectTimeout:
            return transport.unanswered(plan, "connect_timeout")
        except requests.exceptions.Timeout:
            return transport.unanswered(plan, "read_timeout")
        except requests.exceptions.RequestException as exc:
            return transport.unanswered(plan, "refused" if _never_connected(exc) else "broken", exc)

    # ---------------------------------------------------------------- Airbyte operations
    def test_connection(self) -> tuple[bool, str]:
        """Prove the credentials work with one authenticated call; answers within seconds.

        Runs inside Airflow's API server when a user presses Test in the connection form.
        """
        try:
            self.run(self.dialect.check_credentials(), quick=True)
        except AirbyteError as exc:
            return False, str(exc)
        settings = self.settings
        return True, (
            f"Connected to Airbyte's {settings.flavour} API at {settings.base_url} "
            f"(auth: {settings.auth}); the credentials work."
        )

    def get_airbyte_connection(self, connection_id: str) -> AirbyteConnection:
        """The Airbyte connection ``connection_id`` (a UUID), after checking the id.

        ``get_connection`` stays Airflow's: it always answers the Airflow connection of an id.
        """
        connection_id = values.check_connection_id(connection_id)
        connection = self.run(self.dialect.get_connection(connection_id))
        if connection.workspace_id:
            self._workspaces[connection_id] = connection.workspace_id
        return connection

    def check_active(self, connection_id: str) -> AirbyteConnection:
        """The Airbyte connection, or :class:`AirbyteConnectionNotActive` if Airbyte would not sync it."""
        return check_active(self.get_airbyte_connection(connection_id))

    def submit_job(self, connection_id: str, job_type: str = "sync") -> AirbyteJob:
        """Start a ``sync``, ``reset`` or ``clear`` of an active connection; returns the new job.

        Never retried blindly (creating a job is not idempotent): an unknown outcome raises.
        """
        job_type = values.check_job_type(job_type)
        connection = self.check_active(connection_id)
        return self.run(self.dialect.create(connection.connection_id, job_type))

    def submit_sync_connection(self, connection_id: str) -> AirbyteJob:
        """Start a sync of the connection (the official provider's name for it)."""
        return self.submit_job(connection_id, "sync")

    def submit_reset_connection(self, connection_id: str) -> AirbyteJob:
        """Start a reset of the connection (the official provider's name for it)."""
        return self.submit_job(connection_id, "reset")

    def start(
        self,
        ask: Ask,
        record: StartRecord | None = None,
        persist: Callable[[StartRecord], None] | None = None,
    ) -> Outcome:
        """Run the start protocol (:mod:`~airflow_provider_airbyte_sync.core.protocol`) once.

        Answers :class:`~.record.Started` (watch this job; owned or not) or :class:`~.record.Busy`
        (another party's job runs: wait for it to end, then call again with the record persisted).
        """
        outcome = self.run(protocol.start(self.dialect, ask, record, self._clock.now), persist)
        if isinstance(outcome, Started) and outcome.workspace_id:
            self._workspaces[ask.connection_id] = outcome.workspace_id
        return outcome

    def start_job(
        self,
        connection_id: str,
        job_type: str = "sync",
        *,
        if_running: str = "wait",
        persist: Callable[[StartRecord], None] | None = None,
    ) -> tuple[AirbyteJob, bool]:
        """Start a job exactly once within this call; return ``(job, owned)``.

        A task should use :meth:`start` with its task state store, so its retries find their job.
        When another party's job runs, ``attach`` returns it as not owned (same kind only); ``wait``
        and ``fail`` raise :class:`AirbyteSyncAlreadyRunning` carrying its id (wait for it, then call
        again).
        """
        ask = Ask(
            values.check_connection_id(connection_id),
            values.check_job_type(job_type),
            check_if_running(if_running),
        )
        outcome = self.start(ask, persist=persist)
        if isinstance(outcome, Busy):
            running = outcome.job
            raise AirbyteSyncAlreadyRunning(
                f"Airbyte job {running.job_id} ({running.job_type}) is already running for connection "
                f"{ask.connection_id}; nothing was started.",
                connection_id=ask.connection_id,
                job_id=running.job_id,
            )
        return outcome.job, outcome.owned

    def get_job_details(self, job_id: int | str) -> AirbyteJob:
        """The job now, without downloading its attempt logs."""
        return self.run(self.dialect.get_job(values.check_job_id(job_id)))

    def get_job_status(self, job_id: int | str) -> str:
        """The job's status, e.g. ``running``."""
        return self.get_job_details(job_id).status

    def cancel_job(self, job_id: int | str) -> AirbyteJob | None:
        """Cancel the job; ``None`` when it had already ended (nothing to cancel)."""
        return self.run(self.dialect.cancel(values.check_job_id(job_id)))

    def list_jobs(
        self, connection_id: str, limit: int = 20, offset: int = 0, job_type: str | None = None
    ) -> list[AirbyteJob]:
        """Jobs of the connection, newest first."""
        connection_id = values.check_connection_id(connection_id)
        return self.run(self.dialect.list_jobs(connection_id, limit=limit, offset=offset, job_type=job_type))

    def find_running_job(self, connection_id: str, job_type: str | None = None) -> AirbyteJob | None:
        """The newest job of the connection that has not ended, or ``None``."""
        connection_id = values.check_connection_id(connection_id)
        return self.run(self.dialect.find_running_job(connection_id, job_type))

    def get_workspace_id(self, connection_id: str) -> str | None:
        return self.run(self.dialect.workspace_of(connection_id))

    def job_url(self, connection_id: str, workspace_id: str | None = None) -> str | None:
        """Link to the connection's job history in the Airbyte UI (``None`` if it cannot be built)."""
        if not connection_id:
            return None
        try:
            workspace_id = (
                workspace_id or self._workspaces.get(connection_id) or self.get_workspace_id(connection_id)
            )
        except AirbyteError:
            return None
        return job_url(self.settings, workspace_id, connection_id)

    def with_failure_reason(self, job: AirbyteJob) -> AirbyteJob:
        """The job with Airbyte's failure reason filled in when the API gave none."""
        return self.run(with_failure_reason(self.dialect, job))

    def wait_for_job(
        self,
        job_id: int | str,
        wait_seconds: float = 3,
        timeout: float | None = 3600,
        *,
        cancel_on_timeout: bool = True,
        watch: Watch | None = None,
    ) -> AirbyteJob:
        """Poll the job every ``wait_seconds`` until it ends; return it if it succeeded.

        Failed, cancelled or never-known statuses raise ``AirbyteJobFailed`` (with Airbyte's reason);
        after ``timeout`` seconds the job is cancelled (unless ``cancel_on_timeout`` is false) and
        ``AirbyteTimeout`` is raised. Transient errors are survived within the watch's error budget.
        """
        job_id = values.check_job_id(job_id)
        wait_seconds = values.positive_seconds("wait_seconds", wait_seconds, zero=True)
        timeout = None if timeout is None else values.positive_seconds("timeout", timeout)
        if not wait_seconds:
            self.log.warning("wait_seconds=0: polling Airbyte job %s without a pause between polls.", job_id)
        watch = watch or Watch(
            job_id, poll_interval=wait_seconds, deadline=time.time() + timeout if timeout else None
        )
        end = self.run(watching(watch, self.dialect))
        if isinstance(end, Succeeded):
            return end.job
        if isinstance(end, Failed):
            raise failed_error(end.job)
        if cancel_on_timeout:  # TimedOut
            self.cancel_quietly(job_id)
        raise watch.timeout_error(timeout)

    def cancel_quietly(self, job_id: int) -> None:
        """Cancel a job on the way out of a failure: a failed cancel is logged, never raised."""
        try:
            self.cancel_job(job_id)
            self.log.info("Cancelled Airbyte job %s.", job_id)
        except AirbyteError as exc:
            self.log.error("Could not cancel Airbyte job %s: %s", job_id, exc)


def _never_connected(error: Exception) -> bool:
    """Whether ``requests`` failed before a connection existed (refused, unresolvable host)."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = error.args[0] if error.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)


def _ssl_adapter(context: ssl.SSLContext) -> requests.adapters.HTTPAdapter:
    """An adapter that uses one prepared SSL context (the CA bundle loaded once)."""
    from requests.adapters import HTTPAdapter

    class SSLAdapter(HTTPAdapter):
        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            # The context already trusts the bundle: never load another CA file into it per
            # connection (requests would load certifi or $REQUESTS_CA_BUNDLE there).
            super().cert_verify(conn, url, verify, cert)
            conn.cert_reqs, conn.ca_certs, conn.ca_cert_dir = "CERT_REQUIRED", None, None

        def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
            return super().build_connection_pool_key_attributes(request, True, cert)

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = context
            super().init_poolmanager(*args, **kwargs)

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            kwargs["ssl_context"] = context
            return super().proxy_manager_for(proxy, **kwargs)

    return SSLAdapter()
