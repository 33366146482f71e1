"""Figures 3 and 4: requests and TCP connections per sync, and job end to task end (or trigger event).

Each case runs one sync through a provider's operator in ``paths.py`` processes (a worker, plus a
triggerer when deferrable), against an emulator of its own. All cases run at once, in threads.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from children import Emulators, LineProcess
from environment import log
from table import Row, fmt, pair_up


@dataclass
class PathCase:
    impl: str
    deferrable: bool
    interval: float
    api: str = "public"
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        mode = "deferrable" if self.deferrable else "blocking"
        return f"{self.impl}-{mode}-{self.api}-{self.interval:g}s"

    def as_json(self) -> dict[str, Any]:
        """As the results record it: what the case is, then its figures (or ``error``)."""
        fields = {key: getattr(self, key) for key in ("impl", "deferrable", "api", "interval")}
        return {"name": self.name, **fields, **self.result}


def cases(intervals: list[float], impls: list[str], quick: bool) -> list[PathCase]:
    """Blocking at each interval but the deferred default (15 s), deferrable at each; the official
    provider at 3 s and 30 s; our config-API dialect at 3 s (to show polls skip the attempt logs)."""
    out = []
    for interval in intervals:
        if interval != 15.0:
            out.append(PathCase("ours", False, interval))
        out.append(PathCase("ours", True, interval))
        if "official" in impls and (interval in (3.0, 30.0) or quick):
            out += [PathCase("official", False, interval), PathCase("official", True, interval)]
    if not quick:
        out += [PathCase("ours", False, 3.0, "config"), PathCase("ours", True, 3.0, "config")]
    return out


def ending_poll(interval: float) -> int:
    """The poll after whose answer the job ends: the second, or the first after the trigger's hold.

    A deferred trigger holds an ending seen within ``DEFER_SETTLE_S`` of the deferral (an Airflow
    3.3 race, see ``tasks.py``); figure 4 measures how fast a poll sees the end, so the job ends
    after the hold, in every case alike (the hold is a fixed wait, stated in the README).
    """
    from airflow_provider_airbyte_sync.tasks import DEFER_SETTLE_S

    return max(2, math.ceil(DEFER_SETTLE_S / interval) + 1)


def is_poll(endpoint: str) -> bool:
    """A job read: public ``GET .../jobs/{jobId}`` or config ``jobs/get_without_logs``/``get_light``."""
    method, _, path = endpoint.partition(" ")
    if method == "GET" and path.endswith("jobs/{jobId}"):
        return True
    return path.endswith(("jobs/get_without_logs", "jobs/get_light"))


def run_case(
    emu: Emulators, case: PathCase, latency: float, token_period: float, barrier: threading.Barrier
) -> None:
    """One sync, its figures into ``case.result``; starts at ``barrier``, once every case is ready."""
    name = case.name
    token = {"auth": "token", "token_lifetime_s": token_period}
    info = emu("new", name=name, kwargs={"latency_s": latency, **token})
    children: list[LineProcess] = []
    try:
        # The job ends 50 ms after the answer to a poll that finds it running (the worst phase: only
        # the next poll, one interval later, can see the end). It would end by itself later.
        running_s = 6 * case.interval + 10
        connection_id = emu("add_connection", name=name, pending_s=0.5, running_s=running_s)["connection_id"]
        emu("end_jobs_after_poll", name=name, poll=ending_poll(case.interval))
        for role in ["worker", "triggerer"] if case.deferrable else ["worker"]:
            log_name = f"{name}-{role}"
            children.append(
                LineProcess.provider(case.impl, "paths.py", info, log_name, role=role, api=case.api)
            )
        for child in children:
            child.read()
        barrier.wait()
        emu("reset", name=name)
        worker = children[0]
        command = {"connection_id": connection_id, "deferrable": case.deferrable, "interval": case.interval}
        done = worker.call(command, f"{name} worker")
        worker_stats = emu("stats", name=name)
        end_time = done["task_end"]
        if case.deferrable:
            kwargs = dict(done["kwargs"])
            kwargs["poll_interval"] = case.interval  # the official operator hard-codes 60 s
            command = {"classpath": done["classpath"], "kwargs": kwargs}
            events = children[1].call(command, f"{name} triggerer")["events"]
            end_time = events[0]["time"]
            job_id = int(kwargs["job_id"])
            case.result |= {"event_status": events[0]["status"], "events": len(events)}
        else:
            job_id = int(done["job_id"])
        stats = emu("stats", name=name)
        ends = emu("job_ends", name=name, ids=[job_id])
    finally:
        for child in children:
            child.close()
        emu("stop", name=name)
    by = stats["by_endpoint"]
    case.result |= {
        "requests": stats["requests"],
        "tcp": stats["tcp_connections"],
        "by_endpoint": by,
        "worker_requests": worker_stats["requests"],
        "worker_tcp": worker_stats["tcp_connections"],
        "log_downloads": by.get("POST /api/v1/jobs/get", 0),
        "polls": sum(v for k, v in by.items() if is_poll(k)),
        "job_status": ends["statuses"][str(job_id)],
        "detect_s": end_time - ends["ends"][str(job_id)],
    }


def start(
    emu: Emulators, cases: list[PathCase], latency: float, token_period: float
) -> Callable[[], list[dict[str, Any]]]:
    """Start every case at once, in threads, and return once each process has imported everything
    and the syncs began: from then on they mostly sleep between polls, so other figures may run.
    Call the result to wait for the figures; a case that failed has ``error`` in its result."""
    log(f"figures 3 and 4: {len(cases)} syncs in parallel, each against its own emulator")
    started = threading.Event()
    barrier = threading.Barrier(len(cases), action=started.set, timeout=300)
    pool = ThreadPoolExecutor(max_workers=len(cases))
    futures = [pool.submit(run_case, emu, case, latency, token_period, barrier) for case in cases]
    while not started.wait(0.5):
        if any(future.done() for future in futures):  # one failed before the start: the others must not wait
            barrier.abort()
            break

    def results() -> list[dict[str, Any]]:
        pool.shutdown()
        for case, future in zip(cases, futures, strict=True):
            if (exc := future.exception()) is not None:  # one broken case must not hide the others
                case.result["error"] = str(exc)[:2000]
                log(f"{case.name} failed: {exc}")
        return [case.as_json() for case in cases]

    return results


def rows(paths: list[dict[str, Any]]) -> list[Row]:
    """Blocking then deferrable, public then config API, by interval; then the attempt-log total."""
    pairs = pair_up(paths, lambda c: (c["deferrable"], c["api"], c["interval"]))
    intervals = dict.fromkeys(c["interval"] for c in paths)
    out = []
    for deferrable, api, interval in itertools.product((False, True), ("public", "config"), intervals):
        if (pair := pairs.get((deferrable, api, interval))) is None:
            continue
        mode = "deferrable (submit + trigger)" if deferrable else "blocking (operator)"
        ended = "trigger event" if deferrable else "task end"
        where, params = f"{api} API, {interval:g} s", {"interval": interval}
        label = f"3. {mode}, {where}: requests / TCP per sync"
        out.append(Row("paths.requests", label, *pair, _requests, params=params))
        label = f"4. {ended} after job end, {where} (s)"
        out.append(Row("paths.detect", label, *pair, _detect, params=params))
    if paths:
        label = "3. attempt-log downloads (config jobs/get) while polling, all syncs above"
        totals = [_log_downloads(paths, impl) for impl in ("ours", "official")]
        out.append(Row("paths.log_downloads", label, *totals, _log_downloads_cell))
    return out


def _requests(c: dict[str, Any]) -> str:
    return "error" if "error" in c else f"{c['requests']} / {c['tcp']}"


def _detect(c: dict[str, Any]) -> str:
    return "-" if "error" in c else fmt(c.get("detect_s"))


def _log_downloads_cell(total: dict[str, int]) -> str:
    return f"{total['log_downloads']} of {total['polls']} polls"


def _log_downloads(paths: list[dict[str, Any]], impl: str) -> dict[str, int] | None:
    """Attempt-log downloads and polls over ``impl``'s syncs that ran (``None`` if none did)."""
    ran = [c for c in paths if c["impl"] == impl and "error" not in c]
    return {key: sum(c[key] for c in ran) for key in ("log_downloads", "polls")} if ran else None


def notes(paths: list[dict[str, Any]]) -> list[str]:
    out = []
    for c in paths:
        if "error" in c:
            out.append(f"path {c['name']}: ERROR {c['error'][:300]}")
            continue
        eps = ", ".join(
            f"{k.split(' ', 1)[1].rsplit('/v1/', 1)[-1]} {k.split(' ')[0]} x{v}"
            for k, v in sorted(c["by_endpoint"].items())
        )
        extra = ""
        if c["deferrable"]:
            extra = (
                f" (worker {c['worker_requests']} req / {c['worker_tcp']} TCP; event "
                f"{c.get('event_status')}, {c.get('events')} event(s))"
            )
        out.append(
            f"path {c['name']}: {c['requests']} requests, {c['tcp']} TCP{extra}; job {c['job_status']}; {eps}"
        )
    return out
