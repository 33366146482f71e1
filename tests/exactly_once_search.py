"""A seeded random search for breaks of the provider's promise: each sync is started exactly once.

``AirbyteTriggerSyncOperator`` promises that a task starts its Airbyte job once (never a second
sync for one intended run, never someone else's job taken for its own, never a cancel of a job it
did not create), whatever Airbyte, the network and the worker do in between. This module throws
random sequences of steps at it, against the Airbyte emulator, and judges each sequence by the
emulator's own records only (its jobs, with their origin and times, and every HTTP exchange),
never by what the provider believes.

It drives only the provider's public surface: the operator's arguments, ``execute``, the deferral
protocol (``TaskDeferred`` -> the trigger's ``run()``/``serialize()`` -> the resume method),
``on_kill``, and ``AirbyteHook.send`` (every blocking request goes through it: that is where a
worker is killed). Airflow's side is ``tests.task_context.Run``.

Steps (each a small JSON-able dict, so a sequence replays from its list and shrinks by dropping
steps):

* ``try``: a try of task 0 or 1 (the first try, then a retry or a user's Clear); blocking,
  deferrable or asynchronous, as the task was declared. A try may be killed (``crash``) before a
  request is sent, after its answer arrived (the answer is lost with the worker), or right after
  a write to the task state store (the kill lands before the next request or write), like a
  SIGKILL (no ``on_kill``) or a SIGTERM (``on_kill`` runs first); a killed try is always followed
  by a retry. A deferrable try stops at its deferral; the trigger runs inline with asyncio at the
  next ``resume`` (or the next ``try``) of the task, sometimes cancelled mid-watch and rebuilt from
  ``serialize()`` as a triggerer restart does, and a fresh operator resumes, as a worker does.
* ``foreign_start``/``foreign_end``: Airbyte's scheduler or a user starts a sync, or cancels one.
* ``hook``: the same, or a listing lag, at the worst moment: when the task's create, listing, read
  or cancel arrives (``AirbyteEmulator.on_request``).
* ``fault``: the next one or two requests of a kind misbehave: answer dropped before or after the
  request was handled, connection reset, answer delayed past the connection's short
  ``create_timeout``/``read_timeout``, 5xx as JSON or HTML, a proxy's HTML 404, a gateway's JSON
  404, an HTML 409, a garbled 2xx, an expired token's 401 (token deployments).
* ``lag``: from now on, new jobs show in listings only after one to three listing reads.
* ``wait``: time passes; jobs (0.05-0.5 s each) run and end.

A sequence runs on a fresh Airbyte connection of one emulator (config or public API; no auth, or
client credentials with a one-second token). At its end every pending deferral is resumed, and
every task whose last try was killed, or failed with retries left, is retried, as Airflow would
(a try that failed right on an injected fault is retried past the retries too, a few times: as if
the task had the retries to outlast the faults); then the invariants are checked:

* I1 no duplicate: within one generation of a task (a Clear starts a new one), no job is created
  while an earlier job of that generation has not failed or been cancelled (it is running, or it
  succeeded: the intended sync already ran), unless the generation had taken another party's job
  for its own in the documented ambiguity below and that job failed first (its own job ran on
  unwatched, as I4 says, and the new sync is the one it believed still due).
* I2 no foreign cancel: every cancel sent during a task's steps targets a job that task created
  (any generation).
* I3 a success is the task's own: a try that returns returns a job id J that its XCom
  ``airbyte_job`` names too; J succeeded (asynchronous: had not failed when the task last looked);
  and J was created by the task's current generation, or it is a job the task attached to on
  purpose: ``if_running="attach"`` and J was running when Airbyte refused (409) a create of this
  generation, or when a listing answered to this generation showed it running (attaching without
  trying a create first).
* I4 nothing owned left running: once everything ended, no job a task created is still running,
  unless a try of the task returned it while it ran (asynchronous mode hands the watch on), or the
  last try of its generation was killed hard and the task was then cleared (nothing of that
  generation lived to cancel it; a Clear starts a new sync rather than taking an older one over),
  or its generation took another party's job for its own in the documented ambiguity below (then
  its own job runs on unwatched: part of the same ambiguity).
  Leftovers are then cancelled.

Jobs are attributed by time: steps run one at a time, each step's time window is kept, and a job
of origin ``api`` belongs to the try whose step window holds its creation (the emulator creates a
job the moment its create request arrives); an exchange belongs to the step whose window holds
its arrival (``received``).

The documented ambiguity, counted as "unknowable" and not as a violation: Airbyte gives no way to
tell a job our own create started from one another party started at about the same moment. So when
a task's create had an unknown outcome and another party's job of the same type appeared where the
task could not have told it from its own, taking that job for its own is not a bug. Exactly:

* An *anchor* is a create request of the task whose answer did not reach it (no answer, a
  timeout, a 5xx, a garbled 2xx: ``answer_lost``), or a kill of one of its tries while a create
  was in flight: right before or right after the create request (or a token request made inside
  it), or right after a store write when the very next request was that create.
* The task's *last look* before an anchor is its last listing answered (a usable 2xx) before the
  anchor, in the same try if it listed in that try, else in an earlier try of the same generation.
* A job J is *unseen* at that look if it was created after the look was answered, or if it was
  hidden by the listing lag: created after a lag was set, left out of that look although the look
  asked for J's connection and type as Airbyte matches them (``faithful``), and newer than every
  job the look showed. With no look at all, J is unseen if created after the generation's first
  try started.
* The anchor's window closes when the lost create can no longer have made its job: its read timeout
  (``create_timeout``) plus the protocol's clock margin after it was sent, Airbyte handling it
  all that time (``protocol.CLOCK_MARGIN_S``; the README's rule). If the generation never listed
  after the anchor, there is no window.
* J is *unknowable* for the task's generation when, for one of its anchors, J was not created by
  that generation, has the task's job type, was unseen at the last look, was created before the
  window closed, and no job the generation created from the anchor on is older than J (J was the
  first new job the task could see: the one its own lost create would have been).

Only for such a pair may the task return J (I3) or cancel J (I2) without a violation; each pass is
counted and shown in the figures. Nothing else is excused: a note kept from an earlier try that
never sent a create, a create refused with a readable 409 (or answered with a proxy's 404 or 409,
which is no lost answer), a lost create whose own job came first, a job the task had already seen,
a job of another type, an upper-case connection id that makes listings come back empty, and a
listing lag that makes a task start a second sync or disown its own job, all still fail.

Run it: ``python -m tests.exactly_once_search --sequences 200 [--seed S] [--jobs 2]``, or
``./dev soak ...``. A violation prints the seed, the steps, and the steps shrunk by dropping one at
a time while the same invariant still fails (re-run from the list), then the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import random
import re
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

if __name__ == "__main__":  # before Airflow is imported: its logging reads this once
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")

from airflow_provider_airbyte_sync.core.protocol import CLOCK_MARGIN_S
from airflow_provider_airbyte_sync.testing import DEFAULT_WORKSPACE_ID, AirbyteEmulator, SyncAlreadyRunning

RETRIES = 2
EXTRA_TRIES = 4  # tries past the retries, for a task whose last try failed on an injected fault
# Retries back off from 50 ms, not 1 s: the search is about the order of events, not their pace.
BACKOFF_BASE_S = 0.05
STEP_LIMIT_S = 120.0  # a step still running after this is reported as hung
FAILED = frozenset({"failed", "cancelled"})
RUNNING = frozenset({"pending", "queued", "running", "incomplete"})
INVARIANTS = ("I1", "I2", "I3", "I4", "H")
DESCRIPTIONS = {
    "I1": "a duplicate sync in one generation of a task",
    "I2": "a cancel of a job the task did not create",
    "I3": "a success that is not the task's own job, or reported wrong",
    "I4": "a job the task created left running",
    "H": "the search itself could not judge (a step hung, or a job of no task)",
}

# -- what the emulator's requests are ------------------------------------------------------------
_CREATE = re.compile(r"^(/api/v1/connections/(sync|reset|clear)|/api/public/v1/jobs|/v1/jobs)$")
_CONFIG_LIST = re.compile(r"^/api/v1/jobs/list$")
_PUBLIC_LIST = re.compile(r"^(/api/public)?/v1/jobs$")
_CONFIG_CANCEL = re.compile(r"^/api/v1/jobs/cancel$")
_PUBLIC_JOB = re.compile(r"^(?:/api/public)?/v1/jobs/(\d+)$")

#: Where the faults and hooks of a step aim, per deployment: (path regex, method).
TARGETS: dict[str, dict[str, tuple[str, str | None]]] = {
    "config": {
        "create": (r"^/api/v1/connections/(sync|reset|clear)$", "POST"),
        "list": (r"^/api/v1/jobs/list$", "POST"),
        "get": (r"^/api/v1/jobs/get", "POST"),
        "cancel": (r"^/api/v1/jobs/cancel$", "POST"),
        "connection": (r"^/api/v1/(connections/get|workspaces/get_by_connection_id)$", "POST"),
        "token": (r"/applications/token$", "POST"),
        "any": (r"^/api/", None),
    },
    "public": {
        "create": (r"^/api/public/v1/jobs$", "POST"),
        "list": (r"^/api/public/v1/jobs$", "GET"),
        "get": (r"^/api/public/v1/jobs/\d+$", "GET"),
        "cancel": (r"^/api/public/v1/jobs/\d+$", "DELETE"),
        "connection": (r"^/api/public/v1/connections/", "GET"),
        "token": (r"/applications/token$", "POST"),
        "any": (r"^/api/", None),
    },
}
PROXY_404 = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1>"
    "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
PROXY_5XX = (
    "<html>\r\n<head><title>{code} Bad Gateway</title></head>\r\n<body>\r\n<center><h1>{code} Bad Gateway"
    "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
PROXY_409 = "<html><head><title>409 Conflict</title></head><body><h1>409 Conflict</h1></body></html>"
GATEWAY_404 = {"message": "no Route matched with those values"}


def is_create(exchange: dict[str, Any]) -> bool:
    return exchange["method"] == "POST" and _CREATE.match(exchange["path"]) is not None


def is_listing(exchange: dict[str, Any]) -> bool:
    path, method = exchange["path"], exchange["method"]
    return (method == "POST" and _CONFIG_LIST.match(path) is not None) or (
        method == "GET" and _PUBLIC_LIST.match(path) is not None
    )


def cancel_target(exchange: dict[str, Any]) -> int | None:
    """The job a cancel request targets, or ``None`` if the exchange is no cancel."""
    if exchange["method"] == "POST" and _CONFIG_CANCEL.match(exchange["path"]):
        body = exchange.get("request_body")
        try:
            return int(body["id"])  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            return -1
    if exchange["method"] == "DELETE":
        found = _PUBLIC_JOB.match(exchange["path"])
        if found:
            return int(found.group(1))
    return None


def delivered(exchange: dict[str, Any]) -> bool:
    """Whether a usable 2xx answer reached the client."""
    return exchange["status"] is not None and 200 <= exchange["status"] < 300 and not exchange.get("fault")


def shown_ids(listing: dict[str, Any], statuses: frozenset[str] | None = None) -> set[int]:
    """The job ids a listing answered (only those it showed in one of ``statuses``, if given)."""
    body = listing.get("response_body")
    if not isinstance(body, dict):
        return set()
    if "jobs" in body:
        shown = [(item["job"]["id"], item["job"]["status"]) for item in body["jobs"]]
    else:
        shown = [(item["jobId"], item["status"]) for item in body.get("data") or []]
    return {job_id for job_id, status in shown if statuses is None or status in statuses}


def faithful(listing: dict[str, Any], job: dict[str, Any], connection_id: str) -> bool:
    """Whether the listing asked for ``job``'s connection and type the way Airbyte matches them.

    The config API matches ``configId`` as text (an upper-case UUID lists nothing); the public API
    parses ``connectionId`` as a UUID. A listing that asked for something else says nothing of
    whether the job was visible.
    """
    if listing["method"] == "POST":
        body = listing.get("request_body") or {}
        return (
            body.get("configId") == connection_id
            and job["config_type"] in (body.get("configTypes") or [])
            and not body.get("statuses")
        )
    query = listing.get("query") or {}
    asked = (query.get("connectionId") or [""])[0].lower()
    return (
        asked == connection_id.lower()
        and (query.get("jobType") or [job["job_type"]])[0] == job["job_type"]
        and not query.get("status")
    )


def _same_generation(attempt: Any, other: Any) -> bool:
    return attempt is not None and (attempt.task, attempt.generation) == (other.task, other.generation)


def answer_lost(exchange: dict[str, Any]) -> bool:
    """Whether the answer to this request did not reach the client in a usable form."""
    status, fault = exchange["status"], exchange.get("fault") or ""
    return status is None or status >= 500 or "malformed" in fault or "delay" in fault


def request_is_create(request: Any) -> bool:
    """Whether a request handed to ``AirbyteHook.send`` starts a job (by its method and URL)."""
    method = str(getattr(request, "method", "")).upper()
    url = str(getattr(request, "url", "")).split("?")[0].rstrip("/")
    if method != "POST":
        return False
    return url.endswith(("connections/sync", "connections/reset", "connections/clear")) or (
        url == "jobs" or url.endswith("/jobs")
    )


# -- generating sequences ------------------------------------------------------------------------
def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _task_spec(rng: random.Random) -> dict[str, Any]:
    return {
        "mode": _pick(rng, {"blocking": 4, "deferrable": 4, "asynchronous": 2}),
        "if_running": _pick(rng, {"wait": 5, "attach": 3, "fail": 2}),
        "timeout": round(rng.uniform(0.15, 0.6), 2) if rng.random() < 0.35 else 20.0,
        "wait_seconds": round(rng.uniform(0.02, 0.05), 3),
        "job_type": _pick(rng, {"sync": 17, "reset": 2, "clear": 1}),
        "upper": rng.random() < 0.12,
    }


def _crash(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() >= 0.3:
        return None
    at = _pick(
        rng,
        {"send_before": 3, "send_after": 3, "store_after": 2, "term_before": 1, "term_after": 1},
    )
    return {"at": at, "n": rng.randint(1, 3) if at == "store_after" else rng.randint(1, 9)}


def _fault(rng: random.Random, header: dict[str, Any]) -> dict[str, Any]:
    on = _pick(rng, {"create": 5, "list": 4, "get": 3, "cancel": 1, "connection": 1, "any": 1, "token": 1})
    if on == "token" and header["auth"] == "none":
        on = "any"
    kinds = {
        "drop": 2,
        "drop_after": 2,
        "reset": 1,
        "delay_after": 2,
        "delay": 1,
        "5xx_json": 2,
        "5xx_html": 2,
        "404_html": 1,
        "404_gateway": 1,
        "409_html": 1,
        "malformed": 2,
    }
    if header["auth"] == "token":
        kinds["401"] = 2
    if on in ("create", "any"):
        # A create is handled when it arrives or never: a request held back and handled after the
        # client gave up is a different fault (a message delayed in the network), not searched here.
        kinds.pop("delay")
    fault: dict[str, Any] = {
        "do": "fault",
        "on": on,
        "kind": _pick(rng, kinds),
        "count": rng.choice([1, 1, 1, 2]),
    }
    if fault["kind"] in ("5xx_json", "5xx_html"):
        fault["status"] = rng.choice([500, 502, 503, 504])
        fault["after"] = rng.random() < 0.5
        fault["retry_after"] = rng.random() < 0.7
    return fault


def random_step(rng: random.Random, header: dict[str, Any]) -> dict[str, Any]:
    tasks = len(header["tasks"])
    kind = _pick(
        rng,
        {
            "try": 30,
            "resume": 6,
            "foreign_start": 12,
            "foreign_end": 5,
            "hook": 12,
            "fault": 22,
            "lag": 4,
            "wait": 9,
        },
    )
    task = rng.randrange(tasks)
    restart = round(rng.uniform(0.02, 0.3), 3) if rng.random() < 0.3 else None
    if kind == "try":
        how = "clear" if rng.random() < 0.15 else "retry"
        return {"do": "try", "task": task, "how": how, "crash": _crash(rng), "restart": restart}
    if kind == "resume":
        return {"do": "resume", "task": task, "restart": restart}
    if kind == "foreign_start":
        return {"do": "foreign_start", "running_s": round(rng.uniform(0.05, 0.5), 3)}
    if kind == "foreign_end":
        return {"do": "foreign_end", "whose": "theirs" if rng.random() < 0.8 else "any"}
    if kind == "hook":
        then = _pick(rng, {"start": 6, "end": 1, "lag": 2})
        step = {"do": "hook", "on": _pick(rng, {"create": 5, "list": 4, "get": 1, "cancel": 1}), "then": then}
        if then == "start":
            step["running_s"] = round(rng.uniform(0.05, 0.5), 3)
        elif then == "lag":
            step["reads"] = rng.randint(1, 3)
        return step
    if kind == "fault":
        return _fault(rng, header)
    if kind == "lag":
        return {"do": "lag", "reads": rng.randint(1, 3)}
    return {"do": "wait", "s": round(rng.uniform(0.05, 0.6), 3)}


def generate(seed: int) -> dict[str, Any]:
    """A random sequence: ``{"seed", "header", "steps"}``, a function of ``seed`` only."""
    rng = random.Random(seed)
    header = {
        "deployment": rng.choice(["config", "public"]),
        "auth": "token" if rng.random() < 0.3 else "none",
        "pending_s": round(rng.uniform(0.02, 0.1), 3),
        "running_s": round(rng.uniform(0.03, 0.4), 3),
        "create_timeout": round(rng.uniform(0.3, 0.5), 2),
        "read_timeout": round(rng.uniform(0.4, 0.6), 2),
        "tasks": [_task_spec(rng) for _ in range(2 if rng.random() < 0.3 else 1)],
    }
    steps = [random_step(rng, header) for _ in range(rng.randint(3, 10))]
    for task in range(len(header["tasks"])):
        if not any(s["do"] == "try" and s["task"] == task for s in steps):
            at = rng.randrange(len(steps) + 1)
            steps.insert(
                at, {"do": "try", "task": task, "how": "retry", "crash": _crash(rng), "restart": None}
            )
    return {"seed": seed, "header": header, "steps": steps}


def sequence_seed(seed: int, index: int) -> int:
    return seed * 1_000_003 + index


# -- running one sequence --------------------------------------------------------------------------
class SimulatedKill(BaseException):
    """The worker died (SIGKILL or SIGTERM): nothing after this point of the try happens."""


class StepHung(BaseException):
    """A step ran past ``STEP_LIMIT_S``."""


@dataclass
class Try:
    """One try of a task, across its steps (a deferral resumes it in a later step)."""

    task: int
    generation: int
    number: int
    how: str  # first, retry, clear, drain
    crash: dict[str, Any] | None
    start: float
    mode: str
    result: str = "running"  # success, deferred, crash, error: ..., hung
    returned: Any = None
    xcoms: dict[str, Any] = field(default_factory=dict)
    job_at_return: dict[str, Any] | None = None
    killed_at: float | None = None
    killed_in_create: bool = False
    owned: set[int] = field(default_factory=set)  # job ids this try stored as its own


@dataclass
class Window:
    start: float
    end: float
    step: int  # index in the step list; -1 for the final drain
    attempt: Try | None


class Injector:
    """Kills one try at a chosen effect: the n-th send (before or after it) or store write."""

    def __init__(self, attempt: Try, counts: Counter[str]) -> None:
        self.attempt = attempt
        self.spec = attempt.crash
        self.counts = counts
        self.sends = 0
        self.writes = 0
        self.dead = False
        self.kill_next = False  # a store write was the kill point: die at the next effect
        self.in_flight: list[bool] = []  # is-create of the sends under way (a token fetch nests)
        self.op: Any = None

    def _kill(self, in_create: bool) -> None:
        spec, self.spec = self.spec, None
        self.attempt.killed_at = time.time()
        self.attempt.killed_in_create = in_create
        self.counts[f"crash {spec['at'] if spec else 'store_after'}"] += 1
        if spec is not None and spec["at"].startswith("term") and self.op is not None:
            # SIGTERM: Airflow runs on_kill before the task dies.
            self.counts["on_kill calls"] += 1
            with contextlib.suppress(Exception):
                self.op.on_kill()
        self.dead = True
        raise SimulatedKill(f"killed at {spec}")

    def around_send(self, request: Any, send: Callable[[], Any]) -> Any:
        if self.dead:
            raise SimulatedKill("the worker is dead")
        creating = request_is_create(request) or any(self.in_flight)
        if self.kill_next:
            self.kill_next = False
            self._kill(creating)
        self.sends += 1
        spec = self.spec
        at = spec["at"] if spec and self.sends == spec["n"] else None
        if at in ("send_before", "term_before"):
            self._kill(creating)
        self.in_flight.append(request_is_create(request))
        try:
            response = send()
        finally:
            self.in_flight.pop()
        if at in ("send_after", "term_after"):
            self._kill(creating)
        return response

    def around_write(self, write: Callable[[], None]) -> None:
        if self.dead:
            raise SimulatedKill("the worker is dead")
        if self.kill_next:
            self.kill_next = False
            self._kill(False)
        write()
        self.writes += 1
        spec = self.spec
        if spec and spec["at"] == "store_after" and self.writes == spec["n"]:
            self.spec = None
            self.kill_next = True

    def finish(self) -> bool:
        """At the try's end: a kill still due after the last write lands now. Answer if it did."""
        if self.kill_next and not self.dead:
            self.kill_next = False
            self.attempt.killed_at = time.time()
            self.counts["crash store_after"] += 1
            self.dead = True
            return True
        return False


@dataclass
class TaskState:
    index: int
    spec: dict[str, Any]
    run: Any
    generation: int = 0
    tries: list[Try] = field(default_factory=list)
    pending: tuple[Any, dict[str, Any], Try, Injector] | None = None


@contextlib.contextmanager
def step_limit(seconds: float) -> Iterator[None]:
    """Raise ``StepHung`` in the main thread after ``seconds`` (no limit off the main thread)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def hung(signum: int, frame: Any) -> None:
        raise StepHung(f"step still running after {seconds:.0f}s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _define_in_environment(fields: dict[str, Any]) -> None:
    data = dict(fields)
    if isinstance(data.get("extra"), dict):
        data["extra"] = json.dumps(data["extra"])
    os.environ["AIRFLOW_CONN_AIRBYTE_DEFAULT"] = json.dumps(data)


class World:
    """The emulators a process searches against: one without auth, one with one-second tokens."""

    def __init__(
        self,
        emulators: dict[str, AirbyteEmulator],
        define_connection: Callable[[dict[str, Any]], None] = _define_in_environment,
        operator: Callable[..., Any] | None = None,
    ) -> None:
        self.emulators = emulators
        self.define_connection = define_connection
        #: Builds the operator of a try from its arguments (default: ``AirbyteTriggerSyncOperator``);
        #: the search's own tests give it deliberately broken ones.
        self.operator = operator

    @classmethod
    @contextlib.contextmanager
    def started(cls) -> Iterator[World]:
        emulators = {
            "none": AirbyteEmulator(record=True).start(),
            "token": AirbyteEmulator(auth="token", token_lifetime_s=1, record=True).start(),
        }
        try:
            yield cls(emulators)
        finally:
            for emulator in emulators.values():
                emulator.stop()


@dataclass
class Outcome:
    """What one run of one sequence found."""

    violations: list[tuple[str, str]]
    counts: Counter[str]
    log: list[str]

    def invariants(self) -> set[str]:
        return {name for name, _ in self.violations}


class SequenceRun:
    def __init__(self, world: World, sequence: dict[str, Any]) -> None:
        from tests.conftest import conn_fields
        from tests.task_context import Run

        self.world = world
        self.sequence = sequence
        self.header = header = sequence["header"]
        self.emulator = world.emulators[header["auth"]]
        self.counts: Counter[str] = Counter()
        self.log: list[str] = []
        self.windows: list[Window] = []
        self.hung_steps: list[str] = []
        self.lag_from: float | None = None  # when a listing lag was first set (it lasts to the end)
        self.faults: list[tuple[str, Any]] = []
        self.hooks: list[tuple[str, Any]] = []
        emulator = self.emulator
        emulator.clear_faults()
        emulator.clear_exchanges()
        self.t0 = time.time()
        self.connection_id = emulator.add_connection(
            name=f"exactly-once search {sequence['seed']}",
            workspace_id=DEFAULT_WORKSPACE_ID,
            pending_s=header["pending_s"],
            running_s=header["running_s"],
        )
        fields = conn_fields(
            emulator, header["deployment"], "none" if header["auth"] == "none" else "client_credentials"
        )
        extra = dict(fields.get("extra") or {})
        extra.update(create_timeout=header["create_timeout"], read_timeout=header["read_timeout"])
        fields["extra"] = extra
        world.define_connection(fields)
        self.tasks = [TaskState(i, spec, Run(retries=RETRIES)) for i, spec in enumerate(header["tasks"])]

    # -- helpers ---------------------------------------------------------------------------------
    def note(self, text: str) -> None:
        self.log.append(f"{time.time() - self.t0:7.3f}s {text}")

    def operator(self, task: TaskState) -> Any:
        from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator

        spec = task.spec
        cid = self.connection_id.upper() if spec["upper"] else self.connection_id
        return (self.world.operator or AirbyteTriggerSyncOperator)(
            task_id=f"sync_{task.index}",
            connection_id=cid,
            deferrable=spec["mode"] == "deferrable",
            asynchronous=spec["mode"] == "asynchronous",
            if_running=spec["if_running"],
            timeout=spec["timeout"],
            wait_seconds=spec["wait_seconds"],
            job_type=spec["job_type"],
        )

    def _set_script(self, running_s: float) -> None:
        self.emulator.update_connection(self.connection_id, pending_s=0.02, running_s=running_s)

    def _restore_script(self) -> None:
        self.emulator.update_connection(
            self.connection_id, pending_s=self.header["pending_s"], running_s=self.header["running_s"]
        )

    def start_foreign(self, running_s: float) -> None:
        """Airbyte's scheduler starts a sync (refused while one runs, as Airbyte does)."""
        self._set_script(running_s)
        try:
            self.emulator.start_job(self.connection_id)
            self.counts["foreign syncs started"] += 1
        except SyncAlreadyRunning:
            self.counts["foreign syncs refused"] += 1
        finally:
            self._restore_script()

    def lag_listings(self, reads: int) -> None:
        if self.lag_from is None:
            self.lag_from = time.time()
        self.emulator.lag_listings(reads=reads)

    def end_foreign(self, whose: str) -> None:
        running = [
            job
            for job in self.emulator.jobs(self.connection_id)
            if job["status"] not in FAILED | {"succeeded"} and (whose == "any" or job["origin"] == "airbyte")
        ]
        if running:
            self.emulator.cancel_job(running[-1]["id"])
            self.counts["jobs cancelled from Airbyte's side"] += 1

    # -- steps -----------------------------------------------------------------------------------
    def run(self) -> Outcome:
        from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook

        original_send = AirbyteHook.send
        runner = self

        def send(hook: Any, request: Any) -> Any:
            injector = runner.current
            if injector is None:
                return original_send(hook, request)
            return injector.around_send(request, lambda: original_send(hook, request))

        self.current: Injector | None = None
        for task in self.tasks:
            store, write = task.run.store, task.run.store.set

            def guarded(key: str, value: Any, *, _write: Any = write, **kwargs: Any) -> None:
                injector = runner.current
                if injector is None:
                    return _write(key, value, **kwargs)
                injector.around_write(lambda: _write(key, value, **kwargs))
                if isinstance(value, dict) and value.get("state") == "owned":
                    injector.attempt.owned.add(value.get("job_id"))

            store.set = guarded
        random.seed(self.sequence["seed"])  # the provider's retry jitter, for replays
        AirbyteHook.send = send  # type: ignore[method-assign]
        try:
            for index, step in enumerate(self.sequence["steps"]):
                self.step(index, step)
            self.drain()
        finally:
            AirbyteHook.send = original_send  # type: ignore[method-assign]
        violations = self.check()
        self.cleanup()
        return Outcome(violations, self.counts, self.log)

    def step(self, index: int, step: dict[str, Any]) -> None:
        self.counts["steps"] += 1
        do = step["do"]
        if do in ("try", "resume"):
            if step["task"] >= len(self.tasks):
                return
            task = self.tasks[step["task"]]
            if task.pending is not None:  # a deferred task's next try can only be its resumption
                self.resume(task, step.get("restart"), index)
            elif do == "try":
                self.start_try(task, step, index)
            return
        start = time.time()
        if do == "foreign_start":
            self.start_foreign(step["running_s"])
        elif do == "foreign_end":
            self.end_foreign(step["whose"])
        elif do == "fault":
            self.add_fault(step)
        elif do == "hook":
            self.add_hook(step)
        elif do == "lag":
            self.lag_listings(step["reads"])
            self.counts["listing lags set"] += 1
        elif do == "wait":
            time.sleep(step["s"])
        self.windows.append(Window(start, time.time(), index, None))

    def start_try(
        self, task: TaskState, step: dict[str, Any], index: int, how: str | None = None, force: bool = False
    ) -> None:
        run = task.run
        if not task.tries:
            context, how = run.context(), "first"
        elif (how or step.get("how")) == "clear":
            context, how = run.clear(), "clear"
            task.generation += 1
        else:
            last = task.tries[-1]
            if not force and last.result != "crash" and run.try_number > run.max_tries:
                self.note(f"task {task.index}: no retries left, step skipped")
                self.counts["retries skipped (none left)"] += 1
                return
            context, how = run.next_try(), how or "retry"
        attempt = Try(
            task=task.index,
            generation=task.generation,
            number=run.try_number,
            how=how,
            crash=step.get("crash"),
            start=time.time(),
            mode=task.spec["mode"],
        )
        task.tries.append(attempt)
        self.counts["tries"] += 1
        injector = Injector(attempt, self.counts)
        self.note(f"task {task.index} try {attempt.number} ({how}, generation {task.generation})")
        self.attempt(task, attempt, injector, context, index, lambda op: op.execute(context))

    def attempt(
        self,
        task: TaskState,
        attempt: Try,
        injector: Injector,
        context: dict[str, Any],
        index: int,
        call: Callable[[Any], Any],
    ) -> None:
        from tests.lines import TaskDeferred

        op = self.operator(task)
        injector.op = op
        self.current = injector
        start = time.time()
        deferred = None
        try:
            with step_limit(STEP_LIMIT_S):
                value = call(op)
            attempt.result = "success"
        except TaskDeferred as exc:
            deferred = exc
            attempt.result = "deferred"
        except SimulatedKill:
            attempt.result = "crash"
        except StepHung as exc:
            attempt.result = "hung"
            self.hung_steps.append(f"step {index + 1}: task {task.index} try {attempt.number}: {exc}")
        except Exception as exc:
            attempt.result = f"error: {type(exc).__name__}: {str(exc)[:300]}"
        finally:
            self.current = None
        if attempt.result != "crash" and injector.finish():
            attempt.result = "crash"
            deferred = None
        end = time.time()
        self.windows.append(Window(start, end, index, attempt))
        if attempt.result == "success":
            attempt.returned = value
            attempt.xcoms = json.loads(json.dumps(context["ti"].xcoms))
            try:
                attempt.job_at_return = self.emulator.job(int(value))
            except Exception:
                attempt.job_at_return = None
        elif deferred is not None:
            task.pending = (deferred, context, attempt, injector)
            self.counts["deferrals"] += 1
        self.note(
            f"task {task.index} try {attempt.number}: {attempt.result}"
            + (f" -> {attempt.returned!r}" if attempt.result == "success" else "")
        )

    def resume(self, task: TaskState, restart: float | None, index: int) -> None:
        assert task.pending is not None
        deferred, context, attempt, injector = task.pending
        task.pending = None
        start = time.time()
        try:
            with step_limit(STEP_LIMIT_S):
                event = asyncio.run(self.run_trigger(deferred.trigger, restart))
        except StepHung as exc:
            attempt.result = "hung"
            self.hung_steps.append(f"step {index + 1}: task {task.index} trigger: {exc}")
            end = time.time()
            self.windows.append(Window(start, end, index, attempt))
            return
        end = time.time()
        self.windows.append(Window(start, end, index, attempt))
        method, kwargs = deferred.method_name, dict(deferred.kwargs or {})
        self.note(
            f"task {task.index} trigger fired: {event.get('status') if isinstance(event, dict) else event}"
        )
        # A worker resumes a deferral with a fresh operator built from the DAG.
        self.attempt(
            task,
            attempt,
            injector,
            context,
            index,
            lambda op: getattr(op, method)(context, event=event, **kwargs),
        )

    async def run_trigger(self, trigger: Any, restart: float | None) -> Any:
        async def first_event(trig: Any) -> Any:
            events = trig.run()
            try:
                event = await events.__anext__()
            finally:
                await events.aclose()
            return event.payload

        if restart:
            watching = asyncio.ensure_future(first_event(trigger))
            done, _ = await asyncio.wait({watching}, timeout=restart)
            if done:
                return watching.result()
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            classpath, kwargs = trigger.serialize()
            module, _, name = classpath.rpartition(".")
            trigger = getattr(importlib.import_module(module), name)(**kwargs)
            self.counts["triggerer restarts"] += 1
        return await first_event(trigger)

    def add_fault(self, step: dict[str, Any]) -> None:
        deployment = self.header["deployment"]
        path, method = TARGETS[deployment][step["on"]]
        kind, options = step["kind"], {}
        timeout = self.header["create_timeout"] if step["on"] == "create" else self.header["read_timeout"]
        if kind == "drop":
            options = {"drop": True}
        elif kind == "drop_after":
            options = {"drop": True, "after": True}
        elif kind == "reset":
            options = {"reset": True}
        elif kind == "delay_after":
            options = {"delay_s": timeout + 0.3, "after": True}
        elif kind == "delay":
            options = {"delay_s": timeout + 0.3}
        elif kind == "5xx_json":
            options = {
                "status": step["status"],
                "body": {"message": "Internal Server Error"},
                "after": step["after"],
            }
        elif kind == "5xx_html":
            options = {
                "status": step["status"],
                "body": PROXY_5XX.format(code=step["status"]),
                "after": step["after"],
            }
        elif kind == "404_html":
            options = {"status": 404, "body": PROXY_404, "headers": {"Content-Type": "text/html"}}
        elif kind == "404_gateway":
            options = {"status": 404, "body": GATEWAY_404}
        elif kind == "409_html":
            options = {"status": 409, "body": PROXY_409}
        elif kind == "malformed":
            options = {"malformed": True, "after": True}
        elif kind == "401":
            if deployment == "public":
                body: Any = {
                    "status": 401,
                    "type": "https://reference.airbyte.com/reference/errors#invalid-api-key",
                    "title": "invalid-api-key",
                    "detail": "The API key in the Authorization header is invalid.",
                }
                options = {
                    "status": 401,
                    "body": body,
                    "headers": {"Content-Type": "application/problem+json"},
                }
            else:
                options = {"status": 401, "body": {"message": "Unauthorized"}}
        if kind.startswith("5xx") and step.get("retry_after"):
            options["headers"] = {"Retry-After": "0"}
        fault = self.emulator.add_fault(path, method=method, count=step["count"], **options)
        self.faults.append((kind, fault))

    def add_hook(self, step: dict[str, Any]) -> None:
        path, method = TARGETS[self.header["deployment"]][step["on"]]
        then = step["then"]
        if then == "start":

            def action() -> None:
                self.start_foreign(step["running_s"])

        elif then == "end":

            def action() -> None:
                self.end_foreign("theirs")

        else:

            def action() -> None:
                self.lag_listings(step["reads"])

        self.hooks.append((f"{then} on {step['on']}", self.emulator.on_request(path, action, method=method)))

    def drain(self) -> None:
        """As Airflow would: resume what is deferred, retry what was killed or failed with tries left.

        A try that failed right after an injected fault answered it is retried even past its
        retries, up to ``EXTRA_TRIES`` times: as if the task had the retries to outlast the faults
        (a few each), so that what it leaves behind is judged with Airbyte answering again.
        """
        extra: Counter[int] = Counter()
        for _ in range(3 * (RETRIES + EXTRA_TRIES + 2)):
            progressed = False
            for task in self.tasks:
                if task.pending is not None:
                    self.resume(task, None, -1)
                    progressed = True
                    continue
                if not task.tries:
                    continue
                last = task.tries[-1]
                if last.result == "crash":
                    pass
                elif not last.result.startswith("error"):
                    continue
                elif task.run.try_number > task.run.max_tries:
                    if extra[task.index] >= EXTRA_TRIES or not self.ended_on_a_fault(last):
                        continue
                    extra[task.index] += 1
                    self.counts["extra tries past a fault"] += 1
                self.counts["drain retries"] += 1
                self.start_try(task, {"crash": None}, -1, how="drain", force=True)
                progressed = True
            if not progressed:
                return

    def ended_on_a_fault(self, attempt: Try) -> bool:
        """Whether the last request of the try met an injected fault, or had no usable answer."""
        windows = [(w.start, w.end) for w in self.windows if w.attempt is attempt]
        mine = [
            e
            for e in self.emulator.exchanges()
            if e["received"] >= self.t0 and any(a <= e["received"] <= b for a, b in windows)
        ]
        if not mine:
            return False
        last = max(mine, key=lambda e: e["received"])
        return bool(last.get("fault")) or last["status"] is None or last["status"] >= 500

    def cleanup(self) -> None:
        for job in self.emulator.jobs(self.connection_id):
            if job["status"] not in FAILED | {"succeeded"}:
                self.emulator.cancel_job(job["id"])
        self.emulator.clear_faults()

    # -- judging ---------------------------------------------------------------------------------
    def check(self) -> list[tuple[str, str]]:
        jobs = self.emulator.jobs(self.connection_id)
        # An answer a fault holds back is recorded when it leaves, maybe after the client gave up.
        held = [fault.delay_s for _kind, fault in self.faults if fault.hits and fault.delay_s]
        if held:
            time.sleep(max(held) + 0.05)
        return Judge(self, jobs).verdicts()


class Judge:
    """The invariants, from the emulator's records and the steps' time windows only."""

    def __init__(self, run: SequenceRun, jobs: list[dict[str, Any]]) -> None:
        self.run = run
        emulator = run.emulator
        self.jobs = {job["id"]: job for job in jobs}
        self.exchanges = [e for e in emulator.exchanges() if e["received"] >= run.t0]
        self.windows = sorted(run.windows, key=lambda w: w.start)
        self.violations: list[tuple[str, str]] = []
        self.owner: dict[int, Try] = {}  # api job -> the try whose step created it
        for job in self.jobs.values():
            if job["origin"] != "api":
                continue
            attempt = self.attempt_at(job["created_at"])
            if attempt is None:
                self.violations.append(
                    ("H", f"job {job['id']} was created over HTTP outside every task's steps")
                )
            else:
                self.owner[job["id"]] = attempt
        for exchange in self.exchanges:
            attempt = self.attempt_at(exchange["received"])
            exchange["attempt"] = attempt
        counts = run.counts
        counts["jobs created by tasks"] += len(self.owner)
        counts["foreign jobs"] += sum(1 for j in self.jobs.values() if j["origin"] == "airbyte")
        counts["creates sent"] += sum(1 for e in self.exchanges if is_create(e))
        for kind, fault in run.faults:
            if fault.hits:
                counts[f"fault {kind}"] += fault.hits
        for kind, hook in run.hooks:
            if hook.hits:
                counts[f"hook {kind}"] += hook.hits
        self.excused: set[tuple[int, int, int]] = set()

    def attempt_at(self, moment: float) -> Try | None:
        for window in self.windows:
            if window.start <= moment <= window.end:
                return window.attempt
        return None

    def label(self, attempt: Try) -> str:
        return f"task {attempt.task} try {attempt.number} (generation {attempt.generation})"

    def job_line(self, job_id: int) -> str:
        job = self.jobs.get(job_id)
        if job is None:
            return f"job {job_id} (not of this connection)"
        mine = self.owner.get(job_id)
        who = f"created by {self.label(mine)}" if mine else f"origin {job['origin']}"
        return f"job {job_id} ({job['status']}, {who})"

    def verdicts(self) -> list[tuple[str, str]]:
        for hung in self.run.hung_steps:
            self.violations.append(("H", hung))
        self.unknowable = self.unknowable_pairs()
        self.no_duplicate()
        self.no_foreign_cancel()
        self.successes_are_own()
        self.nothing_left_running()
        self.run.counts["unknowable adoptions"] += len(self.excused)
        return self.violations

    def unknowable_pairs(self) -> set[tuple[int, int, int]]:
        """(task, generation, job) where taking the job for the task's own is the documented ambiguity."""
        pairs: set[tuple[int, int, int]] = set()
        anchors: list[tuple[Try, float]] = []
        for exchange in self.exchanges:
            attempt = exchange["attempt"]
            if attempt is not None and is_create(exchange) and answer_lost(exchange):
                anchors.append((attempt, exchange["received"]))
        for task in self.run.tasks:
            for attempt in task.tries:
                if attempt.killed_at is not None and attempt.killed_in_create:
                    anchors.append((attempt, attempt.killed_at))
        lag_from = self.run.lag_from
        for attempt, moment in anchors:
            task = self.run.tasks[attempt.task]
            generation = [e for e in self.exchanges if _same_generation(e["attempt"], attempt)]
            seen = [e for e in generation if is_listing(e) and delivered(e) and e["time"] <= moment]
            in_try = [e for e in seen if e["attempt"] is attempt]
            last = (in_try or seen)[-1] if seen else None
            first_try = min(t.start for t in task.tries if t.generation == attempt.generation)
            start = last["time"] if last is not None else first_try
            shown = shown_ids(last) if last is not None else set()
            note = max(shown, default=0)
            if not any(is_listing(e) and delivered(e) and e["received"] > moment for e in generation):
                continue  # the task never looked again: it cannot have taken a job for its own
            # Until when the lost create may still have made its job, as the protocol reads it: while
            # it was being handled (its read timeout), give or take the clock margin.
            end = moment + self.run.header["create_timeout"] + CLOCK_MARGIN_S

            def unseen(job: dict[str, Any], last: Any = last, start: float = start, note: int = note) -> bool:
                """Not in the task's last look before the anchor: landed after it, or hidden by the lag."""
                if job["created_at"] > start:
                    return True
                hidden = (
                    last is not None
                    and lag_from is not None
                    and job["created_at"] >= lag_from
                    and faithful(last, job, self.run.connection_id)
                )
                return hidden and job["id"] > note

            # What the lost create itself may have made: the generation's jobs from the anchor on
            # (an earlier create's job, hidden by a lagging look, is not the lost create's).
            own = [
                job
                for job_id, job in self.jobs.items()
                if _same_generation(self.owner.get(job_id), attempt)
                and unseen(job)
                and job["created_at"] >= moment
            ]
            for job_id, job in self.jobs.items():
                if (
                    _same_generation(self.owner.get(job_id), attempt)
                    or job["job_type"] != task.spec["job_type"]
                ):
                    continue
                if not unseen(job) or job["created_at"] > end:
                    continue
                if any(mine["id"] < job_id for mine in own):
                    continue  # the task's own job came first: that one is the lost create's
                pairs.add((attempt.task, attempt.generation, job_id))
        return pairs

    def no_duplicate(self) -> None:
        groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for job_id in sorted(self.owner):
            attempt = self.owner[job_id]
            groups.setdefault((attempt.task, attempt.generation), []).append(self.jobs[job_id])
        for jobs in groups.values():
            for index, job in enumerate(jobs):
                for earlier in jobs[:index]:
                    ended_before = earlier["ended_at"] is not None and earlier["ended_at"] < job["created_at"]
                    if earlier["status"] in FAILED and ended_before:
                        continue
                    if self.after_taking_theirs(self.owner[job["id"]], job):
                        continue
                    self.violations.append(
                        (
                            "I1",
                            f"duplicate: {self.label(self.owner[job['id']])} created "
                            f"{self.job_line(job['id'])} while its generation's "
                            f"{self.job_line(earlier['id'])} had not failed",
                        )
                    )
                    break

    def after_taking_theirs(self, attempt: Try, job: dict[str, Any]) -> bool:
        """The generation took another party's job for its own in the documented ambiguity (stored
        it as owned), that job failed, and ``job`` came after: its new sync, while its own first job ran
        on unwatched (the same ambiguity, as in I4).
        """
        tries = [t for t in self.run.tasks[attempt.task].tries if t.generation == attempt.generation]
        for pair in self.unknowable:
            theirs = self.jobs.get(pair[2])
            if (
                pair[:2] == (attempt.task, attempt.generation)
                and theirs is not None
                and any(pair[2] in t.owned for t in tries)
                and theirs["status"] in FAILED
                and theirs["ended_at"] is not None
                and theirs["ended_at"] < job["created_at"]
            ):
                self.excused.add(pair)
                self.run.note(
                    f"unknowable: {self.label(attempt)} took {self.job_line(pair[2])}, which failed"
                )
                return True
        return False

    def no_foreign_cancel(self) -> None:
        for exchange in self.exchanges:
            target = cancel_target(exchange)
            attempt = exchange["attempt"]
            if target is None or attempt is None:
                continue
            creator = self.owner.get(target)
            if creator is not None and creator.task == attempt.task:
                continue
            excuse = next((p for p in self.unknowable if p[0] == attempt.task and p[2] == target), None)
            if excuse is not None:
                self.excused.add(excuse)
                self.run.note(f"unknowable: {self.label(attempt)} cancelled {self.job_line(target)}")
                continue
            self.violations.append(
                ("I2", f"{self.label(attempt)} cancelled {self.job_line(target)}, which it did not create")
            )

    def attached_on_purpose(self, attempt: Try, job: dict[str, Any]) -> bool:
        """The generation met ``job`` running: a create refused (409) while it ran, or a listing of it."""
        for exchange in self.exchanges:
            if not _same_generation(exchange["attempt"], attempt) or exchange.get("fault"):
                continue
            if is_create(exchange) and exchange["status"] == 409:
                # Handled between its arrival and its answer (an on_request action runs in between).
                if job["created_at"] <= exchange["time"] and (
                    job["ended_at"] is None or job["ended_at"] >= exchange["received"]
                ):
                    return True
            elif is_listing(exchange) and delivered(exchange) and job["id"] in shown_ids(exchange, RUNNING):
                return True
        return False

    def successes_are_own(self) -> None:
        for task in self.run.tasks:
            for attempt in task.tries:
                if attempt.result == "success":
                    self.success_is_own(task, attempt)

    def success_is_own(self, task: TaskState, attempt: Try) -> None:
        value, who = attempt.returned, self.label(attempt)
        if isinstance(value, bool) or not isinstance(value, int):
            self.violations.append(("I3", f"{who} returned {value!r}, not a job id"))
            return
        summary = attempt.xcoms.get("airbyte_job")
        if not isinstance(summary, dict) or summary.get("job_id") != value:
            self.violations.append(
                ("I3", f"{who} returned job {value} but XCom airbyte_job says {summary!r}")
            )
        job = self.jobs.get(value)
        if job is None:
            self.violations.append(("I3", f"{who} returned job {value}, which is no job of its connection"))
            return
        seen = attempt.job_at_return or job
        if attempt.mode == "asynchronous":
            last_look = max(
                (e["received"] for e in self.exchanges if e["attempt"] is attempt), default=attempt.start
            )
            if seen["status"] in FAILED and seen["ended_at"] is not None and seen["ended_at"] < last_look:
                self.violations.append(
                    ("I3", f"{who} returned {self.job_line(value)}, which had already ended")
                )
        elif seen["status"] != "succeeded":
            self.violations.append(
                ("I3", f"{who} succeeded with {self.job_line(value)}, whose status was {seen['status']}")
            )
        creator = self.owner.get(value)
        if creator is not None and (creator.task, creator.generation) == (attempt.task, attempt.generation):
            return
        if task.spec["if_running"] == "attach" and self.attached_on_purpose(attempt, job):
            return
        pair = (attempt.task, attempt.generation, value)
        if pair in self.unknowable:
            self.excused.add(pair)
            self.run.note(f"unknowable: {who} returned {self.job_line(value)}")
            return
        self.violations.append(
            (
                "I3",
                f"{who} returned {self.job_line(value)}: neither created by this generation nor attached to",
            )
        )

    def nothing_left_running(self) -> None:
        for job_id, creator in sorted(self.owner.items()):
            job = self.jobs[job_id]
            if job["status"] in FAILED or job["status"] == "succeeded":
                continue
            task = self.run.tasks[creator.task]
            last = task.tries[-1]
            if any(t.result == "success" and t.returned == job_id for t in task.tries):
                continue  # asynchronous: a try returned it running, handing the watch on
            if any(pair[:2] == (creator.task, creator.generation) for pair in self.excused):
                # The same ambiguity: its generation took another party's job for its own (counted
                # above), so this one, its own, ran on unwatched.
                self.run.note(f"unknowable: {self.job_line(job_id)} ran on; its generation took another job")
                continue
            of_its_generation = [t for t in task.tries if t.generation == creator.generation]
            if of_its_generation[-1].result == "crash" and last.generation != creator.generation:
                # Killed hard, then cleared: no try of its generation lived to cancel it, and a
                # Clear starts a new sync rather than taking an older one over (README).
                continue
            self.violations.append(
                (
                    "I4",
                    f"{self.job_line(job_id)} still runs after the task's last try "
                    f"({self.label(last)}) ended: {last.result}",
                )
            )


def run_sequence(world: World, sequence: dict[str, Any]) -> Outcome:
    """Run one sequence (``generate`` or a replayed step list) and judge it."""
    run = SequenceRun(world, sequence)
    try:
        outcome = run.run()
    except Exception:
        run.cleanup()
        outcome = Outcome([("H", "the search failed:\n" + traceback.format_exc())], run.counts, run.log)
    return outcome


# -- searching, shrinking, reporting ---------------------------------------------------------------
@dataclass
class Failure:
    """A sequence that broke an invariant, and the shortest step list found that still does."""

    index: int
    sequence: dict[str, Any]
    violations: list[tuple[str, str]]
    shrunk: dict[str, Any] | None = None
    shrunk_violations: list[tuple[str, str]] = field(default_factory=list)
    reproduced: str = ""
    log: list[str] = field(default_factory=list)

    @property
    def invariant(self) -> str:
        return self.violations[0][0]


def shrink(
    world: World, sequence: dict[str, Any], invariant: str, budget: int
) -> tuple[dict[str, Any], Outcome | None, int]:
    """Drop steps one at a time while ``invariant`` still fails (each candidate re-run once)."""
    steps, best, runs = list(sequence["steps"]), None, 0
    changed = True
    while changed and runs < budget:
        changed, index = False, 0
        while index < len(steps) and runs < budget:
            candidate = {**sequence, "steps": steps[:index] + steps[index + 1 :]}
            outcome = run_sequence(world, candidate)
            runs += 1
            if invariant in outcome.invariants():
                steps, best, changed = candidate["steps"], outcome, True
            else:
                index += 1
    return {**sequence, "steps": steps}, best, runs


def investigate(world: World, index: int, sequence: dict[str, Any], outcome: Outcome, budget: int) -> Failure:
    failure = Failure(index, sequence, outcome.violations, log=outcome.log)
    if budget <= 0 or failure.invariant == "H":
        return failure
    shrunk, best, _runs = shrink(world, sequence, failure.invariant, budget)
    failure.shrunk = shrunk
    if best is not None:
        failure.shrunk_violations = best.violations
        failure.log = best.log
    again = [failure.invariant in run_sequence(world, shrunk).invariants() for _ in range(3)]
    failure.reproduced = f"{sum(again)}/3"
    return failure


def _steps_text(steps: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"    {i + 1:2d}. {json.dumps(step, separators=(', ', ': '))}" for i, step in enumerate(steps)
    )


def describe_failure(failure: Failure, seed: int) -> str:
    sequence = failure.sequence
    lines = [
        f"VIOLATION {failure.invariant} ({DESCRIPTIONS[failure.invariant]}) in sequence {failure.index} "
        f"of seed {seed} (sequence seed {sequence['seed']})",
        f"  replay: python -m tests.exactly_once_search --seed {seed} --start {failure.index} --sequences 1",
        f"  header: {json.dumps(sequence['header'])}",
        "  steps:",
        _steps_text(sequence["steps"]),
        "  found:",
        *(f"    {name}: {message}" for name, message in failure.violations),
    ]
    if failure.shrunk is not None:
        lines += [
            f"  shrunk to {len(failure.shrunk['steps'])} step(s), the same invariant failing in "
            f"{failure.reproduced} re-runs:",
            _steps_text(failure.shrunk["steps"]),
            "  shrunk replay (JSON for --replay):",
            "    " + json.dumps(failure.shrunk),
        ]
        if failure.shrunk_violations:
            lines += ["  shrunk found:", *(f"    {n}: {m}" for n, m in failure.shrunk_violations)]
    if failure.log:
        lines += ["  what happened (shrunk run if any):", *(f"    {line}" for line in failure.log)]
    return "\n".join(lines)


@dataclass
class Summary:
    seed: int
    sequences: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)

    def merge(self, other: Summary) -> None:
        self.sequences += other.sequences
        self.counts.update(other.counts)
        self.failures.extend(other.failures)

    def figures(self) -> str:
        counts = self.counts
        by_invariant = Counter(name for f in self.failures for name in {n for n, _ in f.violations})
        lines = [
            f"exactly-once search, seed {self.seed}: {self.sequences} sequences, {counts['steps']} steps, "
            f"{counts['tries']} tries",
            f"  jobs created by tasks: {counts['jobs created by tasks']}; creates sent: "
            f"{counts['creates sent']}; foreign jobs: {counts['foreign jobs']}",
            "  faults injected: "
            + (
                ", ".join(f"{k[6:]} {v}" for k, v in sorted(counts.items()) if k.startswith("fault "))
                or "none"
            ),
            "  at the worst moment: "
            + (
                ", ".join(f"{k[5:]} {v}" for k, v in sorted(counts.items()) if k.startswith("hook "))
                or "none"
            )
            + f"; listing lags set: {counts['listing lags set']}",
            "  crashes: "
            + (
                ", ".join(f"{k[6:]} {v}" for k, v in sorted(counts.items()) if k.startswith("crash "))
                or "none"
            )
            + f"; on_kill calls: {counts['on_kill calls']}; triggerer restarts: "
            f"{counts['triggerer restarts']}; deferrals: {counts['deferrals']}",
            f"  unknowable adoptions (counted, not failed): {counts['unknowable adoptions']}",
            f"  violations: {len(self.failures)} sequence(s)"
            + (
                " - " + ", ".join(f"{name} {by_invariant[name]}" for name in INVARIANTS if by_invariant[name])
                if self.failures
                else ""
            ),
        ]
        return "\n".join(lines)


def search(
    world: World,
    seed: int,
    sequences: int,
    *,
    start: int = 0,
    step: int = 1,
    shrink_runs: int = 60,
    stop_at_first: bool = False,
    out: Callable[[str], None] | None = None,
    progress_every: int = 0,
) -> Summary:
    """Run sequences ``start, start + step, ...`` (``sequences`` of them) of ``seed``."""
    summary = Summary(seed)
    for index in range(start, start + sequences * step, step):
        if (
            out is not None
            and progress_every
            and summary.sequences
            and summary.sequences % progress_every == 0
        ):
            out(f"... {summary.sequences} sequences from {start}, {len(summary.failures)} with violations")
        sequence = generate(sequence_seed(seed, index))
        outcome = run_sequence(world, sequence)
        summary.sequences += 1
        summary.counts.update(outcome.counts)
        if outcome.violations:
            failure = investigate(world, index, sequence, outcome, shrink_runs)
            summary.failures.append(failure)
            if out is not None:
                out(describe_failure(failure, seed))
            if stop_at_first:
                break
    return summary


def _worker(seed: int, start: int, step: int, sequences: int, shrink_runs: int, stop: bool) -> Summary:
    _quiet()
    with World.started() as world:
        return search(
            world,
            seed,
            sequences,
            start=start,
            step=step,
            shrink_runs=shrink_runs,
            stop_at_first=stop,
            out=lambda text: print(text, flush=True),
            progress_every=100,
        )


def _quiet() -> None:
    """Stand-alone runs: triggers fire at once and an unanswered create is looked for over 0.35 s,
    as in the test suite (listing lags are counted in reads), and Airflow logs nothing.
    """
    from airflow_provider_airbyte_sync import tasks
    from airflow_provider_airbyte_sync.core import protocol, retry
    from tests.conftest import QUICK_RECONCILE_PAUSES_S

    if hasattr(tasks, "DEFER_SETTLE_S"):
        tasks.DEFER_SETTLE_S = 0.0
    protocol.RECONCILE_PAUSES_S = QUICK_RECONCILE_PAUSES_S
    retry.BACKOFF_BASE_S = BACKOFF_BASE_S


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.exactly_once_search",
        description="Randomized search for exactly-once violations of AirbyteTriggerSyncOperator.",
    )
    parser.add_argument("--sequences", type=int, default=100, help="sequences to run (default 100)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: a random one, printed)")
    parser.add_argument("--start", type=int, default=0, help="index of the first sequence (to replay one)")
    parser.add_argument("--jobs", type=int, default=1, help="processes to search in (default 1)")
    parser.add_argument("--shrink-runs", type=int, default=60, help="re-runs allowed to shrink a failure")
    parser.add_argument("--stop-at-first", action="store_true", help="stop at the first violation")
    parser.add_argument("--replay", metavar="JSON", help="run one sequence given as JSON (or @file)")
    args = parser.parse_args(argv)
    if args.replay:
        text = args.replay
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as handle:
                text = handle.read()
        sequence = json.loads(text)
        _quiet()
        with World.started() as world:
            outcome = run_sequence(world, sequence)
        print("\n".join(outcome.log))
        for name, message in outcome.violations:
            print(f"{name}: {message}")
        print("no violation" if not outcome.violations else f"{len(outcome.violations)} violation(s)")
        return 1 if outcome.violations else 0
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**9)
    jobs = max(1, args.jobs)
    print(f"exactly-once search: seed {seed}, {args.sequences} sequences, {jobs} process(es)", flush=True)
    started = time.monotonic()
    summary = Summary(seed)
    if jobs == 1:
        summary = _worker(seed, args.start, 1, args.sequences, args.shrink_runs, args.stop_at_first)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        shares = [len(range(i, args.sequences, jobs)) for i in range(jobs)]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=context) as pool:
            futures = [
                pool.submit(
                    _worker, seed, args.start + i, jobs, shares[i], args.shrink_runs, args.stop_at_first
                )
                for i in range(jobs)
                if shares[i]
            ]
            for future in futures:
                summary.merge(future.result())
    print(summary.figures())
    print(f"  time: {time.monotonic() - started:.0f}s")
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
