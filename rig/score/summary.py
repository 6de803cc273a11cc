"""The build's numbers (``scores.json``) from its cycle rows: totals and rates per sleep-hour,
time-to-tunnel percentiles with censored values counted as failures (rig.metrics), outcome
counts, per-Mac blocks and the worst Mac, and the gates and rules with value, limit and verdict.
Rig errors and unknown cycles are listed apart and never enter any of them.
"""
from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rig.metrics import time_summary, times
from rig.outcomes import Outcome, is_scored
from rig.score.gates import judge_all
from rig.score.sequential import ALPHA, BETA, Hypothesis, settle
from rig.score.suites import exposure as suite_exposure, shortfall

if TYPE_CHECKING:
    from rig.score.run_data import RunData

def dumps(obj) -> str:
    """JSON for a derived file: sorted keys, NaN and infinities as null (JSON has neither)."""
    return json.dumps(_clean(obj), indent=1, sort_keys=True, default=str, allow_nan=False)


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return None if not math.isfinite(float(o)) else float(o)
    if isinstance(o, pd.Timestamp):
        return None if pd.isna(o) else o.isoformat()
    return o


# ---- the build: totals, rates, times, outcomes -------------------------------------------------

#: Counts summed per build and given per sleep-hour.
COUNT_METRICS = (
    "reconnects_in_sleep", "handshakes_in_sleep", "handshakes_cut_by_sleep", "gw_sessions_in_sleep",
    "gw_sessions_created", "dpd_terminations", "dpd_in_sleep", "false_alerts", "true_alerts",
    "alerts_ext_false", "alerts_ext_false_asleep", "alerts_ext_false_dark", "alerts_ext_false_recovered",
    "alerts_gw_false", "alerts_gw_false_asleep", "alerts_gw_false_dark", "alerts_gw_false_recovered",
    "true_alerts_ext", "true_alerts_gw", "dark_wakes", "dark_wake_wake_callbacks", "dark_wake_sleep_callbacks",
    "verdicts", "verdict_errors", "verdicts_unmatched", "wol_sent", "wol_dark_wakes", "wol_full_wakes",
)


def _num(v) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def _sum(rows: list[dict], metric: str) -> int:
    return int(sum(x for x in (_num(r.get(metric)) for r in rows) if not math.isnan(x)))


def _build_block(scored: list[dict], grace_s: float) -> dict:
    """Totals, rates and times over some scored cycles (a build, or one Mac of it)."""
    total = {m: _sum(scored, m) for m in COUNT_METRICS}
    sleep_h = sum(_num(r.get("sleep_s")) for r in scored if not math.isnan(_num(r.get("sleep_s")))) / 3600
    ttt = sorted(_num(r.get("ttt_s")) for r in scored if not r.get("ttt_censored") and not math.isnan(_num(r.get("ttt_s"))))
    censored = sum(1 for r in scored if r.get("ttt_censored"))
    zombie = [_num(r.get("zombie_s")) for r in scored if not math.isnan(_num(r.get("zombie_s")))]
    gaps = [_num(r.get("keepalive_gap_max_s")) for r in scored if not math.isnan(_num(r.get("keepalive_gap_max_s")))]
    dw = total["dark_wakes"]
    return {
        "totals": total,
        "sleep_hours": sleep_h,
        "rates_per_sleep_hour": {m: (total[m] / sleep_h if sleep_h else None) for m in COUNT_METRICS},
        # p50/p95/max over every wake, censored ones as +inf: the registry's one definition,
        # the same number the ttt_s gates judge (rig/metrics.py)
        "ttt": {"n": len(ttt), "censored": censored,
                "censored_fraction": censored / len(scored) if scored else None,
                **time_summary(times(scored, "ttt_s")),
                "anchors": _counts(r.get("ttt_anchor") for r in scored),
                "evidence": _counts(str(r.get("ttt_evidence", "")).split(" within")[0] for r in scored)},
        "zombie": {"evidence": _counts(r.get("zombie_evidence") for r in scored),
                   "total_s": float(sum(zombie)), "max_s": max(zombie) if zombie else None,
                   "cycles_over_grace": sum(1 for z in zombie if z > grace_s)},
        "callbacks_per_dark_wake": {"wake": total["dark_wake_wake_callbacks"] / dw if dw else None,
                                    "sleep": total["dark_wake_sleep_callbacks"] / dw if dw else None},
        "keepalive_gap_max_s": max(gaps) if gaps else None,
        "wake_verdicts": {f"true_{a}": {f"said_{b}": _sum(scored, f"verdict_true_{a}_said_{b}")
                                        for b in ("dark", "full")} for a in ("dark", "full")},
    }


def _counts(values) -> dict:
    out: dict = {}
    for v in values:
        if v:
            out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))


def summarize(data: RunData, rows: list[dict], bad: dict) -> dict:
    """The build's numbers (scores.json): rig errors and unknown cycles are listed apart and
    never enter a total, a rate or a gate."""
    scored = [r for r in rows if is_scored(r)]
    outcomes = _counts(r["outcome"] for r in rows)
    gates = judge_all(data.gates, scored) if scored else [
        {**g.judge([]), "verdict": "fail"} for g in data.gates]
    rules = _rules(scored, data.grace_s)
    hangs = sum(1 for r in rows if r["outcome"] == Outcome.DUT_HANG.value)
    # A Mac that hung after wake is the device's failure: the build cannot pass such a night.
    ok = all(g["verdict"] == "pass" for g in gates + rules)
    verdict = "no data" if not scored else ("pass" if ok and not hangs else "fail")
    settled = _settled(data.meta, scored)
    if settled and verdict in ("pass", "fail"):
        # a sequential run: a failure seen stands, a settled FAIL fails, and only a settled
        # PASS passes; a test that did not settle (at --max-cycles) is inconclusive
        verdict = ("fail" if verdict == "fail" or settled["state"] == "settled fail"
                   else "pass" if settled["state"] == "settled pass" else "inconclusive")
    block = _build_block(scored, data.grace_s)
    exposure = _exposure(data.meta, block, len(scored))
    if verdict == "pass" and exposure["short"]:
        verdict = "inconclusive"    # nothing failed, but too little was seen for a pass to mean it
    per_mac = {}
    for mac in sorted({r["mac"] for r in rows}):
        mine = [r for r in rows if r["mac"] == mac]
        sc = [r for r in mine if is_scored(r)]
        b = _build_block(sc, data.grace_s)
        per_mac[mac] = {"cycles": len(mine), "cycles_scored": len(sc), "outcomes": _counts(r["outcome"] for r in mine),
                        "failed": sum(1 for r in mine if r["outcome"] in (Outcome.FAIL.value, Outcome.DUT_HANG.value)),
                        "totals": {m: b["totals"][m] for m in ("reconnects_in_sleep", "false_alerts", "true_alerts",
                                                               "dark_wakes", "dpd_terminations",
                                                               "wol_sent", "wol_dark_wakes", "wol_full_wakes")},
                        "ttt": {k: b["ttt"][k] for k in ("p50", "p95", "max", "censored", "p95_censored")},
                        "zombie_cycles_over_grace": b["zombie"]["cycles_over_grace"]}
    return {
        "build": data.meta.get("build"),
        "verdict": verdict,
        "exposure": exposure,
        **({"settled": settled} if settled else {}),
        "cycles": len(rows),
        "cycles_scored": len(scored),
        "outcomes": outcomes,
        "unscored": {o.value: outcomes.get(o.value, 0) for o in Outcome if not o.scored},
        "gates": gates,
        "rules": rules,
        "grace_s": data.grace_s,
        "tunnel_timeout_s": data.tunnel_timeout_s,
        **block,
        "per_mac": per_mac,
        "worst_mac": _worst(per_mac),
        "bad_lines": bad,
        "journal_torn_lines": data.torn,
        "rig_errors": [{"mac": r["mac"], "cycle": r["cycle"], "outcome": r["outcome"], "reason": r.get("reason", "")}
                       for r in rows if not is_scored(r)],
    }


def _rules(scored: list[dict], grace_s: float) -> list[dict]:
    """The definitions every suite shares (DESIGN.md), reported like gates: value, limit, verdict."""
    censored = sum(1 for r in scored if r.get("ttt_censored"))
    z = [_num(r.get("zombie_s")) for r in scored]
    z = [x for x in z if not math.isnan(x)]
    over = sum(1 for x in z if x > grace_s)
    return [
        {"name": "no tunnel within the timeout", "metric": "ttt_censored", "agg": "count", "op": "==",
         "limit": 0, "unit": "cycles", "value": censored, "verdict": "pass" if censored == 0 else "fail"},
        {"name": "zombie time over the grace", "metric": "zombie_s", "agg": "count", "op": "==", "limit": 0,
         "unit": f"cycles with > {grace_s:g} s", "value": over, "verdict": "pass" if over == 0 else "fail"},
    ]


def _worst(per_mac: dict) -> str:
    """The Mac a reader should look at first: most failed cycles, then most alerts and reconnects."""
    if not per_mac:
        return ""
    def badness(item):
        mac, m = item
        t = m["totals"]
        return (m["failed"], t["false_alerts"] + t["true_alerts"] + t["reconnects_in_sleep"],
                m["ttt"]["p95"] or 0.0, mac)
    return max(per_mac.items(), key=badness)[0]


def _settled(meta: dict, scored: list[dict]) -> dict | None:
    """The sequential test over the scored cycles of a run made with ``--until-settled``
    (run.json's ``sequential``: its hypotheses, pooling and error rates), else None."""
    spec = meta.get("sequential")
    if not spec:
        return None
    hyps = [Hypothesis(**h) for h in spec["hypotheses"]]
    macs = {m: list(v.get("tags", [])) for m, v in (meta.get("macs") or {}).items()}
    out = settle(hyps, scored, macs, spec.get("pool", "tags"), spec.get("alpha", ALPHA), spec.get("beta", BETA))
    out["max_cycles"] = spec.get("max_cycles")
    return out


def _exposure(meta: dict, block: dict, scored: int) -> dict:
    """What the suite needs seen (run.json's ``exposure``, else the suite's), what the scored
    cycles saw, and each shortfall in words."""
    needed = meta["exposure"] if "exposure" in meta else suite_exposure(meta.get("suite", ""))
    seen = {"dark_wakes": int(block["totals"].get("dark_wakes", 0) or 0),
            "sleep_hours": round(float(block.get("sleep_hours") or 0.0), 3), "cycles": scored}
    return {"needed": needed, "seen": seen, "short": shortfall(needed, seen)}
