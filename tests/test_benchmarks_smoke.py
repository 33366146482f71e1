"""The benchmark runs from a clean checkout (a quick run, ours only). Counts are checked; timings never
are: these machines are shared and noisy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_runs_and_counts_hold(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--no-official", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "| figure" in result.stdout  # the table is printed
    figures = json.loads(out.read_text())
    for run in figures["scale"]:
        assert run["missed"] == 0 and run["event_statuses"] == {"succeeded": run["n"]}, run
    for path in figures["paths"]:
        assert path["job_status"] == "succeeded" and path["log_downloads"] == 0, path
        assert path["tcp"] <= 2, path  # keep-alive: one connection per process that talks to Airbyte
