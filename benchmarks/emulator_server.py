"""Airbyte emulators in a process of their own, driven over stdin/stdout by ``run.py``.

The benchmarks keep the emulator out of the measured process, so its CPU never counts against the
event loop under test. This process hosts one or more ``AirbyteEmulator`` instances (each its own
port and thread) and answers one JSON line per command line:

    {"op": "new", "name": "scale", "kwargs": {...AirbyteEmulator arguments...}}
    {"op": "jobs_for_watches", "name": "scale", "count": 1000, "spread_s": 5, "running_s": 20}
    {"op": "stats" | "reset" | "poll_lags" | "job_ends" | "age_next_token" | "stop" | "quit", ...}

On top of the emulator it records, for every ``GET .../jobs/{id}`` (a poll), when the request was
read and when its answer was written (this process's monotonic clock), so poll lag is measured the
same way for any client: ``lag = next poll read - (previous 200 answer written + poll interval)``.
It also runs a ticker on each emulator's loop, to show how late the emulator itself was, and can
hand out one token that expires early (``age_next_token``), so a short run still crosses a renewal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import random
import re
import resource
import sys
import time
import traceback
from typing import Any

from airflow_provider_airbyte_sync.testing import AirbyteEmulator
from airflow_provider_airbyte_sync.testing.httpserver import Response

POLL_PATH = re.compile(r"^(?:/api/public)?/v1/jobs/(\d+)$")
CONFIG_POLL_PATHS = ("/api/v1/jobs/get_without_logs", "/api/v1/jobs/get_light", "/api/v1/jobs/get")
#: With ``end_after_poll``: how long after the poll's answer its job ends (the worst phase).
END_AFTER_ANSWER_S = 0.05


def polled_job(request: Any) -> int | None:
    """The job a request reads (public ``GET jobs/{id}`` or the config API's job reads), else None."""
    if request.method == "GET":
        match = POLL_PATH.match(request.path)
        return int(match.group(1)) if match else None
    if request.method == "POST" and request.path in CONFIG_POLL_PATHS:
        try:
            return int(request.json()["id"])
        except (ValueError, KeyError, TypeError):
            return None
    return None


def raise_nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Instrumented:
    """One emulator with poll timestamps, a loop-stall ticker and an optionally pre-aged token."""

    def __init__(self, **kwargs: Any) -> None:
        self.emulator = AirbyteEmulator(**kwargs).start()
        self.polls: dict[int, list[tuple[float, float, int]]] = {}
        self.stall_max = 0.0
        self._next_lifetime: float | None = None
        self.end_after_poll = 0  # > 0: end each job just after its n-th answered poll (worst phase)
        self._ended: set[int] = set()
        server = self.emulator._server
        inner = server.app

        def app(request: Any) -> Any:
            job_id = polled_job(request)
            if job_id is None:
                return inner(request)
            read = time.monotonic()
            outcome = inner(request)
            if isinstance(outcome, Response):
                self._note(job_id, read, outcome)
                return outcome

            async def finish() -> Any:
                result = await outcome
                self._note(job_id, read, result)
                return result

            return finish()

        server.app = app
        auth = self.emulator._auth
        issue = auth.issue_token
        period = auth.token_lifetime_s

        def issue_aged(client_id: str, client_secret: str) -> tuple[str, int]:
            # The next token minted may be "pre-aged": it lives ``lifetime`` s instead of the full
            # period, as if the client's process had been up for a while. ``expires_in`` tells the truth.
            auth.token_lifetime_s = self._next_lifetime or period
            try:
                return issue(client_id, client_secret)
            finally:
                self._next_lifetime = None
                auth.token_lifetime_s = period

        auth.issue_token = issue_aged  # type: ignore[method-assign]
        loop = server.loop
        assert loop is not None
        loop.call_soon_threadsafe(lambda: loop.create_task(self._ticker()))

    def _note(self, job_id: int, read: float, outcome: Any) -> None:
        status = outcome.status if isinstance(outcome, Response) else 0
        rows = self.polls.setdefault(job_id, [])
        rows.append((read, time.monotonic(), status))
        if self.end_after_poll and status == 200 and len(rows) >= self.end_after_poll:
            self._end_soon(job_id)

    def _end_soon(self, job_id: int) -> None:
        """End a running job just after this answer: the next poll is the first that can see it."""
        if job_id in self._ended:
            return
        state = self.emulator._state
        with state.lock:
            job = state._jobs.get(job_id)
            if job is None or job.terminal:
                return
            now = state.clock.now()
            last = job.attempts[-1]
            if now < last.start:
                return  # not running yet: wait for a later poll
            job.attempts = (*job.attempts[:-1], dataclasses.replace(last, end=now + END_AFTER_ANSWER_S))
        self._ended.add(job_id)

    async def _ticker(self, period: float = 0.05) -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(period)
            self.stall_max = max(self.stall_max, time.monotonic() - start - period)

    # -- commands ------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        e = self.emulator
        return {
            "url": e.url,
            "public_api_url": e.public_api_url,
            "config_api_url": e.config_api_url,
            "client_id": e._auth.client_id,
            "client_secret": e._auth.client_secret,
        }

    def end_jobs_after_poll(self, poll: int) -> dict[str, Any]:
        self.end_after_poll = poll
        return {}

    def reset(self) -> dict[str, Any]:
        self.emulator.reset_stats()
        self.polls.clear()
        self.stall_max = 0.0
        return {}

    def jobs_for_watches(
        self,
        count: int,
        spread_s: float,
        running_s: float,
        pending_s: float = 0.5,
        outcome: str = "succeeded",
        running_jitter_s: float = 0.0,
        seed: int = 1,
    ) -> dict[str, Any]:
        """``count`` connections, each with one job started now whose pending phase ends at its
        watch's start offset (watches start spread evenly over ``spread_s``). Each job runs
        ``running_s`` plus a random share of ``running_jitter_s``, so jobs end at every phase of
        their watch's poll cycle."""
        rng = random.Random(seed)
        jobs = []
        for i in range(count):
            offset = spread_s * i / count
            cid = self.emulator.add_connection(
                name=f"bench {i}",
                pending_s=offset + pending_s,
                running_s=running_s + rng.uniform(0, running_jitter_s),
                outcome=outcome,
                rows_per_s=100.0,
                bytes_per_row=100,
            )
            jobs.append([self.emulator.start_job(cid), offset])
        return {"jobs": jobs, "created_at": time.time()}

    def add_connection(self, **script: Any) -> dict[str, Any]:
        return {"connection_id": self.emulator.add_connection(**script)}

    def job_ends(self, ids: list[int] | None = None) -> dict[str, Any]:
        """Wall-clock end time (the emulator's ``ended_at``) of each job."""
        jobs = self.emulator.jobs() if ids is None else [self.emulator.job(i) for i in ids]
        return {
            "ends": {str(j["id"]): j["ended_at"] for j in jobs},
            "statuses": {str(j["id"]): j["status"] for j in jobs},
        }

    def poll_lags(self, interval: float) -> dict[str, Any]:
        lags: list[float] = []
        first_read: dict[str, float] = {}
        for job_id, rows in self.polls.items():
            rows.sort()
            first_read[str(job_id)] = rows[0][0]
            for (_, answered, status), (read, _, _) in itertools.pairwise(rows):
                if status == 200:  # after a 5xx or 401 the next request is a retry, not a poll
                    lags.append(read - answered - interval)
        return {"lags": lags, "polls": sum(len(r) for r in self.polls.values()), "stall_max": self.stall_max}

    def age_next_token(self, lifetime: float) -> dict[str, Any]:
        self._next_lifetime = lifetime
        return {}


def main() -> int:
    out = os.fdopen(os.dup(1), "w", buffering=1)  # protocol lines only; stray prints go to stderr
    os.dup2(2, 1)
    nofile = raise_nofile_limit()
    emulators: dict[str, Instrumented] = {}
    print(json.dumps({"ready": True, "nofile": nofile}), file=out, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        op = command.pop("op")
        try:
            if op == "quit":
                break
            if op == "new":
                name = command["name"]
                emulators[name] = Instrumented(**command.get("kwargs", {}))
                answer = emulators[name].info()
            elif op == "stop":
                emulators.pop(command["name"]).emulator.stop()
                answer = {}
            elif op == "cpu":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                answer = {"cpu_s": usage.ru_utime + usage.ru_stime}
            else:
                target = emulators[command.pop("name")]
                if op == "stats":
                    answer = target.emulator.stats()
                    answer["open_connections"] = target.emulator.open_connections()
                else:
                    answer = getattr(target, op)(**command)
            print(json.dumps({"ok": True, **answer}), file=out, flush=True)
        except Exception as exc:  # report, keep serving
            print(
                json.dumps(
                    {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
                ),
                file=out,
                flush=True,
            )
    for instance in emulators.values():
        instance.emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
