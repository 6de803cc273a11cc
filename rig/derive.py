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


