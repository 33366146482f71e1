"""Requests and answers on the wire, and the one mapping of a failed answer to an error."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from airflow_provider_airbyte_sync.core import errors
from airflow_provider_airbyte_sync.core.settings import Settings, join

Kind = Literal["read", "create", "cancel", "token"]
# Answers are read up to this size, never further: a poll must not download a runaway body.
MAX_BODY_BYTES = 8 << 20


@dataclass(frozen=True)
class Request:
    """One HTTP request, relative to ``Settings.base_url`` unless ``url`` is absolute.

    ``kind`` picks the retry rule: reads and cancels are retried when safe, a create only on 429.
    """

    method: str
    url: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    form: Mapping[str, str] | None = field(default=None, repr=False)
    kind: Kind = "read"
    auth: bool = True

    def full_url(self, settings: Settings) -> str:
        url = self.url if "://" in self.url else join(settings.base_url, self.url)
        if self.params:
            url += "?" + urlencode({k: v for k, v in self.params.items() if v is not None}, doseq=True)
        return url


@dataclass(frozen=True)
class Response:
    """An answer; ``status`` 0 means no answer arrived (``error`` says why)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    url: str = ""
    request_had_auth: bool = True
    too_large: bool = False  # the body passed MAX_BODY_BYTES and was not read further
    # False when no connection to the server was made (refused, connect timeout, TLS handshake):
    # the request never left, so nothing can have come of it.
    sent: bool = True

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8") or "null")

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers.items():
            if key.lower() == name:
                return value
        return None

    @property
    def is_html(self) -> bool:
        kind = (self.header("content-type") or "").lower()
        return "html" in kind or self.body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))


def airbyte_message(response: Response, limit: int = 300) -> str:
    """Airbyte's own words for an error answer, shortened; HTML pages are summarised, not quoted."""
    if response.status == 0:
        return response.error or "no answer"
    if response.too_large:
        return f"an answer larger than {MAX_BODY_BYTES >> 20} MB (not read further)"
    if response.is_html:
        return "an HTML page (a proxy or login page, not Airbyte's API)"
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return response.body[:limit].decode("utf-8", "replace").strip()
    if isinstance(body, Mapping):
        data: Mapping[str, Any] = body["data"] if isinstance(body.get("data"), Mapping) else {}
        for value in (data.get("message"), body.get("message"), body.get("detail"), body.get("title")):
            if value:
                return str(value)[:limit]
        if body.get("errorId"):
            return f"server error id {body['errorId']}"
    return json.dumps(body)[:limit]


def _json(response: Response) -> Any:
    """The answer's JSON, or ``None`` when it is not JSON."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _body(response: Response) -> Any:
    """The answer's JSON, or ``None`` when it is not JSON (or an HTML page, or cut off)."""
    return None if response.too_large or response.is_html else _json(response)


def problem_title(response: Response) -> str:
    body = _json(response)
    return f"{body.get('title') or ''} {body.get('type') or ''}".lower() if isinstance(body, Mapping) else ""


_RUNNING_ID = re.compile(r"already running for:?\s*([0-9a-fA-F-]{36})")


def is_sync_running_conflict(response: Response) -> bool:
    """A 409 (or a pre-2022 500) that means "a sync is already running", by its words, not its code."""
    if response.status not in (409, 500):
        return False
    return "already running" in airbyte_message(response).lower() or (
        response.status == 409 and "try-again-later" in problem_title(response)
    )


Resource = Literal["job", "connection", "other"]
# What the config API says about a resource it does not know, and with which statuses (a job's
# "Could not find job with id: N" came as a 500 before 2023).
_NOT_FOUND: dict[Resource, tuple[str, tuple[int, ...]]] = {
    "job": ("could not find job", (404, 500)),
    "connection": ("could not find", (404,)),  # "Could not find configuration for STANDARD_SYNC: ..."
}


def says_not_found(response: Response, resource: Resource) -> bool:
    """Airbyte's own word that the request's ``resource`` does not exist, never a proxy's 404.

    The public API's ``resource-not-found`` problem about a resource that is not a path; the config
    API's message for that resource (:data:`_NOT_FOUND`); newer servers' 404 whose body is only
    ``{"errorId": ...}``. A request about no resource (``"other"``) never hears it.
    """
    body = _body(response)
    words, statuses = _NOT_FOUND.get(resource, ("", ()))
    if not isinstance(body, Mapping) or response.status not in statuses:
        return False
    if response.status == 404 and "resource-not-found" in problem_title(response):
        data: Mapping[str, Any] = body["data"] if isinstance(body.get("data"), Mapping) else {}
        return data.get("resourceType") != "path"
    if words in str(body.get("message") or "").lower():
        return True
    return response.status == 404 and set(body) == {"errorId"}


def raise_for_answer(
    response: Response, *, action: str, conn_id: str = "", subject: str = "", resource: Resource = "other"
) -> None:
    """Turn a failed answer into one of the provider's errors, with a message naming the fix.

    ``resource`` is what the request is about, as its caller declares it: only Airbyte's own answer
    about that resource can say it does not exist, and only one about a connection that a sync
    already runs or that the connection is not active. Anything that is not Airbyte's answer (no
    answer, 5xx, HTML, a body cut off or too large) has outcome ``"unknown"``.
    """
    if response.ok and not response.too_large:
        return
    where = f" (Airflow connection {conn_id!r})" if conn_id else ""
    said = airbyte_message(response)
    lower = said.lower()
    status = response.status
    if status == 0:
        raise errors.AirbyteUnreachable(
            f"Could not {action}: no answer from {response.url or 'Airbyte'}{where}: {said}. Check the host, "
            "port and scheme (https against an http port fails), and that Airbyte is up.",
            outcome="unknown" if response.sent else "refused",
        )
    if response.too_large:
        raise errors.AirbyteUnexpectedAnswer(
            f"Could not {action}: {response.url} answered {said}{where}.", status
        )
    if status in (401, 403) and not response.request_had_auth:
        raise errors.AirbyteAuthError(
            f"Could not {action}: Airbyte asks for credentials{where} (HTTP {status}) and none are set. "
            "Fill Login and Password (Basic user and password, or client id and secret), or set a token."
        )
    if (
        status in (401, 403)
        or (status == 400 and "invalid client" in lower)
        or (response.is_html and status in (400, 407))
    ):
        raise errors.AirbyteAuthError(
            f"Could not {action}: Airbyte refused the credentials{where} (HTTP {status}: {said}). Check "
            "Login/Password (Basic user and password, or client id and secret) or the token, and the "
            "auth type."
        )
    if resource == "connection" and is_sync_running_conflict(response):
        match = _RUNNING_ID.search(said)
        raise errors.AirbyteSyncAlreadyRunning(
            f"Could not {action}: a sync is already running for connection "
            f"{match.group(1) if match else subject}.",
            connection_id=match.group(1) if match else subject or None,
        )
    if (resource == "connection" and not response.is_html) and (
        "active connection" in lower or (status == 409 and "state-conflict" in problem_title(response))
    ):
        raise errors.AirbyteConnectionNotActive(
            f"Could not {action}: Airbyte says {said!r}. Enable connection {subject} in the Airbyte UI."
        )
    if resource == "job" and says_not_found(response, resource):
        raise errors.AirbyteJobNotFound(
            f"Could not {action}: Airbyte does not know job {subject} ({said}).", status
        )
    if says_not_found(response, resource):
        raise errors.AirbyteConnectionNotFound(
            f"Could not {action}: Airbyte has no connection {subject}{where}. Copy the connection id from "
            "the connection's URL in the Airbyte UI, and check the workspace the credentials belong to."
        )
    if 300 <= status < 400:
        location = response.header("location")
        moved = f" It redirects to {location}: set the host to that URL." if location else ""
        raise errors.AirbyteUnexpectedAnswer(
            f"Could not {action}: {response.url} answered a redirect (HTTP {status}){where}, which this "
            f"provider does not follow (a POST would turn into a GET).{moved}",
            status,
            outcome="final",
        )
    if status in (404, 405):
        # Not Airbyte's word about the resource (a proxy, a gateway, a wrong base path): unknown.
        raise errors.AirbyteUnexpectedAnswer(
            f"Could not {action}: {response.url} does not exist (HTTP {status}: {said}){where}. Check the "
            "host's base path and the API type (config API at /api/v1, public API at /api/public/v1).",
            status,
        )
    outcome: errors.Outcome = "unknown"
    if status == 429:
        outcome = "refused"
    elif 400 <= status < 500 and not response.is_html and _body(response) is not None:
        outcome = "final"  # Airbyte refused the request as malformed or not allowed: nothing happened
    raise errors.AirbyteUnexpectedAnswer(
        f"Could not {action}: Airbyte answered HTTP {status}: {said}{where}", status, outcome=outcome
    )


def outcome_unknown(error: Exception) -> bool:
    """Whether a failed request may still have taken effect (a create may have created its job)."""
    return getattr(error, "outcome", "final") == "unknown"


def malformed(response: Response, action: str, what: str) -> errors.AirbyteUnexpectedAnswer:
    """An error for a 2xx body that is not the API's shape: outcome unknown, never "nothing there"."""
    return errors.AirbyteUnexpectedAnswer(
        f"Could not {action}: {response.url} answered HTTP {response.status} without {what} in it "
        "(a proxy's page, or not Airbyte's API). Check the host's base path and the API type.",
        response.status,
    )


def parse_json(response: Response, action: str) -> Any:
    if response.too_large:
        raise errors.AirbyteUnexpectedAnswer(
            f"Could not {action}: {response.url} answered {airbyte_message(response)}."
        )
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.AirbyteUnexpectedAnswer(
            f"Could not {action}: the answer from {response.url} is not JSON.", response.status
        ) from exc


_USERINFO = re.compile(r"//[^/@\s:]+:[^/@\s]+@")


def scrub(text: str) -> str:
    """Drop credentials an HTTP library may quote from a proxy URL (``//user:secret@host``)."""
    return _USERINFO.sub("//***@", text)


_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")
_TLS = re.compile(r"\[SSL: [A-Z_]+\] [^'\")(]+")


def describe_error(error: BaseException) -> str:
    """A short, secret-free reason for a failed request (HTTP libraries nest long reprs)."""
    text = scrub(str(error))
    found = _TLS.search(text) or _ERRNO.search(text)
    if found:
        reason = found.group(0).strip()
        if "WRONG_VERSION_NUMBER" in reason or "record layer failure" in reason:
            reason += " (https against an http port?)"
        return reason
    if len(text) > 160:
        text = text[:160].rsplit(" ", 1)[0] + " …"
    return f"{type(error).__name__}: {text}"
