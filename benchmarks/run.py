"""Benchmarks of this provider against the official one, side by side in one run: ``./dev bench``.

Everything runs against the Airbyte emulator over loopback, in a process of its own
(``emulator_server.py``) so its CPU never counts against the process under test. The official
provider runs in ``.venv-bench`` (``environment.py``). Figures, a module each, checked against the
goals in ``table.py``; this file reads the command line and runs them:

1. Triggerer scale: N triggers in one event loop (``scale.py``).
2. Import cost of the operator, sensor and hook modules (``import_costs.py``).
3. Requests and TCP connections per completed sync, blocking and deferrable (``path_costs.py``).
4. Job end to task end (``path_costs.py``; at scale, ``scale.py``).
5. The same on a real Airflow: scheduler, triggerer and workers (``airflow_e2e.py``; not in --quick).

    python benchmarks/run.py                 # the default run (a few minutes)
    python benchmarks/run.py --quick --no-official   # smoke run, under a minute
    python benchmarks/run.py --n 1000 --official-n 100,300 --interval 10 --job-s 40

Timings depend on the machine and its neighbours: nothing here asserts them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

# This folder's modules: run.py runs as a script.
import airflow_e2e
import environment
import import_costs
import path_costs
import scale
import table
from children import Emulators


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
    args.impls = ["ours"] if args.no_official else ["ours", "official"]
    given = {
        "ours": args.n or ("100,1000" if quick else "100,1000,5000"),
        "official": args.official_n or "100",
    }
    counts = {impl: [int(x) for x in given[impl].split(",") if x] for impl in args.impls}
    # Figure 1's runs: per N in increasing order, the providers measured at it.
    args.scale_runs = {
        n: [i for i in args.impls if n in counts[i]]
        for n in sorted({n for ns in counts.values() for n in ns})
    }
    args.interval = args.interval or (2.0 if quick else 5.0)
    args.job_s = args.job_s or (2.0 if quick else 4.0) * args.interval
    args.import_runs = args.import_runs or (3 if quick else 5)
    intervals = args.path_intervals or ("3" if quick else "3,15,30")
    args.path_intervals = [float(x) for x in intervals.split(",")]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


def measure(args: argparse.Namespace, res: dict[str, Any], workload: scale.Workload) -> None:
    """Every figure not skipped, into ``res``."""
    emu = Emulators()
    try:
        # Figures 3 and 4 first, in the background: once their processes have started they mostly
        # sleep between polls, so the import timings (one core) run meanwhile.
        cases = [] if "paths" in args.skip else path_costs.cases(args.path_intervals, args.impls, args.quick)
        paths = path_costs.start(emu, cases, args.latency, args.token_period) if cases else None
        if "imports" not in args.skip:
            kinds = ["operator"] if args.quick else ["operator", "sensor", "hook"]
            environment.log(f"figure 2: imports, {args.import_runs} fresh processes each")
            res["imports"] = import_costs.measure(args.import_runs, args.impls, kinds)
        if paths:
            res["paths"] = paths()
        if "scale" not in args.skip:  # alone on the machine: nothing else of ours runs meanwhile
            res["scale"] = scale.measure_all(emu, args.scale_runs, workload)
    finally:
        emu.close()
    if not args.quick and "real" not in args.skip:
        environment.log("figure 5: job end to task end on a real Airflow (scheduler, triggerer, workers)")
        res["real"] = airflow_e2e.measure(runs=3, interval=5.0)


def report(res: dict[str, Any], workload: scale.Workload) -> str:
    """The table with what it was measured on above and the notes below."""
    if "imports" in res:
        res["_notes"] = import_costs.notes(res["imports"])  # kept in --json output too
    rows = scale.rows(res["scale"])
    rows += import_costs.rows(res.get("imports") or {})
    rows += path_costs.rows(res.get("paths") or [])
    rows += scale.detect_rows(res["scale"], workload.interval)
    rows += airflow_e2e.rows(res["real"]) if "real" in res else []
    notes = res.get("_notes", []) + scale.notes(res["scale"])
    notes += airflow_e2e.notes(res["real"]) if "real" in res else []
    notes += path_costs.notes(res.get("paths") or [])
    head = [*environment.describe(res["machine"]), workload.describe()]
    return "\n".join(["", *head, "", table.render(table.build(rows)), "", *(f"- {line}" for line in notes)])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    if "official" in args.impls:
        environment.ensure_official_venv()
    info = environment.machine(args.impls)
    workload = scale.Workload(args.interval, args.job_s, args.latency, args.error_rate, args.token_period)
    res: dict[str, Any] = {"machine": info, "workload": asdict(workload), "scale": []}
    measure(args, res, workload)
    info["load_avg_end"] = os.getloadavg()
    print(report(res, workload))
    command = " ".join(argv if argv is not None else sys.argv[1:])
    print(f"\nTotal {time.time() - started:.0f} s. Command: python benchmarks/run.py {command}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
