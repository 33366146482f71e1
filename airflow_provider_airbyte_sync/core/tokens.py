"""Client-credentials tokens: the fetch flow, the Authorization header, and a cache a transport owns."""

from __future__ import annotations

import base64
import json
from collections.abc import Generator, Mapping
from datetime import datetime, timezone

from airflow_provider_airbyte_sync.core import wire
from airflow_provider_airbyte_sync.core.errors import AirbyteAuthError
from airflow_provider_airbyte_sync.core.settings import Settings
from airflow_provider_airbyte_sync.core.wire import Request, Response

DEFAULT_TOKEN_LIFE_S = 120.0
TOKEN_MARGIN_S = 30.0


def token_flow(settings: Settings, conn_id: str = "") -> Generator[Request, Response, tuple[str, float]]:
    """Fetch a bearer token: JSON body first, a form body if the endpoint refuses JSON.

    Returns ``(token, lifetime_s)``; the lifetime comes from ``expires_in``, else the JWT's ``exp``,
    else a short default.
    """
    assert settings.token_url and settings.login and settings.secret  # noqa: S101 - checked in settings
    body = {"client_id": settings.login, "client_secret": settings.secret, "grant_type": "client_credentials"}
    response = yield Request("POST", settings.token_url, json=body, kind="token", auth=False)
    if (
        response.status in (400, 415, 422)
        and not response.is_html
        and "invalid client" not in (wire.airbyte_message(response).lower())
    ):
        response = yield Request("POST", settings.token_url, form=body, kind="token", auth=False)
    wire.raise_for_answer(response, action="get an access token", conn_id=conn_id)
    if response.is_html:
        raise AirbyteAuthError(
            f"Could not get an access token: {settings.token_url} answered an HTML page, not Airbyte's "
            "token endpoint. Set the token URL (extra 'token_url') to …/api/public/v1/applications/token."
        )
    data = wire.parse_json(response, "get an access token")
    token = data.get("access_token") if isinstance(data, Mapping) else None
    if not token:
        raise AirbyteAuthError(
            f"Could not get an access token: {settings.token_url} answered without an access_token."
        )
    lifetime = data.get("expires_in")
    if not lifetime:
        lifetime = _jwt_lifetime(token)
    return str(token), float(lifetime or DEFAULT_TOKEN_LIFE_S)


def _jwt_lifetime(token: str) -> float | None:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"]) - datetime.now(timezone.utc).timestamp()
    except (IndexError, KeyError, TypeError, ValueError):
        return None


class TokenCache:
    """Bearer tokens, keyed by :attr:`Settings.cache_key`; each transport owns one and holds its own
    lock around a fetch. Tokens are dropped shortly before they expire; times are ``time.monotonic()``.
    """

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}

    def get(self, key: tuple[str, ...], now: float) -> str | None:
        entry = self._tokens.get(key)
        return entry[0] if entry and now < entry[1] else None

    def put(self, key: tuple[str, ...], token: str, lifetime: float, now: float) -> None:
        margin = min(TOKEN_MARGIN_S, lifetime / 4)
        self._tokens[key] = (token, now + lifetime - margin)

    def drop(self, key: tuple[str, ...], token: str | None) -> None:
        """Forget a token the server refused (only if no newer one replaced it meanwhile)."""
        entry = self._tokens.get(key)
        if entry and (token is None or entry[0] == token):
            del self._tokens[key]
