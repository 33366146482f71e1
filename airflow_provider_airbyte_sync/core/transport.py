"""The send plan: everything about one HTTP request decided here, so both transports only drive it:
they put :func:`plan_for`'s :class:`Plan` on the wire and read the outcome with :func:`answered` or
:func:`unanswered`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlencode, urlsplit

from airflow_provider_airbyte_sync.core.errors import AirbyteConfigError
from airflow_provider_airbyte_sync.core.settings import Settings
from airflow_provider_airbyte_sync.core.wire import MAX_BODY_BYTES, Request, Response, describe_error

if TYPE_CHECKING:
    import ssl

USER_AGENT = "airflow-provider-airbyte-sync"
# The connection form's Test must answer within seconds: short timeouts, no retries.
QUICK_CONNECT_S, QUICK_READ_S = 5.0, 10.0


@dataclass(frozen=True)
class Plan:
    """One request exactly as it goes on the wire. ``repr`` never shows the headers or the body."""

    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes | None = field(repr=False)
    connect_timeout: float
    read_timeout: float
    had_auth: bool  # an Authorization header is sent (or it is a token request, which carries its own)


def needs_token(settings: Settings, request: Request) -> bool:
    """Whether the request's Authorization is a client-credentials token the sender must hold."""
    return request.auth and settings.auth == "client_credentials"


def plan_for(settings: Settings, request: Request, token: str | None = None, *, quick: bool = False) -> Plan:
    """The complete plan of ``request``; ``token`` is the sender's client-credentials token, if needed.

    ``quick`` (the connection form's Test) caps the timeouts. A create waits ``create_timeout`` for
    its answer: Airbyte can take minutes to create a job under load.
    """
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    bearer = {"bearer": settings.secret, "client_credentials": token}.get(settings.auth)
    if request.auth and settings.auth == "basic":
        raw = f"{settings.login}:{settings.secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
    elif request.auth and bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    body = None
    if request.json is not None:
        headers["Content-Type"], body = "application/json", json.dumps(request.json).encode()
    elif request.form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(request.form).encode()
    read = settings.create_timeout if request.kind == "create" else settings.read_timeout
    connect = settings.connect_timeout
    if quick:
        connect, read = min(connect, QUICK_CONNECT_S), min(read, QUICK_READ_S)
    had_auth = "Authorization" in headers or request.kind == "token"
    return Plan(request.method, request.full_url(settings), headers, body, connect, read, had_auth)


class Body:
    """An answer's body as it streams in, kept no further than :data:`~.wire.MAX_BODY_BYTES`."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; ``False`` once the body is too large (stop reading)."""
        self.size += len(chunk)
        self.chunks.append(chunk)
        return self.size <= MAX_BODY_BYTES


def answered(plan: Plan, status: int, headers: Mapping[str, str], body: Body) -> Response:
    """The :class:`~.wire.Response` of an answer that arrived."""
    too_large = body.size > MAX_BODY_BYTES
    content = b"" if too_large else b"".join(body.chunks)
    return Response(
        status, dict(headers), content, url=plan.url, request_had_auth=plan.had_auth, too_large=too_large
    )


Failure = Literal["tls", "refused", "connect_timeout", "read_timeout", "broken"]


def unanswered(plan: Plan, failure: Failure, error: BaseException | None = None) -> Response:
    """The :class:`~.wire.Response` of a request no answer came to, with a secret-free reason.

    ``tls``, ``refused`` and ``connect_timeout``: no connection was made, the request never left.
    """
    reason = describe_error(error) if error is not None else ""
    text = {
        "tls": f"TLS failed: {reason}",
        "connect_timeout": f"connecting timed out after {plan.connect_timeout:g}s",
        "read_timeout": f"no answer within {plan.read_timeout:g}s",
    }.get(failure, reason)
    return Response(0, error=text, url=plan.url, sent=failure in ("broken", "read_timeout"))


def proxy_for(settings: Settings, url: str) -> str | None:
    """The proxy for a URL: the connection's own, else the environment's (``HTTPS_PROXY``,
    ``NO_PROXY``...), as ``requests`` picks it on the hook's path.
    """
    scheme = url.split(":", 1)[0].lower()
    if settings.proxies:
        return settings.proxies.get(scheme)
    from urllib.request import getproxies, proxy_bypass

    host = urlsplit(url).hostname or ""
    proxies = getproxies()
    if not proxies or proxy_bypass(host):
        return None
    return proxies.get(scheme)


@lru_cache(maxsize=8)
def ssl_context(verify: bool | str) -> ssl.SSLContext | None:
    """One SSL context per CA bundle, shared by both transports (``None``: the library default).

    Building a context costs tens of milliseconds of CPU: never build one per request or per watch.
    """
    if not isinstance(verify, str):
        return None
    import ssl as ssl_module

    try:
        return ssl_module.create_default_context(cafile=verify)
    except (OSError, ssl_module.SSLError) as exc:
        raise AirbyteConfigError(
            f"The CA bundle {verify!r} (extra 'ca_bundle') cannot be read as PEM certificates: {exc}."
        ) from None
