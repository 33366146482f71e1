"""The benchmark runs from a clean checkout (a quick run, ours only), and its table judges the goals.
Counts are checked; timings never are: these machines are shared and noisy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_goals_judge_ours_and_compare_with_the_official_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table's goals without the official provider's figures (what the smoke run sees) and
    with them: a comparison goal joins the row, and its miss is the row's verdict."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import scale
    import table

    def run(impl: str, lag_p99: float) -> dict[str, object]:
        fields = {"lag_p50": 0.01, "stall_max": 0.2, "cpu_ms_per_poll": 1.0, "kb_per_watch": 20.0}
        return {"impl": impl, "n": 1000, "lag_p99": lag_p99, "missed": 0, **fields}

    ours_only = table.build(scale.rows([run("ours", 0.2)]))
    assert ours_only[1] == [
        "1. N=1,000: poll lag p50 / p99 (s)",
        "0.010 / 0.200",
        "-",
        "-",
        "p99 < 0.5 s",
        "met",
    ]
    assert [line[4:] for line in ours_only[2:]] == [
        ["< 1 s", "met"],
        ["< 1.5 ms", "met"],
        ["< 100 KB", "met"],
        ["0", "met"],
    ]
    both = table.build(scale.rows([run("ours", 0.2), run("official", 3.0)]))
    goal = "p99 < 0.5 s; official p99 >= 20x"
    assert both[1] == [
        "1. N=1,000: poll lag p50 / p99 (s)",
        "0.010 / 0.200",
        "0.010 / 3.000",
        "15.0x",
        goal,
        "MISSED",
    ]
