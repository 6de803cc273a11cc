"""Alerts, each classified once, on the extension's side and on the gateway's.

Extension side: an ``alert_disconnected``. Gateway side: a DPD termination (that is what pages an
operator). An alert is *false* when it was raised ``asleep`` or in a ``dark`` wake (nobody was
using the Mac), or in full wake but the tunnel was back within the grace period (``recovered``:
the extension's ``tunnel_up``, or for the gateway side a new gateway session or a live gateway
lane, within ``grace_s``). Otherwise it is *true*: someone at the Mac lost the tunnel for longer
than the grace.
"""
from __future__ import annotations

from rig.events import GatewayState, Kind, Phase
from rig.score.lanes import state_after
from rig.score.marks import Mark, MarkKind
from rig.score.window import CycleColumns, Window

ALERT_WHYS = ("asleep", "dark", "recovered")
SIDES = ("ext", "gw")


def _why_in_sleep(w: Window, t: float) -> str:
    """``asleep`` or ``dark`` for an alert inside the sleep, else ''."""
    if not w.asleep(t):
        return ""
    return "asleep" if w.phase_at(t) == Phase.SLEEP else "dark"


def classify_alerts(c: CycleColumns, w: Window, gateway: list, dpd: list[int], grace_s: float,
                    marks: list[Mark]) -> dict:
    """Every alert of the cycle, false by reason or true, as ``cycles.csv`` columns; marks each."""
    res = {f"alerts_{side}_false_{why}": 0 for side in SIDES for why in ALERT_WHYS}
    up_t = c.t[c.idx(Kind.TUNNEL_UP.value)]
    ext = []
    for i in c.idx(Kind.ALERT_DISCONNECTED.value):
        a = c.t[i]
        ext.append((a, _why_in_sleep(w, a) or ("recovered" if ((up_t > a) & (up_t <= a + grace_s)).any() else ""),
                    c.detail[i]))
    gw_starts = [c.t[i] for i in c.idx(Kind.GW_SESSION_START.value) if c.source[i] == "gateway"]
    gw = []
    for i in dpd:
        d = c.t[i]
        back = any(d < s <= d + grace_s for s in gw_starts) or state_after(gateway, d) == GatewayState.ALIVE
        gw.append((d, _why_in_sleep(w, d) or ("recovered" if back else ""), c.detail[i]))
    true_ext = _tally(res, "ext", ext, MarkKind.ALERT, "extension alert: false, ", "extension alert: TRUE", marks)
    true_gw = _tally(res, "gw", gw, MarkKind.DPD, "gateway DPD end: false alert, ", "gateway DPD end: TRUE alert",
                     marks)
    res["alerts_ext_false"] = sum(res[f"alerts_ext_false_{w_}"] for w_ in ALERT_WHYS)
    res["alerts_gw_false"] = sum(res[f"alerts_gw_false_{w_}"] for w_ in ALERT_WHYS)
    res["true_alerts_ext"] = true_ext
    res["true_alerts_gw"] = true_gw
    res["true_alerts"] = true_ext + true_gw
    res["false_alerts"] = res["alerts_ext_false"] + res["alerts_gw_false"]
    return res


def dpd_counts(w: Window, c: CycleColumns, dpd: list[int]) -> dict:
    """DPD terminations in the cycle and in its sleep."""
    dpd_t = [c.t[i] for i in dpd]
    return {"dpd_terminations": len(dpd_t), "dpd_in_sleep": sum(1 for t in dpd_t if w.asleep(t))}


def _tally(res: dict, side: str, alerts: list, kind: MarkKind, false_label: str, true_label: str,
           marks: list[Mark]) -> int:
    """Count one side's alerts (instant, why false or "", detail) into ``res`` by reason and mark
    each on the timeline; the number of true ones."""
    true = 0
    for t, why, detail in alerts:
        if why:
            res[f"alerts_{side}_false_{why}"] += 1
        else:
            true += 1
        marks.append(Mark(t, kind, false_label + why if why else true_label, detail, false=bool(why)))
    return true
