"""The provider's exceptions: one small hierarchy, each message naming what to fix.

Airflow-free on purpose: the pure core (this package) raises these, and a task fails on any
exception, so nothing needs Airflow's base class. No message ever carries a password, client
secret or token: messages are built from ids, hosts and Airbyte's own error text.

Every error says what is known about the request that failed, in :attr:`AirbyteError.outcome`:

- ``"final"``: Airbyte answered, in its own words, and the answer is definite (refused
  credentials, an unknown connection, a job it no longer knows). Nothing to retry.
- ``"unknown"``: no answer, a 5xx, or an answer that is not Airbyte's (an HTML page from a proxy, a
  body that is not the API's shape). The request may or may not have taken effect: a create may
  have created a job, a read says nothing about the job.
- ``"refused"``: refused before it was handled (429): nothing happened, asking again later is safe.

Code decides by this attribute, never by an error's wording or exact class.
"""

from __future__ import annotations

from typing import Literal

Outcome = Literal["final", "unknown", "refused"]


class AirbyteError(Exception):
    """Base class of every error this provider raises."""

    outcome: Outcome = "final"


class AirbyteConfigError(AirbyteError, ValueError):
    """The Airflow connection or the task arguments are wrong; nothing was sent to Airbyte."""


class AirbyteConnectionNotFound(AirbyteError):
    """Airbyte does not know the connection id."""


class AirbyteConnectionNotActive(AirbyteError):
    """The Airbyte connection is inactive, deprecated or locked: Airbyte will not sync it."""


class AirbyteSyncAlreadyRunning(AirbyteError):
    """Airbyte refused a new job because one is already running for the connection."""

    def __init__(self, message: str, connection_id: str | None = None, job_id: int | None = None) -> None:
        super().__init__(message)
        self.connection_id = connection_id
        self.job_id = job_id


class AirbyteAuthError(AirbyteError):
    """Airbyte (or a proxy in front of it) refused the credentials."""


class AirbyteUnreachable(AirbyteError):
    """No answer from the server: wrong host or port, TLS mismatch, or the server is down.

    ``outcome`` is ``"refused"`` when no connection was made (the request never left).
    """

    def __init__(self, message: str, outcome: Outcome = "unknown") -> None:
        super().__init__(message)
        self.outcome = outcome


class AirbyteUnexpectedAnswer(AirbyteError):
    """The server answered something this provider cannot use; ``outcome`` says what that means."""

    def __init__(self, message: str, status: int | None = None, outcome: Outcome = "unknown") -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome


class AirbyteJobNotFound(AirbyteError):
    """Airbyte itself says it does not know the job id (never inferred from a proxy's 404)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AirbyteOutcomeUnknown(AirbyteError):
    """A create had no clear answer and no job of it could be found yet: a retry checks again.

    The task state store keeps what was sent, so the next try looks for the job before it creates
    anything.
    """

    outcome: Outcome = "unknown"


class AirbyteJobFailed(AirbyteError):
    """The job ended failed or cancelled, or in a status that is never success."""

    def __init__(self, message: str, job: dict | None = None) -> None:
        super().__init__(message)
        self.job = job


class AirbyteTimeout(AirbyteError):
    """The job did not end within the task's ``timeout``."""
