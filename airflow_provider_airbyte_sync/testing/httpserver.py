"""A small HTTP/1.1 server on asyncio, running its event loop in one background thread.

Why hand-written: the emulator must hold thousands of keep-alive connections on two cores, count
accepted sockets and requests exactly, and misbehave on purpose (drop a connection, reset it, stall
one request without blocking the others). ``http.server`` is thread-per-connection and hides the
sockets; an ``asyncio.Protocol`` keeps each idle connection down to one small object.

Supported: request line, headers, ``Content-Length`` and chunked request bodies,
``Expect: 100-continue``, keep-alive by default on HTTP/1.1 (``Connection: close`` honoured,
HTTP/1.0 keep-alive on request), pipelined requests answered in order. Every answer carries
``Content-Length``. Nothing here knows about Airbyte: an *app* callable turns a :class:`Request` into
a :class:`Response`, or into an awaitable of one (or of :data:`DROP` / :data:`RESET`) when it needs
to wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http
import json
import logging
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any, Union
from urllib.parse import parse_qs

__all__ = ["DROP", "RESET", "HttpServer", "Request", "Response"]

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
_REQUEST_LINE = re.compile(rb"^[A-Z]+ \S+ HTTP/1\.\d$")

#: Outcome: close the connection without answering (the client sees EOF).
DROP = object()
#: Outcome: abort the connection with a TCP reset (the client sees ECONNRESET).
RESET = object()


class Request:
    """One parsed HTTP request."""

    __slots__ = (
        "_json",
        "_query",
        "body",
        "headers",
        "keep_alive",
        "method",
        "path",
        "query_string",
        "scheme",
        "target",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: dict[str, str],
        body: bytes,
        keep_alive: bool,
        scheme: str,
    ) -> None:
        self.method = method
        self.target = target
        path, _, query = target.partition("?")
        self.path = path
        self.query_string = query
        self.version = version
        self.headers = headers  # lower-case names
        self.body = body
        self.keep_alive = keep_alive
        self.scheme = scheme
        self._query: dict[str, list[str]] | None = None
        self._json: Any = None

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = parse_qs(self.query_string, keep_blank_values=False)
        return self._query

    def json(self) -> Any:
        """Parse the body as JSON (cached); raises ``ValueError`` on malformed JSON."""
        if self._json is None:
            self._json = json.loads(self.body)
        return self._json


class Response:
    """An answer: status, body bytes, content type and extra headers."""

    __slots__ = ("body", "close", "content_type", "headers", "payload", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
        payload: Any = None,
        close: bool = False,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers
        self.payload = payload  # the object ``body`` was serialised from, kept for recording
        self.close = close


Outcome = Union[Response, object]  # noqa: UP007 - a Response, DROP or RESET
App = Callable[[Request], Union[Response, Awaitable[Outcome]]]  # noqa: UP007

_REASONS = {s.value: s.phrase for s in http.HTTPStatus}


def _http_date(now: float) -> str:
    return formatdate(int(now), usegmt=True)


def _error(status: int, message: str) -> Response:
    body = json.dumps({"message": message}).encode()
    return Response(status, body, close=True)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _decode_chunked(buf: bytearray) -> tuple[bytes, int] | None:
    """Decode a chunked body at the start of ``buf``: (body, bytes consumed), or None while incomplete."""
    pos = 0
    parts: list[bytes] = []
    size_total = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            if len(buf) - pos > 1024:
                raise _BadRequest(400, "Bad chunk size line")
            return None
        size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _BadRequest(400, "Bad chunk size") from None
        pos = eol + 2
        if size == 0:
            # Trailers (ignored) end with an empty line.
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return b"".join(parts), eol + 2
                pos = eol + 2
        size_total += size
        if size_total > MAX_BODY_BYTES:
            raise _BadRequest(413, "Request body too large")
        if len(buf) < pos + size + 2:
            return None
        parts.append(bytes(buf[pos : pos + size]))
        if buf[pos + size : pos + size + 2] != b"\r\n":
            raise _BadRequest(400, "Bad chunk terminator")
        pos += size + 2


class _Connection(asyncio.Protocol):
    """One client connection: parses requests in order and writes answers."""

    __slots__ = ("buf", "busy", "closed", "continue_sent", "eof", "head", "server", "task", "transport")

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.busy = False  # a request of this connection is being answered asynchronously
        self.closed = False
        self.head: tuple[str, str, str, dict[str, str], int | None] | None = None
        self.continue_sent = False
        self.eof = False  # the client half-closed while we still owed it an answer
        self.task: asyncio.Task[None] | None = None

    # -- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._process()

    def eof_received(self) -> bool:
        if self.busy:
            # Keep writing: the request in flight still gets its answer, then we close.
            self.eof = True
            return True
        return False  # close our side too

    @property
    def idle(self) -> bool:
        """Between requests on a keep-alive connection (nothing buffered, nothing in flight)."""
        return not self.busy and not self.closed and self.head is None and not self.buf

    # -- request handling ----------------------------------------------------------------------

    def _process(self) -> None:
        while not self.busy and not self.closed:
            try:
                request = self._parse()
            except _BadRequest as exc:
                self._write(None, _error(exc.status, str(exc)))
                return
            if request is None:
                return
            try:
                result = self.server.app(request)
            except Exception:
                log.exception("emulator app failed on %s %s", request.method, request.target)
                result = _error(500, "Internal Server Error")
            if isinstance(result, Response):
                self._write(request, result)
            else:
                self.busy = True
                self.task = asyncio.ensure_future(self._finish(request, result))
                return

    async def _finish(self, request: Request, pending: Awaitable[Outcome]) -> None:
        try:
            outcome = await pending
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("emulator app failed on %s %s", request.method, request.target)
            outcome = _error(500, "Internal Server Error")
        self.task = None
        self.busy = False
        if self.closed:
            return
        if outcome is DROP:
            self.close()
        elif outcome is RESET:
            self.reset()
        else:
            self._write(request, outcome)  # type: ignore[arg-type]
            if not self.closed and self.buf:
                self._process()
            if self.eof and not self.busy:
                self.close()

    def _parse(self) -> Request | None:
        buf = self.buf
        if self.head is None:
            # RFC 9112: ignore empty lines before a request line.
            while buf[:2] == b"\r\n":
                del buf[:2]
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                # Refuse what cannot become a request without waiting for more: e.g. a TLS
                # ClientHello (an https client on this http port) gets its error at once.
                if buf and not (65 <= buf[0] <= 90):  # request methods start with A-Z
                    raise _BadRequest(400, "Bad request line")
                eol = buf.find(b"\r\n")
                if eol >= 0 and not _REQUEST_LINE.match(bytes(buf[:eol])):
                    raise _BadRequest(400, "Bad request line")
                if len(buf) > MAX_HEAD_BYTES:
                    raise _BadRequest(431, "Request Header Fields Too Large")
                return None
            if end > MAX_HEAD_BYTES:
                raise _BadRequest(431, "Request Header Fields Too Large")
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[: end + 4]
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
                raise _BadRequest(400, "Bad request line")
            method, target, version = parts
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    raise _BadRequest(400, "Bad header line")
                name = name.lower()
                value = value.strip()
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            length: int | None
            te = headers.get("transfer-encoding")
            if te is not None:
                if te.lower() != "chunked":
                    raise _BadRequest(501, f"Transfer-Encoding {te} not supported")
                length = None  # chunked
            else:
                try:
                    length = int(headers.get("content-length", "0"))
                except ValueError:
                    raise _BadRequest(400, "Bad Content-Length") from None
                if length < 0:
                    raise _BadRequest(400, "Bad Content-Length")
                if length > MAX_BODY_BYTES:
                    raise _BadRequest(413, "Request body too large")
            self.head = (method, target, version, headers, length)
            self.continue_sent = False
        method, target, version, headers, length = self.head
        if length is None:
            decoded = _decode_chunked(buf)
            if decoded is None:
                self._maybe_continue(headers)
                return None
            body, used = decoded
            del buf[:used]
        else:
            if len(buf) < length:
                self._maybe_continue(headers)
                return None
            body = bytes(buf[:length])
            del buf[:length]
        self.head = None
        tokens = headers.get("connection", "").lower()
        # HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless asked to keep it.
        keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
        return Request(method, target, version, headers, body, keep_alive, self.server.scheme)

    def _maybe_continue(self, headers: dict[str, str]) -> None:
        if not self.continue_sent and headers.get("expect", "").lower() == "100-continue":
            self.continue_sent = True
            assert self.transport is not None  # noqa: S101 - set in connection_made
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _write(self, request: Request | None, response: Response) -> None:
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            return
        keep_alive = request is not None and request.keep_alive and not response.close
        lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}\r\n"]
        if response.content_type:
            lines.append(f"Content-Type: {response.content_type}\r\n")
        date = _http_date(self.server.clock())
        lines.append(f"Content-Length: {len(response.body)}\r\nDate: {date}\r\n")
        if response.headers:
            for name, value in response.headers.items():
                lines.append(f"{name}: {value}\r\n")
        if not keep_alive:
            lines.append("Connection: close\r\n")
        elif request is not None and request.version == "HTTP/1.0":
            lines.append("Connection: keep-alive\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        if request is not None and request.method == "HEAD":
            transport.write(head)
        else:
            transport.write(head + response.body)
        if not keep_alive:
            self.close()

    def close(self) -> None:
        """Close gracefully (FIN after pending writes)."""
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def reset(self) -> None:
        """Abort with a TCP RST: SO_LINGER with a zero timeout, then close."""
        if self.transport is None or self.closed:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.closed = True
        self.transport.abort()


class HttpServer:
    """Serves ``app`` on ``host:port`` from an event loop in a daemon thread."""

    def __init__(
        self,
        app: App,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 8192,
        on_connect: Callable[[], None] | None = None,
        thread_name: str = "airbyte-emulator",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.backlog = backlog
        self.scheme = "https" if ssl_context is not None else "http"
        self.on_connect = on_connect or (lambda: None)
        self.clock = clock  # the Date header: the server's clock, as its job times are
        self.connections: set[_Connection] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread_name = thread_name
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Bind, listen and start serving; returns once the socket accepts connections."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        # A stopped server may start again (same port if it had one): a server restart.
        self._ready.clear()
        self._error = None
        sock = self._bind()
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(sock,), name=self._thread_name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error

    def _bind(self) -> socket.socket:
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, socktype, proto, _, address = infos[0]
        sock = socket.socket(family, socktype, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            # A deep accept queue before serving: benchmarks open thousands of connections at once.
            sock.listen(self.backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def _accept(self) -> _Connection:
        # asyncio calls the protocol factory once per accepted socket, before any TLS handshake:
        # the right place to count TCP connections exactly.
        self.on_connect()
        return _Connection(self)

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                loop.create_server(self._accept, sock=sock, ssl=self.ssl_context, backlog=self.backlog)
            )
        except BaseException as exc:
            self._error = exc
            sock.close()
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Stop serving, drop every connection and join the thread (idempotent)."""
        thread, loop = self._thread, self.loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
        self._thread = None

    def call(self, fn: Callable[[], Any], timeout: float = 30) -> Any:
        """Run ``fn`` on the server's loop thread and return its result."""
        loop = self.loop
        if loop is None or not self.running:
            return fn()
        if threading.current_thread() is self._thread:
            return fn()
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout)

    def close_idle_connections(self) -> int:
        """Close every idle keep-alive connection without a word; answer how many.

        Returns only once the sockets are really closed: asyncio closes a transport's socket on a
        later turn of the loop, and a client that looked before then would still see it open.
        """

        def close_idle() -> list[_Connection]:
            idle = [c for c in self.connections if c.idle]
            for conn in idle:
                conn.close()
            return idle

        closed = self.call(close_idle)
        deadline = time.monotonic() + 5
        while self.call(lambda: any(c in self.connections for c in closed)) and time.monotonic() < deadline:
            time.sleep(0.001)
        return len(closed)

    def open_connections(self) -> int:
        return int(self.call(lambda: len(self.connections)))
