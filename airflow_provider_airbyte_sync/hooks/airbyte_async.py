"""The async twin of the hook's transport, for the triggerer's event loop.

It drives the same pure flows as :class:`~airflow_provider_airbyte_sync.hooks.airbyte.AirbyteHook`
over ``aiohttp`` (chosen by measurement: at 1,000 concurrent watches one ``ClientSession`` per watch
with a shared SSL context costs about a third of the CPU of the best ``httpx`` set-up). Nothing here
blocks the loop: the Airflow connection is read with ``aget_connection``, secrets are masked with
``amask_secret``, and ``aiohttp`` is imported only when a watch starts.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import time
import weakref
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseHook

from airflow_provider_airbyte_sync.core.dialects import Dialect, dialect_for
from airflow_provider_airbyte_sync.core.errors import AirbyteError
from airflow_provider_airbyte_sync.core.retry import Attempts
from airflow_provider_airbyte_sync.core.send import USER_AGENT, proxy_for, ssl_context
from airflow_provider_airbyte_sync.core.settings import Settings, settings_from_airflow
from airflow_provider_airbyte_sync.core.status import AirbyteJob
from airflow_provider_airbyte_sync.core.tokens import TOKENS, fixed_authorization, needs_token, token_flow
from airflow_provider_airbyte_sync.core.wire import MAX_BODY_BYTES, Request, Response, describe_error

if TYPE_CHECKING:
    import aiohttp

T = TypeVar("T")
log = logging.getLogger(__name__)

# One token fetch at a time per event loop; the token cache itself is the process-wide one.
_TOKEN_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def _import_aiohttp() -> Any:
    """aiohttp, imported off the event loop the first time (~0.1 s that would stall every trigger)."""
    if "aiohttp" not in sys.modules:
        await asyncio.to_thread(importlib.import_module, "aiohttp")
    import aiohttp

    return aiohttp


def _token_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _TOKEN_LOCKS.get(loop)
    if lock is None:
        lock = _TOKEN_LOCKS[loop] = asyncio.Lock()
    return lock


async def aread_settings(conn_id: str) -> Settings:
    """Read the Airflow connection without blocking the loop, and mask its secret."""
    from airflow.sdk.log import amask_secret

    settings = settings_from_airflow(await BaseHook.aget_connection(conn_id))
    if settings.secret:
        await amask_secret(settings.secret)
    return settings


async def _read_capped(answer: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    """The body, read no further than ``MAX_BODY_BYTES``; ``True`` when it was longer."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False


class AsyncAirbyteClient:
    """Async calls to Airbyte for one watch; use as ``async with AsyncAirbyteClient(conn_id) as api``.

    One ``aiohttp.ClientSession`` (and so one keep-alive connection) per client; retries, token
    renewal and timeouts follow the same rules as the hook.
    """

    def __init__(
        self, airbyte_conn_id: str, settings: Settings | None = None, *, keepalive_s: float = 15.0
    ) -> None:
        self.airbyte_conn_id = airbyte_conn_id
        self.settings = settings
        # A watch polls every N seconds: keep its connection open longer than that, or every poll
        # opens a new TCP connection.
        self.keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}
        self.dialect: Dialect

    async def __aenter__(self) -> AsyncAirbyteClient:
        aiohttp = await _import_aiohttp()

        if self.settings is None:
            self.settings = await aread_settings(self.airbyte_conn_id)
        verify = self.settings.verify
        if isinstance(verify, str):
            # Loading a CA file is blocking I/O: do it once, off the loop (the context is cached).
            ssl: Any = await asyncio.to_thread(ssl_context, verify)
        else:
            ssl = None if verify else False
        self.dialect = dialect_for(self.settings, self.airbyte_conn_id)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl, limit=4, keepalive_timeout=self.keepalive_s),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            # trust_env=True would send a .netrc lookup and a proxy lookup to a thread pool on every
            # request (measured: half the CPU at 5,000 watches); proxies are resolved once instead.
            trust_env=False,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run(self, flow: Generator[Request, Response, T]) -> T:
        """Drive a flow of :mod:`~airflow_provider_airbyte_sync.core` to its result."""
        try:
            request = next(flow)
            while True:
                request = flow.send(await self.send(request))
        except StopIteration as stop:
            return stop.value

    async def send(self, request: Request) -> Response:
        """Send one request with the hook's rules (:class:`Attempts`), never blocking the loop."""
        assert self.settings is not None  # noqa: S101 - set in __aenter__
        attempts = Attempts(request, self.settings)
        while True:
            authorization = await self._auth_header(request)
            response = await self._send_once(request, authorization)
            step, delay = attempts.after(response, authorization)
            if step == "done":
                return response
            if step == "retry":
                log.info(attempts.describe(response, delay))
                await asyncio.sleep(delay)

    async def _auth_header(self, request: Request) -> str | None:
        settings = self.settings
        assert settings is not None  # noqa: S101
        if not needs_token(settings, request):
            return fixed_authorization(settings, request)
        token = TOKENS.get(settings.cache_key, time.monotonic())
        if token is None:
            async with _token_lock():
                token = TOKENS.get(settings.cache_key, time.monotonic())
                if token is None:
                    from airflow.sdk.log import amask_secret

                    token, lifetime = await self.run(token_flow(settings, self.airbyte_conn_id))
                    await amask_secret(token)
                    TOKENS.put(settings.cache_key, token, lifetime, time.monotonic())
        return f"Bearer {token}"

    async def _send_once(self, request: Request, authorization: str | None) -> Response:
        import aiohttp

        settings = self.settings
        assert settings is not None and self._session is not None  # noqa: S101
        url = request.full_url(settings)
        read = settings.create_timeout if request.kind == "create" else settings.read_timeout
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=settings.connect_timeout, sock_read=read)
        headers = {"Authorization": authorization} if authorization else {}
        origin = "/".join(url.split("/", 3)[:3])  # scheme://host:port
        if origin not in self._proxies:
            self._proxies[origin] = proxy_for(settings, url)
        proxy = self._proxies[origin]
        try:
            async with self._session.request(
                request.method,
                url,
                json=request.json,
                data=request.form,
                headers=headers,
                timeout=timeout,
                proxy=proxy,
                allow_redirects=False,
            ) as answer:
                body, too_large = await _read_capped(answer)
                return Response(
                    answer.status,
                    dict(answer.headers),
                    body,
                    url=url,
                    request_had_auth=bool(authorization) or request.kind == "token",
                    too_large=too_large,
                )
        except asyncio.TimeoutError:
            return Response(0, error=f"no answer within {read:.0f}s", url=url)
        except aiohttp.ClientSSLError as exc:
            return Response(0, error=f"TLS failed: {describe_error(exc)}", url=url, sent=False)
        except aiohttp.ClientConnectorError as exc:
            return Response(0, error=describe_error(exc), url=url, sent=False)
        except (aiohttp.ClientError, OSError) as exc:
            return Response(0, error=describe_error(exc), url=url)

    # ------------------------------------------------------------ the operations a watch needs
    async def get_job(self, job_id: int) -> AirbyteJob:
        return await self.run(self.dialect.get_job(job_id))

    async def with_failure_reason(self, job: AirbyteJob) -> AirbyteJob:
        if job.failure or job.state == "succeeded":
            return job
        try:
            return await self.run(self.dialect.failure_reason(job))
        except AirbyteError:
            return job

    async def cancel_quietly(self, job_id: int) -> bool:
        """Cancel a job we own; a failure is logged, never raised (it must not hide the real error)."""
        try:
            await self.run(self.dialect.cancel(job_id))
        except AirbyteError as exc:
            log.error("Could not cancel Airbyte job %s: %s", job_id, exc)
            return False
        log.info("Cancelled Airbyte job %s.", job_id)
        return True
