"""Per-cycle scores (DESIGN.md, "Scores"): pure functions of one cycle's corrected events.

- **reconnects in sleep**: ``tunnel_up`` between the cycle's first ``sleep`` and its full wake.
- **false disconnect alerts**: an extension ``alert_disconnected`` while asleep or in a dark wake,
  or after full wake when the tunnel was back within the grace period; plus a gateway session
  ended by DPD while the Mac slept. True alerts: in full wake and followed by an outage longer
  than the grace.
- **time-to-tunnel**: full-wake anchor to the first ``tunnel_up`` (0 if a live session survived
  the sleep; censored, i.e. NaN with ``ttt_censored``, if nothing within the timeout). The anchor is
  the actuator's action when the rig woke the Mac, else powerd's µs line, else the pmset second.
"""
from __future__ import annotations

import math

import pandas as pd

from .events import FULL_KINDS, Kind
from .timeline import power_events

_FULL = [k.value for k in FULL_KINDS]
SLEEP_ACTIONS = (Kind.ACT_LID_CLOSE.value, Kind.CMD_SLEEPNOW.value)
WAKE_ACTIONS = (Kind.ACT_LID_OPEN.value, Kind.ACT_POWER_PRESS.value)


def _ts(x: float) -> pd.Timestamp:
    return pd.Timestamp(x, unit="s", tz="UTC")


def _kind(ev: pd.DataFrame, kind: Kind) -> pd.DataFrame:
    return ev[ev["kind"] == kind.value]


def score_cycle(ev: pd.DataFrame, actions: list[dict], *, grace_s: float = 30.0,
                tunnel_timeout_s: float = 60.0) -> dict:
    """Score one cycle of one Mac. ``ev``: its events on the controller clock, sorted by ``t``;
    ``actions``: the journal's action records of the cycle (kind, t on the controller clock)."""
    grace = pd.Timedelta(seconds=grace_s)
    sleep_act = next((a for a in actions if a["kind"] in SLEEP_ACTIONS), None)
    wake_act = next((a for a in actions if a["kind"] in WAKE_ACTIONS), None)
    power = power_events(ev)
    floor = _ts(sleep_act["t"]) - pd.Timedelta(seconds=2) if sleep_act else ev["t"].min()
    sleeps = power[(power["kind"] == Kind.SLEEP.value) & (power["t"] >= floor)]
    sleep_start = sleeps["t"].min() if len(sleeps) else (_ts(sleep_act["t"]) if sleep_act else pd.NaT)

    fulls = power[power["kind"].isin(_FULL) & (power["t"] > sleep_start)] if pd.notna(sleep_start) else power.iloc[0:0]
    full_t = fulls["t"].min() if len(fulls) else (_ts(wake_act["t"]) if wake_act else pd.NaT)

    anchors = {}
    if wake_act:
        anchors["actuator"] = _ts(wake_act["t"])
    for src, name in (("unified", "powerd"), ("pmset", "pmset")):
        p = ev[(ev["source"] == src) & ev["kind"].isin(_FULL)]
        if pd.notna(sleep_start):
            p = p[p["t"] > sleep_start]
        if len(p):
            anchors[name] = p["t"].min()
    anchor_name = next((n for n in ("actuator", "powerd", "pmset") if n in anchors), "")
    anchor = anchors.get(anchor_name, pd.NaT)

    res: dict = {"sleep_start": sleep_start, "full_wake": full_t, "anchor": anchor, "ttt_anchor": anchor_name}
    if pd.isna(sleep_start) or pd.isna(full_t):
        res.update({"scorable": False, "why_unscorable": "no sleep or no full wake found in the logs"})
        return res

    in_sleep = (ev["t"] >= sleep_start) & (ev["t"] < full_t)
    ups = _kind(ev, Kind.TUNNEL_UP)
    res["sleep_s"] = (full_t - sleep_start).total_seconds()
    res["dark_wakes"] = int(((power["kind"] == Kind.DARK_WAKE.value) & (power["t"] >= sleep_start)
                             & (power["t"] < full_t)).sum())
    res["reconnects_in_sleep"] = int((in_sleep & (ev["kind"] == Kind.TUNNEL_UP.value)).sum())
    res["handshakes_in_sleep"] = int((in_sleep & (ev["kind"] == Kind.HANDSHAKE_START.value)).sum())
    res["gw_sessions_in_sleep"] = int((in_sleep & (ev["kind"] == Kind.GW_SESSION_START.value)).sum())

    # alerts: extension side
    ext_false_sleep = ext_false_grace = ext_true = 0
    for t in _kind(ev, Kind.ALERT_DISCONNECTED)["t"]:
        if sleep_start <= t < full_t:
            ext_false_sleep += 1
        elif ((ups["t"] > t) & (ups["t"] <= t + grace)).any():
            ext_false_grace += 1
        else:
            ext_true += 1
    # alerts: gateway side (a session ended by dead-peer detection while the Mac slept)
    ends = _kind(ev, Kind.GW_SESSION_END)
    dpd = ends[ends["detail"].str.contains("DPD", case=False)] if len(ends) else _kind(ev, Kind.GW_DPD_TIMEOUT)
    gw_false = int(((dpd["t"] >= sleep_start) & (dpd["t"] < full_t)).sum())
    res.update({"alerts_ext_false_asleep": ext_false_sleep, "alerts_ext_false_recovered": ext_false_grace,
                "alerts_gw_false_dpd": gw_false, "true_alerts": ext_true,
                "false_alerts": ext_false_sleep + ext_false_grace + gw_false,
                "dpd_terminations": int(((dpd["t"] >= sleep_start) & (dpd["t"] <= full_t)).sum())})

    # time-to-tunnel
    res.update(_ttt(ev, anchor, tunnel_timeout_s))
    for name, a in anchors.items():
        res[f"ttt_from_{name}_s"] = _ttt(ev, a, tunnel_timeout_s)["ttt_s"]
    return {**res, "scorable": True}


def _ttt(ev: pd.DataFrame, anchor: pd.Timestamp, timeout_s: float) -> dict:
    before = ev[(ev["t"] < anchor) & ev["kind"].isin(
        [Kind.TUNNEL_UP.value, Kind.TUNNEL_DOWN.value, Kind.GW_SESSION_END.value])]
    if len(before) and before["kind"].iloc[-1] == Kind.TUNNEL_UP.value:
        return {"ttt_s": 0.0, "ttt_censored": False, "ttt_evidence": "session survived"}
    ups = ev[(ev["kind"] == Kind.TUNNEL_UP.value) & (ev["t"] >= anchor)
             & (ev["t"] <= anchor + pd.Timedelta(seconds=timeout_s))]
    if len(ups):
        return {"ttt_s": (ups["t"].iloc[0] - anchor).total_seconds(), "ttt_censored": False,
                "ttt_evidence": "tunnel_up"}
    return {"ttt_s": math.nan, "ttt_censored": True, "ttt_evidence": f"no tunnel within {timeout_s:.0f} s"}
