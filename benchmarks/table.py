"""The printed table: each figure's rows, ours beside the official provider's, checked against goals.

Figures describe their rows (``Row``); the goals are data, in ``GOALS`` alone; ``build`` joins the
two without knowing any figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
HEADER = ["figure", "ours", "official", "official/ours", "goal", "verdict"]


@dataclass(frozen=True)
class Row:
    """One line: a figure of ours and of the official provider (``None`` where not measured)."""

    figure: str  # the key goals select rows by, e.g. "scale.lag"
    label: str
    ours: Record | None
    official: Record | None
    cell: Callable[[Record], str]  # how one provider's record shows
    ratio_of: str | None = None  # the field shown as official / ours
    params: Record = field(default_factory=dict)  # what goals may depend on: n, interval ...


@dataclass(frozen=True)
class Goal:
    """A goal of the rows of ``figure`` that ``when`` selects. ``met`` sees a row whose ours is
    present and not an error; an ``official`` goal (a comparison) applies only with both present."""

    figure: str
    text: str | Callable[[Record], str]  # a callable formats the text from the row's params
    met: Callable[[Row], bool]
    when: Callable[[Record], bool] = lambda params: True
    official: bool = False


def _n(value: int) -> Callable[[Record], bool]:
    return lambda params: params["n"] == value


def _within_interval(params: Record) -> str:
    return f"<= {params['interval'] + 1:g} s"


GOALS = [
    Goal("scale.lag", "p99 < 0.5 s", lambda r: r.ours["lag_p99"] < 0.5, when=_n(1000)),
    Goal("scale.lag", "p99 < 2.0 s", lambda r: r.ours["lag_p99"] < 2.0, when=_n(5000)),
    Goal(
        "scale.lag",
        "official p99 >= 20x",
        lambda r: r.official["lag_p99"] >= 20 * r.ours["lag_p99"],
        official=True,
    ),
    Goal("scale.stall", "< 1 s", lambda r: r.ours["stall_max"] < 1.0, when=_n(1000)),
    Goal("scale.cpu", "< 1.5 ms", lambda r: r.ours["cpu_ms_per_poll"] < 1.5, when=_n(1000)),
    Goal("scale.memory", "< 100 KB", lambda r: r.ours["kb_per_watch"] < 100, when=_n(1000)),
    Goal("scale.missed", "0", lambda r: r.ours["missed"] == 0, when=lambda p: p["n"] >= 1000),
    Goal("imports.module", "< 15 ms", lambda r: r.ours["median_ms"] < 15),
    Goal(
        "imports.module",
        "< 1/4 official",
        lambda r: r.ours["median_ms"] < r.official["median_ms"] / 4,
        official=True,
    ),
    Goal(
        "paths.requests",
        "TCP <= 2; no jobs/get",
        lambda r: r.ours["tcp"] <= 2 and r.ours["log_downloads"] == 0 and r.ours["job_status"] == "succeeded",
    ),
    Goal("paths.log_downloads", "0", lambda r: r.ours["log_downloads"] == 0),
    # Figure 4: a poll sees the job's end within one interval (plus the time to answer and act).
    Goal("paths.detect", _within_interval, lambda r: r.ours["detect_s"] <= r.params["interval"] + 1),
    Goal("scale.detect", _within_interval, lambda r: r.ours["detect_p99"] <= r.params["interval"] + 1),
]


def pair_up(records: list[Record], key: Callable[[Record], Any]) -> dict[Any, list[Record | None]]:
    """Per ``key``, in the order first seen: ``[ours, official]`` (``None`` where not measured)."""
    out: dict[Any, list[Record | None]] = {}
    for record in records:
        out.setdefault(key(record), [None, None])[record["impl"] == "official"] = record
    return out


def fmt(value: Any, digits: int = 2) -> str:
    """A value as a cell: ``-`` for none or NaN, ``digits`` decimals, none from 100 on."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def number(*keys: str, digits: int = 2) -> Callable[[Record], str]:
    """A cell showing fields of the record: ``a / b``."""
    return lambda record: " / ".join(fmt(record.get(key), digits) for key in keys)


def ratio(official: float | None, ours: float | None) -> str:
    """``official / ours`` as ``N.NNx``, ``-`` where either is missing."""
    if official is None or ours is None or any(math.isnan(v) for v in (official, ours)):
        return "-"
    if ours <= 0:
        return "inf" if official > 0 else "-"
    r = official / ours
    return f"{r:,.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def line(row: Row, goals: list[Goal]) -> list[str]:
    """A row's cells: its goals' texts joined by ``;``, met only if all of them are."""
    both = row.ours is not None and row.official is not None
    mine = [g for g in goals if g.figure == row.figure and g.when(row.params) and (both or not g.official)]
    goal = "; ".join(g.text if isinstance(g.text, str) else g.text(row.params) for g in mine)
    checked = bool(mine) and row.ours is not None and "error" not in row.ours
    verdict = "-" if not checked else "met" if all(g.met(row) for g in mine) else "MISSED"
    ours, official = (row.cell(r) if r is not None else "-" for r in (row.ours, row.official))
    shown = "-"
    if row.ratio_of and both:
        shown = ratio(row.official.get(row.ratio_of), row.ours.get(row.ratio_of))
    return [row.label, ours, official, shown, goal, verdict]


def build(rows: list[Row], goals: list[Goal] = GOALS) -> list[list[str]]:
    """The header and one line per row, in the order given."""
    return [HEADER, *(line(row, goals) for row in rows)]


def render(rows: list[list[str]]) -> str:
    """A Markdown table, columns padded to their widest cell."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(r)) + " |")
        if k == 0:
            lines.append("|" + "|".join("-" * (wd + 2) for wd in widths) + "|")
    return "\n".join(lines)
