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
  keep-alive gap inside one session (see :func:`rig.score.callbacks.keepalive_gap`), and the
  build's own dark/full verdicts (``wake_classified`` rows, verdict in ``detail``) against the
  power log's truth, as a confusion matrix.
- **on-demand dark wakes** (``--dark-wake-every``): Wake-on-LAN packets sent, and the dark and
  full wakes the Mac's own lines show for them (:mod:`~rig.score.on_demand`).

:func:`analyse_cycle` returns the metrics (a flat dict: one row of ``cycles.csv``) together with
the intervals and marks the report draws, so the picture and the numbers can never disagree.
Times inside are seconds on the controller clock after the cycle's first event (``origin_ns``).

Each family lives in its own module, in the order :func:`analyse_cycle` runs them (that order is
also the column order of ``cycles.csv``): :mod:`~rig.score.window` (window and anchors),
:mod:`~rig.score.churn` (in-sleep counts, handshakes), :mod:`~rig.score.lanes` (tunnel, gateway
and probe state, DPD terminations), :mod:`~rig.score.alerts`, :mod:`~rig.score.time_to_tunnel`,
:mod:`~rig.score.zombie`, :mod:`~rig.score.callbacks` (callbacks, keep-alive gaps),
:mod:`~rig.score.verdicts` and :mod:`~rig.score.on_demand`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from rig.score.alerts import ALERT_WHYS, classify_alerts, dpd_counts
from rig.score.callbacks import dark_wake_callbacks, keepalive_gap
from rig.score.churn import handshakes_cut, sleep_exposure
from rig.score.lanes import gateway_lane, probe_lane, tunnel_lane
from rig.score.marks import Mark, MarkKind
from rig.score.on_demand import on_demand_wakes
from rig.score.time_to_tunnel import time_to_tunnel
from rig.score.verdicts import wake_verdicts
from rig.score.window import ANCHORS, SLEEP_ACTIONS, SLEEP_MATCH_S, WAKE_ACTIONS, CycleColumns, find_window
from rig.score.zombie import ZOMBIE_MIN_S, zombie_time

__all__ = ["ALERT_WHYS", "ANCHORS", "SLEEP_ACTIONS", "SLEEP_MATCH_S", "WAKE_ACTIONS", "ZOMBIE_MIN_S",
           "CycleAnalysis", "Mark", "MarkKind", "analyse_cycle", "cycle_failures", "score_cycle"]


@dataclass
class CycleAnalysis:
    """The metrics of one cycle plus what its timeline picture shows (times: seconds after
    ``origin_ns``, the cycle's first event, ns since the epoch)."""

    metrics: dict
    origin_ns: int = 0
    window: tuple[float, float] = (math.nan, math.nan)
    phases: list = field(default_factory=list)       # [(t0, t1, Phase)]
    tunnel: list = field(default_factory=list)       # [(t0, t1, TunnelState)] extension's word
    gateway: list = field(default_factory=list)      # [(t0, t1, GatewayState)]; empty: no gateway rows
    probe: list = field(default_factory=list)        # [(t0, t1, ProbeState)]; empty: no probe rows
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
    c = CycleColumns(ev)
    if len(c.t) == 0:
        return CycleAnalysis({"sleep_start": pd.NaT, "full_wake": pd.NaT, "anchor": pd.NaT, "ttt_anchor": "",
                              "scorable": False, "why_unscorable": "no events in the cycle's window"})
    w = find_window(c, ev, actions, power)
    res = w.instants()
    if not w.complete:
        res.update({"scorable": False, "why_unscorable": "no sleep or no full wake found in the logs"})
        return CycleAnalysis(res, window=w.span, origin_ns=c.base_ns)
    marks: list[Mark] = []
    res.update(sleep_exposure(c, w))
    res.update(handshakes_cut(c, w, marks))
    tunnel = tunnel_lane(c, w.span, before, marks)
    gateway, dpd = gateway_lane(c, w.span, before)
    res.update(dpd_counts(w, c, dpd))
    res.update(classify_alerts(c, w, gateway, dpd, grace_s, marks))
    probes, probe = probe_lane(c, w.span)
    res.update(time_to_tunnel(c, w, tunnel, gateway, probes, tunnel_timeout_s, marks))
    zombie_res, zombie = zombie_time(w, tunnel, gateway, probe)
    res.update(zombie_res)
    res.update(dark_wake_callbacks(c, w))
    res["keepalive_gap_max_s"] = keepalive_gap(c)
    res.update(wake_verdicts(c, w, marks))
    res.update(on_demand_wakes(c, w))
    marks.sort(key=lambda m: m.t)
    return CycleAnalysis({**res, "scorable": True}, origin_ns=c.base_ns, window=w.span, phases=w.phases,
                         tunnel=tunnel, gateway=gateway, probe=probe, zombie=zombie, marks=marks,
                         anchors=w.anchors)
