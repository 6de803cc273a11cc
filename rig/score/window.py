"""A cycle's window and wake anchors: which sleep and which wake the rig caused.

A cycle runs from the controller's ``cycle_start`` to its ``cycle_end``: some full wake, the
sleep the rig caused (its first ``sleep`` power row from shortly before the rig's sleep action),
dark wakes, the full wake the rig caused (the first ``full_wake``/``dark_to_full`` after that
sleep), and the grace period after. "In sleep" means between that sleep and that full wake, dark
wakes included. The *anchors* are the instants time-to-tunnel is measured from, best first:
``actuator`` (the controller's instant of the lid/power action), ``powerd`` (powerd's µs line),
``pmset`` (pmset's second).

Times here are seconds after ``base_ns`` (the cycle's first event, ns since the epoch), so float64
keeps ns precision however far from 1970 the run is.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rig.events import FULL_KINDS, Kind, Phase
from rig.score.timeline import power_events

FULL = frozenset(k.value for k in FULL_KINDS)
SLEEP_MATCH_S = 120.0
SLEEP_ACTIONS = (Kind.ACT_LID_CLOSE.value, Kind.CMD_SLEEPNOW.value)
WAKE_ACTIONS = (Kind.ACT_LID_OPEN.value, Kind.ACT_POWER_PRESS.value)
ANCHORS = ("actuator", "powerd", "pmset")  # best first


class CycleColumns:
    """The columns of one cycle as plain arrays, sorted by ``t`` (seconds after ``base_ns``)."""

    def __init__(self, ev: pd.DataFrame):
        t = ev["t"]
        ok = t.notna().to_numpy()
        ns = t.to_numpy(dtype="datetime64[ns]")[ok].astype("int64")
        self.base_ns = int(ns.min()) if len(ns) else 0
        self.t = (ns - self.base_ns) / 1e9
        self.kind = ev["kind"].to_numpy(dtype=object)[ok]
        self.source = ev["source"].to_numpy(dtype=object)[ok]
        self.session = ev["session"].to_numpy(dtype=object)[ok]
        self.detail = ev["detail"].to_numpy(dtype=object)[ok]
        order = np.argsort(self.t, kind="stable")
        if len(order) and (np.diff(self.t) < 0).any():
            self.t, self.kind, self.source, self.session, self.detail = (
                a[order] for a in (self.t, self.kind, self.source, self.session, self.detail))

    def idx(self, *kinds: str) -> np.ndarray:
        """The rows of any of ``kinds``, in time order."""
        m = np.zeros(len(self.t), dtype=bool)
        for k in kinds:
            m |= self.kind == k
        return np.flatnonzero(m)

    def count(self, kind: Kind, mask: np.ndarray | None = None) -> int:
        m = self.kind == kind.value
        return int((m & mask).sum()) if mask is not None else int(m.sum())


def power_arrays(ev: pd.DataFrame, base_ns: int, p: pd.DataFrame | None) -> tuple[np.ndarray, ...]:
    """The power series (one row per transition, µs where powerd logged it): times, kinds and
    lines (the wake reason is in the line)."""
    p = power_events(ev) if p is None else p
    if p.empty:
        return np.zeros(0), np.zeros(0, dtype=object), np.zeros(0, dtype=object)
    ns = p["t"].to_numpy(dtype="datetime64[ns]").astype("int64")
    return (ns - base_ns) / 1e9, p["kind"].to_numpy(dtype=object), p["detail"].to_numpy(dtype=object)


def power_phases(pw_t: np.ndarray, pw_kind: np.ndarray, start: float, end: float) -> list:
    """[(t0, t1, Phase)] covering [start, end] from the power series (full before the first row)."""
    out, cur, t0 = [], Phase.FULL, start
    for t, k in zip(pw_t, pw_kind):
        if t < start or t > end:
            continue
        nxt = Phase.after(k)
        if nxt != cur:
            if t > t0:
                out.append((t0, t, cur))
            cur, t0 = nxt, t
    out.append((t0, end, cur))
    return out


class PhaseAt:
    """The power phase at an instant (a bisect over the phases' starts)."""

    def __init__(self, phases: list):
        self.starts = [p[0] for p in phases]
        self.names = [p[2] for p in phases]

    def __call__(self, t: float) -> Phase:
        i = bisect.bisect_right(self.starts, t) - 1
        return self.names[max(i, 0)] if self.names else Phase.FULL


@dataclass
class Window:
    """The rig's sleep and wake in one cycle, and what hangs off them."""

    base_ns: int
    span: tuple[float, float]            # the window [first event, last event], widened to hold both
    sleep_start: float
    full_t: float
    pw_t: np.ndarray
    pw_kind: np.ndarray
    anchors: dict = field(default_factory=dict)    # name -> t
    anchor_name: str = ""
    phases: list = field(default_factory=list)
    phase_at: PhaseAt | None = None
    in_sleep: np.ndarray | None = None             # per row of the cycle: inside [sleep, full wake)
    pw_detail: np.ndarray | None = None            # the power series' lines (their wake reasons)

    @property
    def anchor(self) -> float:
        return self.anchors.get(self.anchor_name, math.nan)

    @property
    def complete(self) -> bool:
        """Both the sleep and the full wake were found: the cycle can be scored."""
        return not (math.isnan(self.sleep_start) or math.isnan(self.full_t))

    @property
    def dark_wakes(self) -> list:
        """The dark-wake phases of the rig's sleep."""
        return [p for p in self.phases if p[2] == Phase.DARK and self.sleep_start <= p[0] < self.full_t]

    def asleep(self, t: float) -> bool:
        return self.sleep_start <= t < self.full_t

    def instants(self) -> dict:
        """The window's instants as ``cycles.csv`` columns (UTC timestamps, NaT if missing)."""
        return {"sleep_start": _ts(self.base_ns, self.sleep_start), "full_wake": _ts(self.base_ns, self.full_t),
                "anchor": _ts(self.base_ns, self.anchor), "ttt_anchor": self.anchor_name}


def _ts(base_ns: int, x: float) -> pd.Timestamp:
    """A time of the analysis (seconds after ``base_ns``) as a UTC timestamp; NaT if missing."""
    if x is None or math.isnan(x):
        return pd.NaT
    return pd.Timestamp(base_ns + int(round(x * 1e9)), unit="ns", tz="UTC")


def find_window(c: CycleColumns, ev: pd.DataFrame, actions: list[dict], power: pd.DataFrame | None) -> Window:
    """The rig's sleep, its full wake and the wake anchors of one cycle (module docstring).

    When both are found the window is widened to hold them and gets its phases (see
    :attr:`Window.complete`).
    """
    base = c.base_ns
    pw_t, pw_kind, pw_detail = power_arrays(ev, base, power)
    sleep_act = next((a for a in actions if a["kind"] in SLEEP_ACTIONS), None)
    wake_act = next((a for a in actions if a["kind"] in WAKE_ACTIONS), None)
    rel = lambda a: float(a["t"]) - base / 1e9 if a else math.nan  # noqa: E731 - an action's instant
    span = (float(c.t[0]), float(c.t[-1]))
    # The rig's own sleep is the first one from shortly before its sleep action: the Mac was awake
    # and talking to the rig until then, so the margin only has to cover clock-offset error (which
    # grows with the SSH round trip: seconds on a slow door), never an earlier sleep.
    floor = max(span[0], rel(sleep_act) - SLEEP_MATCH_S) if sleep_act else span[0]
    sleeps = pw_t[(pw_kind == Kind.SLEEP.value) & (pw_t >= floor)]
    sleep_start = float(sleeps[0]) if len(sleeps) else rel(sleep_act)
    fulls = pw_t[np.isin(pw_kind, list(FULL)) & (pw_t > sleep_start)]
    full_t = float(fulls[0]) if len(fulls) else rel(wake_act)
    w = Window(base, span, sleep_start, full_t, pw_t, pw_kind, _anchors(c, sleep_start, rel(wake_act)),
               pw_detail=pw_detail)
    w.anchor_name = next((n for n in ANCHORS if n in w.anchors), "")
    if w.complete:
        w.span = (min(span[0], sleep_start), max(span[1], full_t))
        w.phases = power_phases(pw_t, pw_kind, w.span[0], w.span[1])
        w.phase_at = PhaseAt(w.phases)
        w.in_sleep = (c.t >= sleep_start) & (c.t < full_t)
    return w


def _anchors(c: CycleColumns, sleep_start: float, actuator: float) -> dict[str, float]:
    """Every wake anchor present: the actuator's instant, powerd's and pmset's first full wake."""
    anchors: dict[str, float] = {}
    if not math.isnan(actuator):
        anchors["actuator"] = actuator
    is_full = np.isin(c.kind, list(FULL))
    for src, name in (("unified", "powerd"), ("pmset", "pmset")):
        m = is_full & (c.source == src)
        if not math.isnan(sleep_start):
            m &= c.t > sleep_start
        hit = np.flatnonzero(m)
        if len(hit):
            anchors[name] = float(c.t[hit[0]])
    return anchors
