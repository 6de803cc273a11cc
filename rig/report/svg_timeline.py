"""A cycle's timeline picture: inline SVG of power phase against tunnel state, with the events
that matter marked on it.

One picture per cycle, two panels: the whole cycle (minutes) and a close-up of the wake (seconds
around the anchor), because a 45-minute sleep squeezes the seconds that decide time-to-tunnel
into a few pixels. Lanes, top to bottom:

- **power**: full wake (pale yellow), sleep (navy), dark wake (violet), from the power series;
- **tunnel**: what the extension says: up (green), handshaking (amber), down (grey); zombie time
  (the extension says up, the probe or gateway says dead) is overlaid in red;
- **gateway**: a live session (green) or none (grey), when the gateway's log was collected;
- **probe**: the canary's last answer, ok (green) or failing (red), when the Mac runs one.

Marks: the extension's "tunnel down" (a dark tick across the tunnel lane, its reason in the
tooltip), handshakes (blue ticks; a cut-off one is drawn with a cross), extension alerts (triangles:
a *false* alert hollow orange, a *true* one filled red), gateway DPD terminations (× on the
gateway lane, orange if a false alert, red if true), the build's wake verdicts (diamonds, red when
wrong), and the wake anchors (vertical lines: actuator solid, powerd dashed, pmset dotted).

Every mark has a ``<title>`` (a tooltip) with its time and the log's words. Those words come from
Macs and gateways: the picture is a list of :class:`~rig.report.templating.El` rendered by an
autoescaped template (``svg.j2``), and the page that embeds it forbids scripts; a log line
carrying ``<script>`` is shown, never run. No ids, no
external references: many pictures live in one page and each stands alone.
"""
from __future__ import annotations

import math

from rig.report.templating import El, legend as legend_block, svg
from rig.score.analysis import CycleAnalysis

W_MAIN, W_ZOOM, GAP, LABEL = 640, 250, 24, 64
LANE_H, LANE_GAP, TOP, AXIS_H = 13, 5, 16, 16
MIN_W = 1.2

PHASE_FILL = {"full": "#f6e7a8", "sleep": "#24345c", "dark": "#8a6fd1"}
TUNNEL_FILL = {"up": "#2e9d4f", "handshaking": "#e0a800", "down": "#c9c9c9"}
GW_FILL = {"alive": "#5aa469", "dead": "#c9c9c9"}
PROBE_FILL = {"ok": "#2e9d4f", "fail": "#d32f2f", "unknown": "#eeeeee"}
ZOMBIE = "#e53935"
ANCHOR_DASH = {"actuator": "", "powerd": "4 2", "pmset": "1 2"}


def _clock(dt: float) -> str:
    """Seconds since the cycle start as ``+12:03.250``."""
    sign = "-" if dt < 0 else "+"
    dt = abs(dt)
    m, s = divmod(dt, 60)
    return f"{sign}{int(m)}:{s:06.3f}"


class _Panel:
    """Maps times of one panel to x pixels."""

    def __init__(self, t0: float, t1: float, x0: float, width: float):
        self.t0, self.t1, self.x0, self.w = t0, max(t1, t0 + 1e-3), x0, width

    def x(self, t: float) -> float:
        return self.x0 + (min(max(t, self.t0), self.t1) - self.t0) / (self.t1 - self.t0) * self.w

    def inside(self, t: float) -> bool:
        return self.t0 <= t <= self.t1

    def span(self, a: float, b: float) -> tuple[float, float] | None:
        if b < self.t0 or a > self.t1:
            return None
        x0, x1 = self.x(a), self.x(b)
        return x0, max(x1 - x0, MIN_W)


def _ticks(p: _Panel, origin: float, y: float, out: list) -> None:
    span = p.t1 - p.t0
    steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]
    step = next((s for s in steps if span / s <= 7), 7200)
    first = math.ceil((p.t0 - origin) / step) * step
    t = first
    while origin + t <= p.t1 + 1e-9:
        x = float(p.x(origin + t))
        label = f"{t / 60:g} min" if step >= 60 else f"{t:g} s"
        out.append(El("line", {"x1": x, "y1": float(y), "x2": x, "y2": float(y + 3), "stroke": "#888"}))
        out.append(El("text", {"x": x, "y": float(y + 12), "class": "tk"}, text=label))
        t += step


def _lanes(a: CycleAnalysis) -> list[tuple[str, list, dict]]:
    lanes = [("power", a.phases, PHASE_FILL), ("tunnel", a.tunnel, TUNNEL_FILL)]
    if a.gateway:
        lanes.append(("gateway", a.gateway, GW_FILL))
    if a.probe:
        lanes.append(("probe", a.probe, PROBE_FILL))
    return lanes


def render(a: CycleAnalysis, caption: str = ""):
    """One cycle's picture as an ``<svg>`` element (``Markup``, "" without a window), sized for a page."""
    w0, w1 = a.window
    if not (math.isfinite(w0) and math.isfinite(w1)):
        return ""
    lanes = _lanes(a)
    lane_y = {name: TOP + i * (LANE_H + LANE_GAP) for i, (name, _, _) in enumerate(lanes)}
    marks_y = TOP + len(lanes) * (LANE_H + LANE_GAP)
    axis_y = marks_y + LANE_H + 2
    height = axis_y + AXIS_H
    width = LABEL + W_MAIN + GAP + W_ZOOM + 4
    main = _Panel(w0, w1, LABEL, W_MAIN)
    anchor = next((a.anchors[n] for n in ("actuator", "powerd", "pmset") if n in a.anchors), None)
    zoom = None
    if anchor is not None:
        ttt = a.metrics.get("ttt_s")
        right = max(15.0, (ttt if isinstance(ttt, (int, float)) and math.isfinite(ttt) else 0.0) + 5.0)
        zoom = _Panel(anchor - 3.0, min(anchor + right, w1), LABEL + W_MAIN + GAP, W_ZOOM)

    out: list[El] = []
    for name, _, _ in lanes:
        out.append(El("text", {"x": LABEL - 4, "y": lane_y[name] + LANE_H - 3, "class": "ln"}, text=name))
    out.append(El("text", {"x": LABEL - 4, "y": marks_y + LANE_H - 3, "class": "ln"}, text="events"))
    panels = [main] + ([zoom] if zoom else [])
    if zoom:
        out.append(El("text", {"x": float(zoom.x0), "y": TOP - 5, "class": "tk0"}, text="wake close-up"))
    out.append(El("text", {"x": LABEL, "y": TOP - 5, "class": "tk0"}, text="whole cycle"))
    for p in panels:
        out += _lane_rects(a, p, lanes, lane_y, w0)
        out += _marks(a, p, w0, lane_y, marks_y)
        _ticks(p, w0 if p is main else anchor, axis_y, out)
        out.append(El("rect", {"x": float(p.x0), "y": TOP, "width": float(p.w),
                               "height": float(marks_y + LANE_H - TOP), "fill": "none", "stroke": "#bbb",
                               "stroke-width": ".6"}))
    return svg(out, width=width, height=height, cls="tl", title=caption, viewbox=f"0 0 {width} {height}",
               aria=caption or "cycle timeline")


def _lane_rects(a: CycleAnalysis, p: _Panel, lanes, lane_y: dict, w0: float) -> list[El]:
    out = []
    for name, ivs, fills in lanes:
        y = lane_y[name]
        for t0, t1, state in ivs:
            sp = p.span(t0, t1)
            if sp is None:
                continue
            out.append(El("rect", {"x": float(sp[0]), "y": y, "width": float(sp[1]), "height": LANE_H,
                                   "fill": fills.get(state, "#eee")},
                          title=f"{name}: {state} {_clock(t0 - w0)} to {_clock(t1 - w0)} ({t1 - t0:.3f} s)"))
    for t0, t1 in a.zombie:
        sp = p.span(t0, t1)
        if sp is not None:
            out.append(El("rect", {"x": float(sp[0]), "y": lane_y["tunnel"] + 3, "width": float(sp[1]),
                                   "height": LANE_H - 6, "fill": ZOMBIE, "stroke": "#7f0000", "stroke-width": ".6"},
                          title=f"zombie: extension says up, {a.metrics.get('zombie_evidence', '')} says dead, "
                                f"{t1 - t0:.3f} s"))
    return out


def _marks(a: CycleAnalysis, p: _Panel, w0: float, lane_y: dict, marks_y: float) -> list[El]:
    out = []
    top, bottom = TOP, marks_y + LANE_H
    gw_y = lane_y.get("gateway", lane_y["tunnel"])
    for m in a.marks:
        if not p.inside(m.t):
            continue
        x = float(p.x(m.t))
        tip = f"{_clock(m.t - w0)} {m.label}" + (f": {m.detail}" if m.detail else "")
        y = marks_y
        if m.kind == "anchor":
            dash = ANCHOR_DASH.get(m.label.split(": ", 1)[-1].split(" ")[0], "")
            out.append(El("line", {"x1": x, "y1": top, "x2": x, "y2": float(bottom), "stroke": "#111",
                                   "stroke-width": "1.2", **({"stroke-dasharray": dash} if dash else {})}, tip))
        elif m.kind in ("handshake", "handshake_cut"):
            out.append(El("line", {"x1": x, "y1": float(y + 1), "x2": x, "y2": float(y + LANE_H - 1),
                                   "stroke": "#1f5fbf", "stroke-width": "1.5"}, tip))
            if m.kind == "handshake_cut":
                out.append(El("path", {"d": f"M{x - 3:.1f} {y + 3:.1f}l6 6m0 -6l-6 6", "stroke": "#1f5fbf",
                                       "stroke-width": "1.3"}, tip))
        elif m.kind == "tunnel_down":
            ty = lane_y["tunnel"]
            out.append(El("line", {"x1": x, "y1": float(ty - 2), "x2": x, "y2": float(ty + LANE_H + 2),
                                   "stroke": "#333", "stroke-width": "1.2"}, tip))
        elif m.kind == "alert":
            pts = f"{x:.1f},{y + 1:.1f} {x + 4.5:.1f},{y + LANE_H - 1:.1f} {x - 4.5:.1f},{y + LANE_H - 1:.1f}"
            style = {"fill": "#fff", "stroke": "#e67e00", "stroke-width": "1.5"} if m.false else \
                {"fill": "#c62828", "stroke": "#7f0000", "stroke-width": "1"}
            out.append(El("polygon", {"points": pts, **style}, tip))
        elif m.kind == "dpd":
            col = "#e67e00" if m.false else "#c62828"
            out.append(El("path", {"d": f"M{x - 4:.1f} {gw_y + 2:.1f}l8 {LANE_H - 4}m0 -{LANE_H - 4}l-8 {LANE_H - 4}",
                                   "stroke": col, "stroke-width": "2"}, tip))
        elif m.kind == "verdict":
            cy = y + LANE_H / 2
            out.append(El("path", {"d": f"M{x:.1f} {cy - 4:.1f}l4 4l-4 4l-4 -4z",
                                   "fill": "#c62828" if m.false else "#555"}, tip))
    return out


_LINE = {"x1": 7, "y1": 0, "x2": 7, "y2": 10}
_KEY = [
    ([El("rect", {"width": 14, "height": 10, "fill": "#f6e7a8"})], "full wake"),
    ([El("rect", {"width": 14, "height": 10, "fill": "#24345c"})], "sleep"),
    ([El("rect", {"width": 14, "height": 10, "fill": "#8a6fd1"})], "dark wake"),
    ([El("rect", {"width": 14, "height": 10, "fill": "#2e9d4f"})], "tunnel up / gateway session / probe ok"),
    ([El("rect", {"width": 14, "height": 10, "fill": "#e0a800"})], "handshaking"),
    ([El("rect", {"width": 14, "height": 10, "fill": "#c9c9c9"})], "down / no session"),
    ([El("rect", {"width": 14, "height": 10, "fill": "#e53935"})], "zombie time / probe failing"),
    ([El("line", {**_LINE, "stroke": "#333", "stroke-width": "1.2"})], "extension says tunnel down"),
    ([El("line", {**_LINE, "stroke": "#1f5fbf", "stroke-width": "1.5"})], "handshake"),
    ([El("line", {**_LINE, "stroke": "#1f5fbf", "stroke-width": "1.5"}),
      El("path", {"d": "M4 2l6 6m0 -6l-6 6", "stroke": "#1f5fbf"})], "handshake cut off by sleep"),
    ([El("polygon", {"points": "7,0 11.5,10 2.5,10", "fill": "#fff", "stroke": "#e67e00", "stroke-width": "1.5"})],
     "false alert"),
    ([El("polygon", {"points": "7,0 11.5,10 2.5,10", "fill": "#c62828"})], "true alert"),
    ([El("path", {"d": "M3 1l8 8m0 -8l-8 8", "stroke": "#e67e00", "stroke-width": "2"})], "DPD end (false alert)"),
    ([El("path", {"d": "M3 1l8 8m0 -8l-8 8", "stroke": "#c62828", "stroke-width": "2"})], "DPD end (true alert)"),
    ([El("path", {"d": "M7 1l4 4l-4 4l-4 -4z", "fill": "#555"})], "build's wake verdict (red: wrong)"),
    ([El("line", {**_LINE, "stroke": "#111", "stroke-width": "1.2"})], "wake anchor: actuator"),
    ([El("line", {**_LINE, "stroke": "#111", "stroke-dasharray": "4 2"})], "powerd"),
    ([El("line", {**_LINE, "stroke": "#111", "stroke-dasharray": "1 2"})], "pmset"),
]


def legend() -> dict:
    """A small key to the pictures, shown once above them (a block of the report page)."""
    return legend_block([(svg(els, width=14, height=10, viewbox="0 0 14 10"), label) for els, label in _KEY])
