"""Everything after "raw logs" is a pure function of the run folder (DESIGN.md, "The data path").

``derive_run`` re-reads ``run.json``, the journal and ``raw/``; parses each cycle's files; moves
every row onto the controller's clock with the journaled offsets; adds the controller's own
events; scores each cycle; judges the gates; and writes ``events.parquet``, ``cycles.csv``,
``scores.json``, ``report.html`` and ``summary.md``. Re-running it on last month's run with a
fixed scorer gives last month's corrected numbers without touching hardware.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from . import frame, report
from .events import Kind, ParseResult, Source, row
from .gates import Gate, judge_all
from .gateway_log import parse_gateway
from .journal import cycles_from_journal, read_journal
from .outcomes import Outcome
from .pmset import parse_pmset
from .redact import Redactor
from .run_folder import RunFolder
from .scores import score_cycle
from .signatures import load_signatures
from .timeline import correct, offsets_frame

OPEN_END = 4e9  # "until now" for a cycle whose end is not journaled yet (epoch seconds, year 2096)


class RunData:
    """What a run folder holds, loaded once."""

    def __init__(self, run_dir):
        self.folder = RunFolder(run_dir)
        self.meta = self.folder.meta()
        self.records, self.torn = read_journal(self.folder.journal)
        self.cycles = cycles_from_journal(self.records)
        self.offsets = offsets_frame(self.records)
        sig = self.folder.signatures
        self.signatures = load_signatures(sig) if sig.exists() else None
        self.gates = [Gate.from_dict(g) for g in self.meta.get("gates", [])]
        plan = self.meta.get("plan", {})
        self.grace_s = float(plan.get("grace_s", 30.0))
        self.tunnel_timeout_s = float(plan.get("tunnel_timeout_s", 60.0))
        self.redactor = Redactor(self.meta.get("redact", []))


def _parse_cycle(data: RunData, mac: str, k: int) -> tuple[pd.DataFrame, dict]:
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
        from .unified_log import parse_unified

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
    rows = [x for r in results for x in r.rows]
    return frame.to_frame(rows), counts


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


def cycle_events(data: RunData, mac: str, k: int, end: float | None = None) -> tuple[pd.DataFrame, dict]:
    """One cycle's events on the controller clock, limited to the cycle's window."""
    cycle = data.cycles[(mac, k)]
    ev, counts = _parse_cycle(data, mac, k)
    ev = correct(ev, data.offsets)
    ctrl = frame.to_frame(_controller_rows(cycle))
    ev = frame.concat([ev, ctrl])
    lo = pd.Timestamp(cycle["t"], unit="s", tz="UTC")
    hi = pd.Timestamp(end if end is not None else cycle.get("t_end") or OPEN_END, unit="s", tz="UTC")
    ev = ev[(ev["t"] >= lo) & (ev["t"] <= hi)].copy()
    ev["detail"] = data.redactor.series(ev["detail"])
    ev["cycle"] = k
    return ev.reset_index(drop=True), counts


def _cycle_row(data: RunData, mac: str, k: int, end: float | None = None) -> tuple[dict, pd.DataFrame, dict]:
    cycle = data.cycles[(mac, k)]
    base = {"mac": mac, "cycle": k, "t_start": cycle["t"], "outcome": cycle.get("outcome", "unknown"),
            "reason": cycle.get("reason", "")}
    collected = cycle.get("collected", False) or end is not None
    if not collected:
        return base, frame.empty_frame(), {}
    ev, counts = cycle_events(data, mac, k, end)
    s = score_cycle(ev, cycle.get("actions", []), grace_s=data.grace_s, tunnel_timeout_s=data.tunnel_timeout_s)
    base.update({k2: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k2, v in s.items()})
    if not s.get("scorable"):
        base["outcome"] = Outcome.RIG_ERROR.value
        base["reason"] = s.get("why_unscorable", "")
    else:
        missed = [g["name"] for g in judge_all(data.gates, [base]) if g["verdict"] == "fail"]
        base["outcome"] = Outcome.FAIL.value if missed else Outcome.PASS.value
        base["missed_gates"] = ", ".join(missed)
    return base, ev, counts


def score_collected_cycle(run_dir, mac: str, k: int) -> dict:
    """Score a cycle that was just collected (the journal has no end record yet): its row of
    cycles.csv, with ``outcome`` pass/fail (or rig_error when its logs cannot be scored)."""
    data = RunData(run_dir)
    data.cycles[(mac, k)]["collected"] = True
    rowd, _, _ = _cycle_row(data, mac, k, end=OPEN_END)
    return rowd


def derive_run(run_dir) -> dict:
    data = RunData(run_dir)
    f = data.folder
    rows, frames, bad = [], [], {}
    for (mac, k), cycle in sorted(data.cycles.items()):
        r, ev, counts = _cycle_row(data, mac, k)
        rows.append(r)
        frames.append(ev)
        if counts:
            bad[f"{mac}/{k:03d}"] = counts
    events = frame.concat(frames)
    events.to_parquet(f.events, index=False)
    cycles = pd.DataFrame(rows)
    cycles.to_csv(f.cycles_csv, index=False)
    scores = summarize(data, rows, bad)
    f.scores_json.write_text(json.dumps(scores, indent=1, sort_keys=True, default=_json_default))
    report.write(f, data.meta, scores, cycles, events)
    return scores


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if math.isnan(o) else float(o)
    return str(o)


def summarize(data: RunData, rows: list[dict], bad: dict) -> dict:
    scored = [r for r in rows if Outcome(r["outcome"]).scored and r.get("scorable")]
    outcomes = pd.Series([r["outcome"] for r in rows]).value_counts().to_dict() if rows else {}
    gates = judge_all(data.gates, scored) if scored else [
        {**g.judge([]), "verdict": "fail"} for g in data.gates]
    ttt = [r["ttt_s"] for r in scored if not r.get("ttt_censored")]
    total = lambda m: int(sum(r.get(m, 0) or 0 for r in scored))  # noqa: E731
    sleep_h = sum(r.get("sleep_s", 0) or 0 for r in scored) / 3600
    hangs = sum(1 for r in rows if r["outcome"] == Outcome.DUT_HANG.value)
    # A Mac that hung after wake is the device's failure: the build cannot pass such a night.
    verdict = "pass" if scored and not hangs and all(g["verdict"] == "pass" for g in gates) else "fail"
    if not scored:
        verdict = "no data"
    return {
        "build": data.meta.get("build"),
        "verdict": verdict,
        "cycles": len(rows),
        "cycles_scored": len(scored),
        "outcomes": outcomes,
        "gates": gates,
        "totals": {m: total(m) for m in ("reconnects_in_sleep", "false_alerts", "true_alerts", "dark_wakes",
                                         "handshakes_in_sleep", "dpd_terminations")},
        "sleep_hours": sleep_h,
        "rates_per_sleep_hour": {m: (total(m) / sleep_h if sleep_h else None)
                                 for m in ("reconnects_in_sleep", "false_alerts", "dark_wakes")},
        "ttt": {"n": len(ttt), "censored": sum(1 for r in scored if r.get("ttt_censored")),
                "p50": float(np.percentile(ttt, 50)) if ttt else None,
                "p95": float(np.percentile(ttt, 95)) if ttt else None,
                "max": float(max(ttt)) if ttt else None},
        "bad_lines": bad,
        "journal_torn_lines": data.torn,
        "rig_errors": [{"mac": r["mac"], "cycle": r["cycle"], "outcome": r["outcome"], "reason": r.get("reason", "")}
                       for r in rows if not Outcome(r["outcome"]).scored or not r.get("scorable", True)
                       or r["outcome"] == Outcome.DUT_HANG.value],
    }
