"""Figure 1: triggerer scale, N ``AirbyteSyncTrigger.run()`` in one event loop (``watch_load.py``);
and, from the same runs, figure 4's trigger event after job end at scale.

Poll lag is read from the emulator's timestamps (next poll read - previous 200 answer written -
interval), so neither client is patched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from children import Emulators, LineProcess
from environment import log
from table import Row, fmt, number, pair_up

PENDING_S = 0.5  # each job pends this long before it runs
# The official SDK renews a token 60 s before it expires (airbyte_api ClientCredentialsHook).
OFFICIAL_TOKEN_MARGIN_S = 60.0


@dataclass
class Workload:
    interval: float
    job_s: float
    latency: float
    error_rate: float
    token_period: float

    @property
    def span(self) -> float:
        """Seconds from the first watch's start to the last job's end: watches start spread over one
        interval and each job runs ``job_s`` plus up to one interval more (so its end falls at a
        random phase of its watch's poll cycle)."""
        return 2 * self.interval + PENDING_S + self.job_s

    def describe(self) -> str:
        return (
            f"Figure 1 workload: watches start spread evenly over one poll interval of {self.interval:g} "
            f"s; each job pends {PENDING_S:g} s then runs {self.job_s:g} s; the emulator (another "
            f"process) answers after {self.latency:g} s, {100 * self.error_rate:g}% of answers 503; "
            f"client-credentials tokens live {self.token_period:g} s (the first one of each run is "
            "handed out part-aged, so the client renews it mid-run). Poll lag is read from the "
            "emulator's timestamps: next poll read - (previous 200 answer written + interval)."
        )


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def ours_token_margin() -> float:
    try:
        from airflow_provider_airbyte_sync.core.tokens import TOKEN_MARGIN_S

        return float(TOKEN_MARGIN_S)
    except (ImportError, AttributeError):
        return 30.0


def token_first_in(impl: str, target: float) -> float:
    """Lifetime of the first token so that the client renews it ``target`` seconds into the run."""
    if impl == "official":
        return target + OFFICIAL_TOKEN_MARGIN_S
    margin = ours_token_margin()  # ours renews at lifetime - min(margin, lifetime / 4)
    return target + margin if target >= 3 * margin else target * 4 / 3


def measure(emu: Emulators, impl: str, n: int, w: Workload) -> dict[str, Any]:
    """One run of ``n`` watches of ``impl`` against a fresh emulator."""
    emulator = {"latency_s": w.latency, "error_rate": w.error_rate, "auth": "token", "seed": 7}
    info = emu("new", name="scale", kwargs={**emulator, "token_lifetime_s": w.token_period})
    try:
        serial = n * (w.latency + 0.05) if impl == "official" else 0.0  # the official loop is serial
        deadline = w.span + 3 * w.interval + 60 + serial * (w.job_s / w.interval + 4)
        child = LineProcess.provider(
            impl, "watch_load.py", info, f"watch-{impl}-{n}", interval=w.interval, deadline_s=deadline
        )
        try:
            child.read()  # ready: imports done, connection read once, baseline RSS taken
            emu("reset", name="scale")
            emu("age_next_token", name="scale", lifetime=token_first_in(impl, w.span / 2))
            cpu0 = emu("cpu")["cpu_s"]
            jobs = emu(
                "jobs_for_watches",
                name="scale",
                count=n,
                spread_s=w.interval,
                running_s=w.job_s,
                pending_s=PENDING_S,
                running_jitter_s=w.interval,
            )["jobs"]
            result = child.call({"jobs": jobs}, f"watch_load {impl}")
        finally:
            child.close()
        emulator_cpu = emu("cpu")["cpu_s"] - cpu0
        lags = emu("poll_lags", name="scale", interval=w.interval)
        stats = emu("stats", name="scale")
        ends = emu("job_ends", name="scale", ids=[j for j, _ in jobs])["ends"]
    finally:
        emu("stop", name="scale")
    polls = lags["polls"]
    detect = [t - ends[j] for j, t in result["event_times"].items() if ends.get(j) is not None]
    return {
        "impl": impl,
        "n": n,
        "lag_p50": pct(lags["lags"], 0.50),
        "lag_p99": pct(lags["lags"], 0.99),
        "lag_max": max(lags["lags"], default=math.nan),
        "lag_samples": len(lags["lags"]),
        "stall_max": result["stall_max_s"],
        "stalls_over_1s": result["stalls_over_1s"],
        "worst_stalls": result["worst_stalls"],
        "gc_pause_max": result["gc_pause_max_s"],
        "gc_gen2": result["gc_gen2"],
        "cpu_ms_per_poll": 1000 * result["cpu_s"] / polls if polls else math.nan,
        "cpu_s": result["cpu_s"],
        "polls": polls,
        "wall_s": result["wall_s"],
        "kb_per_watch": (result["rss_peak"] - result["rss_base"]) / 1024 / n,
        "missed": result["missed"],
        "unfinished": result["unfinished"],
        "event_statuses": result["event_statuses"],
        "errors": result["errors"],
        "rss_base_mb": result["rss_base"] / 2**20,
        "rss_peak_mb": result["rss_peak"] / 2**20,
        "detect_p50": pct(detect, 0.5),
        "detect_p99": pct(detect, 0.99),
        "detect_max": max(detect, default=math.nan),
        "token_fetches": sum(v for k, v in stats["by_endpoint"].items() if k.endswith("applications/token")),
        "tcp_connections": stats["tcp_connections"],
        "requests": stats["requests"],
        "emulator_stall_max": lags["stall_max"],
        "emulator_cpu_s": emulator_cpu,
    }


def measure_all(emu: Emulators, runs: dict[int, list[str]], w: Workload) -> list[dict[str, Any]]:
    """One run per watch count and provider (``runs``: N -> providers), one after the other."""
    out = []
    for n, impls in runs.items():
        for impl in impls:
            log(f"figure 1: {impl} trigger, N={n:,}, poll every {w.interval:g} s, jobs {w.job_s:g} s")
            out.append(measure(emu, impl, n, w))
    return out


# Figure 1's rows at each N: goal key, what, cell, the field shown as official / ours.
ROWS = [
    ("scale.lag", "poll lag p50 / p99 (s)", number("lag_p50", "lag_p99", digits=3), "lag_p99"),
    ("scale.stall", "longest loop stall (s)", number("stall_max", digits=3), "stall_max"),
    ("scale.cpu", "CPU per poll (ms)", number("cpu_ms_per_poll"), "cpu_ms_per_poll"),
    ("scale.memory", "memory per watch (KB, RSS)", number("kb_per_watch", digits=1), "kb_per_watch"),
    ("scale.missed", "endings missed", lambda r: f"{r['missed']} of {r['n']}", None),
]


def rows(scale: list[dict[str, Any]]) -> list[Row]:
    """Figure 1, per N in increasing order."""
    return [
        Row(key, f"1. N={n:,}: {what}", *runs, cell, ratio_of, {"n": n})
        for n, runs in sorted(pair_up(scale, lambda run: run["n"]).items())
        for key, what, cell, ratio_of in ROWS
    ]


def detect_rows(scale: list[dict[str, Any]], interval: float) -> list[Row]:
    """Figure 4 at scale: one row per N that ours ran at."""
    label = "4. trigger event after job end, N={:,}, {:g} s: p50 / p99 (s)"
    cell, params = number("detect_p50", "detect_p99"), {"interval": interval}
    return [
        Row("scale.detect", label.format(n, interval), *runs, cell, "detect_p99", params)
        for n, runs in pair_up(scale, lambda run: run["n"]).items()
        if runs[0] is not None
    ]


def notes(scale: list[dict[str, Any]]) -> list[str]:
    return [
        f"scale {r['impl']} N={r['n']:,}: {r['polls']:,} polls in {r['wall_s']:.0f} s, "
        f"CPU {r['cpu_s']:.1f} s, lag max {fmt(r['lag_max'])} s over {r['lag_samples']:,} polls, "
        f"event after job end max {fmt(r['detect_max'])} s, RSS {r['rss_base_mb']:.0f} -> "
        f"{r['rss_peak_mb']:.0f} MB, stalls > 1 s: {r['stalls_over_1s']}, worst stalls (t, s): "
        f"{r['worst_stalls'][:3]}, GC pause max {r['gc_pause_max']:.3f} s ({r['gc_gen2']} full), "
        f"token fetches {r['token_fetches']}, TCP connections {r['tcp_connections']:,}, events "
        f"{r['event_statuses']}, emulator CPU {r['emulator_cpu_s']:.1f} s, emulator loop stall max "
        f"{r['emulator_stall_max']:.3f} s"
        + (f", first errors: {list(r['errors'].values())[:2]}" if r["errors"] else "")
        for r in scale
    ]
