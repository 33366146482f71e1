"""N ``AirbyteSyncTrigger.run()`` in one asyncio event loop, as a triggerer runs them.

Runs in the project's venv (``--impl ours``) or in the benchmark venv that holds the official
provider (``--impl official``); it imports neither provider at module level. Protocol with
``run.py``: print one JSON line once imports and warm-up are done (``ready``, baseline RSS), read one
JSON line ``{"jobs": [[job_id, start_offset_s], ...]}``, start each watch at its offset, and print one
JSON line of results when every watch has ended or the deadline passed.

Measured here: the longest event-loop stall (a ticker sleeping 20 ms and noting its overshoot),
process CPU time (user + system, all threads) from the first watch's start to the last event, peak
RSS above the warmed-up baseline, and every event each watch yielded, with its wall-clock time.
Poll lag is measured by the emulator (see ``emulator_server.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import os
import resource
import sys
import threading
import time
from typing import Any

TICK_S = 0.02
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE


def trim_heap() -> None:
    """Hand freed heap back to the OS, so the baseline RSS holds no reusable free memory."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def protocol_stream() -> Any:
    """The real stdout for protocol lines; anything else printed (logs) goes to stderr."""
    stream = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    return stream


def raise_nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def trigger_factory(impl: str, conn_id: str, interval: float) -> tuple[Any, str]:
    """A function job_id -> trigger, and the status of a success event; imports done here."""
    end_time = time.time() + 7200
    if impl == "ours":
        import aiohttp  # noqa: F401 - the trigger imports it on first use: a process-start cost

        import airflow_provider_airbyte_sync.hooks.airbyte_async  # noqa: F401
        from airflow_provider_airbyte_sync.triggers.airbyte import AirbyteSyncTrigger

        def make(job_id: int) -> Any:
            return AirbyteSyncTrigger(
                job_id=job_id, conn_id=conn_id, poll_interval=interval, end_time=end_time
            )

        return make, "succeeded"
    import airbyte_api  # noqa: F401
    from airflow.providers.airbyte.hooks.airbyte import AirbyteHook  # noqa: F401
    from airflow.providers.airbyte.triggers.airbyte import AirbyteSyncTrigger as Official

    def make_official(job_id: int) -> Any:
        return Official(job_id=job_id, conn_id=conn_id, end_time=end_time, poll_interval=interval)

    return make_official, "success"


async def warm_up(impl: str, conn_id: str) -> None:
    """Read the connection once, so first-use imports of Airflow's secrets code are not counted."""
    from airflow_provider_airbyte_sync.compat import BaseHook, aget_connection

    if impl == "ours":
        await aget_connection(conn_id)
    else:
        BaseHook.get_connection(conn_id)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    make, success = trigger_factory(args.impl, args.conn_id, args.interval)
    await warm_up(args.impl, args.conn_id)
    gc.collect()
    trim_heap()
    base_rss = rss_bytes()
    print(json.dumps({"ready": True, "rss_base": base_rss, "pid": os.getpid()}), file=args.out, flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    jobs: list[tuple[int, float]] = [(int(j), float(o)) for j, o in json.loads(line)["jobs"]]

    loop_stall: dict[str, Any] = {"max": 0.0, "over_100ms": 0, "over_1s": 0, "worst": []}
    gc_pauses = {"max": 0.0, "total": 0.0, "gen2": 0}
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
            return
        pause = time.perf_counter() - gc_started[0]
        gc_pauses["max"] = max(gc_pauses["max"], pause)
        gc_pauses["total"] += pause
        gc_pauses["gen2"] += info.get("generation") == 2

    gc.callbacks.append(on_gc)
    peak = {"rss": base_rss}
    events: dict[int, list[tuple[float, str]]] = {job_id: [] for job_id, _ in jobs}
    errors: dict[int, str] = {}
    done = asyncio.Event()

    def sample_rss() -> None:  # a thread: sampled even while a blocking call holds the loop
        while not done.is_set():
            peak["rss"] = max(peak["rss"], rss_bytes())
            time.sleep(0.1)

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(TICK_S)
            late = time.perf_counter() - start - TICK_S
            loop_stall["max"] = max(loop_stall["max"], late)
            loop_stall["over_100ms"] += late > 0.1
            loop_stall["over_1s"] += late > 1.0
            if late > 0.1:
                loop_stall["worst"].append((round(start - wall0, 2), round(late, 3)))

    async def watch(job_id: int, offset: float) -> None:
        await asyncio.sleep(offset)
        trigger = make(job_id)
        try:
            async for event in trigger.run():
                payload = event.payload
                status = str(payload.get("status")) if isinstance(payload, dict) else repr(payload)
                events[job_id].append((time.time(), status))
                if status != success and len(errors) < 5:
                    errors[job_id] = str(payload.get("message") if isinstance(payload, dict) else "")[:300]
        except Exception as exc:  # a trigger that raises has missed its ending
            errors[job_id] = f"{type(exc).__name__}: {exc}"[:300]

    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    tick = asyncio.ensure_future(ticker())
    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    tasks = [asyncio.ensure_future(watch(j, o)) for j, o in jobs]
    _, pending = await asyncio.wait(tasks, timeout=args.deadline_s)
    cpu1, wall1 = cpu_seconds(), time.perf_counter()
    for task in pending:
        task.cancel()
    done.set()
    await tick
    sampler.join()
    missed = [job_id for job_id, evs in events.items() if len(evs) != 1 or evs[0][1] != success]
    statuses: dict[str, int] = {}
    for evs in events.values():
        key = ",".join(status for _, status in evs) or "none"
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "impl": args.impl,
        "n": len(jobs),
        "cpu_s": cpu1 - cpu0,
        "wall_s": wall1 - wall0,
        "unfinished": len(pending),
        "missed": len(missed),
        "event_statuses": statuses,
        "errors": dict(list(errors.items())[:5]),
        "stall_max_s": loop_stall["max"],
        "stalls_over_100ms": loop_stall["over_100ms"],
        "stalls_over_1s": loop_stall["over_1s"],
        "worst_stalls": sorted(loop_stall["worst"], key=lambda x: -x[1])[:10],
        "gc_pause_max_s": gc_pauses["max"],
        "gc_pause_total_s": gc_pauses["total"],
        "gc_gen2": gc_pauses["gen2"],
        "rss_base": base_rss,
        "rss_peak": peak["rss"],
        "event_times": {str(j): evs[0][0] for j, evs in events.items() if evs},
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--impl", choices=("ours", "official"), required=True)
    p.add_argument("--conn-id", required=True)
    p.add_argument("--interval", type=float, required=True)
    p.add_argument("--deadline-s", type=float, required=True)
    args = p.parse_args()
    args.out = protocol_stream()
    raise_nofile_limit()
    result = asyncio.run(run(args))
    print(json.dumps(result), file=args.out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
