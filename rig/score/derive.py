"""Everything after "raw logs" is a pure function of the run folder (DESIGN.md, "The data path").

``score_run`` re-reads ``run.json``, the journal and ``raw/``; parses each cycle's files; moves
every row onto the controller's clock with the journaled offsets; adds the controller's own
events; scores each cycle; judges the gates; writes ``events.parquet``, ``cycles.csv`` and
``scores.json``, and hands back, already redacted, what the pages need
(:func:`rig.report.rebuild.derive_run` writes ``report.html`` and ``summary.md`` from it: the
score stage never imports the report stage). Re-running it on last month's run with a
fixed scorer gives last month's corrected numbers without touching hardware.

The cycles of one Mac are scored in order, because a cycle's logs alone cannot say everything:
a gateway that logs nothing about a Mac all cycle long still holds the state it was left in
(a session ended by DPD in the previous cycle stays dead), and so does the extension's word.
:func:`summarize` turns the cycle rows into the build's numbers (``scores.json``): totals and
rates per sleep-hour, time-to-tunnel percentiles with censored values counted as failures,
outcome counts, per-Mac blocks and the worst Mac, and the gates and rules with value, limit and
verdict. Rig errors and unknown cycles are listed apart and never enter any of them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rig import frame
from rig.events import POWER_KINDS, Kind, ParseResult, Source, row
from rig.score.gates import Gate, judge_all
from rig.parse.gateway_log import parse_gateway
from rig.journal import cycles_from_journal, read_run_journal
from rig.metrics import time_summary, times
from rig.outcomes import Outcome, is_scored
from rig.parse.pmset import parse_pmset
from rig.redact import Redactor
from rig.run_folder import RunFolder
from rig.score.analysis import CycleAnalysis, analyse_cycle, cycle_failures
from rig.parse.signatures import load_signatures
from rig.score.timeline import correct, offsets_frame, power_events

_POWER_KINDS = [k.value for k in POWER_KINDS]
_STR_COLUMNS = ("t_raw", "host", "mac", "source", "kind", "session", "detail", "caps")

OPEN_END = 4e9  # "until now" for a cycle whose end is not journaled yet (epoch seconds, year 2096)


class RunData:
    """What a run folder holds, loaded once."""

    def __init__(self, run_dir):
        self.folder = RunFolder(run_dir)
        self.meta = self.folder.meta()
        self.records, self.torn = read_run_journal(self.folder.path)  # + unmerged per-Mac parts
        self.cycles = cycles_from_journal(self.records)
        self.offsets = offsets_frame(self.records)
        sig = self.folder.signatures
        self.signatures = load_signatures(sig) if sig.exists() else None
        self.gates = [Gate.from_dict(g) for g in self.meta.get("gates", [])]
        plan = self.meta.get("plan", {})
        self.grace_s = float(plan.get("grace_s", 30.0))
        self.tunnel_timeout_s = float(plan.get("tunnel_timeout_s", 60.0))
        self.redactor = Redactor(self.meta.get("redact", []))


def _raw_rows(data: RunData, mac: str, k: int) -> tuple[list[dict], dict]:
    """The parsed rows of one cycle's raw files (host clocks) and the parsers' line counts."""
    raw = data.folder.cycle_dir(mac, k)
    counts: dict = {}
    results: list[ParseResult] = []
    p = raw / "pmset.log"
    if p.exists():
        r = parse_pmset(p.read_text("utf-8", "replace"), mac)
        counts["pmset"] = r.counts()
        results.append(r)
    u = raw / "unified.ndjson"
    if u.exists():
        from rig.parse.unified_log import parse_unified

        r = parse_unified(u.read_bytes(), mac, data.signatures)
        counts["unified"] = r.counts()
        results.append(r)
    g = raw / "gateway.log"
    gw = data.meta.get("gateway") or {}
    if g.exists() and gw:
        r = parse_gateway(g.read_text("utf-8", "replace"), gw["name"], gw["format"], gw.get("users", {}))
        counts["gateway"] = r.counts()
        r.rows = [x for x in r.rows if x["mac"] == mac]
        results.append(r)
    pr = raw / "probe.log"
    if pr.exists():
        from rig.drive.probe import parse_probe

        r = parse_probe(pr.read_text("utf-8", "replace"), mac)
        counts["probe"] = r.counts()
        results.append(r)
    return [x for r in results for x in r.rows], counts


def _controller_rows(cycle: dict) -> list[dict]:
    out = []
    for a in cycle.get("actions", []):
        out.append(row(_iso(a["t"]), repr(a["t"]), "controller", Source.CONTROLLER, a["kind"],
                       detail=a.get("request", ""), mac=cycle["mac"]))
    out.append(row(_iso(cycle["t"]), repr(cycle["t"]), "controller", Source.CONTROLLER, Kind.CYCLE_START,
                   mac=cycle["mac"]))
    if "reason" in cycle or cycle.get("outcome") != Outcome.UNKNOWN.value:
        end_t = cycle.get("t_end", cycle["t"])
        out.append(row(_iso(end_t), repr(end_t), "controller", Source.CONTROLLER, Kind.CYCLE_END,
                       detail=cycle.get("outcome", ""), mac=cycle["mac"]))
    return out


def _iso(epoch: float) -> str:
    return pd.Timestamp(epoch, unit="s", tz="UTC").isoformat()


def _ns(epoch: float) -> int:
    """An epoch instant as ns, rounded exactly as the controller's own rows are."""
    return pd.Timestamp(epoch, unit="s", tz="UTC").value


def cycle_events(data: RunData, mac: str, k: int, end: float | None = None) -> tuple[pd.DataFrame, dict]:
    """One cycle's events on the controller clock, limited to the cycle's window."""
    return mac_events(data, mac, [k], end)[k][:2]


def mac_events(data: RunData, mac: str, ks: list[int], end: float | None = None) -> dict:
    """Several cycles of one Mac: {k: (events on the controller clock in the cycle's window,
    line counts, power series)}. ``end`` overrides the window end of a cycle not journaled as
    ended yet.

    The cycles are parsed one by one (each from its own raw files only: overlapping collection
    windows never count a line twice) but framed and moved onto the controller clock together,
    which costs a few pandas operations per Mac instead of per cycle.
    """
    rows, src, counts = [], [], {}
    for k in ks:
        r, c = _raw_rows(data, mac, k)
        rows.extend(r)
        src.extend([k] * len(r))
        counts[k] = c
    ev = frame.to_frame(rows)
    ev["src"] = np.asarray(src, dtype="int64")
    pw = ev["kind"].isin(_POWER_KINDS).to_numpy()
    if pw.any() and len(ks) > 1:
        # pmset prints its whole history at every collection (a state's line gains its "N secs"
        # once the state ends), and log windows overlap: a power line belongs to the first
        # cycle's files that hold its instant and kind (the cycle it happened in)
        sub = ev.loc[pw, ["source", "t_raw", "kind"]].astype(str)
        key = sub["source"] + "\x1f" + sub["t_raw"] + "\x1f" + sub["kind"]
        first = ev.loc[pw, "src"].groupby(key.to_numpy()).transform("min")
        drop = np.zeros(len(ev), dtype=bool)
        drop[np.flatnonzero(pw)] = (ev.loc[pw, "src"] != first).to_numpy()
        ev = ev[~drop]
    ev = correct(ev, data.offsets)
    ctrl_rows, ctrl_src = [], []
    for k in ks:
        c = _controller_rows(data.cycles[(mac, k)])
        ctrl_rows.extend(c)
        ctrl_src.extend([k] * len(c))
    ctrl = frame.to_frame(ctrl_rows)
    ctrl["src"] = np.asarray(ctrl_src, dtype="int64")
    ev = frame.concat([ev, ctrl])
    ev = data.redactor.mask(ev)
    power = power_events(ev).drop(columns="src")
    src_a = ev["src"].to_numpy()
    # plain object columns: slicing them per cycle and reading them in the scorer is numpy-fast
    ev = ev.drop(columns="src").astype({c: object for c in _STR_COLUMNS})
    t_ns = ev["t"].to_numpy(dtype="datetime64[ns]").astype("int64")
    p_ns = power["t"].to_numpy(dtype="datetime64[ns]").astype("int64")
    out = {}
    for k in ks:
        cycle = data.cycles[(mac, k)]
        hi_s = end if (end is not None and k == ks[-1]) else (cycle.get("t_end") or OPEN_END)
        lo, hi = _ns(cycle["t"]), _ns(hi_s)
        part = ev.take(np.flatnonzero((src_a == k) & (t_ns >= lo) & (t_ns <= hi))).reset_index(drop=True)
        part["cycle"] = k
        pwr = power.take(np.flatnonzero((p_ns >= lo) & (p_ns <= hi)))
        out[k] = (part, counts[k], pwr)
    return out


def cycle_row(data: RunData, mac: str, k: int, end: float | None = None
               ) -> tuple[dict, pd.DataFrame, dict, CycleAnalysis | None]:
    """One cycle's row of cycles.csv (and its events, line counts and analysis). The cycle
    before it, when there is one, is analysed too: what the gateway last said about the Mac's
    session carries over into this cycle's window."""
    ks = [k - 1, k] if (mac, k - 1) in data.cycles else [k]
    return _analyse_mac(data, mac, ks, end)[-1]


def _analyse_mac(data: RunData, mac: str, ks: list[int], end: float | None = None) -> list[tuple]:
    """Rows, events, counts and analyses of cycles ``ks`` of one Mac, in order."""
    todo = [k for k in ks if data.cycles[(mac, k)].get("collected", False) or (end is not None and k == ks[-1])]
    events = mac_events(data, mac, todo, end) if todo else {}
    fresh = {"gateway": "alive"} if data.meta.get("gateway") else {}
    before = dict(fresh)
    out = []
    for k in ks:
        cycle = data.cycles[(mac, k)]
        base = {"mac": mac, "cycle": k, "t_start": cycle["t"], "outcome": cycle.get("outcome", "unknown"),
                "reason": data.redactor.mask(str(cycle.get("reason", "")))}
        if k not in events:
            before = dict(fresh)   # nothing known about the gap: start over
            out.append((base, frame.empty_frame(), {}, None))
            continue
        ev, counts, power = events[k]
        a = analyse_cycle(ev, cycle.get("actions", []), grace_s=data.grace_s,
                          tunnel_timeout_s=data.tunnel_timeout_s, before=before, power=power)
        before = {**fresh, **a.final_states()}
        base.update({k2: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k2, v in a.metrics.items()})
        if not a.metrics.get("scorable"):
            base["outcome"] = Outcome.RIG_ERROR.value
            base["reason"] = a.metrics.get("why_unscorable", "")
        else:
            missed = [g["name"] for g in judge_all(data.gates, [base]) if g["verdict"] == "fail"]
            missed += cycle_failures(base, data.grace_s)
            base["outcome"] = Outcome.FAIL.value if missed else Outcome.PASS.value
            base["missed_gates"] = ", ".join(missed)
        out.append((base, ev, counts, a))
    return out


def score_collected_cycle(run_dir, mac: str, k: int) -> dict:
    """Score a cycle that was just collected (the journal has no end record yet): its row of
    cycles.csv, with ``outcome`` pass/fail (or rig_error when its logs cannot be scored)."""
    data = RunData(run_dir)
    data.cycles[(mac, k)]["collected"] = True
    rowd, _, _, _ = cycle_row(data, mac, k, end=OPEN_END)
    return rowd


@dataclass
class Scored:
    """A scored run, as the report stage needs it; every string already redacted."""

    folder: RunFolder
    meta: dict
    scores: dict
    cycles: pd.DataFrame
    analyses: dict
    provenance: dict


def score_run(run_dir) -> Scored:
    """Rebuild the scored files of a run folder from ``raw/``, the journal and ``run.json``.

    Deterministic: the same inputs give byte-identical files (no 'now' inside, stable order).
    """
    data = RunData(run_dir)
    f = data.folder
    rows, frames, bad, analyses = [], [], {}, {}
    for mac in sorted({m for m, _ in data.cycles}):
        ks = sorted(k for m, k in data.cycles if m == mac)
        for r, ev, counts, a in _analyse_mac(data, mac, ks):
            k = r["cycle"]
            rows.append(r)
            frames.append(ev)
            if a is not None:
                analyses[(mac, k)] = a
            if counts:
                bad[f"{mac}/{k:03d}"] = counts
    events = frame.concat(frames)
    events.to_parquet(f.events, index=False)
    cycles = pd.DataFrame(rows)
    cycles.to_csv(f.cycles_csv, index=False)
    scores = summarize(data, rows, bad)
    f.scores_json.write_text(dumps(scores))
    meta, scores, cycles, analyses, prov = data.redactor.mask((data.meta, scores, cycles, analyses, provenance(data)))
    return Scored(f, meta, scores, cycles, analyses, prov)


def provenance(data: RunData) -> dict:
    """What the report's "how this was made" shows: the build each Mac reported, the exact
    collection commands of each Mac's first collected cycle, and the recovery steps taken."""
    installed = {r["mac"]: r.get("installed", "") for r in data.records if r.get("type") == "build"}
    collect: dict = {}
    for (mac, k) in sorted(data.cycles):
        if mac in collect:
            continue
        p = data.folder.cycle_dir(mac, k) / "collect.json"
        try:
            info = json.loads(p.read_text()) if p.exists() else None
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict):
            collect[mac] = {name: str(v.get("command", "")) for name, v in info.items() if isinstance(v, dict)}
    recoveries = [{k: r.get(k) for k in ("mac", "cycle", "step", "error") if k in r}
                  for r in data.records if r.get("type") == "recovery"]
    return {"installed": installed, "collect": collect, "recoveries": recoveries}


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
    "verdicts", "verdict_errors", "verdicts_unmatched",
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
    block = _build_block(scored, data.grace_s)
    per_mac = {}
    for mac in sorted({r["mac"] for r in rows}):
        mine = [r for r in rows if r["mac"] == mac]
        sc = [r for r in mine if is_scored(r)]
        b = _build_block(sc, data.grace_s)
        per_mac[mac] = {"cycles": len(mine), "cycles_scored": len(sc), "outcomes": _counts(r["outcome"] for r in mine),
                        "failed": sum(1 for r in mine if r["outcome"] in (Outcome.FAIL.value, Outcome.DUT_HANG.value)),
                        "totals": {m: b["totals"][m] for m in ("reconnects_in_sleep", "false_alerts", "true_alerts",
                                                               "dark_wakes", "dpd_terminations")},
                        "ttt": {k: b["ttt"][k] for k in ("p50", "p95", "max", "censored", "p95_censored")},
                        "zombie_cycles_over_grace": b["zombie"]["cycles_over_grace"]}
    return {
        "build": data.meta.get("build"),
        "verdict": verdict,
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
