"""The status rule and the values every flow returns: jobs, connections and Airbyte's times."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from airflow_provider_airbyte_sync.core.errors import AirbyteConnectionNotActive

IN_PROGRESS = frozenset({"pending", "queued", "running", "incomplete"})
SUCCEEDED = "succeeded"
FAILED = frozenset({"failed", "cancelled"})
JOB_TYPES = ("sync", "reset", "clear")
# A status Airbyte adds later (it added ``queued`` in 2026) is watched for this long before failing.
UNKNOWN_STATUS_GRACE_S = 600.0

State = Literal["in_progress", "succeeded", "failed", "unknown"]


def same_kind(asked: str, job_type: str) -> bool:
    """Whether a job of ``job_type`` is what a request for ``asked`` creates (clear succeeded reset)."""
    kinds = {"reset": "clear"}
    return kinds.get(asked, asked) == kinds.get(job_type, job_type)


@dataclass(frozen=True)
class AirbyteJob:
    """One Airbyte job, the same whatever API answered. Times are timezone-aware UTC.

    ``failure`` is Airbyte's reason for the last failed attempt ("origin/type: message"), known
    only from the config API; ``attempt_failures`` has one such line per failed attempt.
    ``started_at`` (config API only) is when the job left the queue and began to run.
    """

    job_id: int
    connection_id: str | None
    job_type: str
    status: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    rows_synced: int | None = None
    bytes_synced: int | None = None
    attempts: int = 0
    failure: str | None = None
    attempt_failures: tuple[str, ...] = ()

    @property
    def state(self) -> State:
        """What the status means; a status this provider does not know is never success."""
        status = (self.status or "").lower()
        if status in IN_PROGRESS:
            return "in_progress"
        if status == SUCCEEDED:
            return "succeeded"
        return "failed" if status in FAILED else "unknown"

    @property
    def queued_s(self) -> float | None:
        """Seconds between creation and start, from Airbyte's own times (``None``: not known)."""
        if self.created_at is None or self.started_at is None:
            return None
        return max(0.0, (self.started_at - self.created_at).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON primitives (times as ISO-8601) for XCom and trigger events."""
        times = {name: _iso(getattr(self, name)) for name in ("created_at", "updated_at", "started_at")}
        return {**asdict(self), **times, "attempt_failures": list(self.attempt_failures)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AirbyteJob:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        return cls(
            job_id=int(data["job_id"]),
            connection_id=data.get("connection_id"),
            job_type=data.get("job_type") or "sync",
            status=data.get("status") or "",
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
            started_at=parse_time(data.get("started_at")),
            rows_synced=data.get("rows_synced"),
            bytes_synced=data.get("bytes_synced"),
            attempts=int(data.get("attempts") or 0),
            failure=data.get("failure"),
            attempt_failures=tuple(data.get("attempt_failures") or ()),
        )


@dataclass(frozen=True)
class AirbyteConnection:
    """An Airbyte connection (source -> destination), as much as this provider needs of it."""

    connection_id: str
    name: str
    status: str
    workspace_id: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


def check_active(connection: AirbyteConnection) -> AirbyteConnection:
    """``connection``, or :class:`AirbyteConnectionNotActive` if Airbyte would not sync it."""
    if not connection.active:
        raise AirbyteConnectionNotActive(
            f"Airbyte connection {connection.name!r} ({connection.connection_id}) is {connection.status}: "
            "Airbyte will not sync it. Enable it in the Airbyte UI; nothing was started."
        )
    return connection


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


_JAVA_NO_SECONDS = re.compile(r"T(\d\d):(\d\d)(?=[Z+-]|$)")
# Epoch seconds this provider believes: 2000-01-01 to 2100-01-01. Milliseconds are not seconds.
_EPOCH_RANGE = (946_684_800, 4_102_444_800)


def parse_time(value: Any) -> datetime | None:
    """Read an Airbyte time: epoch seconds (config API) or Java ``OffsetDateTime`` text.

    Java drops zero seconds (``2023-03-25T01:30Z``) and writes ``Z``, which Python 3.10 rejects.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        if not (_EPOCH_RANGE[0] <= value <= _EPOCH_RANGE[1]):
            raise ValueError(f"not epoch seconds: {value!r}")
        return datetime.fromtimestamp(value, tz=timezone.utc)
    text = str(value).strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = _JAVA_NO_SECONDS.sub(r"T\1:\2:00", text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
