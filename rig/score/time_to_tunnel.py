"""Time-to-tunnel (TTT): how long after the wake the tunnel carried traffic again.

Measured from each wake anchor present (:data:`rig.score.window.ANCHORS`: ``actuator``,
``powerd``, ``pmset``) and from the best one (named in ``ttt_anchor``). Evidence is the probe's
first success if the cycle has probe rows, else the first ``tunnel_up``; 0 if a live session
survived the sleep (the extension's last word before the wake was "up", possibly in an earlier
cycle, and the gateway had not ended the session). No evidence within the timeout is *censored*
(``ttt_censored``, ``ttt_s`` NaN): a failure, which every percentile counts as +inf
(:mod:`rig.metrics`).
"""
from __future__ import annotations

import math

import numpy as np

from rig.events import GatewayState, Kind, TunnelState
from rig.score.lanes import state_at
from rig.score.marks import Mark, MarkKind
from rig.score.window import ANCHORS, CycleColumns, Window


def time_to_tunnel(c: CycleColumns, w: Window, tunnel: list, gateway: list, probes: np.ndarray,
                   timeout_s: float, marks: list[Mark]) -> dict:
    """``ttt_s``/``ttt_censored``/``ttt_evidence`` from the best anchor, ``ttt_from_<anchor>_s``
    from each; marks every anchor."""
    ups = c.idx(Kind.TUNNEL_UP.value)

    def survived(t: float) -> bool:
        """The extension's session was up at the wake and the gateway had not ended it."""
        return state_at(tunnel, t) == TunnelState.UP and state_at(gateway, t) != GatewayState.DEAD

    res = ttt_from(c, w.anchor, timeout_s, ups, probes, survived)
    for name in ANCHORS:
        res[f"ttt_from_{name}_s"] = ttt_from(c, w.anchors[name], timeout_s, ups, probes, survived)["ttt_s"] \
            if name in w.anchors else math.nan
    for name, t in w.anchors.items():
        marks.append(Mark(t, MarkKind.ANCHOR, f"wake anchor: {name}" + (" (used)" if name == w.anchor_name else "")))
    return res


def ttt_from(c: CycleColumns, anchor: float, timeout_s: float, ups: np.ndarray, probes: np.ndarray,
             survived) -> dict:
    """Time-to-tunnel from one anchor (module docstring)."""
    if math.isnan(anchor):
        return {"ttt_s": math.nan, "ttt_censored": True, "ttt_evidence": "no wake anchor"}
    hi = anchor + timeout_s
    if len(probes):
        oks = [c.t[i] for i in probes if c.kind[i] == Kind.PROBE_OK.value and anchor <= c.t[i] <= hi]
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
