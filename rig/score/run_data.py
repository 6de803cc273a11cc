"""A run folder read back: ``run.json``, the journal and ``raw/`` as the events of each cycle.

:class:`RunData` loads what the folder holds once; :func:`mac_events` parses one Mac's cycles'
raw files, keeps each power line in the cycle it happened in (pmset repeats its whole history at
every collection), moves every row onto the controller's clock with the journaled offsets, adds
the controller's own events (its actions) and masks the text columns with the lab's redaction
patterns, so nothing downstream ever sees an unmasked string.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from rig import frame
from rig.events import POWER_KINDS, Kind, ParseResult, Source, row
from rig.journal import cycles_from_journal, read_run_journal
from rig.outcomes import Outcome
from rig.parse.gateway_log import parse_gateway
from rig.parse.pmset import parse_pmset
from rig.parse.signatures import load_signatures
from rig.redact import EVENT_TEXT, masked_meta
from rig.run_folder import RunFolder
from rig.score.gates import Gate
from rig.score.timeline import correct, offsets_frame, power_events

_POWER_KINDS = [k.value for k in POWER_KINDS]
_STR_COLUMNS = ("t_raw", "host", "mac", "source", "kind", "session", "detail", "caps")

OPEN_END = 4e9  # "until now" for a cycle whose end is not journaled yet (epoch seconds, year 2096)


class RunData:
    """What a run folder holds, loaded once."""

    def __init__(self, run_dir):
        self.folder = RunFolder(run_dir)
        # masked once, here: scores.json's build and every page read this copy
        self.redactor, self.meta = masked_meta(self.folder.meta())
        self.records, self.torn = read_run_journal(self.folder.path)  # + unmerged per-Mac parts
        self.cycles = cycles_from_journal(self.records)
        self.offsets = offsets_frame(self.records)
        sig = self.folder.signatures
        self.signatures = load_signatures(sig) if sig.exists() else None
        self.gates = [Gate.from_dict(g) for g in self.meta.get("gates", [])]
        plan = self.meta.get("plan", {})
        self.grace_s = float(plan.get("grace_s", 30.0))
        self.tunnel_timeout_s = float(plan.get("tunnel_timeout_s", 60.0))


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
    for w in cycle.get("wake_packets", []):   # sent ones: a packet the network refused is no evidence
        if "error" not in w:
            out.append(row(_iso(w["t"]), repr(w["t"]), "controller", Source.CONTROLLER, Kind.WAKE_PACKET,
                           detail=f"magic packet for {w.get('hw', '')} to {w.get('to', '')}", mac=cycle["mac"]))
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
    ev = data.redactor.mask(ev, EVENT_TEXT)
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
