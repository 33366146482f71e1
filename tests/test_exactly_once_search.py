"""The exactly-once search (``tests/exactly_once_search.py``): bounded, with a fixed seed, in CI.

The first tests prove the judge sees each kind of break, with deliberately broken operators on
hand-written sequences (whatever the provider's state); the last runs the search itself on the
provider and wants no violation. ``-m "not search"`` skips them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import requests

from tests.exactly_once_search import BACKOFF_BASE_S, World, describe_failure, generate, run_sequence, search

pytestmark = pytest.mark.search

#: Fixed, so a CI failure replays: python -m tests.exactly_once_search --seed SEED --start <index>
SEED = 20261129
#: About 55 s on a 2-core machine when nothing fails (each sequence takes under a second).
SEQUENCES = 60


@pytest.fixture
def world(
    emulator_factory: Callable[..., Any], airflow_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> World:
    """The search's two emulators, audited by ``emulator_factory``; connections through ``airflow_conn``."""
    monkeypatch.setattr("airflow_provider_airbyte_sync.core.retry.BACKOFF_BASE_S", BACKOFF_BASE_S)
    emulators = {
        "none": emulator_factory(record=True),
        "token": emulator_factory(auth="token", token_lifetime_s=1, record=True),
    }
    return World(emulators, define_connection=lambda fields: airflow_conn("airbyte_default", **fields))


# -- the judge sees breaks ------------------------------------------------------------------------
class CarelessOperator:
    """An operator with none of the provider's care, to check that the judge catches each break.

    ``adopt``: on a refused create (409) take the newest running job for its own (``"409"``), or
    take the first job newer than the one seen before creating when the create's answer is lost
    (``"lost"``). ``cancel``: cancel the job it watches on timeout.
    """

    def __init__(
        self,
        *,
        emulator: Any,
        adopt: str = "",
        cancel: bool = False,
        task_id: str,
        connection_id: str,
        timeout: float,
        wait_seconds: float,
        **_ignored: Any,
    ) -> None:
        self.api = emulator.config_api_url
        self.adopt, self.cancel = adopt, cancel
        self.connection_id, self.timeout, self.wait_seconds = connection_id, timeout, wait_seconds

    def _post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{self.api}/{path}", json=body, timeout=5)

    def _jobs(self) -> list[dict[str, Any]]:
        body = {"configTypes": ["sync"], "configId": self.connection_id}
        return [item["job"] for item in self._post("jobs/list", body).json()["jobs"]]

    def execute(self, context: dict[str, Any]) -> int:
        seen = max((job["id"] for job in self._jobs()), default=0)
        answer = self._post("connections/sync", {"connectionId": self.connection_id})
        if answer.status_code == 200:
            job_id = answer.json()["job"]["id"]
        elif answer.status_code == 409 and self.adopt == "409":
            job_id = max(job["id"] for job in self._jobs() if job["status"] in ("pending", "running"))
        elif answer.status_code >= 500 and self.adopt == "lost":
            job_id = min(job["id"] for job in self._jobs() if job["id"] > seen)
        else:
            raise RuntimeError(f"create answered {answer.status_code}")
        deadline = time.time() + self.timeout
        while True:
            status = self._post("jobs/get", {"id": job_id}).json()["job"]["status"]
            if status == "succeeded":
                context["ti"].xcom_push(key="airbyte_job", value={"job_id": job_id})
                return job_id
            if status in ("failed", "cancelled"):
                raise RuntimeError(f"job {job_id} {status}")
            if time.time() > deadline:
                if self.cancel:
                    self._post("jobs/cancel", {"id": job_id})
                raise TimeoutError(f"job {job_id}")
            time.sleep(self.wait_seconds)

    def on_kill(self) -> None:
        pass


def sequence(steps: list[dict[str, Any]], *, timeout: float = 20.0, running_s: float = 0.2) -> dict[str, Any]:
    task = {
        "mode": "blocking",
        "if_running": "wait",
        "timeout": timeout,
        "wait_seconds": 0.02,
        "job_type": "sync",
        "upper": False,
    }
    header = {
        "deployment": "config",
        "auth": "none",
        "pending_s": 0.02,
        "running_s": running_s,
        "create_timeout": 0.4,
        "read_timeout": 0.5,
        "tasks": [task],
    }
    return {"seed": 1, "header": header, "steps": steps}


def careless(world: World, **options: Any) -> World:
    return World(
        world.emulators,
        world.define_connection,
        partial(CarelessOperator, emulator=world.emulators["none"], **options),
    )


TRY = {"do": "try", "task": 0, "how": "retry", "crash": None, "restart": None}
THEIRS = {"do": "foreign_start", "running_s": 0.4}
THEIRS_AT_OUR_CREATE = {"do": "hook", "on": "create", "then": "start", "running_s": 0.3}
CREATE_LOST = {"do": "fault", "on": "create", "kind": "5xx_json", "count": 1, "status": 500, "after": False}


def invariants(outcome: Any) -> set[str]:
    return {name for name, _ in outcome.violations}


def test_the_judge_sees_a_second_sync_of_one_run(world: World) -> None:
    outcome = run_sequence(careless(world), sequence([TRY, TRY]))
    assert invariants(outcome) == {"I1"}, outcome.violations


def test_the_judge_sees_someone_elses_job_taken_and_cancelled(world: World) -> None:
    outcome = run_sequence(careless(world, adopt="409", cancel=True), sequence([THEIRS, TRY], timeout=0.1))
    assert "I2" in invariants(outcome), outcome.violations
    outcome = run_sequence(careless(world, adopt="409"), sequence([THEIRS, TRY]))
    assert "I3" in invariants(outcome), outcome.violations


def test_the_judge_sees_a_job_left_running(world: World) -> None:
    outcome = run_sequence(careless(world), sequence([TRY], timeout=0.05, running_s=5))
    assert "I4" in invariants(outcome), outcome.violations


def test_taking_the_first_new_job_after_a_lost_create_is_counted_unknowable_not_failed(world: World) -> None:
    # Their sync lands just before our create, whose answer is lost (a 500; nothing was created):
    # the first new job is theirs, and nothing tells it from ours.
    outcome = run_sequence(careless(world, adopt="lost"), sequence([THEIRS_AT_OUR_CREATE, CREATE_LOST, TRY]))
    assert outcome.violations == [] and outcome.counts["unknowable adoptions"] == 1
    # The same job, when Airbyte's 409 said plainly that the create was refused: a violation.
    outcome = run_sequence(careless(world, adopt="409"), sequence([THEIRS_AT_OUR_CREATE, TRY]))
    assert "I3" in invariants(outcome) and outcome.counts["unknowable adoptions"] == 0


def test_sequences_are_a_function_of_their_seed() -> None:
    assert generate(7) == generate(7) and generate(7) != generate(8)
    kinds = {step["do"] for seed in range(200) for step in generate(seed)["steps"]}
    assert kinds == {"try", "resume", "foreign_start", "foreign_end", "hook", "fault", "lag", "wait"}


# -- the search ------------------------------------------------------------------------------------
def test_no_sequence_breaks_exactly_once(world: World) -> None:
    summary = search(world, SEED, SEQUENCES, shrink_runs=25, stop_at_first=True)
    report = "\n\n".join(describe_failure(failure, SEED) for failure in summary.failures)
    assert not summary.failures, f"{report}\n\n{summary.figures()}"


# -- every failing sequence the search ever found, replayed by name ---------------------------------
#: Shrunk sequences the search found (seed and steps as it printed them for --replay). Each broke a
#: rule once; each must now pass, with the documented ambiguity counted where it says so.
FOUND: dict[str, dict[str, Any]] = {
    # A proxy's HTML 404 answered the create while another party's sync started at that moment; a
    # listing lag hid it: the 404 was read as an unknown outcome and the sync taken as the task's.
    "html_404_to_the_create_while_another_sync_starts": {
        "seed": 7000060,
        "header": {
            "deployment": "config",
            "auth": "none",
            "pending_s": 0.079,
            "running_s": 0.073,
            "create_timeout": 0.35,
            "read_timeout": 0.51,
            "tasks": [
                {
                    "mode": "deferrable",
                    "if_running": "attach",
                    "timeout": 0.31,
                    "wait_seconds": 0.029,
                    "job_type": "sync",
                    "upper": False,
                },
                {
                    "mode": "deferrable",
                    "if_running": "wait",
                    "timeout": 0.47,
                    "wait_seconds": 0.027,
                    "job_type": "sync",
                    "upper": False,
                },
            ],
        },
        "steps": [
            {"do": "foreign_start", "running_s": 0.411},
            {"do": "try", "task": 1, "how": "retry", "crash": None, "restart": None},
            {"do": "hook", "on": "create", "then": "start", "running_s": 0.476},
            {"do": "hook", "on": "list", "then": "lag", "reads": 3},
            {"do": "fault", "on": "create", "kind": "404_html", "count": 1},
        ],
    },
    # An HTML 409 to the create, then a kill: the retry took the other task's job for its own.
    "html_409_to_the_create_then_a_kill": {
        "seed": 7000077,
        "header": {
            "deployment": "public",
            "auth": "none",
            "pending_s": 0.095,
            "running_s": 0.149,
            "create_timeout": 0.45,
            "read_timeout": 0.56,
            "tasks": [
                {
                    "mode": "blocking",
                    "if_running": "wait",
                    "timeout": 0.57,
                    "wait_seconds": 0.04,
                    "job_type": "sync",
                    "upper": False,
                },
                {
                    "mode": "deferrable",
                    "if_running": "wait",
                    "timeout": 0.2,
                    "wait_seconds": 0.049,
                    "job_type": "sync",
                    "upper": False,
                },
            ],
        },
        "steps": [
            {"do": "fault", "on": "create", "kind": "409_html", "count": 1},
            {"do": "try", "task": 1, "how": "retry", "crash": {"at": "send_after", "n": 4}, "restart": None},
            {"do": "try", "task": 0, "how": "retry", "crash": None, "restart": None},
        ],
    },
    # A 409 to the create, the task killed before it stored that: the retry read "sent" and took
    # the running foreign sync for its own.
    "kill_between_a_409_and_storing_it": {
        "seed": 7000104,
        "header": {
            "deployment": "public",
            "auth": "token",
            "pending_s": 0.025,
            "running_s": 0.202,
            "create_timeout": 0.3,
            "read_timeout": 0.44,
            "tasks": [
                {
                    "mode": "blocking",
                    "if_running": "wait",
                    "timeout": 20.0,
                    "wait_seconds": 0.035,
                    "job_type": "sync",
                    "upper": False,
                },
            ],
        },
        "steps": [
            {"do": "hook", "on": "list", "then": "lag", "reads": 2},
            {"do": "hook", "on": "create", "then": "start", "running_s": 0.345},
            {"do": "try", "task": 0, "how": "clear", "crash": {"at": "term_after", "n": 7}, "restart": None},
        ],
    },
    # A try killed after its create, then the task cleared: its job ran on (judged: nothing of its
    # generation lived to cancel it).
    "kill_then_clear_leaves_the_first_generations_job": {
        "seed": 11000448,
        "header": {
            "deployment": "config",
            "auth": "token",
            "pending_s": 0.073,
            "running_s": 0.33,
            "create_timeout": 0.43,
            "read_timeout": 0.42,
            "tasks": [
                {
                    "mode": "blocking",
                    "if_running": "fail",
                    "timeout": 20.0,
                    "wait_seconds": 0.025,
                    "job_type": "sync",
                    "upper": False,
                },
            ],
        },
        "steps": [
            {
                "do": "try",
                "task": 0,
                "how": "retry",
                "crash": {"at": "send_before", "n": 4},
                "restart": 0.092,
            },
            {
                "do": "try",
                "task": 0,
                "how": "clear",
                "crash": {"at": "term_before", "n": 8},
                "restart": 0.195,
            },
        ],
    },
    # Two creates without an answer, then another party's sync while the first was still being
    # handled: the documented ambiguity (counted as unknowable, not failed).
    "two_lost_creates_then_another_sync_within_the_window": {
        "seed": 20261189783423,
        "header": {
            "deployment": "public",
            "auth": "none",
            "pending_s": 0.089,
            "running_s": 0.258,
            "create_timeout": 0.45,
            "read_timeout": 0.55,
            "tasks": [
                {
                    "mode": "deferrable",
                    "if_running": "fail",
                    "timeout": 20.0,
                    "wait_seconds": 0.024,
                    "job_type": "sync",
                    "upper": False,
                },
            ],
        },
        "steps": [
            {"do": "fault", "on": "create", "kind": "drop", "count": 2},
            {"do": "try", "task": 0, "how": "clear", "crash": None, "restart": None},
            {"do": "foreign_start", "running_s": 0.175},
        ],
    },
    # Another task's job, hidden from the note by a lagging listing, ended just before this task's
    # create landed and lost its answer: the retry took the other job (the documented ambiguity)
    # and its own ran on unwatched (judged part of the same ambiguity).
    "a_lagging_note_then_a_lost_create_next_to_another_tasks_job": {
        "seed": 340809264424957,
        "header": {
            "deployment": "public",
            "auth": "none",
            "pending_s": 0.061,
            "running_s": 0.037,
            "create_timeout": 0.43,
            "read_timeout": 0.41,
            "tasks": [
                {
                    "mode": "blocking",
                    "if_running": "fail",
                    "timeout": 0.56,
                    "wait_seconds": 0.036,
                    "job_type": "sync",
                    "upper": False,
                },
                {
                    "mode": "asynchronous",
                    "if_running": "wait",
                    "timeout": 0.59,
                    "wait_seconds": 0.04,
                    "job_type": "sync",
                    "upper": False,
                },
            ],
        },
        "steps": [
            {"do": "hook", "on": "list", "then": "lag", "reads": 3},
            {"do": "try", "task": 1, "how": "retry", "crash": None, "restart": 0.245},
            {"do": "fault", "on": "create", "kind": "drop_after", "count": 1},
            {"do": "wait", "s": 0.094},
            {"do": "try", "task": 0, "how": "clear", "crash": {"at": "term_after", "n": 4}, "restart": 0.191},
        ],
    },
    # An asynchronous retry found, after its lost create, a job that had already been cancelled
    # (another task's, in the window) and handed it on as started: a failed job is never handed on.
    "an_asynchronous_retry_finds_a_cancelled_job": {
        "seed": 930636088899950,
        "header": {
            "deployment": "config",
            "auth": "none",
            "pending_s": 0.093,
            "running_s": 0.13,
            "create_timeout": 0.31,
            "read_timeout": 0.59,
            "tasks": [
                {
                    "mode": "asynchronous",
                    "if_running": "wait",
                    "timeout": 0.43,
                    "wait_seconds": 0.04,
                    "job_type": "sync",
                    "upper": False,
                },
                {
                    "mode": "blocking",
                    "if_running": "attach",
                    "timeout": 0.18,
                    "wait_seconds": 0.022,
                    "job_type": "sync",
                    "upper": False,
                },
            ],
        },
        "steps": [
            {"do": "fault", "on": "create", "kind": "drop", "count": 2},
            {"do": "try", "task": 0, "how": "retry", "crash": {"at": "send_before", "n": 4}, "restart": None},
            {"do": "try", "task": 1, "how": "retry", "crash": None, "restart": None},
        ],
    },
    # The same with another party's job, cancelled before the retry looked.
    "an_asynchronous_retry_finds_another_partys_cancelled_job": {
        "seed": 930636088900152,
        "header": {
            "deployment": "public",
            "auth": "none",
            "pending_s": 0.028,
            "running_s": 0.195,
            "create_timeout": 0.41,
            "read_timeout": 0.44,
            "tasks": [
                {
                    "mode": "deferrable",
                    "if_running": "wait",
                    "timeout": 20.0,
                    "wait_seconds": 0.027,
                    "job_type": "reset",
                    "upper": False,
                },
                {
                    "mode": "asynchronous",
                    "if_running": "wait",
                    "timeout": 0.32,
                    "wait_seconds": 0.033,
                    "job_type": "sync",
                    "upper": False,
                },
            ],
        },
        "steps": [
            {"do": "try", "task": 1, "how": "retry", "crash": {"at": "send_before", "n": 3}, "restart": None},
            {"do": "foreign_start", "running_s": 0.393},
            {"do": "foreign_end", "whose": "theirs"},
        ],
    },
    # A retry's note came from a lagging listing that hid the task's own earlier (cancelled) job;
    # after a lost create it took that job for the new one, failed, and the next try started a
    # second sync beside the one that ran: a note is never below a job the task already knew.
    "a_lagging_note_below_the_tasks_own_earlier_job": {
        "seed": 731324600970956,
        "header": {
            "deployment": "config",
            "auth": "none",
            "pending_s": 0.059,
            "running_s": 0.238,
            "create_timeout": 0.44,
            "read_timeout": 0.56,
            "tasks": [
                {
                    "mode": "deferrable",
                    "if_running": "fail",
                    "timeout": 0.49,
                    "wait_seconds": 0.039,
                    "job_type": "sync",
                    "upper": True,
                },
                {
                    "mode": "deferrable",
                    "if_running": "attach",
                    "timeout": 0.23,
                    "wait_seconds": 0.044,
                    "job_type": "reset",
                    "upper": False,
                },
            ],
        },
        "steps": [
            {"do": "lag", "reads": 3},
            {"do": "try", "task": 1, "how": "retry", "crash": {"at": "term_after", "n": 6}, "restart": None},
            {"do": "fault", "on": "create", "kind": "delay_after", "count": 1},
        ],
    },
    # The same lag, and another party's sync started at the note: the documented ambiguity.
    "a_lagging_note_and_another_sync_at_the_note": {
        "seed": 731324600969965,
        "header": {
            "deployment": "config",
            "auth": "none",
            "pending_s": 0.099,
            "running_s": 0.36,
            "create_timeout": 0.42,
            "read_timeout": 0.48,
            "tasks": [
                {
                    "mode": "blocking",
                    "if_running": "wait",
                    "timeout": 0.55,
                    "wait_seconds": 0.049,
                    "job_type": "sync",
                    "upper": False,
                }
            ],
        },
        "steps": [
            {"do": "hook", "on": "list", "then": "start", "running_s": 0.239},
            {"do": "hook", "on": "create", "then": "lag", "reads": 3},
            {"do": "try", "task": 0, "how": "retry", "crash": None, "restart": None},
            {"do": "lag", "reads": 2},
            {"do": "hook", "on": "list", "then": "start", "running_s": 0.077},
            {"do": "fault", "on": "create", "kind": "malformed", "count": 1},
        ],
    },
    # A clear killed just before its create; another task's reset came next: a clear is sent as a
    # reset only to a server without a clear endpoint, so that reset could never have been its job.
    "a_clear_killed_before_its_create_and_another_party_s_reset": {
        "seed": 111327452981459,
        "header": {
            "deployment": "config",
            "auth": "none",
            "pending_s": 0.021,
            "running_s": 0.38,
            "create_timeout": 0.36,
            "read_timeout": 0.52,
            "tasks": [
                {
                    "mode": "deferrable",
                    "if_running": "wait",
                    "timeout": 20.0,
                    "wait_seconds": 0.025,
                    "job_type": "reset",
                    "upper": False,
                },
                {
                    "mode": "blocking",
                    "if_running": "fail",
                    "timeout": 20.0,
                    "wait_seconds": 0.045,
                    "job_type": "clear",
                    "upper": False,
                },
            ],
        },
        "steps": [
            {"do": "try", "task": 1, "how": "retry", "crash": {"at": "term_before", "n": 6}, "restart": None},
            {"do": "try", "task": 0, "how": "retry", "crash": None, "restart": None},
        ],
    },
    # A lagging note, another party's sync started just before a create killed before it went out;
    # the retry's own create is lost too: the task takes their sync (the ambiguity), it fails, and the
    # task syncs again while its own lost sync ran on unwatched: part of the same ambiguity.
    "another_partys_sync_taken_in_the_ambiguity_fails_then_a_new_sync": {
        "seed": 111327452983345,
        "header": {
            "deployment": "public",
            "auth": "none",
            "pending_s": 0.062,
            "running_s": 0.398,
            "create_timeout": 0.32,
            "read_timeout": 0.44,
            "tasks": [
                {
                    "mode": "blocking",
                    "if_running": "attach",
                    "timeout": 20.0,
                    "wait_seconds": 0.046,
                    "job_type": "sync",
                    "upper": False,
                },
                {
                    "mode": "deferrable",
                    "if_running": "attach",
                    "timeout": 0.29,
                    "wait_seconds": 0.038,
                    "job_type": "sync",
                    "upper": False,
                },
            ],
        },
        "steps": [
            {"do": "lag", "reads": 3},
            {"do": "foreign_start", "running_s": 0.065},
            {"do": "try", "task": 0, "how": "retry", "crash": {"at": "send_before", "n": 4}, "restart": None},
            {"do": "fault", "on": "create", "kind": "delay_after", "count": 1},
            {"do": "foreign_end", "whose": "theirs"},
        ],
    },
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_a_sequence_the_search_once_failed_on_passes(world: World, name: str) -> None:
    outcome = run_sequence(world, FOUND[name])
    assert not outcome.violations, "\n".join(f"{rule}: {text}" for rule, text in outcome.violations)
