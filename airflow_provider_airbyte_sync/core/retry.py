"""The retry rule, shared by both transports: what to do after each answer to one request."""

from __future__ import annotations

import random
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal, NamedTuple

from airflow_provider_airbyte_sync.core.settings import Settings
from airflow_provider_airbyte_sync.core.wire import Request, Response

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
MAX_TRIES = 5
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
RETRY_AFTER_CAP_S = 120.0


def retry_after(response: Response, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` as seconds or an HTTP date)."""
    value = response.header("retry-after")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CAP_S)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(timezone.utc)
    return min(max((when - now).total_seconds(), 0.0), RETRY_AFTER_CAP_S)


class ServerClock:
    """Airbyte's clock, as its answers' ``Date`` headers show it; this machine's until one arrives.

    The start protocol compares the time a create went out with the creation times Airbyte gives
    its jobs: both must be read on Airbyte's clock, or a skewed worker clock turns our own job
    into a stranger's (a second sync) or a stranger's into ours.
    """

    def __init__(self) -> None:
        self.offset: float | None = None  # Airbyte's clock minus ours, seconds

    def saw(self, response: Response) -> None:
        value = response.header("date") if response.status else None
        if not value:
            return
        try:
            said = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError):
            return
        # The header has whole seconds: it was stamped up to 1 s before the answer arrived.
        self.offset = said + 0.5 - time.time()

    def now(self) -> float:
        return time.time() + (self.offset or 0.0)


def should_retry(request: Request, response: Response) -> bool:
    """Reads, cancels and token fetches are retried on transient failures.

    A create is retried only on 429: a rate limit refuses the request before it is handled, so
    nothing was started. Any other failure of a create is left to the exactly-once rule.
    """
    if request.kind == "create":
        return response.status == 429 or not response.sent  # never handled: sending again is safe
    if response.too_large:
        return False  # the same runaway body again would not help
    if response.status == 0 or response.status in RETRYABLE_STATUS:
        return True
    # A 2xx whose body is cut or garbled is transient for a read.
    if response.ok and request.kind == "read":
        try:
            response.json()
        except (ValueError, UnicodeDecodeError):
            return True
    return False


def backoff_delay(tries: int, response: Response | None = None, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter (half fixed, half random), or the server's Retry-After."""
    if response is not None and (asked := retry_after(response)) is not None:
        return asked
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(tries - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


class Step(NamedTuple):
    """What to do after an answer; ``drop`` is a refused token the sender's cache must forget."""

    action: Literal["done", "renew", "retry"]
    delay: float = 0.0
    drop: str | None = None


class Attempts:
    """The retry rule for sending one request, step by step; both transports follow it.

    After each answer, :meth:`after` says what to do: ``done`` keep this answer, ``renew`` drop the
    refused token (:attr:`Step.drop`) and send again at once (once: a 401 to a client-credentials
    token means it expired), or ``retry`` send again after :attr:`Step.delay` seconds (reads and
    cancels only, on transient failures, at most ``MAX_TRIES`` sends). ``quick``: never retry.
    """

    def __init__(self, request: Request, settings: Settings, *, quick: bool = False) -> None:
        self.request = request
        self.settings = settings
        self.retries = not quick
        self.tries = 0
        self.renewed = False

    def after(self, response: Response, token: str | None) -> Step:
        """The step after ``response`` to a send that carried ``token`` (the cached one, if any)."""
        self.tries += 1
        expired = response.status == 401 and self.settings.auth == "client_credentials"
        if expired and token and not self.renewed:
            self.renewed = True
            self.tries -= 1  # a renewal is not a retry
            return Step("renew", drop=token)
        if self.retries and should_retry(self.request, response) and self.tries < MAX_TRIES:
            return Step("retry", backoff_delay(self.tries, response))
        return Step("done")

    def describe(self, response: Response, delay: float) -> str:
        return (
            f"Airbyte {self.request.method} {self.request.url} answered {response.status or response.error}; "
            f"retrying in {delay:.1f}s (try {self.tries} of {MAX_TRIES})."
        )
