"""Checks of the values a task is given (ids, job types, seconds): a clear error before any request."""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from airflow_provider_airbyte_sync.core.errors import AirbyteConfigError
from airflow_provider_airbyte_sync.core.status import JOB_TYPES


def positive_seconds(name: str, value: Any, *, zero: bool = False) -> float:
    """A finite, positive number of seconds from a number or a numeric string, or a clear error.

    ``"60"`` (as ``Variable.get`` gives) reads as 60; ``nan``, ``inf``, booleans and negatives are
    refused before anything is sent, and so is zero unless ``zero`` (a poll interval may be 0).
    """
    try:
        number = -1.0 if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not (math.isfinite(number) and number <= MAX_SECONDS and (number >= 0 if zero else number > 0)):
        kind = "non-negative" if zero else "positive"
        raise AirbyteConfigError(
            f"{name} must be a {kind} number of seconds (at most {MAX_SECONDS:.0f}), not {value!r}."
        )
    return number


# Ten years: beyond this a deadline overflows Python's timedelta and datetime.
MAX_SECONDS = 10 * 365 * 86400.0


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def check_connection_id(connection_id: Any) -> str:
    """The connection id in its one canonical form (lower-case UUID), or a clear error before any request."""
    if not isinstance(connection_id, str) or not is_uuid(connection_id.strip()):
        raise AirbyteConfigError(
            f"connection_id {connection_id!r} is not an Airbyte connection id: use the UUID from the "
            "connection's URL in the Airbyte UI (…/connections/<uuid>)."
        )
    return str(uuid.UUID(connection_id.strip()))


def normal_uuid(value: Any) -> str | None:
    """A UUID from an answer in canonical form; other text is kept as is, ``None`` stays ``None``."""
    if value is None:
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)


def check_job_type(job_type: Any) -> str:
    if job_type not in JOB_TYPES:
        raise AirbyteConfigError(f"job_type must be one of {', '.join(JOB_TYPES)}, not {job_type!r}.")
    return job_type


_DIGITS = re.compile(r"[0-9]+")


def job_id_or_none(value: Any) -> int | None:
    """A job id is a positive int, from an int or a string of digits only (``"1_0"`` is not 10)."""
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def check_job_id(job_id: Any) -> int:
    number = job_id_or_none(job_id)
    if number is None:
        raise AirbyteConfigError(
            f"airbyte_job_id {job_id!r} is not an Airbyte job id (a positive whole number, e.g. 42)."
        )
    return number
