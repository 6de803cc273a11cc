"""The nightly trend: every run folder under ``reports/`` in one index, and each headline metric
drawn over time per build, with its gate, on one self-contained HTML page.

``rig trend reports/`` updates ``trend.parquet`` (a row per run: build, date, lab, rack,
controller, suite, verdict, cycles, the headline numbers, the gates as JSON, each Mac's model
and macOS; :mod:`rig.report.trend_index` reads only the run folders that are new or changed)
and draws ``trend.html`` for all runs or those matching ``--rack``/``--controller``/
``--model``/``--macos``/``--build``. A folder that is not a run folder, or whose files cannot
be read, is listed in the page with the reason and never stops the rest.

Two kinds of chart, because they answer different questions:

- **gated values**: for each headline gate (reconnects in sleep, false disconnect alerts,
  time-to-tunnel p95) the exact value the gate judged in each run, with the gate's limit drawn
  as a line. This is what turned a night red.
- **rates per sleep-hour** (reconnects, false alerts): comparable between a short ad hoc run
  and a long night, so a slow drift shows even while every night still passes.

The pictures are inline SVG (no script, no external asset); every string from a run folder is
escaped.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from rig.report import trend_index
from rig.report.trend_index import Index, as_float
from rig.run_folder import atomic, atomic_write
from rig.report.templating import El, Span, bullets, chart, h, p, page, svg, table

#: (gate metric, chart title, unit) of the gated-value charts, in page order.
HEADLINE_GATES = [
    ("reconnects_in_sleep", "reconnects in sleep (gate value)", ""),
    ("false_alerts", "false disconnect alerts (gate value)", ""),
    ("ttt_s", "time-to-tunnel (gate value)", "s"),
]
#: (rate key in scores.json, chart title).
RATES = [
    ("reconnects_in_sleep", "reconnects in sleep per sleep-hour"),
    ("false_alerts", "false disconnect alerts per sleep-hour"),
]
#: runs listed in the page's table (the charts draw every run; the index holds every run)
TABLE_RUNS = 300
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22"]


def write(reports: Path, out_dir: Path | None = None, **filters) -> tuple[Path, Path, Index]:
    """Update ``trend.parquet`` (every run of the tree, incrementally) and draw ``trend.html``
    for the runs matching ``filters`` (:func:`rig.report.trend_index.select`)."""
    out = Path(out_dir or reports)
    out.mkdir(parents=True, exist_ok=True)
    pq, page = out / "trend.parquet", out / "trend.html"
    idx = trend_index.update(reports, pq)
    with atomic(pq) as tmp:
        idx.runs.to_parquet(tmp, index=False)
    shown = Index(trend_index.select(idx.runs, **filters), idx.skipped, idx.read)
    atomic_write(page, render_html(shown, {k: v for k, v in filters.items() if v}))
    return pq, page, idx


# ---- the page ---------------------------------------------------------------------------------

def _gate_points(runs: pd.DataFrame, metric: str) -> list[tuple]:
    """(when, build, value, limit, op, unit, name, run) of the runs that gated ``metric``."""
    out = []
    for r in runs.itertuples():
        for g in json.loads(r.gates_json or "[]"):
            if g.get("metric") == metric:
                out.append((r.started, r.build, as_float(g.get("value")), as_float(g.get("limit")), g.get("op", ""),
                            g.get("unit", ""), g.get("name", ""), r.run_id))
                break
    return out


def _chart(title: str, points: list[tuple], limits: list[tuple] | None, unit: str, colors: dict) -> dict:
    """points: (iso time, build, value, run id); limits: (iso time, limit, short text, full
    text). Inline SVG: a line and dots per build, the gate as a dashed red line."""
    w, hgt, left, right, top, bottom = 760, 220, 56, 150, 22, 34
    pts = [(pd.Timestamp(t), b, v, rid) for t, b, v, rid in points if t and not math.isnan(v)]
    lims = [(pd.Timestamp(t), v, txt, full) for t, v, txt, full in (limits or []) if t and not math.isnan(v)]
    if not pts:
        return chart(title, Span("no run has this value", "muted"))
    finite = [v for _, _, v, _ in pts if math.isfinite(v)] + [v for _, v, _, _ in lims]
    lo, hi = min(finite + [0.0]), max(finite + [1e-9])
    hi = hi * 1.1 if hi > 0 else 1.0
    t0, t1 = min(q[0] for q in pts), max(q[0] for q in pts)
    span = max((t1 - t0).total_seconds(), 1.0)

    def x(t):
        return float(left + ((t - t0).total_seconds() / span) * (w - left - right) if t1 > t0
                     else left + (w - left - right) / 2)

    def y(v):
        v = hi if not math.isfinite(v) else v
        return float(top + (1 - (v - lo) / ((hi - lo) or 1)) * (hgt - top - bottom))

    out = [El("rect", {"x": left, "y": top, "width": w - left - right, "height": hgt - top - bottom,
                       "fill": "#fafafa", "stroke": "#ccc"})]
    for frac in (0, 0.5, 1):
        v = lo + frac * (hi - lo)
        out.append(El("text", {"x": left - 4, "y": y(v) + 3, "text-anchor": "end", "class": "ax"},
                      text=f"{v:.3g}{unit}"))
    for t in sorted({q[0] for q in pts})[:: max(1, len({q[0] for q in pts}) // 6)]:
        out.append(El("text", {"x": x(t), "y": hgt - bottom + 14, "text-anchor": "middle", "class": "ax"},
                      text=t.strftime("%Y-%m-%d")))
    if lims:
        out += _gate_line(lims, x, y, left, w - right)
    out += _build_lines(pts, colors, x, y, w - right, top + 4, unit)
    return chart(title, svg(out, width=w, height=hgt, cls="chart", title=title, viewbox=f"0 0 {w} {hgt}",
                            aria=title))


def _build_lines(pts: list, colors: dict, x, y, x1: float, legend_y: float, unit: str) -> list:
    """Per build: its runs joined by a line, a dot per run (its value in the tooltip), a key."""
    out = []
    for b in sorted({q[1] for q in pts}):
        mine = sorted((q for q in pts if q[1] == b), key=lambda q: (q[0], q[3]))
        col = colors[b]
        if len(mine) > 1:
            d = " ".join(f"{'M' if i == 0 else 'L'}{x(t):.1f} {y(v):.1f}" for i, (t, _, v, _) in enumerate(mine))
            out.append(El("path", {"d": d, "stroke": col, "stroke-width": "1.5", "fill": "none"}))
        for t, _, v, rid in mine:
            shown = "∞" if not math.isfinite(v) else f"{v:.4g}"
            out.append(El("circle", {"cx": x(t), "cy": y(v), "r": "3.2", "fill": col},
                          title=f"{b} {rid}: {shown}{unit}"))
        legend_y += 14
        out.append(El("rect", {"x": x1 + 4, "y": legend_y - 8, "width": 10, "height": 3, "fill": col}))
        out.append(El("text", {"x": x1 + 18, "y": legend_y - 4, "class": "ax"}, text=b))
    return out


def _gate_line(lims: list, x, y, x0: float, x1: float) -> list:
    """The gate's limit over time as a dashed red line, labelled at its right end."""
    seq = sorted(lims, key=lambda q: q[0])
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(t):.1f} {y(v):.1f}" for i, (t, v, _, _) in enumerate(seq))
    if len(seq) == 1 or all(v == seq[0][1] for _, v, _, _ in seq):
        path = f"M{x0} {y(seq[0][1]):.1f}H{x1}"
    return [El("path", {"d": path, "stroke": "#c62828", "stroke-width": "1.5", "stroke-dasharray": "6 3",
                        "fill": "none"}, title=f"gate {seq[-1][3]}"),
            El("text", {"x": x1 + 4, "y": y(seq[-1][1]) + 3, "class": "gate"}, title=seq[-1][3],
               text=f"gate {seq[-1][2]}")]


def render_html(idx: Index, filters: dict | None = None) -> str:
    runs = idx.runs
    builds = sorted(set(runs["build"])) if len(runs) else []
    colors = {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(builds)}
    blocks = [h(1, f"Nightly trend: {len(runs)} runs, {len(builds)} builds")]
    if filters:
        blocks.append(p("only runs with " + ", ".join(f"{k} = {v}" for k, v in sorted(filters.items())), "muted"))
    if len(runs):
        blocks.append(p(f"from {runs['started'].iloc[0]} to {runs['started'].iloc[-1]}", "muted"))
    blocks.append(h(2, "Gated values"))
    for metric, title, unit in HEADLINE_GATES:
        gp = _gate_points(runs, metric)
        pts = [(t, b, v, rid) for t, b, v, _, _, _, _, rid in gp]
        lims = [(t, lim, f"{op} {lim:g} {u}".strip(), f"{name}: {op} {lim:g} {u}".strip())
                for t, _, _, lim, op, u, name, _ in gp]
        blocks.append(_chart(title, pts, lims, unit, colors))
    blocks.append(h(2, "Rates per sleep-hour"))
    for key, title in RATES:
        col = f"{key}_per_h"
        pts = [(r.started, r.build, getattr(r, col), r.run_id) for r in runs.itertuples()] if len(runs) else []
        blocks.append(_chart(title, pts, None, "", colors))
    listed = runs.iloc[-TABLE_RUNS:]
    rows = [[r.started, r.run_id, r.build, r.rack, r.controller, r.suite,
             Span(r.verdict, "pass" if r.verdict == "pass" else "fail"),
             f"{r.cycles_scored}/{r.cycles}", _n(r.reconnects_in_sleep_per_h), _n(r.false_alerts_per_h),
             _n(r.ttt_p95_s)] for r in listed.itertuples()]
    blocks.append(h(2, "Runs"))
    if len(runs) > len(listed):
        blocks.append(p(f"the latest {len(listed)} of {len(runs)} runs; every run is a row of trend.parquet", "muted"))
    blocks.append(table(["started", "run", "build", "rack", "controller", "suite", "verdict", "cycles scored",
                         "reconnects/h", "false alerts/h", "TTT p95 s"], rows))
    if len(runs):
        blocks += [h(2, "Where the runs came from"),
                   table(["by", "value", "runs"], [list(r) for r in trend_index.breakdown(runs)])]
    if idx.skipped:
        blocks += [h(2, "Folders not indexed"), bullets(f"{name}: {why}" for name, why in idx.skipped)]
    return page(f"rig trend: {len(runs)} runs", "trend.css", blocks)


def _n(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"

