"""The async twin of the hook's transport, for the triggerer's event loop.

It drives the same flows over ``aiohttp`` (chosen by measurement: at 1,000 concurrent watches one
``ClientSession`` per watch with a shared SSL context costs about a third of the CPU of the best
``httpx`` set-up). Nothing here blocks the loop (``aget_connection``, ``amask_secret``, and
``aiohttp`` imported off the loop when a watch starts).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import time
import weakref
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_airbyte_sync.compat import aget_connection, amask_secret
from airflow_provider_airbyte_sync.core import transport
from airflow_provider_airbyte_sync.core.dialects import Dialect, dialect_for
from airflow_provider_airbyte_sync.core.errors import AirbyteError
from airflow_provider_airbyte_sync.core.record import Log, Sleep
from airflow_provider_airbyte_sync.core.retry import Attempts
from airflow_provider_airbyte_sync.core.settings import Settings, settings_from_airflow
from airflow_provider_airbyte_sync.core.status import AirbyteJob
from airflow_provider_airbyte_sync.core.tokens import TokenCache, token_flow
from airflow_provider_airbyte_sync.core.watch import Read, with_failure_reason
from airflow_provider_airbyte_sync.core.wire import Request, Response

if TYPE_CHECKING:
    import aiohttp

T = TypeVar("T")
log = logging.getLogger(__name__)

# The tokens of this triggerer process: every watch of one Airflow connection shares one token
# (pass another cache to AsyncAirbyteClient to keep a client's tokens apart).
TOKENS = TokenCache()
# One token fetch at a time per event loop.
_TOKEN_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def aread_settings(conn_id: str) -> Settings:
    """Read the Airflow connection without blocking the loop, and mask its secret."""
    settings = settings_from_airflow(await aget_connection(conn_id))
    if settings.secret:
        await amask_secret(settings.secret)
    return settings


class AsyncAirbyteClient:
    """Async calls to Airbyte for one watch; use as ``async with AsyncAirbyteClient(conn_id) as api``.

    One ``aiohttp.ClientSession`` (and so one keep-alive connection) per client; retries, token
    renewal and timeouts follow the same rules as the hook. ``tokens`` is the cache this client
    sends with (default: this process's, shared by every watch).
    """

    def __init__(
        self,
        airbyte_conn_id: str,
        settings: Settings | None = None,
        *,
        keepalive_s: float = 15.0,
        tokens: TokenCache = TOKENS,
    ) -> None:
        self.airbyte_conn_id = airbyte_conn_id
        self.settings = settings
        self.tokens = tokens
        # A watch polls every N seconds: keep its connection open longer than that, or every poll
        # opens a new TCP connection.
        self.keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}
        self.dialect: Dialect

    async def __aenter__(self) -> AsyncAirbyteClient:
        if "aiohttp" not in sys.modules:
            # Off the event loop the first time: ~0.1 s that would stall every trigger.
            await asyncio.to_thread(importlib.import_module, "aiohttp")
        import aiohttp

        if self.settings is None:
            self.settings = await aread_settings(self.airbyte_conn_id)
        verify = self.settings.verify
        if isinstance(verify, str):
            # Loading a CA file is blocking I/O: do it once, off the loop (the context is cached).
            ssl: Any = await asyncio.to_thread(transport.ssl_context, verify)
        else:
            ssl = None if verify else False
        self.dialect = dialect_for(self.settings, self.airbyte_conn_id)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl, limit=4, keepalive_timeout=self.keepalive_s),
            # trust_env=True would send a .netrc lookup and a proxy lookup to a thread pool on every
            # request (measured: half the CPU at 5,000 watches); proxies are resolved once instead.
            trust_env=False,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run(self, flow: Generator[Any, Any, T], log_line: Callable[[int, str], object] = log.log) -> T:
        """Drive a flow of :mod:`~airflow_provider_airbyte_sync.core` to its result.

        Requests are sent, :class:`Sleep` waits without blocking the loop, :class:`Log` lines go to
        ``log_line(level, text)``, a :class:`Read` answers its result or the error it raised.
        """
        try:
            effect = next(flow)
            while True:
                answer: Any = None
                if isinstance(effect, Request):
                    answer = await self.send(effect)
                elif isinstance(effect, Sleep):
                    await asyncio.sleep(effect.seconds)
                elif isinstance(effect, Log):
                    log_line(effect.level, effect.text)
                elif isinstance(effect, Read):
                    try:
                        answer = await self.run(effect.flow)
                    except AirbyteError as exc:
                        answer = exc
                else:
                    raise TypeError(f"unknown effect {effect!r}")
                effect = flow.send(answer)
        except StopIteration as stop:
            return stop.value

    async def send(self, request: Request) -> Response:
        """Send one request as the core plans it, with the hook's rules (:class:`Attempts`)."""
        settings = self.settings
        assert settings is not None  # noqa: S101 - set in __aenter__
        attempts = Attempts(request, settings)
        while True:
            token = await self._token(settings) if transport.needs_token(settings, request) else None
            response = await self._send_once(transport.plan_for(settings, request, token))
            step = attempts.after(response, token)
            if step.drop:
                self.tokens.drop(settings.cache_key, step.drop)
            if step.action == "done":
                return response
            if step.action == "retry":
                log.info(attempts.describe(response, step.delay))
                await asyncio.sleep(step.delay)

    async def _token(self, settings: Settings) -> str:
        """The client-credentials token from :attr:`tokens`, fetched (and masked) when it has none."""
        key = settings.cache_key
        token = self.tokens.get(key, time.monotonic())
        if token is None:
            async with _TOKEN_LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock()):
                token = self.tokens.get(key, time.monotonic())
                if token is None:
                    fresh, lifetime = await self.run(token_flow(settings, self.airbyte_conn_id))
                    await amask_secret(fresh)
                    self.tokens.put(key, fresh, lifetime, time.monotonic())
                    token = fresh
        return token

    async def _send_once(self, plan: transport.Plan) -> Response:
        """Put the plan on the wire; the body is read no further than the core's cap."""
        import aiohttp

        assert self.settings is not None and self._session is not None  # noqa: S101
        origin = "/".join(plan.url.split("/", 3)[:3])  # scheme://host:port
        if origin not in self._proxies:
            self._proxies[origin] = transport.proxy_for(self.settings, plan.url)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=plan.connect_timeout, sock_read=plan.read_timeout
        )
        try:
            async with self._session.request(
                plan.method,
                plan.url,
                data=plan.body,
                headers=dict(plan.headers),
                timeout=timeout,
                proxy=self._proxies[origin],
                allow_redirects=False,
            ) as answer:
                body = transport.Body()
                async for chunk in answer.content.iter_chunked(64 * 1024):
                    if not body.add(chunk):
                        break
                return transport.answered(plan, answer.status, answer.headers, body)
        except asyncio.TimeoutError:
            return transport.unanswered(plan, "read_timeout")
        except aiohttp.ClientSSLError as exc:
            return transport.unanswered(plan, "tls", exc)
        except aiohttp.ClientConnectorError as exc:
            return transport.unanswered(plan, "refused", exc)
        except (aiohttp.ClientError, OSError) as exc:
            return transport.unanswered(plan, "broken", exc)

    # ------------------------------------------------------------ the operations a watch needs
    async def with_failure_reason(self, job: AirbyteJob) -> AirbyteJob:
        """The job with Airbyte's failure reason filled in when the API gave none."""
        return await self.run(with_failure_reason(self.dialect, job))

    async def cancel_quietly(self, job_id: int) -> bool:
        """Cancel a job we own; a failure is logged, never raised (it must not hide the real error)."""
        try:
            await self.run(self.dialect.cancel(job_id))
        except AirbyteError as exc:
            log.error("Could not cancel Airbyte job %s: %s", job_id, exc)
            return False
        log.info("Cancelled Airbyte job %s.", job_id)
        return True
