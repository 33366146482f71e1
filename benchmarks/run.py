"""Benchmarks of this provider against the official one, side by side in one run: ``./dev bench``.

Everything runs against the Airbyte emulator over loopback, in a process of its own
(``emulator_server.py``) so its CPU never counts against the process under test. The official
provider (``apache-airflow-providers-airbyte``) is installed only into ``.venv-bench`` (created here
from ``constraints.txt`` plus ``benchmarks/requirements.txt``); its measurements run in that venv's
processes. Figures:

1. Triggerer scale: N ``AirbyteSyncTrigger.run()`` in one event loop (``watch_load.py``).
2. Import cost of the operator, sensor and hook modules over ``import airflow.sdk``.
3. Requests and TCP connections per completed sync, blocking and deferrable (``paths.py``).
4. Job end to task end.
5. The same on a real Airflow: scheduler, triggerer and workers (``airflow_e2e.py``; not in --quick).

    python benchmarks/run.py                 # the default run (a few minutes)
    python benchmarks/run.py --quick --no-official   # smoke run, under a minute
    python benchmarks/run.py --n 1000 --official-n 100,300 --interval 10 --job-s 40

Timings depend on the machine and its neighbours: nothing here asserts them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import airflow_e2e  # this folder: run.py runs as a script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OURS_PY = sys.executable
BENCH_VENV = ROOT / ".venv-bench"
OFFICIAL_PY = str(BENCH_VENV / "bin" / "python")
CONN_ID = "airbyte_bench"
# The official SDK renews a token 60 s before it expires (airbyte_api ClientCredentialsHook).
OFFICIAL_TOKEN_MARGIN_S = 60.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Set-up: the official provider's venv
# ----------------------------------------------------------------------------------------------
def ensure_official_venv() -> None:
    """Create ``.venv-bench`` with the official provider, once per constraints + requirements."""
    wanted = hashlib.sha256(
        (ROOT / "constraints.txt").read_bytes() + (HERE / "requirements.txt").read_bytes()
    ).hexdigest()
    stamp = BENCH_VENV / ".installed"
    if stamp.exists() and stamp.read_text().strip() == wanted and Path(OFFICIAL_PY).exists():
        return
    log(f"installing the official provider into {BENCH_VENV.name} (once)")
    if not Path(OFFICIAL_PY).exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        (BENCH_VENV / ".gitignore").write_text("*\n")
    subprocess.run(
        [
            OFFICIAL_PY,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-c",
            str(ROOT / "constraints.txt"),
            "-r",
            str(HERE / "requirements.txt"),
        ],
        check=True,
    )
    stamp.write_text(wanted)


def versions(python: str, names: list[str]) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m\n"
        f"names = {names!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    run = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def source_state() -> str:
    """The commit measured, and whether the provider's files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=str(ROOT), check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "airflow_provider_airbyte_sync"],
            capture_output=True,
            text=True,
            cwd=str(ROOT),
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = [line for line in changed if line.strip()]
    return f"commit {head}" + (f" plus {len(changed)} uncommitted provider file(s)" if changed else "")


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_avg_start": os.getloadavg(),
        "source": source_state(),
    }


# ----------------------------------------------------------------------------------------------
# Processes
# ----------------------------------------------------------------------------------------------
class LineProcess:
    """A child that speaks one JSON object per line on stdin/stdout; stderr goes to a file."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, logname: str = "child") -> None:
        self.log_path = Path(tempfile.gettempdir()) / f"airbyte-bench-{os.getpid()}-{logname}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            cwd=str(ROOT),
        )

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            tail = self.log_path.read_text()[-3000:]
            raise RuntimeError(f"child exited ({self.proc.returncode}) without answering; its log:\n{tail}")
        return json.loads(line)

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        self.log_path.unlink(missing_ok=True)


class Emulators:
    """The emulator process (``emulator_server.py``), shared by threads."""

    def __init__(self) -> None:
        self.child = LineProcess([OURS_PY, str(HERE / "emulator_server.py")], logname="emulator")
        self.child.read()
        self._lock = threading.Lock()

    def __call__(self, op: str, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.child.send({"op": op, **kwargs})
            answer = self.child.read()
        if not answer.get("ok"):
            raise RuntimeError(f"emulator {op}: {answer.get('error')}\n{answer.get('trace', '')}")
        return answer

    def close(self) -> None:
        try:
            self.child.send({"op": "quit"})
            self.child.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.child.close()


def conn_env(impl: str, info: dict[str, Any], api: str = "public") -> dict[str, str]:
    """``AIRFLOW_CONN_AIRBYTE_BENCH`` (JSON) for a provider, pointed at one emulator."""
    if impl == "official":
        conn = {
            "conn_type": "airbyte",
            "host": info["public_api_url"],
            "login": info["client_id"],
            "password": info["client_secret"],
            "schema": info["public_api_url"] + "/applications/token",
        }
    elif api == "public":
        conn = {
            "conn_type": "airbyte_sync",
            "host": info["public_api_url"],
            "login": info["client_id"],
            "password": info["client_secret"],
        }
    else:
        conn = {
            "conn_type": "airbyte_sync",
            "host": info["config_api_url"],
            "login": info["client_id"],
            "password": info["client_secret"],
            "extra": json.dumps(
                {
                    "auth_type": "client_credentials",
                    "token_url": info["public_api_url"] + "/applications/token",
                }
            ),
        }
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(conn)
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return env


def python_of(impl: str) -> str:
    return OURS_PY if impl == "ours" else OFFICIAL_PY


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# ----------------------------------------------------------------------------------------------
# Figure 2: import cost
# ----------------------------------------------------------------------------------------------
IMPORT_CODE = """
import json, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
for name in sys.argv[1].split(","):
    __import__(name)
t2 = time.perf_counter()
heavy = [m for m in ("requests", "aiohttp", "httpx", "airbyte_api") if m in sys.modules]
print(json.dumps({"sdk_s": t1 - t0, "module_s": t2 - t1, "heavy": heavy}))
"""

OURS_MODULES = {
    "operator": "airflow_provider_airbyte_sync.operators.airbyte",
    "sensor": "airflow_provider_airbyte_sync.sensors.airbyte",
    "hook": "airflow_provider_airbyte_sync.hooks.airbyte",
}
OFFICIAL_MODULES = {
    "operator": "airflow.providers.airbyte.operators.airbyte",
    "sensor": "airflow.providers.airbyte.sensors.airbyte",
    "hook": "airflow.providers.airbyte.hooks.airbyte",
}


def bytecode_env() -> dict[str, str]:
    """Imports as deployed: from cached bytecode (pip writes it; a shell may have turned it off)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def import_once(python: str, modules: str) -> dict[str, Any]:
    run = subprocess.run(
        [python, "-c", IMPORT_CODE, modules],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=bytecode_env(),
    )
    if run.returncode != 0:
        raise RuntimeError(f"import of {modules} failed:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def import_breakdown(python: str, module: str, top: int = 6) -> list[tuple[str, float]]:
    """Modules loaded by ``module`` after ``airflow.sdk``, by self time (``-X importtime``), in ms."""
    code = f"import airflow.sdk; import {module}"
    run = subprocess.run(
        [python, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=bytecode_env(),
    )
    lines = run.stderr.splitlines()
    start = max((i for i, line in enumerate(lines) if line.rstrip().endswith("| airflow.sdk")), default=-1)
    rows = []
    for line in lines[start + 1 :]:
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:"):
            try:
                rows.append((parts[2].strip(), int(parts[0].split(":")[1]) / 1000))
            except ValueError:
                continue
    return sorted(rows, key=lambda r: -r[1])[:top]


def import_costs(runs: int, official: bool, kinds: list[str]) -> dict[str, Any]:
    impls = [("ours", OURS_MODULES)] + ([("official", OFFICIAL_MODULES)] if official else [])
    cases = []
    for kind in kinds:
        for impl, mods in impls:
            names = [mods[k] for k in kind.split("+")]
            cases.append((impl, kind, ",".join(names)))
    for impl, _mods in impls:  # compile bytecode and warm the page cache first
        import_once(python_of(impl), ",".join(_mods.values()))
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {(i, k): [] for i, k, _ in cases}
    for _ in range(runs):  # interleaved, so both providers see the same noise
        for impl, kind, modules in cases:
            samples[(impl, kind)].append(import_once(python_of(impl), modules))
    out: dict[str, Any] = {}
    for (impl, kind), rows in samples.items():
        out.setdefault(kind, {})[impl] = {
            "median_ms": 1000 * statistics.median(r["module_s"] for r in rows),
            "sdk_median_ms": 1000 * statistics.median(r["sdk_s"] for r in rows),
            "heavy": sorted({m for r in rows for m in r["heavy"]}),
            "runs": len(rows),
        }
    out["breakdown"] = {impl: import_breakdown(python_of(impl), mods["operator"]) for impl, mods in impls}
    return out


# ----------------------------------------------------------------------------------------------
# Figure 1: triggerer scale
# ----------------------------------------------------------------------------------------------
@dataclass
class Workload:
    interval: float
    job_s: float
    latency: float
    error_rate: float
    token_period: float
    pending_s: float = 0.5

    @property
    def span(self) -> float:
        """Seconds from the first watch's start to the last job's end: watches start spread over one
        interval and each job runs ``job_s`` plus up to one interval more (so its end falls at a
        random phase of its watch's poll cycle)."""
        return 2 * self.interval + self.pending_s + self.job_s


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


def scale_run(emu: Emulators, impl: str, n: int, w: Workload) -> dict[str, Any]:
    info = emu(
        "new",
        name="scale",
        kwargs={
            "latency_s": w.latency,
            "error_rate": w.error_rate,
            "auth": "token",
            "token_lifetime_s": w.token_period,
            "seed": 7,
        },
    )
    try:
        serial = n * (w.latency + 0.05) if impl == "official" else 0.0  # the official loop is serial
        deadline = w.span + 3 * w.interval + 60 + serial * (w.job_s / w.interval + 4)
        child = LineProcess(
            [
                python_of(impl),
                str(HERE / "watch_load.py"),
                "--impl",
                impl,
                "--conn-id",
                CONN_ID,
                "--interval",
                str(w.interval),
                "--deadline-s",
                str(deadline),
            ],
            env=conn_env(impl, info),
            logname=f"watch-{impl}-{n}",
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
                pending_s=w.pending_s,
                running_jitter_s=w.interval,
            )["jobs"]
            child.send({"jobs": jobs})
            result = child.read()
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
    tokens = sum(v for k, v in stats["by_endpoint"].items() if k.endswith("applications/token"))
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
        "token_fetches": tokens,
        "tcp_connections": stats["tcp_connections"],
        "requests": stats["requests"],
        "emulator_stall_max": lags["stall_max"],
        "emulator_cpu_s": emulator_cpu,
    }


# ----------------------------------------------------------------------------------------------
# Figures 3 and 4: requests, TCP connections and detection delay per sync
# ----------------------------------------------------------------------------------------------
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


def ending_poll(interval: float) -> int:
    """The poll after whose answer the job ends: the second, or the first after the trigger's hold.

    A deferred trigger holds an ending seen within ``DEFER_SETTLE_S`` of the deferral (an Airflow
    3.3 race, see ``tasks.py``); figure 4 measures how fast a poll sees the end, so the job ends
    after the hold, in every case alike (the hold is a fixed wait, stated in the README).
    """
    from airflow_provider_airbyte_sync.tasks import DEFER_SETTLE_S

    return max(2, math.ceil(DEFER_SETTLE_S / interval) + 1)


def run_path(
    emu: Emulators, case: PathCase, latency: float, token_period: float, barrier: threading.Barrier
) -> None:
    name = case.name
    info = emu(
        "new", name=name, kwargs={"latency_s": latency, "auth": "token", "token_lifetime_s": token_period}
    )
    # The job ends 50 ms after the answer to a poll that finds it running (the worst phase: only
    # the next poll, one interval later, can see the end). It would end by itself later.
    connection_id = emu("add_connection", name=name, pending_s=0.5, running_s=6 * case.interval + 10)[
        "connection_id"
    ]
    emu("end_jobs_after_poll", name=name, poll=ending_poll(case.interval))
    env = conn_env(case.impl, info, case.api)
    py = python_of(case.impl)
    worker = LineProcess(
        [py, str(HERE / "paths.py"), "--impl", case.impl, "--role", "worker", "--conn-id", CONN_ID],
        env=env,
        logname=f"{name}-worker",
    )
    triggerer = (
        LineProcess(
            [py, str(HERE / "paths.py"), "--impl", case.impl, "--role", "triggerer", "--conn-id", CONN_ID],
            env=env,
            logname=f"{name}-triggerer",
        )
        if case.deferrable
        else None
    )
    try:
        try:
            worker.read()
            if triggerer is not None:
                triggerer.read()
        except Exception:
            barrier.abort()  # the other cases must not wait for this one
            raise
        barrier.wait()
        emu("reset", name=name)
        worker.send(
            {"connection_id": connection_id, "deferrable": case.deferrable, "interval": case.interval}
        )
        done = worker.read()
        if "error" in done:
            raise RuntimeError(f"{name} worker: {done['error']}")
        worker_stats = emu("stats", name=name)
        end_time = done["task_end"]
        if triggerer is not None:
            kwargs = dict(done["kwargs"])
            kwargs["poll_interval"] = case.interval  # the official operator hard-codes 60 s
            triggerer.send({"classpath": done["classpath"], "kwargs": kwargs})
            fired = triggerer.read()
            if "error" in fired:
                raise RuntimeError(f"{name} triggerer: {fired['error']}")
            event = fired["events"][0]
            end_time = event["time"]
            job_id = int(kwargs["job_id"])
            case.result["event_status"] = event["status"]
            case.result["events"] = len(fired["events"])
        else:
            job_id = int(done["job_id"])
        stats = emu("stats", name=name)
        ends = emu("job_ends", name=name, ids=[job_id])
    finally:
        worker.close()
        if triggerer is not None:
            triggerer.close()
        emu("stop", name=name)
    by = stats["by_endpoint"]
    case.result.update(
        {
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
    )


def is_poll(endpoint: str) -> bool:
    """A job read: public ``GET .../jobs/{jobId}`` or config ``jobs/get_without_logs``/``get_light``."""
    method, _, path = endpoint.partition(" ")
    if method == "GET" and path.endswith("jobs/{jobId}"):
        return True
    return path.endswith(("jobs/get_without_logs", "jobs/get_light"))


def path_costs(
    emu: Emulators,
    cases: list[PathCase],
    latency: float,
    token_period: float,
    started: threading.Event | None = None,
) -> None:
    """Run every case at once, each against its own emulator; ``started`` is set once every process
    has imported everything and the syncs begin (from then on they mostly sleep)."""
    barrier = threading.Barrier(len(cases), action=started.set if started else None, timeout=300)
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        futures = [pool.submit(run_path, emu, case, latency, token_period, barrier) for case in cases]
        for case, future in zip(cases, futures, strict=True):
            try:
                future.result()
            except Exception as exc:  # one broken case must not hide the others
                barrier.abort()
                case.result["error"] = str(exc)[:2000]
                log(f"{case.name} failed: {exc}")


# ----------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def ratio(official: float | None, ours: float | None) -> str:
    if official is None or ours is None or any(math.isnan(v) for v in (official, ours)):
        return "-"
    if ours <= 0:
        return "inf" if official > 0 else "-"
    r = official / ours
    return f"{r:,.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "MISSED")


def lag_cell(r: dict[str, Any] | None) -> str:
    return f"{fmt(r['lag_p50'], 3)} / {fmt(r['lag_p99'], 3)}" if r else "-"


def missed_cell(r: dict[str, Any] | None) -> str:
    return f"{r['missed']} of {r['n']}" if r else "-"


def detect_cell(c: dict[str, Any] | None) -> str:
    return fmt(c.get("detect_s")) if c and "error" not in c else "-"


def build_table(res: dict[str, Any], args: argparse.Namespace) -> list[list[str]]:
    rows: list[list[str]] = [["figure", "ours", "official", "official/ours", "goal", "verdict"]]
    w = res["workload"]
    scale = {(r["impl"], r["n"]): r for r in res["scale"]}
    lag_goal = {1000: 0.5, 5000: 2.0}
    for n in args.n:
        ours = scale.get(("ours", n))
        off = scale.get(("official", n))
        if ours is None and off is None:
            continue

        def get(r: dict[str, Any] | None, key: str) -> Any:
            return r.get(key) if r else None

        lag = f"1. N={n:,}: poll lag p50 / p99 (s)"
        goal_p99 = lag_goal.get(n)
        goal_txt = f"p99 < {goal_p99} s" if goal_p99 else ""
        ok = None
        if ours and goal_p99:
            ok = ours["lag_p99"] < goal_p99
        if ours and off:
            goal_txt += ("; " if goal_txt else "") + "official p99 >= 20x"
            ok = (ok is not False) and off["lag_p99"] >= 20 * ours["lag_p99"]
        rows.append(
            [
                lag,
                lag_cell(ours),
                lag_cell(off),
                ratio(get(off, "lag_p99"), get(ours, "lag_p99")),
                goal_txt,
                verdict(ok),
            ]
        )
        big = n >= 1000
        rows.append(
            [
                f"1. N={n:,}: longest loop stall (s)",
                fmt(get(ours, "stall_max"), 3),
                fmt(get(off, "stall_max"), 3),
                ratio(get(off, "stall_max"), get(ours, "stall_max")),
                "< 1 s" if n == 1000 else "",
                verdict(ours["stall_max"] < 1.0 if ours and n == 1000 else None),
            ]
        )
        rows.append(
            [
                f"1. N={n:,}: CPU per poll (ms)",
                fmt(get(ours, "cpu_ms_per_poll")),
                fmt(get(off, "cpu_ms_per_poll")),
                ratio(get(off, "cpu_ms_per_poll"), get(ours, "cpu_ms_per_poll")),
                "< 1.5 ms" if n == 1000 else "",
                verdict(ours["cpu_ms_per_poll"] < 1.5 if ours and n == 1000 else None),
            ]
        )
        rows.append(
            [
                f"1. N={n:,}: memory per watch (KB, RSS)",
                fmt(get(ours, "kb_per_watch"), 1),
                fmt(get(off, "kb_per_watch"), 1),
                ratio(get(off, "kb_per_watch"), get(ours, "kb_per_watch")),
                "< 100 KB" if n == 1000 else "",
                verdict(ours["kb_per_watch"] < 100 if ours and n == 1000 else None),
            ]
        )
        rows.append(
            [
                f"1. N={n:,}: endings missed",
                missed_cell(ours),
                missed_cell(off),
                "-",
                "0" if big else "",
                verdict(ours["missed"] == 0 if ours and big else None),
            ]
        )
    imp = res.get("imports") or {}
    for kind in ("operator", "sensor", "hook", "operator+sensor"):
        row = imp.get(kind)
        if not row:
            continue
        o, f = row.get("ours"), row.get("official")
        om = o["median_ms"] if o else None
        fm = f["median_ms"] if f else None
        ok = None
        goal = ""
        if kind in ("operator", "sensor", "hook") and om is not None:
            goal = "< 15 ms" + ("; < 1/4 official" if fm is not None else "")
            ok = om < 15 and (fm is None or om < fm / 4)
        rows.append(
            [
                f"2. import {kind} over airflow.sdk (ms, median of {o['runs'] if o else '-'})",
                fmt(om, 1),
                fmt(fm, 1),
                ratio(fm, om),
                goal,
                verdict(ok),
            ]
        )
    paths = res.get("paths") or []
    for impl, top in (imp.get("breakdown") or {}).items():
        res.setdefault("_notes", []).append(
            f"import {impl} operator, largest self times after airflow.sdk (ms): "
            + ", ".join(f"{name} {ms:.1f}" for name, ms in top)
        )
    by_key = {(c["impl"], c["deferrable"], c["api"], c["interval"]): c for c in paths}
    for deferrable in (False, True):
        for api in ("public", "config"):
            for interval in [*args.path_intervals, 3.0]:
                o = by_key.pop(("ours", deferrable, api, interval), None)
                f = by_key.pop(("official", deferrable, api, interval), None)
                if o is None and f is None:
                    continue
                mode = "deferrable (submit + trigger)" if deferrable else "blocking (operator)"
                label = f"3. {mode}, {api} API, {interval:g} s: requests / TCP per sync"

                def cell(c: dict[str, Any] | None) -> str:
                    if not c:
                        return "-"
                    if "error" in c:
                        return "error"
                    return f"{c['requests']} / {c['tcp']}"

                ok = None
                if o and "error" not in o:
                    ok = o["tcp"] <= 2 and o["log_downloads"] == 0 and o["job_status"] == "succeeded"
                rows.append([label, cell(o), cell(f), "-", "TCP <= 2; no jobs/get", verdict(ok)])
                label = (
                    f"4. {'trigger event' if deferrable else 'task end'} after job end, {api} API, "
                    f"{interval:g} s (s)"
                )
                ok = (o["detect_s"] <= interval + 1) if o and "error" not in o else None
                rows.append(
                    [label, detect_cell(o), detect_cell(f), "-", f"<= {interval + 1:g} s", verdict(ok)]
                )
    if paths:
        ours_paths = [c for c in paths if c["impl"] == "ours" and "error" not in c]
        off_paths = [c for c in paths if c["impl"] == "official" and "error" not in c]
        downloads = sum(c["log_downloads"] for c in ours_paths)
        polls = sum(c["polls"] for c in ours_paths)
        rows.append(
            [
                "3. attempt-log downloads (config jobs/get) while polling, all syncs above",
                f"{downloads} of {polls} polls",
                f"{sum(c['log_downloads'] for c in off_paths)} of {sum(c['polls'] for c in off_paths)} polls"
                if off_paths
                else "-",
                "-",
                "0",
                verdict(downloads == 0 if ours_paths else None),
            ]
        )
    for r in res["scale"]:
        if r["impl"] == "ours":
            off = scale.get(("official", r["n"]))
            rows.append(
                [
                    f"4. trigger event after job end, N={r['n']:,}, {w['interval']:g} s: p50 / p99 (s)",
                    f"{fmt(r['detect_p50'])} / {fmt(r['detect_p99'])}",
                    f"{fmt(off['detect_p50'])} / {fmt(off['detect_p99'])}" if off else "-",
                    ratio(off["detect_p99"], r["detect_p99"]) if off else "-",
                    f"<= {w['interval'] + 1:g} s",
                    verdict(r["detect_p99"] <= w["interval"] + 1),
                ]
            )
    real = res.get("real")
    for mode in ("blocking", "deferred") if real else ():
        label = f"5. real Airflow, {mode}, {real['interval']:g} s polls, {real['runs']} runs"
        part = real[mode]
        median_max = "(s, median / max)"
        total = airflow_e2e.summary(part["total"])
        share = airflow_e2e.summary(part["airflow"])
        rows.append([f"{label}: job end to task end {median_max}", total, "-", "-", "", "-"])
        rows.append(
            [f"{label}: of it, Airflow's share after the poll {median_max}", share, "-", "-", "", "-"]
        )
    return rows


def render(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(r)) + " |")
        if k == 0:
            lines.append("|" + "|".join("-" * (wd + 2) for wd in widths) + "|")
    return "\n".join(lines)


def notes(res: dict[str, Any]) -> list[str]:
    out = list(res.get("_notes", []))
    for r in res["scale"]:
        out.append(
            f"scale {r['impl']} N={r['n']:,}: {r['polls']:,} polls in {r['wall_s']:.0f} s, "
            f"CPU {r['cpu_s']:.1f} s, lag max {fmt(r['lag_max'])} s over {r['lag_samples']:,} polls, "
            f"event after job end max {fmt(r['detect_max'])} s, RSS {r['rss_base_mb']:.0f} -> "
            f"{r['rss_peak_mb']:.0f} MB, stalls > 1 s: {r['stalls_over_1s']}, worst stalls (t, s): "
            f"{r['worst_stalls'][:3]}, GC pause max {r['gc_pause_max']:.3f} s ({r['gc_gen2']} full), "
            f"token fetches {r['token_fetches']}, TCP connections {r['tcp_connections']:,}, events "
            f"{r['event_statuses']}, emulator CPU {r['emulator_cpu_s']:.1f} s, emulator loop stall max "
            f"{r['emulator_stall_max']:.3f} s"
            + (f", first errors: {list(r['errors'].values())[:2]}" if r["errors"] else "")
        )
    real = res.get("real")
    for mode in ("blocking", "deferred") if real else ():
        part = real[mode]
        out.append(
            f"real Airflow {mode}: job end to the poll that saw it {part['seen']} s, then to the task's "
            f"recorded end {part['airflow']} s (Airflow's share), runs failed: {real['failed']}"
        )
    for c in res.get("paths") or []:
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


# ----------------------------------------------------------------------------------------------
def path_cases(args: argparse.Namespace, official: bool) -> list[PathCase]:
    """Blocking at each interval but the deferred default (15 s), deferrable at each; the official
    provider at 3 s and 30 s; our config-API dialect at 3 s (to show polls skip the attempt logs)."""
    cases = []
    for interval in args.path_intervals:
        if interval != 15.0:
            cases.append(PathCase("ours", False, interval))
        cases.append(PathCase("ours", True, interval))
        if official and (interval in (3.0, 30.0) or args.quick):
            cases += [PathCase("official", False, interval), PathCase("official", True, interval)]
    if not args.quick:
        cases += [PathCase("ours", False, 3.0, "config"), PathCase("ours", True, 3.0, "config")]
    return cases


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: N=100 and 1,000 at 2 s polls, imports x3, 3 s paths only (< 60 s "
        "with --no-official)",
    )
    p.add_argument("--no-official", action="store_true", help="skip the official provider (no .venv-bench)")
    p.add_argument("--n", help="watch counts for our trigger (default 100,1000,5000)")
    p.add_argument("--official-n", help="watch counts for the official trigger (default 100)")
    p.add_argument("--interval", type=float, help="trigger poll interval, s (default 5)")
    p.add_argument("--job-s", type=float, help="running time of each job, s (default 4 intervals)")
    p.add_argument("--latency", type=float, default=0.2, help="emulator answer delay, s (0.2)")
    p.add_argument("--error-rate", type=float, default=0.01, help="share of answers that are 503 (0.01)")
    p.add_argument("--token-period", type=float, default=180.0, help="token lifetime, s (180)")
    p.add_argument("--import-runs", type=int, help="fresh processes per import figure (default 5)")
    p.add_argument("--path-intervals", help="poll intervals of figure 3, s (default 3,15,30)")
    p.add_argument("--skip", default="", help="comma list of figures to skip: scale,imports,paths,real")
    p.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    args = p.parse_args(argv)
    quick = args.quick
    args.n = [int(x) for x in (args.n or ("100,1000" if quick else "100,1000,5000")).split(",") if x]
    args.official_n = [] if args.no_official else [int(x) for x in (args.official_n or "100").split(",") if x]
    args.ours_n = args.n
    args.n = sorted(set(args.n) | set(args.official_n))
    args.interval = args.interval or (2.0 if quick else 5.0)
    args.job_s = args.job_s or (2.0 if quick else 4.0) * args.interval
    args.import_runs = args.import_runs or (3 if quick else 5)
    intervals = args.path_intervals or ("3" if quick else "3,15,30")
    args.path_intervals = [float(x) for x in intervals.split(",")]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    official = not args.no_official
    if official:
        ensure_official_venv()
    info = machine()
    pkgs = ["apache-airflow", "aiohttp", "requests"]
    info["ours"] = versions(OURS_PY, [*pkgs, "airflow-provider-airbyte-sync"])
    if official:
        info["official"] = versions(
            OFFICIAL_PY, [*pkgs, "apache-airflow-providers-airbyte", "airbyte-api", "httpx"]
        )
    workload = Workload(args.interval, args.job_s, args.latency, args.error_rate, args.token_period)
    res: dict[str, Any] = {
        "machine": info,
        "workload": {
            "interval": workload.interval,
            "job_s": workload.job_s,
            "latency": workload.latency,
            "error_rate": workload.error_rate,
            "token_period": workload.token_period,
        },
        "scale": [],
    }

    emu = Emulators()
    try:
        # Figures 3 and 4 first, in the background: once their processes have started they mostly
        # sleep between polls, so the import timings (one core) run meanwhile.
        cases = path_cases(args, official) if "paths" not in args.skip else []
        paths_started = threading.Event()
        paths = threading.Thread(
            target=path_costs, args=(emu, cases, args.latency, args.token_period, paths_started)
        )
        if cases:
            log(f"figures 3 and 4: {len(cases)} syncs in parallel, each against its own emulator")
            paths.start()
            while not paths_started.wait(0.5) and paths.is_alive():
                pass
        if "imports" not in args.skip:
            kinds = ["operator"] if args.quick else ["operator", "sensor", "hook"]
            log(f"figure 2: imports, {args.import_runs} fresh processes each")
            res["imports"] = import_costs(args.import_runs, official, kinds)
        if cases:
            paths.join()
            res["paths"] = [
                {
                    "name": c.name,
                    "impl": c.impl,
                    "deferrable": c.deferrable,
                    "api": c.api,
                    "interval": c.interval,
                    **c.result,
                }
                for c in cases
            ]
        if "scale" not in args.skip:  # alone on the machine: nothing else of ours runs meanwhile
            for n in args.n:
                impls = (["ours"] if n in args.ours_n else []) + (
                    ["official"] if n in args.official_n else []
                )
                for impl in impls:
                    log(
                        f"figure 1: {impl} trigger, N={n:,}, poll every {workload.interval:g} s, jobs "
                        f"{workload.job_s:g} s"
                    )
                    res["scale"].append(scale_run(emu, impl, n, workload))
    finally:
        emu.close()
    if not args.quick and "real" not in args.skip:
        log("figure 5: job end to task end on a real Airflow (scheduler, triggerer, workers)")
        res["real"] = airflow_e2e.measure(runs=3, interval=5.0)

    info["load_avg_end"] = os.getloadavg()
    rows = build_table(res, args)
    print()
    print(
        f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, Linux {info['kernel']}; "
        f"load average at start {info['load_avg_start'][0]:.2f}, at end {info['load_avg_end'][0]:.2f}"
    )
    print(f"Measured: {info['source']}")
    print(
        f"Ours: {json.dumps(info['ours'])}"
        + (f"; official: {json.dumps(info['official'])}" if official else "")
    )
    print(
        f"Figure 1 workload: watches start spread evenly over one poll interval of {workload.interval:g} "
        f"s; each job pends {workload.pending_s:g} s then runs {workload.job_s:g} s; the emulator (another "
        f"process) answers after {workload.latency:g} s, {100 * workload.error_rate:g}% of answers 503; "
        f"client-credentials tokens live {workload.token_period:g} s (the first one of each run is "
        "handed out part-aged, so the client renews it mid-run). Poll lag is read from the "
        "emulator's timestamps: next poll read - (previous 200 answer written + interval)."
    )
    print()
    print(render(rows))
    print()
    for line in notes(res):
        print(f"- {line}")
    print(
        f"\nTotal {time.time() - started:.0f} s. Command: python benchmarks/run.py "
        + " ".join(argv if argv is not None else sys.argv[1:])
    )
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
