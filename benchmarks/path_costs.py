"""Figures 3 and 4: requests and TCP connections per sync, and job end to task end (or trigger event).

Each case runs one sync through a provider's operator in ``paths.py`` processes (a worker, plus a
triggerer when deferrable), against an emulator of its own. All cases run at once, in threads.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from children import CONN_ID, Emulators, LineProcess, conn_env
from environment import log
from table import Row, fmt


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
        fields = {
            "impl": self.impl,
            "deferrable": self.deferrable,
            "api": self.api,
            "interval": self.interval,
        }
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


def checked(answer: dict[str, Any], who: str) -> dict[str, Any]:
    if "error" in answer:
        raise RuntimeError(f"{who}: {answer['error']}")
    return answer


def run_case(
    emu: Emulators, case: PathCase, latency: float, token_period: float, barrier: threading.Barrier
) -> None:
    """One sync, its figures into ``case.result``; waits at ``barrier`` for every case to be ready."""
    name = case.name
    info = emu(
        "new", name=name, kwargs={"latency_s": latency, "auth": "token", "token_lifetime_s": token_period}
    )
    # The job ends 50 ms after the answer to a poll that finds it running (the worst phase: only
    # the next poll, one interval later, can see the end). It would end by itself later.
    running_s = 6 * case.interval + 10
    connection_id = emu("add_connection", name=name, pending_s=0.5, running_s=running_s)["connection_id"]
    emu("end_jobs_after_poll", name=name, poll=ending_poll(case.interval))
    env = conn_env(case.impl, info, case.api)
    roles = ["worker", "triggerer"] if case.deferrable else ["worker"]
    args = ["--impl", case.impl, "--conn-id", CONN_ID]
    children = [
        LineProcess.script(case.impl, "paths.py", *args, "--role", role, env=env, logname=f"{name}-{role}")
        for role in roles
    ]
    worker = children[0]
    try:
        try:
            for child in children:
                child.read()
        except Exception:
            barrier.abort()  # the other cases must not wait for this one
            raise
        barrier.wait()
        emu("reset", name=name)
        worker.send(
            {"connection_id": connection_id, "deferrable": case.deferrable, "interval": case.interval}
        )
        done = checked(worker.read(), f"{name} worker")
        worker_stats = emu("stats", name=name)
        end_time = done["task_end"]
        if case.deferrable:
            kwargs = dict(done["kwargs"])
            kwargs["poll_interval"] = case.interval  # the official operator hard-codes 60 s
            children[1].send({"classpath": done["classpath"], "kwargs": kwargs})
            events = checked(children[1].read(), f"{name} triggerer")["events"]
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


def measure(
    emu: Emulators, cases: list[PathCase], latency: float, token_period: float, started: threading.Event
) -> None:
    """Run every case at once; ``started`` is set once every process has imported everything and the
    syncs begin. A case that fails gets ``error`` in its result; the others go on."""
    barrier = threading.Barrier(len(cases), action=started.set, timeout=300)
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        futures = [pool.submit(run_case, emu, case, latency, token_period, barrier) for case in cases]
        for case, future in zip(cases, futures, strict=True):
            try:
                future.result()
            except Exception as exc:  # one broken case must not hide the others
                barrier.abort()
                case.result["error"] = str(exc)[:2000]
                log(f"{case.name} failed: {exc}")


def start(
    emu: Emulators, cases: list[PathCase], latency: float, token_period: float
) -> Callable[[], list[dict[str, Any]]]:
    """Start ``measure`` in the background and return once the syncs began (from then on their
    processes mostly sleep between polls, so other figures may run); call the result to wait."""
    log(f"figures 3 and 4: {len(cases)} syncs in parallel, each against its own emulator")
    started = threading.Event()
    thread = threading.Thread(target=measure, args=(emu, cases, latency, token_period, started))
    thread.start()
    while not started.wait(0.5) and thread.is_alive():
        pass

    def results() -> list[dict[str, Any]]:
        thread.join()
        return [case.as_json() for case in cases]

    return results


def _requests_cell(c: dict[str, Any]) -> str:
    return "error" if "error" in c else f"{c['requests']} / {c['tcp']}"


def _detect_cell(c: dict[str, Any]) -> str:
    return "-" if "error" in c else fmt(c.get("detect_s"))


def _log_downloads_cell(c: dict[str, Any]) -> str:
    return f"{c['log_downloads']} of {c['polls']} polls"


def rows(paths: list[dict[str, Any]]) -> list[Row]:
    """Blocking then deferrable, public then config API, by interval; then the attempt-log total."""
    by_key = {(c["impl"], c["deferrable"], c["api"], c["interval"]): c for c in paths}
    intervals = list(dict.fromkeys(c["interval"] for c in paths))
    out = []
    for deferrable in (False, True):
        for api in ("public", "config"):
            for interval in intervals:
                ours = by_key.get(("ours", deferrable, api, interval))
                official = by_key.get(("official", deferrable, api, interval))
                if ours is None and official is None:
                    continue
                mode = "deferrable (submit + trigger)" if deferrable else "blocking (operator)"
                ended = "trigger event" if deferrable else "task end"
                params = {"interval": interval}
                label = f"3. {mode}, {api} API, {interval:g} s: requests / TCP per sync"
                out.append(Row("paths.requests", label, ours, official, _requests_cell, params=params))
                label = f"4. {ended} after job end, {api} API, {interval:g} s (s)"
                out.append(Row("paths.detect", label, ours, official, _detect_cell, params=params))
    if paths:
        total = {impl: _log_downloads(paths, impl) for impl in ("ours", "official")}
        label = "3. attempt-log downloads (config jobs/get) while polling, all syncs above"
        out.append(Row("paths.log_downloads", label, total["ours"], total["official"], _log_downloads_cell))
    return out


def _log_downloads(paths: list[dict[str, Any]], impl: str) -> dict[str, int] | None:
    """Attempt-log downloads and polls over ``impl``'s syncs that ran (``None`` if none did)."""
    ran = [c for c in paths if c["impl"] == impl and "error" not in c]
    if not ran:
        return None
    return {key: sum(c[key] for c in ran) for key in ("log_downloads", "polls")}


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
