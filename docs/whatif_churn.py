"""What-if: churn per night against the gateway's DPD timeout and the Macs' dark-wake interval.

For each pair (DPD setting, dark-wake interval) the twin simulates the same nights in batch mode
(``rig.twin.whatif.run_cell`` on the twin's built-in numbers: 2 Macs, ``--nights`` nights each, 8 cycles of a 1-hour sleep, build
``naive`` unless ``--build``), the rig scores the run folders exactly as it scores a rack's
(``derive_run``), and the script prints per Mac-night:

- **reconnects in sleep** (the churn the telemetry sees), and
- **false disconnect alerts** (what customers see),

as Markdown tables, checks every cell against the twin's ground truth, and writes a line chart
(an SVG written by hand: no plotting dependency) to ``docs/whatif-churn.svg``.

Run: ``python docs/whatif_churn.py [--nights N] [--build MODEL] [--svg PATH]`` (about a minute
with the defaults; the simulation is a few seconds of it, the rest is scoring).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rig.twin.profile import builtin  # noqa: E402
from rig.twin.whatif import run_cell  # noqa: E402

DPD_S = [10, 30, 60, 120, 300]
INTERVAL_MIN = [5, 15, 30, 60]
COLOURS = ["#1b6ca8", "#d1495b", "#2e8540", "#8e6c8a"]


def cell(build: str, dpd: int, minutes: int, nights: int, seed: int, tmp: Path) -> dict:
    """One cell through the rig's own what-if (``rig.twin.whatif``) on the twin's built-in numbers:
    the DPD setting as its teardown (3x), the dark-wake interval as a mean."""
    c = run_cell(None, builtin(), {"dpd-timeout": 3.0 * dpd, "dark-wake-interval": minutes * 60.0}, build,
                 2, nights, 8, 3600.0, seed, tmp / f"{dpd}-{minutes}")
    return {"reconnects": c.reconnects, "false_alerts": c.false_alerts, "agrees": c.agrees}


def table(grid: dict, metric: str) -> str:
    head = "| DPD setting (teardown) | " + " | ".join(f"dark wake every {m} min" for m in INTERVAL_MIN) + " |"
    rule = "|---|" + "---:|" * len(INTERVAL_MIN)
    rows = [f"| {d} s ({3 * d} s) | " + " | ".join(f"{grid[d, m][metric]:.1f}" for m in INTERVAL_MIN) + " |"
            for d in DPD_S]
    return "\n".join([head, rule, *rows])


def svg(grid: dict, metric: str, title: str) -> str:
    """A line per dark-wake interval: x = DPD setting (log scale), y = per Mac-night."""
    import math

    w, h, left, right, top, bottom = 640, 380, 60, 170, 40, 50
    pw, ph = w - left - right, h - top - bottom
    ymax = max(v[metric] for v in grid.values()) or 1.0
    step = 10 ** math.floor(math.log10(ymax)) if ymax >= 1 else 0.5
    ymax = math.ceil(ymax / step) * step
    lx = [math.log10(d) for d in DPD_S]
    x = lambda d: left + (math.log10(d) - lx[0]) / (lx[-1] - lx[0]) * pw  # noqa: E731
    y = lambda v: top + ph - v / ymax * ph  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
           f'font-size="12"><rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="14" font-weight="bold">{title}</text>']
    k = 0.0
    while k <= ymax + 1e-9:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(k):.1f}" y2="{y(k):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{y(k) + 4:.1f}" text-anchor="end">{k:g}</text>')
        k += step
    for d in DPD_S:
        out.append(f'<text x="{x(d):.1f}" y="{top + ph + 18}" text-anchor="middle">{d}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{h - 10}" text-anchor="middle">gateway DPD setting, s '
               f'(session torn down after 3x; log scale)</text>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="#333"/>'
               f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#333"/>')
    for i, m in enumerate(INTERVAL_MIN):
        c = COLOURS[i % len(COLOURS)]
        pts = " ".join(f"{x(d):.1f},{y(grid[d, m][metric]):.1f}" for d in DPD_S)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        out += [f'<circle cx="{x(d):.1f}" cy="{y(grid[d, m][metric]):.1f}" r="3" fill="{c}"/>' for d in DPD_S]
        ly = top + 10 + 20 * i
        out.append(f'<line x1="{left + pw + 15}" x2="{left + pw + 35}" y1="{ly}" y2="{ly}" stroke="{c}" '
                   f'stroke-width="2"/><text x="{left + pw + 40}" y="{ly + 4}">dark wake every {m} min</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default="naive")
    p.add_argument("--nights", type=int, default=3, help="nights per Mac per cell (2 Macs)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--svg", type=Path, default=Path(__file__).with_name("whatif-churn.svg"))
    a = p.parse_args()
    grid = {}
    with tempfile.TemporaryDirectory(prefix="rig-whatif-") as tmp:
        for d in DPD_S:
            for m in INTERVAL_MIN:
                grid[d, m] = cell(a.build, d, m, a.nights, a.seed, Path(tmp))
    print(f"build {a.build}: per Mac-night (2 Macs x {a.nights} nights x 8 cycles of 1 h, seed {a.seed})\n")
    print("Reconnects in sleep\n")
    print(table(grid, "reconnects"))
    print("\nFalse disconnect alerts\n")
    print(table(grid, "false_alerts"))
    bad = [k for k, v in grid.items() if not v["agrees"]]
    print(f"\nrig scores equal the twin's truth in {len(grid) - len(bad)}/{len(grid)} cells"
          + (f" (differ: {bad})" if bad else ""))
    a.svg.write_text(svg(grid, "reconnects", f"{a.build}: reconnects in sleep per Mac-night"))
    print(f"plot: {a.svg.name}")


if __name__ == "__main__":
    main()
