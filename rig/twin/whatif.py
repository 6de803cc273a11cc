"""What-if on a profile: vary the gateway's DPD timeout or the Macs' dark-wake interval, run
each combination on the batch twin, score it with the rig, and check every cell against truth.

``rig twin whatif --profile P --vary dpd-timeout=30s,90s,300s --vary dark-wake-interval=5m,15m``
answers "what would a 5-minute DPD do to *our* Macs?" with the lab's own distributions: every
parameter a profile fitted stays as fitted, and only the varied ones move. A DPD timeout here
is the teardown (the silence after which the gateway ends a session, the ``dpd_teardown_s``
a profile fits; ocserv's own setting is a third of it). A dark-wake interval keeps the shape
the lab showed (its fitted distribution scaled to the new mean). The rig scores each cell's
run folder exactly as a rack's (``derive_run``); a cell whose scores differ from the twin's
truth is flagged, so the table is the rig's measurement and is known to be right.

The page (``whatif.html``, and ``whatif.md``) holds the two tables (reconnects in sleep and
false alerts per Mac-night) and a line chart of the first: one line per value of the second
variable. Built with the report's autoescaping templates.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

from rig.report.rebuild import derive_run
from rig.report.templating import El, chart, h, md_code, p, page, svg, table
from rig.run_folder import atomic_write
from rig.runner.run import parse_duration
from rig.twin.profile import Dist, Parameter, Profile
from rig.twin.serve import TwinConfig
from rig.twin.simulate import SimPlan, fleet, simulate

VARIABLES = {   # --vary NAME -> the profile parameter it sets
    "dpd-timeout": "dpd_teardown_s",
    "dark-wake-interval": "dark_wake_interval_s",
}
COLOURS = ("#1b6ca8", "#d1495b", "#2e8540", "#8e6c8a", "#ff7f0e")


def parse_vary(text: str) -> tuple[str, list[float]]:
    """``dpd-timeout=10s,60s,300s`` -> ``("dpd-timeout", [10.0, 60.0, 300.0])``; ValueError says why."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or name not in VARIABLES:
        raise ValueError(f"{text!r}: expected NAME=V1,V2,… with NAME one of {', '.join(VARIABLES)}")
    out = [parse_duration(v) for v in values.split(",") if v.strip()]
    if not out or min(out) <= 0:
        raise ValueError(f"{text!r}: give one or more positive durations (10s, 5m, 1h)")
    return name, out


def scaled(dist: Dist, factor: float) -> Dist:
    """``dist`` with every value multiplied by ``factor`` (the same shape at another mean)."""
    if dist.kind == "empirical":
        return Dist("empirical", values=tuple(v * factor for v in dist.values))
    if dist.kind in ("fixed", "bernoulli"):
        return Dist(dist.kind, (dist.params[0] * factor,))
    if dist.kind == "uniform":
        return Dist("uniform", (dist.params[0] * factor, dist.params[1] * factor))
    *shape, loc, scale = dist.params
    return Dist(dist.kind, (*shape, loc * factor, scale * factor))


def varied(profile: Profile, settings: dict) -> Profile:
    """The profile with each varied parameter moved to its new mean, in every group."""
    groups = {}
    for g, params in profile.groups.items():
        groups[g] = dict(params)
        for name, value in settings.items():
            key = VARIABLES[name]
            old = params[key]
            dist = Dist("fixed", (value,)) if key == "dpd_teardown_s" else scaled(old.dist, value / old.dist.mean())
            groups[g][key] = Parameter(dist, old.n, value, (math.nan, math.nan), "what-if", f"varied to {value:g}")
    return Profile(groups, profile.sources)


@dataclass
class Cell:
    settings: dict
    reconnects: float      # per Mac-night, as the rig scored it
    false_alerts: float
    agrees: bool           # the rig's totals equal the twin's truth
    run: Path


def run_cell(profile_path: Path | None, profile: Profile, settings: dict, build: str, macs: int, nights: int,
             cycles: int, dwell_s: float, seed: int, out: Path) -> Cell:
    """One combination on the batch twin (``profile_path`` None: ``profile`` is the built-in one)."""
    cfg = TwinConfig(build=build, seed=seed, macs=fleet(macs), profile=str(profile_path or ""))
    prof = varied(profile, settings)
    cfg.use_profile(prof)
    sim = simulate(cfg, SimPlan(nights=nights, cycles_per_night=cycles, dwell_s=dwell_s), out, command=["rig", "twin", "whatif"])
    totals = derive_run(sim.run_dir)["totals"]
    true = (sum(c.get("reconnects_in_sleep", 0) for c in sim.cycle_truth),
            sum(c.get("false_alerts", 0) for c in sim.cycle_truth))
    n = sim.mac_nights
    return Cell(settings, totals["reconnects_in_sleep"] / n, totals["false_alerts"] / n,
                (totals["reconnects_in_sleep"], totals["false_alerts"]) == true, sim.run_dir)


def grid(profile_path: Path, profile: Profile, varies: list[tuple[str, list[float]]], *, build: str = "naive",
         macs: int = 2, nights: int = 2, cycles: int = 8, dwell_s: float = 3600.0, seed: int = 1,
         out: Path) -> list[Cell]:
    names = [n for n, _ in varies]
    if len(set(names)) != len(names):
        raise ValueError("each variable may be varied once")
    cells = []
    for i, combo in enumerate(itertools.product(*[vals for _, vals in varies])):
        settings = dict(zip(names, combo))
        cells.append(run_cell(profile_path, profile, settings, build, macs, nights, cycles, dwell_s, seed,
                              Path(out) / f"cell-{i:02d}"))
    return cells


# -- the page ----------------------------------------------------------------------------------------

def _label(name: str, v: float) -> str:
    return f"{v:g} s" if v < 120 else f"{v / 60:g} min"


def tables(cells: list[Cell], varies) -> dict:
    """metric -> (headers, rows): rows by the first variable, columns by the second (if any)."""
    first, vals1 = varies[0]
    second, vals2 = varies[1] if len(varies) > 1 else (None, [None])
    out = {}
    for metric, title in (("reconnects", "reconnects in sleep"), ("false_alerts", "false disconnect alerts")):
        heads = [first] + ([f"{second} {_label(second, v)}" for v in vals2] if second else [title])
        rows = []
        for v1 in vals1:
            row = [_label(first, v1)]
            for v2 in vals2:
                c = next(c for c in cells if c.settings[first] == v1 and (second is None or c.settings[second] == v2))
                row.append(f"{getattr(c, metric):.1f}" + ("" if c.agrees else " (differs from truth)"))
            rows.append(row)
        out[title] = (heads, rows)
    return out


def picture(cells: list[Cell], varies, title: str):
    """Reconnects in sleep per Mac-night against the first variable (log x), a line per value
    of the second."""
    first, vals1 = varies[0]
    second, vals2 = varies[1] if len(varies) > 1 else (None, [None])
    w, hgt, left, right, top, bottom = 640.0, 360.0, 60.0, 170.0, 20.0, 50.0
    pw, ph = w - left - right, hgt - top - bottom
    ymax = max([c.reconnects for c in cells] + [1.0])
    lo, hi = math.log10(min(vals1)), math.log10(max(vals1))
    x = lambda v: left + ((math.log10(v) - lo) / ((hi - lo) or 1.0)) * pw  # noqa: E731
    y = lambda v: top + ph - v / ymax * ph  # noqa: E731
    els = [El("line", {"x1": left, "x2": left, "y1": top, "y2": top + ph, "stroke": "#333"}),
           El("line", {"x1": left, "x2": left + pw, "y1": top + ph, "y2": top + ph, "stroke": "#333"}),
           El("text", {"x": left - 6, "y": top + 4, "text-anchor": "end"}, text=f"{ymax:.0f}"),
           El("text", {"x": left - 6, "y": top + ph + 4, "text-anchor": "end"}, text="0"),
           El("text", {"x": left + pw / 2, "y": hgt - 10, "text-anchor": "middle"}, text=f"{first} (log scale)")]
    for v in vals1:
        els.append(El("text", {"x": x(v), "y": top + ph + 18, "text-anchor": "middle"}, text=_label(first, v)))
    for i, v2 in enumerate(vals2):
        colour = COLOURS[i % len(COLOURS)]
        pts = [(x(c.settings[first]), y(c.reconnects)) for c in cells if second is None or c.settings[second] == v2]
        els.append(El("polyline", {"points": " ".join(f"{a:.1f},{b:.1f}" for a, b in pts), "fill": "none",
                                   "stroke": colour, "stroke-width": "2"}))
        ly = top + 10 + 20 * i
        els.append(El("text", {"x": left + pw + 15, "y": ly + 4, "fill": colour},
                      text=f"{second} {_label(second, v2)}" if second else "reconnects"))
    return svg(els, width=w, height=hgt, title=title, viewbox=f"0 0 {w:g} {hgt:g}", aria=title)


def write(cells: list[Cell], varies, build: str, profile_path: Path, out: Path) -> tuple[Path, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    agree = sum(c.agrees for c in cells)
    said = f"the rig's scores equal the twin's truth in {agree}/{len(cells)} cells"
    t = tables(cells, varies)
    blocks = [h(1, f"What-if for build {build} on profile {profile_path.name}"),
              p(f"Per Mac-night; {said}. Every parameter the profile fitted stays as fitted; only the "
                f"varied ones move.")]
    md = [f"# What-if: build {md_code(build)}, profile {md_code(profile_path.name)}", "", f"Per Mac-night; {said}.", ""]
    for title, (heads, rows) in t.items():
        blocks += [h(2, title.capitalize()), table(heads, rows, set(range(1, len(heads))))]
        md += [f"## {title.capitalize()}", "", "| " + " | ".join(heads) + " |", "|---|" + "---:|" * (len(heads) - 1)]
        md += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    title = f"{build}: reconnects in sleep per Mac-night"
    blocks.append(chart(title, picture(cells, varies, title)))
    html_path, md_path = out / "whatif.html", out / "whatif.md"
    atomic_write(html_path, page(f"what-if {build}", "report.css", blocks))
    atomic_write(md_path, "\n".join(md))
    return html_path, md_path

