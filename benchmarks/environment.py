"""Where the benchmarks run: each provider's Python, the official provider's venv, and provenance.

The official provider (``apache-airflow-providers-airbyte``) is installed only into ``.venv-bench``,
from ``constraints/airflow-3.3.txt`` plus ``benchmarks/requirements.txt``, so both providers run on the same
Airflow and libraries; ours runs in the Python that runs the benchmark.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH_VENV = ROOT / ".venv-bench"
PYTHON = {"ours": sys.executable, "official": str(BENCH_VENV / "bin" / "python")}
# Versions printed with the table, per provider.
SHARED = ["apache-airflow", "aiohttp", "requests"]
PACKAGES = {
    "ours": [*SHARED, "airflow-provider-airbyte-sync"],
    "official": [*SHARED, "apache-airflow-providers-airbyte", "airbyte-api", "httpx"],
}


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the results."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=str(ROOT), check=True).stdout


def ensure_official_venv() -> None:
    """Create ``.venv-bench`` with the official provider, once per constraints + requirements."""
    constraints, requirements = ROOT / "constraints" / "airflow-3.3.txt", HERE / "requirements.txt"
    wanted = hashlib.sha256(constraints.read_bytes() + requirements.read_bytes()).hexdigest()
    stamp = BENCH_VENV / ".installed"
    python = Path(PYTHON["official"])
    if stamp.exists() and stamp.read_text().strip() == wanted and python.exists():
        return
    log(f"installing the official provider into {BENCH_VENV.name} (once)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        (BENCH_VENV / ".gitignore").write_text("*\n")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", str(constraints), "-r", str(requirements)], check=True)
    stamp.write_text(wanted)


VERSIONS_CODE = """
import json, sys, importlib.metadata as m
out = {}
for n in sys.argv[1:]:
    try: out[n] = m.version(n)
    except m.PackageNotFoundError: pass
print(json.dumps(out))
"""


def versions(impl: str) -> dict[str, str]:
    """The installed versions of ``PACKAGES[impl]`` in that provider's Python (missing ones left out)."""
    run = subprocess.run(
        [PYTHON[impl], "-c", VERSIONS_CODE, *PACKAGES[impl]], capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def source_state() -> str:
    """The commit measured, and whether the provider's files differ from it."""
    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        changed = git("status", "--porcelain", "--", "airflow_provider_airbyte_sync").splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = [line for line in changed if line.strip()]
    return f"commit {head}" + (f" plus {len(changed)} uncommitted provider file(s)" if changed else "")


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine(impls: list[str]) -> dict[str, Any]:
    """What the figures were measured on: CPU, load, source, and each provider's versions."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_avg_start": os.getloadavg(),
        "source": source_state(),
    }
    return info | {impl: versions(impl) for impl in impls}


def describe(info: dict[str, Any]) -> list[str]:
    """The lines printed above the table (``load_avg_end`` set once the figures are in)."""
    official = f"; official: {json.dumps(info['official'])}" if "official" in info else ""
    return [
        f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, Linux {info['kernel']}; "
        f"load average at start {info['load_avg_start'][0]:.2f}, at end {info['load_avg_end'][0]:.2f}",
        f"Measured: {info['source']}",
        f"Ours: {json.dumps(info['ours'])}{official}",
    ]
