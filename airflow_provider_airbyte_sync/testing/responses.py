"""Error and JSON answers in the shapes Airbyte uses.

The config API answers errors with ``KnownExceptionInfo``-like JSON (``message``,
``exceptionClassName``, ...); the public API answers RFC 9457 problems
(``application/problem+json``) whose ``type``/``title``/``detail`` are the constants of
``public-api-problems`` (Airbyte treats those defaults as fixed per problem type and puts the
specific text in ``data.message``).
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_airbyte_sync.testing.httpserver import Response

__all__ = [
    "JSON",
    "PROBLEM",
    "PROBLEMS",
    "HttpError",
    "html_response",
    "invalid_input",
    "json_response",
    "known_exception",
    "problem",
]

JSON = "application/json"
PROBLEM = "application/problem+json"

_ERRORS = "https://reference.airbyte.com/reference/errors"

#: name -> (status, type, title, default detail), from public-api-problems-2026.yaml.
PROBLEMS: dict[str, tuple[int, str, str, str]] = {
    "bad-request": (
        400,
        f"{_ERRORS}#bad-request",
        "bad-request",
        "The request could not be understood by the server due to malformed syntax.",
    ),
    "invalid-api-key": (
        401,
        f"{_ERRORS}#invalid-api-key",
        "invalid-api-key",
        "The API key in the Authorization header is invalid.",
    ),
    "forbidden": (403, f"{_ERRORS}#forbidden", "forbidden", "The request is forbidden."),
    "resource-not-found": (
        404,
        f"{_ERRORS}#resource-not-found",
        "resource-not-found",
        "The requested resource could not be found.",
    ),
    "state-conflict": (409, f"{_ERRORS}#409-state-conflict", "state-conflict", "State conflict"),
    "try-again-later": (409, f"{_ERRORS}#try-again-later", "try-again-later", "Please try again later."),
    "unprocessable-entity": (
        422,
        f"{_ERRORS}#unprocessable-entity",
        "unprocessable-entity",
        "The body of the request was not understood",
    ),
    "unexpected-problem": (
        500,
        _ERRORS,
        "unexpected-problem",
        "An unexpected problem has occurred. If this is an error that needs to be "
        "addressed, please submit a pull request or github issue.",
    ),
    "service-unavailable": (
        503,
        _ERRORS,
        "service-unavailable",
        "The server is currently unable to handle the request.",
    ),
}

_EXCEPTION_CLASSES = {
    400: "io.airbyte.commons.server.errors.BadRequestException",
    401: "io.micronaut.security.authentication.AuthorizationException",
    404: "io.airbyte.config.persistence.ConfigNotFoundException",
    409: "io.airbyte.commons.server.errors.ValueConflictKnownException",
    500: "java.lang.IllegalStateException",
}


class HttpError(Exception):
    """Raised by a handler to answer ``response`` instead of a result."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    obj: Any, status: int = 200, headers: dict[str, str] | None = None, content_type: str = JSON
) -> Response:
    return Response(status, _dumps(obj), content_type, headers, payload=obj)


def html_response(status: int, html: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, html.encode(), "text/html", headers, payload=html)


def known_exception(status: int, message: str, class_name: str | None = None, **extra: Any) -> Response:
    """A config API error body (``KnownExceptionInfo`` / ``NotFoundKnownExceptionInfo``)."""
    body: dict[str, Any] = {
        "message": message,
        "exceptionClassName": class_name or _EXCEPTION_CLASSES.get(status, "java.lang.RuntimeException"),
        "exceptionStack": [],
        "rootCauseExceptionStack": [],
    }
    body.update(extra)
    return json_response(body, status)


def invalid_input(message: str, validation_errors: list[dict[str, Any]] | None = None) -> Response:
    """A config API 422 (``InvalidInputExceptionInfo``), e.g. for a body that is not JSON."""
    return json_response(
        {
            "message": message,
            "exceptionClassName": "com.fasterxml.jackson.core.JsonParseException",
            "exceptionStack": [],
            "validationErrors": validation_errors or [],
        },
        422,
    )


def problem(
    name: str,
    message: str | None = None,
    *,
    data: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A public API problem body; ``message`` goes into ``data.message``."""
    status, type_url, title, detail = PROBLEMS[name]
    body: dict[str, Any] = {"status": status, "type": type_url, "title": title, "detail": detail}
    if data is None and message is not None:
        data = {"message": message}
    if data is not None:
        body["data"] = data
    return json_response(body, status, headers, content_type=PROBLEM)
