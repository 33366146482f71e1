"""The three ways an Airbyte deployment guards its API.

* ``none``: old docker-compose OSS without a proxy password.
* ``basic``: docker-compose OSS behind nginx with ``auth_basic`` (``airbyte``/``password`` by default).
  nginx, not Airbyte, refuses a request, so the 401 is nginx's HTML page.
* ``token``: abctl/Helm OSS and Cloud. Client credentials buy a bearer JWT at
  ``applications/token``; the same token opens the config and the public API until its ``exp``.

Health endpoints and the token endpoints are always anonymous (the routes say so).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Callable

from airflow_provider_airbyte_sync.testing.httpserver import Request, Response
from airflow_provider_airbyte_sync.testing.responses import html_response, known_exception, problem

__all__ = [
    "AUTH_MODES",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "Authenticator",
    "InvalidCredentials",
    "decode_jwt_payload",
]

AUTH_MODES = ("none", "basic", "token")
DEFAULT_USERNAME = "airbyte"
DEFAULT_PASSWORD = "password"
# Airbyte mints client ids as UUIDs (Settings > Applications); the default looks like one.
DEFAULT_CLIENT_ID = "6f1c0a52-1f3e-4f5b-9a77-2d8e4c3b1a90"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"
BASIC_REALM = "Welcome to Airbyte"

_NGINX_401 = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class InvalidCredentials(ValueError):
    """Wrong client id or secret at a token endpoint."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_jwt_payload(token: str) -> dict[str, object]:
    """The claims of a JWT, unverified (for tests and curious users)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Authenticator:
    """Checks requests against one auth mode and issues bearer tokens."""

    def __init__(
        self,
        mode: str = "none",
        *,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        token_lifetime_s: float = 900,
        clock: Callable[[], float],
    ) -> None:
        if mode not in AUTH_MODES:
            raise ValueError(f"auth must be one of {AUTH_MODES}, not {mode!r}")
        self.mode = mode
        self.username = username
        self.password = password
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime_s = token_lifetime_s
        self._clock = clock
        self._key = os.urandom(32)
        self._tokens: dict[str, float] = {}  # token -> exp (only tokens we issued are valid)
        self._basic_header = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    # -- tokens ----------------------------------------------------------------------------------

    def issue_token(self, client_id: str, client_secret: str) -> tuple[str, int]:
        """A signed JWT and its lifetime in seconds; raises :class:`InvalidCredentials`."""
        if not (
            hmac.compare_digest(str(client_id), self.client_id)
            and hmac.compare_digest(str(client_secret), self.client_secret)
        ):
            raise InvalidCredentials("Invalid client id or token")
        now = self._clock()
        iat = int(now)
        lifetime = int(self.token_lifetime_s)
        exp = now + self.token_lifetime_s
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "iss": "airbyte-emulator",
            "aud": "airbyte-server",
            "sub": client_id,
            "iat": iat,
            "exp": int(exp),
            "jti": uuid.uuid4().hex,  # two tokens minted in one second still differ
        }
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        token = f"{header}.{payload}.{_b64url(signature)}"
        if len(self._tokens) > 10_000:
            # Long benchmarks mint many tokens: forget the expired ones.
            self._tokens = {t: e for t, e in self._tokens.items() if e > now}
        self._tokens[token] = exp
        return token, lifetime

    def token_valid(self, token: str) -> bool:
        exp = self._tokens.get(token)
        return exp is not None and self._clock() < exp

    # -- request checks --------------------------------------------------------------------------

    def check(self, request: Request, api: str) -> Response | None:
        """``None`` when ``request`` may pass, else the 401 answer (``api`` is "config" or "public")."""
        if self.mode == "none":
            return None
        header = request.headers.get("authorization", "")
        if self.mode == "basic":
            if header == self._basic_header or self._basic_ok(header):
                return None
            return html_response(
                401,
                _NGINX_401,
                {"WWW-Authenticate": f'Basic realm="{BASIC_REALM}"', "Server": "nginx/1.25.3"},
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and self.token_valid(token.strip()):
            return None
        headers = {"WWW-Authenticate": "Bearer"}
        if api == "public":
            return problem("invalid-api-key", headers=headers)
        response = known_exception(401, "Unauthorized")
        response.headers = headers
        return response

    def _basic_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        return hmac.compare_digest(user, self.username) and hmac.compare_digest(password, self.password)
