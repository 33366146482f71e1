"""Figure 2: import cost of the operator, sensor and hook modules over ``import airflow.sdk``.

A fresh process per sample, ours and official interleaved so both see the same noise; bytecode is
cached as in a deployment. The notes name the largest self times from ``python -X importtime``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from typing import Any

from environment import PYTHON, ROOT
from table import Row, number

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
PACKAGE = {"ours": "airflow_provider_airbyte_sync", "official": "airflow.providers.airbyte"}
KINDS = {"operator": "operators.airbyte", "sensor": "sensors.airbyte", "hook": "hooks.airbyte"}


def module(impl: str, kind: str) -> str:
    return f"{PACKAGE[impl]}.{KINDS[kind]}"


def python(impl: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``impl``'s Python, importing as deployed: from cached bytecode (pip writes it; a shell may
    have turned it off)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return subprocess.run([PYTHON[impl], *args], capture_output=True, text=True, cwd=ROOT, env=env)


def import_once(impl: str, modules: list[str]) -> dict[str, Any]:
    run = python(impl, "-c", IMPORT_CODE, ",".join(modules))
    if run.returncode != 0:
        raise RuntimeError(f"import of {modules} failed:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def breakdown(impl: str, top: int = 6) -> list[tuple[str, float]]:
    """Modules loaded by the operator's module after ``airflow.sdk``, by self time, in ms."""
    run = python(impl, "-X", "importtime", "-c", f"import airflow.sdk; import {module(impl, 'operator')}")
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


def measure(runs: int, impls: list[str], kinds: list[str]) -> dict[str, Any]:
    """Per kind and provider: the median import time (ms) over ``runs`` fresh processes, and which
    heavy HTTP libraries the import loaded; plus ``breakdown`` per provider."""
    for impl in impls:  # compile bytecode and warm the page cache first
        import_once(impl, [module(impl, kind) for kind in KINDS])
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {(k, i): [] for k in kinds for i in impls}
    for _ in range(runs):
        for kind, impl in samples:
            samples[(kind, impl)].append(import_once(impl, [module(impl, kind)]))
    out: dict[str, Any] = {}
    for (kind, impl), rows in samples.items():
        out.setdefault(kind, {})[impl] = {
            "median_ms": 1000 * statistics.median(r["module_s"] for r in rows),
            "sdk_median_ms": 1000 * statistics.median(r["sdk_s"] for r in rows),
            "heavy": sorted({m for r in rows for m in r["heavy"]}),
            "runs": len(rows),
        }
    out["breakdown"] = {impl: breakdown(impl) for impl in impls}
    return out


def rows(imports: dict[str, Any]) -> list[Row]:
    out = []
    for kind in KINDS:
        if kind in imports:
            ours, official = imports[kind].get("ours"), imports[kind].get("official")
            label = f"2. import {kind} over airflow.sdk (ms, median of {ours['runs'] if ours else '-'})"
            out.append(
                Row("imports.module", label, ours, official, number("median_ms", digits=1), "median_ms")
            )
    return out


def notes(imports: dict[str, Any]) -> list[str]:
    return [
        f"import {impl} operator, largest self times after airflow.sdk (ms): "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in top)
        for impl, top in imports["breakdown"].items()
    ]
