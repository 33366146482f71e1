"""The provider's exceptions: one small hierarchy, each message naming what to fix.

Every class derives from Airflow's ``AirflowException`` so tasks fail the Airflow way. No message
ever carries a password, client secret or token: messages are built from ids, hosts and Airbyte's
own error text only.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException


class AirbyteError(AirflowException):
    """Base class of every error this provider raises."""


class AirbyteConfigError(AirbyteError):
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
    """No answer from the server: wrong host or port, TLS mismatch, or the server is down."""


class AirbyteUnexpectedAnswer(AirbyteError):
    """The server answered something this provider cannot use."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AirbyteJobNotFound(AirbyteUnexpectedAnswer):
    """Airbyte no longer knows the job id (it answers 500 "Could not find job")."""


class AirbyteJobFailed(AirbyteError):
    """The job ended failed or cancelled, or in a status that is never success."""

    def __init__(self, message: str, job: dict | None = None) -> None:
        super().__init__(message)
        self.job = job


class AirbyteTimeout(AirbyteError):
    """The job did not end within the task's ``timeout``."""
