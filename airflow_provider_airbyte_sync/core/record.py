"""What a task knows and asks for (the versioned start record), and the start flow's effects and outcomes."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

from airflow_provider_airbyte_sync.core.errors import AirbyteConfigError
from airflow_provider_airbyte_sync.core.status import AirbyteJob
from airflow_provider_airbyte_sync.core.values import job_id_or_none, normal_uuid
from airflow_provider_airbyte_sync.core.wire import Request

RECORD_VERSION = 2  # 1: the untyped dict of releases before the typed record
StateName = Literal["sent", "owned", "attached", "waiting"]
STATES: tuple[StateName, ...] = ("sent", "owned", "attached", "waiting")
IF_RUNNING = ("wait", "attach", "fail")


@dataclass(frozen=True)
class Generation:
    """What tells a retry (same generation) from a user's Clear (a new one).

    Clearing a task sets its ``max_tries`` anew and bumps the dag run's ``clear_number``; a retry
    changes neither. ``max_tries`` is compared when both sides know it, else ``clear_number``.
    """

    clear_number: int = 0
    max_tries: int | None = None

    def same_as(self, other: Generation) -> bool:
        if self.max_tries is not None and other.max_tries is not None:
            return self.max_tries == other.max_tries
        return self.clear_number == other.clear_number


@dataclass(frozen=True)
class Ask:
    """What the task asks for: its rendered, checked arguments."""

    connection_id: str  # canonical (lower-case) UUID
    job_type: str
    if_running: str
    generation: Generation = Generation()


@dataclass(frozen=True)
class StartRecord:
    """What a task did towards its job, as stored in the task state store (see ``STATE_TABLE``)."""

    connection_id: str
    job_type: str
    generation: Generation
    state: StateName
    job_id: int | None = None  # owned, attached, waiting (None: a 409 with no running job listed)
    note: int | None = None  # sent: the newest job id of the connection before the first create
    sent_at: tuple[float, ...] = ()  # sent: epoch seconds each create went out (outcomes unknown)
    sent_kinds: tuple[str, ...] = ()  # sent: the job type each of them was sent as (the job it makes)
    version: int = RECORD_VERSION

    @property
    def owned(self) -> bool:
        return self.state == "owned"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sent_at": list(self.sent_at), "sent_kinds": list(self.sent_kinds)}

    @classmethod
    def from_dict(cls, data: Any) -> StartRecord | None:
        """Read a stored record; ``None`` for nothing usable; a record of a newer release is refused."""
        if not isinstance(data, Mapping):
            return None
        version = data.get("version", 1)
        if version == 1:
            return _from_version_1(data)
        if version != RECORD_VERSION:
            raise AirbyteConfigError(
                f"This task's state store holds a start record of version {version!r}, written by another "
                f"release of this provider (this one reads versions 1 and {RECORD_VERSION}). Upgrade the "
                "provider on every worker, or clear the task to start anew."
            )
        generation = data.get("generation") or {}
        state = data.get("state")
        if state not in STATES or not isinstance(generation, Mapping):
            raise AirbyteConfigError(f"This task's start record is damaged ({dict(data)!r}): clear the task.")
        return cls(
            connection_id=str(normal_uuid(data.get("connection_id"))),
            job_type=str(data.get("job_type")),
            generation=Generation(int(generation.get("clear_number") or 0), generation.get("max_tries")),
            state=state,
            job_id=job_id_or_none(data.get("job_id")),
            note=data.get("note"),
            sent_at=tuple(float(when) for when in data.get("sent_at") or ()),
            sent_kinds=tuple(str(kind) for kind in data.get("sent_kinds") or ()),
        )


def _from_version_1(data: Mapping[str, Any]) -> StartRecord | None:
    """The dict of earlier releases: a job id (owned or not), or a bare note ``after_job_id``.

    A bare note cannot say whether its create went out or a 409 answered it, nor when: a job newer
    than it may be anyone's, so it is read as nothing (the task notes afresh and creates; the
    README's upgrade note says what that can cost).
    """
    job_id = job_id_or_none(data.get("job_id"))
    if job_id is None:
        return None
    return StartRecord(
        str(normal_uuid(data.get("connection_id"))),
        str(data.get("job_type") or "sync"),
        Generation(int(data.get("clear_number") or 0), data.get("max_tries")),
        "owned" if data.get("owned", True) else "attached",
        job_id=job_id,
    )


@dataclass(frozen=True)
class Persist:
    """Store ``record`` for the next try before going on (answered with ``None``)."""

    record: StartRecord


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Log:
    level: int
    text: str


Effect = Request | Persist | Sleep | Log


@dataclass(frozen=True)
class Started:
    """Watch ``job`` (maybe already succeeded); ``owned``: this task created it (only then cancel it)."""

    job: AirbyteJob
    owned: bool
    workspace_id: str | None = None


@dataclass(frozen=True)
class Busy:
    """Another party's ``job`` runs: wait for it to end (never cancel it), then call :func:`start` again."""

    job: AirbyteJob


Outcome = Started | Busy
T = TypeVar("T")
Steps = Generator[Effect, Any, T]  # a flow that yields effects and answers a T
Flow = Steps[Outcome]


def check_if_running(if_running: Any) -> str:
    if if_running not in IF_RUNNING:
        raise AirbyteConfigError(f"if_running must be 'wait', 'attach' or 'fail', not {if_running!r}.")
    return if_running
