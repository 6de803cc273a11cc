"""Per-cycle scores (DESIGN.md, "Scores"): pure functions of one cycle's corrected events.

A cycle runs from the controller's ``cycle_start`` to its ``cycle_end``: some full wake, the
sleep the rig caused (its first ``sleep`` power row), dark wakes, the full wake the rig caused
(the first ``full_wake``/``dark_to_full`` after it), and the grace period after. "In sleep" means
between that sleep and that full wake, dark wakes included.

What is measured, and why each number exists:

- **reconnects in sleep**: ``tunnel_up`` in sleep (each one is a handshake the gateway pays for
  and a possible alert). Also: ``handshake_start`` in sleep, handshakes *cut off by sleep* (a
  ``sleep`` arrived before that handshake's ``tunnel_up`` and before any newer handshake), and
  gateway sessions created (in sleep, and in the whole cycle).
- **DPD terminations**: the gateway ended a session by dead-peer detection. ocserv logs both a
  DPD line and a session end; they are one termination (a DPD-reason end right after a DPD line
  of the same session, or of no session, is not counted again).
- **alerts**, each classified once. Extension side: an ``alert_disconnected``. Gateway side: a
  DPD termination (that is what pages an operator). An alert is *false* when it was raised
  ``asleep`` or in a ``dark`` wake (nobody was using the Mac), or in full wake but the tunnel was
  back within the grace period (``recovered``: the extension's ``tunnel_up``, or for the gateway
  side a new gateway session, within ``grace_s``). Otherwise it is *true*: someone at the Mac
  lost the tunnel for longer than the grace.
- **time-to-tunnel (TTT)** from each wake anchor present (``actuator``: the controller's
  instant of the lid/power action, µs; ``powerd``: powerd's µs line; ``pmset``: the pmset second),
  and from the best one (named in ``ttt_anchor``). Evidence is the probe's first success if the
  cycle has probe rows, else the first ``tunnel_up``; 0 if a live session survived the sleep
  (the extension's last word before the wake was "up", possibly in an earlier cycle, and the
  gateway had not ended the session).
  No evidence within the timeout is *censored* (``ttt_censored``, ``ttt_s`` NaN): a failure.
- **zombie time**: full-wake time after the rig's wake during which the extension says the tunnel
  is up but the probe (if any) or else the gateway says it is dead ("shows Connected, nothing
  passes"). A cycle whose zombie time exceeds the grace fails even with no alert and no
  reconnect (see :func:`cycle_failures`).
- **dark wakes**, the ``wake()``/``sleep()`` callbacks the extension got in them, the longest
  keep-alive gap inside one session (see :func:`_keepalive_gap`), and the
  build's own dark/full verdicts (``wake_classified`` rows, verdict in ``detail``) against the
  power log's truth, as a confusion matrix.

:func:`analyse_cycle` returns the metrics (a flat dict: one row of ``cycles.csv``) together with
the intervals and marks the report draws, so the picture and the numbers can never disagree.
Times inside are seconds on the controller clock after the cycle's first event (``origin_ns``).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rig.events import FULL_KINDS, Kind
from rig.score.timeline import power_events

_FULL = frozenset(k.value for k in FULL_KINDS)
SLEEP_MATCH_S = 120.0
SLEEP_ACTIONS = (Kind.ACT_LID_CLOSE.value, Kind.CMD_SLEEPNOW.value)
WAKE_ACTIONS = (Kind.ACT_LID_OPEN.value, Kind.ACT_POWER_PRESS.value)
ANCHORS = ("actuator", "powerd", "pmset")  # best first
ALERT_WHYS = ("asleep", "dark", "recovered")

_K = Kind  # short alias in the hot loops
_EXT_STATE = {_K.HANDSHAKE_START.value: "handshaking", _K.TUNNEL_UP.value: "up",
              _K.TUNNEL_DOWN.value: "down", _K.KEEPALIVE.value: "up"}
_EPS = 1e-6
#: Shorter stretches of "up but dead" are within what two corrected clocks agree on.
ZOMBIE_MIN_S = 0.05


@dataclass
class Mark:
    """One instant the report draws: what (``kind``), a short ``label``, and the log ``detail``."""

    t: float
    kind: str      # handshake, handshake_cut, tunnel_up, tunnel_down, alert, dpd, verdict, anchor
    label: str = ""
    detail: str = ""
    false: bool = False


@dataclass
class CycleAnalysis:
    """The metrics of one cycle plus what its timeline picture shows (times: seconds after
    ``origin_ns``, the cycle's first event, ns since the epoch)."""

    metrics: dict
    origin_ns: int = 0
    window: tuple[float, float] = (math.nan, math.nan)
    phases: list = field(default_factory=list)       # [(t0, t1, full|sleep|dark)]
    tunnel: list = field(default_factory=list)       # [(t0, t1, up|handshaking|down)] extension's word
    gateway: list = field(default_factory=list)      # [(t0, t1, alive|dead)]; empty: no gateway rows
    probe: list = field(default_factory=list)        # [(t0, t1, ok|fail)]; empty: no probe rows
    zombie: list = field(default_factory=list)       # [(t0, t1)]
    marks: list = field(default_factory=list)        # [Mark]
    anchors: dict = field(default_factory=dict)      # name -> t

    def final_states(self) -> dict:
        """The lanes' states at the window's end: what the next cycle of this Mac starts from."""
        out = {}
        if self.tunnel:
            out["tunnel"] = self.tunnel[-1][2]
        if self.gateway:
            out["gateway"] = self.gateway[-1][2]
        return out


def _ts(base_ns: int, x: float) -> pd.Timestamp:
    """A time of the analysis (seconds after ``base_ns``) as a UTC timestamp; NaT if missing."""
    if x is None or math.isnan(x):
        return pd.NaT
    return pd.Timestamp(base_ns + int(round(x * 1e9)), unit="ns", tz="UTC")


def score_cycle(ev: pd.DataFrame, actions: list[dict], *, grace_s: float = 30.0,
                tunnel_timeout_s: float = 60.0) -> dict:
    """Score one cycle of one Mac: the flat metrics of :func:`analyse_cycle`."""
    return analyse_cycle(ev, actions, grace_s=grace_s, tunnel_timeout_s=tunnel_timeout_s).metrics


def cycle_failures(metrics: dict, grace_s: float) -> list[str]:
    """Why a scorable cycle fails whatever its suite's gates say (DESIGN.md definitions)."""
    out = []
    if metrics.get("ttt_censored"):
        out.append("no tunnel within the timeout")
    z = metrics.get("zombie_s")
    if z is not None and not (isinstance(z, float) and math.isnan(z)) and z > grace_s:
        out.append(f"zombie time > grace ({z:.1f} s > {grace_s:g} s)")
    return out


# ---- the analysis -----------------------------------------------------------------------------

class _Cols:
    """The columns of one cycle as plain arrays; ``t`` in seconds after ``base_ns`` (the first
    row's instant), so float64 keeps ns precision however far from 1970 the run is."""

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
        m = np.zeros(len(self.t), dtype=bool)
        for k in kinds:
            m |= self.kind == k
        return np.flatnonzero(m)


def _power(ev: pd.DataFrame, base_ns: int, p: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """The power series (one row per transition, µs where powerd logged it): times and kinds."""
    p = power_events(ev) if p is None else p
    if p.empty:
        return np.zeros(0), np.zeros(0, dtype=object)
    ns = p["t"].to_numpy(dtype="datetime64[ns]").astype("int64")
    return (ns - base_ns) / 1e9, p["kind"].to_numpy(dtype=object)


def _phases(pw_t: np.ndarray, pw_kind: np.ndarray, start: float, end: float) -> list:
    out, cur, t0 = [], "full", start
    for t, k in zip(pw_t, pw_kind):
        if t < start or t > end:
            continue
        nxt = "sleep" if k == _K.SLEEP.value else "dark" if k == _K.DARK_WAKE.value else "full"
        if nxt != cur:
            if t > t0:
                out.append((t0, t, cur))
            cur, t0 = nxt, t
    out.append((t0, end, cur))
    return out


class _PhaseAt:
    def __init__(self, phases: list):
        self.starts = [p[0] for p in phases]
        self.names = [p[2] for p in phases]

    def __call__(self, t: float) -> str:
        i = bisect.bisect_right(self.starts, t) - 1
        return self.names[max(i, 0)] if self.names else "full"


def _intervals(changes: list[tuple[float, str]], start: float, end: float, initial: str) -> list:
    """[(t0, t1, state)] from state changes, merged, clipped to [start, end]."""
    out, cur, t0 = [], initial, start
    for t, s in changes:
        t = min(max(t, start), end)
        if s != cur:
            if t > t0:
                out.append((t0, t, cur))
            cur, t0 = s, t
    if end > t0 or not out:
        out.append((t0, end, cur))
    return out


def _overlap(a: list, b: list, lo: float, hi: float) -> list:
    """Intersections of two sorted lists of (t0, t1) within [lo, hi]."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s = max(a[i][0], b[j][0], lo)
        e = min(a[i][1], b[j][1], hi)
        if e > s:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def analyse_cycle(ev: pd.DataFrame, actions: list[dict], *, grace_s: float = 30.0,
                  tunnel_timeout_s: float = 60.0, before: dict | None = None,
                  power: pd.DataFrame | None = None) -> CycleAnalysis:
    """Score one cycle of one Mac. ``ev``: its events on the controller clock (any order);
    ``actions``: the journal's action records of the cycle (kind, t on the controller clock);
    ``before``: what was known when the window opened (:meth:`CycleAnalysis.final_states` of the
    Mac's previous cycle): ``tunnel`` (the extension's last word) and ``gateway`` (``alive`` or
    ``dead``; present when the run collects a gateway log, so a window in which the gateway says
    nothing about the Mac still has a gateway state). ``power``: the cycle's slice of
    :func:`rig.score.timeline.power_events`, when the caller computed it for many cycles at once."""
    before = before or {}
    c = _Cols(ev)
    sleep_act = next((a for a in actions if a["kind"] in SLEEP_ACTIONS), None)
    wake_act = next((a for a in actions if a["kind"] in WAKE_ACTIONS), None)
    if len(c.t) == 0:
        return CycleAnalysis({"sleep_start": pd.NaT, "full_wake": pd.NaT, "anchor": pd.NaT, "ttt_anchor": "",
                              "scorable": False, "why_unscorable": "no events in the cycle's window"})
    base = c.base_ns
    pw_t, pw_kind = _power(ev, base, power)
    rel = lambda a: float(a["t"]) - base / 1e9 if a else math.nan  # noqa: E731 - an action's instant
    win = (float(c.t[0]), float(c.t[-1]))

    # The rig's own sleep is the first one from shortly before its sleep action: the Mac was awake
    # and talking to the rig until then, so the margin only has to cover clock-offset error (which
    # grows with the SSH round trip: seconds on a slow door), never an earlier sleep.
    floor = max(win[0], rel(sleep_act) - SLEEP_MATCH_S) if sleep_act else win[0]
    sleeps = pw_t[(pw_kind == _K.SLEEP.value) & (pw_t >= floor)]
    sleep_start = float(sleeps[0]) if len(sleeps) else rel(sleep_act)
    fulls = pw_t[np.isin(pw_kind, list(_FULL)) & (pw_t > sleep_start)]
    full_t = float(fulls[0]) if len(fulls) else rel(wake_act)

    anchors: dict[str, float] = {}
    if wake_act:
        anchors["actuator"] = rel(wake_act)
    is_full = np.isin(c.kind, list(_FULL))
    for src, name in (("unified", "powerd"), ("pmset", "pmset")):
        m = is_full & (c.source == src)
        if not math.isnan(sleep_start):
            m &= c.t > sleep_start
        hit = np.flatnonzero(m)
        if len(hit):
            anchors[name] = float(c.t[hit[0]])
    anchor_name = next((n for n in ANCHORS if n in anchors), "")
    anchor = anchors.get(anchor_name, math.nan)

    res: dict = {"sleep_start": _ts(base, sleep_start), "full_wake": _ts(base, full_t),
                 "anchor": _ts(base, anchor), "ttt_anchor": anchor_name}
    if math.isnan(sleep_start) or math.isnan(full_t):
        res.update({"scorable": False, "why_unscorable": "no sleep or no full wake found in the logs"})
        return CycleAnalysis(res, window=win, origin_ns=base)
    win = (min(win[0], sleep_start), max(win[1], full_t))
    phases = _phases(pw_t, pw_kind, win[0], win[1])
    phase_at = _PhaseAt(phases)
    in_sleep = (c.t >= sleep_start) & (c.t < full_t)
    marks: list[Mark] = []

    def count(kind: Kind, mask=None) -> int:
        m = c.kind == kind.value
        return int((m & mask).sum()) if mask is not None else int(m.sum())

    res["sleep_s"] = full_t - sleep_start
    dark = [p for p in phases if p[2] == "dark" and sleep_start <= p[0] < full_t]
    res["dark_wakes"] = len(dark)
    res["dark_wake_s"] = float(sum(p[1] - p[0] for p in dark))
    res["reconnects_in_sleep"] = count(_K.TUNNEL_UP, in_sleep)
    res["handshakes_in_sleep"] = count(_K.HANDSHAKE_START, in_sleep)
    res["gw_sessions_in_sleep"] = count(_K.GW_SESSION_START, in_sleep)
    res["gw_sessions_created"] = count(_K.GW_SESSION_START)

    # -- extension: tunnel state, handshakes and the ones sleep cut off -------------------------
    ups = c.idx(_K.TUNNEL_UP.value)
    up_t = c.t[ups]
    hs = c.idx(_K.HANDSHAKE_START.value)
    sleep_rows = list(pw_t[pw_kind == _K.SLEEP.value])
    cut = 0
    for n, i in enumerate(hs):
        h, sid = c.t[i], c.session[i]
        later_ups = [c.t[u] for u in ups if c.t[u] > h and (not sid or not c.session[u] or c.session[u] == sid)]
        done = min(later_ups, default=math.inf)
        nxt = c.t[hs[n + 1]] if n + 1 < len(hs) else math.inf
        s = next((x for x in sleep_rows if x > h), math.inf)
        is_cut = s < min(done, nxt)
        cut += is_cut
        marks.append(Mark(h, "handshake_cut" if is_cut else "handshake",
                          "handshake cut off by sleep" if is_cut else "handshake", c.detail[i]))
    res["handshakes_cut_by_sleep"] = cut

    ext_rows = np.flatnonzero(np.isin(c.kind, list(_EXT_STATE)))
    first = next((c.kind[i] for i in ext_rows if c.kind[i] != _K.KEEPALIVE.value), None)
    # the last cycle's final word; else the precondition left the tunnel up, unless the first
    # word of this cycle says otherwise
    initial = before.get("tunnel") or ("down" if first in (_K.TUNNEL_UP.value, _K.HANDSHAKE_START.value) else "up")
    tunnel = _intervals([(c.t[i], _EXT_STATE[c.kind[i]]) for i in ext_rows], win[0], win[1], initial)
    for i in ups:
        marks.append(Mark(c.t[i], "tunnel_up", "tunnel up", c.detail[i]))
    for i in c.idx(_K.TUNNEL_DOWN.value):
        marks.append(Mark(c.t[i], "tunnel_down", "tunnel down", c.detail[i]))

    # -- gateway: sessions alive or dead, DPD terminations ---------------------------------------
    gw_rows = np.flatnonzero(c.source == "gateway")
    gateway: list = []
    gw_starts = [c.t[i] for i in gw_rows if c.kind[i] == _K.GW_SESSION_START.value]
    dpd: list[int] = []
    if len(gw_rows) or before.get("gateway"):
        # as before the window (default alive) until an end is seen; then alive while some
        # session started since is not ended
        live: set = set()
        pending: dict = {}       # session ('' if unknown) -> its DPD line not yet matched by an end
        changes = []
        for n, i in enumerate(gw_rows):
            k, sid = c.kind[i], c.session[i]
            if k == _K.GW_SESSION_START.value:
                live.add(sid or f"#{n}")
            elif k in (_K.GW_SESSION_END.value, _K.GW_DPD_TIMEOUT.value):
                if k == _K.GW_DPD_TIMEOUT.value:
                    dpd.append(i)
                    pending[sid] = i
                elif "dpd" in str(c.detail[i]).lower():
                    key = sid if sid in pending else ("" if "" in pending else None)
                    if key is not None and c.t[i] - c.t[pending[key]] <= 10.0:
                        del pending[key]      # the end that follows a DPD line: one termination
                    else:
                        dpd.append(i)
                if sid:
                    live.discard(sid)
                elif k == _K.GW_SESSION_END.value and len(live) == 1:
                    live.clear()
                elif k == _K.GW_DPD_TIMEOUT.value:
                    continue             # no session named: the end line that follows says which
            else:
                continue
            changes.append((c.t[i], "alive" if live else "dead"))
        gateway = _intervals(changes, win[0], win[1], before.get("gateway") or "alive")
    dpd_t = [c.t[i] for i in dpd]
    res["dpd_terminations"] = len(dpd_t)
    res["dpd_in_sleep"] = sum(1 for t in dpd_t if sleep_start <= t < full_t)

    # -- alerts: extension side and gateway side, each false (asleep|dark|recovered) or true -----
    grace = grace_s
    alerts = {f"alerts_{side}_false_{why}": 0 for side in ("ext", "gw") for why in ALERT_WHYS}
    true_ext = true_gw = 0
    for i in c.idx(_K.ALERT_DISCONNECTED.value):
        a = c.t[i]
        if sleep_start <= a < full_t:
            why = "asleep" if phase_at(a) == "sleep" else "dark"
        elif ((up_t > a) & (up_t <= a + grace)).any():
            why = "recovered"
        else:
            why = ""
        if why:
            alerts[f"alerts_ext_false_{why}"] += 1
        else:
            true_ext += 1
        marks.append(Mark(a, "alert", f"extension alert: {'false, ' + why if why else 'TRUE'}", c.detail[i],
                          false=bool(why)))
    for i in dpd:
        d = c.t[i]
        if sleep_start <= d < full_t:
            why = "asleep" if phase_at(d) == "sleep" else "dark"
        elif any(d < s <= d + grace for s in gw_starts) or _state_after(gateway, d) == "alive":
            why = "recovered"
        else:
            why = ""
        if why:
            alerts[f"alerts_gw_false_{why}"] += 1
        else:
            true_gw += 1
        marks.append(Mark(d, "dpd", f"gateway DPD end: {'false alert, ' + why if why else 'TRUE alert'}",
                          c.detail[i], false=bool(why)))
    res.update(alerts)
    res["alerts_ext_false"] = sum(alerts[f"alerts_ext_false_{w}"] for w in ALERT_WHYS)
    res["alerts_gw_false"] = sum(alerts[f"alerts_gw_false_{w}"] for w in ALERT_WHYS)
    res["true_alerts_ext"] = true_ext
    res["true_alerts_gw"] = true_gw
    res["true_alerts"] = true_ext + true_gw
    res["false_alerts"] = res["alerts_ext_false"] + res["alerts_gw_false"]

    # -- probe (a canary through the tunnel), when the Mac runs one ------------------------------
    pr = c.idx(_K.PROBE_OK.value, _K.PROBE_FAIL.value)
    probe = []
    if len(pr):
        changes = [(c.t[i], "ok" if c.kind[i] == _K.PROBE_OK.value else "fail") for i in pr]
        probe = _intervals(changes, win[0], win[1], "unknown")

    # -- time-to-tunnel from every anchor ----------------------------------------------------------
    def survived(t: float) -> bool:
        """The extension's session was up at the wake and the gateway had not ended it."""
        return _state_at(tunnel, t) == "up" and _state_at(gateway, t) != "dead"

    res.update(_ttt(c, anchor, tunnel_timeout_s, ups, pr, survived))
    for name in ANCHORS:
        res[f"ttt_from_{name}_s"] = _ttt(c, anchors[name], tunnel_timeout_s, ups, pr, survived)["ttt_s"] \
            if name in anchors else math.nan
    for name, t in anchors.items():
        marks.append(Mark(t, "anchor", f"wake anchor: {name}" + (" (used)" if name == anchor_name else "")))

    # -- zombie time: the extension says up, the probe or the gateway says dead --------------------
    if len(pr):
        dead, evidence = [(a, b) for a, b, s in probe if s == "fail"], "probe"
    elif gateway:
        dead, evidence = [(a, b) for a, b, s in gateway if s == "dead"], "gateway"
    else:
        dead, evidence = [], "none"
    full_after = [(a, b) for a, b, s in phases if s == "full" and b > full_t]
    up_iv = [(a, b) for a, b, s in tunnel if s == "up"]
    zombie = _overlap(_overlap(up_iv, full_after, full_t, win[1]), dead, full_t, win[1]) if dead else []
    # two hosts' lines a few ms apart are within the clocks' agreement, not a zombie
    zombie = [(a, b) for a, b in zombie if b - a >= ZOMBIE_MIN_S]
    res["zombie_s"] = float(sum(b - a for a, b in zombie)) if evidence != "none" else math.nan
    res["zombie_evidence"] = evidence

    # -- callbacks in dark wakes, keep-alive gaps ---------------------------------------------------
    wakes = c.idx(_K.EXT_WAKE.value)
    sleeps_cb = c.idx(_K.EXT_SLEEP.value)
    res["dark_wake_wake_callbacks"] = sum(1 for i in wakes if in_sleep[i] and phase_at(c.t[i]) == "dark")
    # sleep() comes just before the power line that ends the dark wake: judge it a µs earlier
    res["dark_wake_sleep_callbacks"] = sum(1 for i in sleeps_cb
                                           if sleep_start < c.t[i] <= full_t and phase_at(c.t[i] - _EPS) == "dark")
    dw = res["dark_wakes"]
    res["wake_callbacks_per_dark_wake"] = res["dark_wake_wake_callbacks"] / dw if dw else math.nan
    res["sleep_callbacks_per_dark_wake"] = res["dark_wake_sleep_callbacks"] / dw if dw else math.nan
    res["keepalive_gap_max_s"] = _keepalive_gap(c)

    # -- the build's own dark/full verdicts against the power log ---------------------------------
    is_wake = np.isin(pw_kind, list(_FULL)) | (pw_kind == _K.DARK_WAKE.value)
    wake_t, wake_kind = list(pw_t[is_wake]), list(pw_kind[is_wake])
    conf = {f"verdict_true_{a}_said_{b}": 0 for a in ("dark", "full") for b in ("dark", "full")}
    unmatched = 0
    for i in c.idx(_K.WAKE_CLASSIFIED.value):
        said = str(c.detail[i]).strip().lower()
        j = bisect.bisect_right(wake_t, c.t[i]) - 1
        if said not in ("dark", "full") or j < 0:
            unmatched += 1
            marks.append(Mark(c.t[i], "verdict", "wake verdict (unmatched)", c.detail[i]))
            continue
        truth = "dark" if wake_kind[j] == _K.DARK_WAKE.value else "full"
        conf[f"verdict_true_{truth}_said_{said}"] += 1
        marks.append(Mark(c.t[i], "verdict", f"build says {said}, power log says {truth}", c.detail[i],
                          false=said != truth))
    res.update(conf)
    res["verdicts"] = sum(conf.values()) + unmatched
    res["verdict_errors"] = conf["verdict_true_dark_said_full"] + conf["verdict_true_full_said_dark"]
    res["verdicts_unmatched"] = unmatched

    marks.sort(key=lambda m: m.t)
    return CycleAnalysis({**res, "scorable": True}, origin_ns=base, window=win, phases=phases, tunnel=tunnel,
                         gateway=gateway,
                         probe=probe, zombie=zombie, marks=marks, anchors=anchors)


def _keepalive_gap(c: _Cols) -> float:
    """The longest silence inside one session: between its start and its keep-alives, in order.

    Measured on the extension's side (``tunnel_up`` + ``keepalive``) and on the gateway's
    (``gw_session_start`` + ``gw_keepalive``, when it logs them); where both exist the gateway's
    word wins when it is denser (a build that offloads keep-alives to the kernel keeps the
    session alive through a sleep while its own log is silent). NaN: no session with two marks.
    """
    out = []
    for kinds in ((_K.TUNNEL_UP.value, _K.KEEPALIVE.value), (_K.GW_SESSION_START.value, _K.GW_KEEPALIVE.value)):
        idx = c.idx(*kinds)
        if not any(c.kind[i] == kinds[1] for i in idx):
            continue
        by_session: dict = {}
        for i in idx:
            by_session.setdefault(c.session[i], []).append(c.t[i])
        gaps = [float(np.diff(ts).max()) for ts in by_session.values() if len(ts) >= 2]
        if gaps:
            out.append(max(gaps))
    return min(out) if out else math.nan


def _state_after(intervals: list, t: float) -> str:
    """The state of a lane just after ``t`` ('' if the lane is empty)."""
    for a, b, s in intervals:
        if a <= t < b or (a > t):
            return s
    return intervals[-1][2] if intervals else ""


def _state_at(intervals: list, t: float) -> str:
    """The state of a lane just before ``t`` ('' if the lane is empty)."""
    for a, b, s in intervals:
        if a < t <= b:
            return s
    return intervals[0][2] if intervals and t <= intervals[0][0] else (intervals[-1][2] if intervals else "")


def _ttt(c: _Cols, anchor: float, timeout_s: float, ups: np.ndarray, probes: np.ndarray, survived) -> dict:
    if math.isnan(anchor):
        return {"ttt_s": math.nan, "ttt_censored": True, "ttt_evidence": "no wake anchor"}
    hi = anchor + timeout_s
    if len(probes):
        oks = [c.t[i] for i in probes if c.kind[i] == _K.PROBE_OK.value and anchor <= c.t[i] <= hi]
        if oks:
            return {"ttt_s": oks[0] - anchor, "ttt_censored": False, "ttt_evidence": "probe"}
        return {"ttt_s": math.nan, "ttt_censored": True,
                "ttt_evidence": f"no probe success within {timeout_s:.0f} s"}
    if survived(anchor):
        return {"ttt_s": 0.0, "ttt_censored": False, "ttt_evidence": "session survived"}
    after = [c.t[i] for i in ups if anchor <= c.t[i] <= hi]
    if after:
        return {"ttt_s": after[0] - anchor, "ttt_censored": False, "ttt_evidence": "tunnel_up"}
    return {"ttt_s": math.nan, "ttt_censored": True, "ttt_evidence": f"no tunnel within {timeout_s:.0f} s"}
