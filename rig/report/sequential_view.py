"""The sequential test on the report: per pool, each hypothesis' log-likelihood ratio after each
cycle against Wald's two boundaries, the stopping cycle, the lab time and the result in words.

A reader should see *why* the run stopped where it did: a path that shoots through the upper
line in one cycle is a build that is plainly bad; a path that creeps down to the lower line is
a good build proving itself wake by wake. Drawn as inline SVG through the one autoescaping
environment (:mod:`rig.report.templating`), like the cycle timelines.
"""
from __future__ import annotations

from rig.report.templating import El, chart, h, p, svg, table

W, PLOT_H, LEFT, TOP, LEGEND_ROW = 560.0, 150.0, 46.0, 10.0, 13.0
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def blocks(scores: dict) -> list[dict]:
    """The report's "Sequential test" section ([] for a fixed-cycle run)."""
    s = scores.get("settled")
    if not s:
        return []
    out = [h(2, "Sequential test"),
           p([s["words"], f" (alpha {s['alpha']:g}, beta {s['beta']:g}; {s['dark_wakes']} dark wakes; "
              f"the run used {s['lab_hours_run']:.1f} lab-hours"
              + (f", {s['overrun_cycles']} cycles ended after the decision and do not change it" if s["overrun_cycles"] else "")
              + ")."]),
           table(["hypothesis", "per", "good", "bad", "unit"],
                 [[h["name"], h["per"], h["good"], h["bad"], h["unit"]] for h in s["hypotheses"]], {2, 3})]
    for key, pool in s["pools"].items():
        title = (f"pool {key} ({', '.join(pool['macs'])}): {pool['state']}"
                 + (f" at cycle {pool['settled_at']}" if pool["settled_at"] else ""))
        out.append(chart(title, picture(pool, s["boundaries"], title)))
    return out


def picture(pool: dict, bounds: dict, caption: str, step: str = "cycle", ends=("settles FAIL", "settles PASS")):
    """One pool's paths against the boundaries (cycles, or a comparison's rounds, on x;
    log-likelihood ratio on y); ``ends`` names what crossing the upper and the lower line means."""
    lo, hi = bounds["lower"], bounds["upper"]
    values = [v for path in pool["paths"] for v in path["llr"]] + [lo * 1.2, hi * 1.2, 0.0]
    y0, y1 = min(values), max(values)
    n = max([len(path["llr"]) for path in pool["paths"]] + [1])
    right = W - 90                                   # room for the boundaries' names
    bottom = TOP + PLOT_H
    height = bottom + 16 + LEGEND_ROW * len(pool["paths"])
    x = lambda i: LEFT + (right - LEFT) * i / n  # noqa: E731  (cycle i, 0 = before any)
    y = lambda v: TOP + PLOT_H * (y1 - v) / ((y1 - y0) or 1.0)  # noqa: E731
    end = {"text-anchor": "end"}
    els = []
    for v, name in ((hi, ends[0]), (0.0, ""), (lo, ends[1])):
        els.append(El("line", {"x1": LEFT, "x2": right, "y1": y(v), "y2": y(v),
                               "stroke": "#999" if name else "#ddd", "stroke-dasharray": "4 3" if name else ""}))
        if name:
            els.append(El("text", {"x": LEFT - 4, "y": y(v) + 3, "class": "ln", **end}, text=f"{v:.1f}"))
            els.append(El("text", {"x": right + 4, "y": y(v) + 3, "class": "tk0"}, text=name))
    for j, path in enumerate(pool["paths"]):
        pts = [(x(0), y(0.0))] + [(x(i + 1), y(v)) for i, v in enumerate(path["llr"])]
        colour = COLOURS[j % len(COLOURS)]
        els.append(El("polyline", {"points": " ".join(f"{a:.1f},{b:.1f}" for a, b in pts), "fill": "none",
                                   "stroke": colour, "stroke-width": "1.6"}, title=path["hypothesis"]))
        els.append(El("text", {"x": LEFT, "y": bottom + 16 + LEGEND_ROW * j, "fill": colour, "class": "tk0"},
                      text=f"— {path['hypothesis']}: {path['state']}"
                      + (f" at {step} {path['settled_at']}" if path["settled_at"] else "")))
    if pool["settled_at"]:
        els.append(El("line", {"x1": x(pool["settled_at"]), "x2": x(pool["settled_at"]), "y1": TOP,
                               "y2": bottom, "stroke": "#333", "stroke-width": ".8"}, title="decision"))
    els.append(El("text", {"x": LEFT, "y": bottom + 3, "class": "tk0"}, text="0"))
    els.append(El("text", {"x": right, "y": bottom + 3, "class": "tk0", **end}, text=f"{step} {n}"))
    return svg(els, width=W, height=height, cls="seq", title=caption, viewbox=f"0 0 {W:g} {height:g}",
               aria=caption)


def summary_line(scores: dict) -> list[str]:
    """summary.md's line for a sequential run ([] for a fixed-cycle run)."""
    s = scores.get("settled")
    return [f"- sequential test: {s['words']} ({s['dark_wakes']} dark wakes)"] if s else []


def compare_blocks(settled: dict | None) -> list:
    """The compare page's "Sequential comparison" section ([] for two finished runs)."""
    if not settled:
        return []
    out = [h(2, "Sequential comparison"),
           p([settled["words"], f" (rounds of one cycle per build, ABBA order; a change counts from "
              f"x{settled['ratio']:g}; alpha {settled['alpha']:g}, beta {settled['beta']:g}; "
              f"at most {settled['max_rounds']} rounds)."]),
           table(["hypothesis", "decision", "why", "base: events / exposure", "candidate: events / exposure",
                  "base alone", "candidate alone"],
                 [[c["hypothesis"], c["decision"] + (f" at round {c['settled_at']}" if c["settled_at"] else ""),
                   c["why"], f"{c['base']['events']} / {c['base']['exposure']}",
                   f"{c['cand']['events']} / {c['cand']['exposure']}", c["base"]["own"], c["cand"]["own"]]
                  for c in settled["hypotheses"]])]
    for c in settled["hypotheses"]:
        title = f"{c['hypothesis']}: {c['decision']}"
        out.append(chart(title, picture(c, settled["boundaries"], title, "round",
                                        ("the change", "no change"))))
    return out
