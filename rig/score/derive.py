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
The run folder is read back by :mod:`rig.score.run_data` (events per cycle, on one clock,
redacted); :func:`rig.score.summary.summarize` turns the cycle rows into the build's numbers
(``scores.json``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from rig import frame
from rig.journal import Rec
from rig.outcomes import Outcome
from rig.run_folder import RunFolder, atomic, atomic_write
from rig.score import evidence
from rig.score.analysis import CycleAnalysis, analyse_cycle, cycle_failures
from rig.score.gates import judge_all
from rig.score.run_data import OPEN_END, RunData, mac_events
from rig.score.summary import dumps, summarize

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
        base = {"mac": mac, "cycle": k, "t_start": cycle["t"], "t_end": cycle.get("t_end"),
                "outcome": cycle.get("outcome", "unknown"),
                "reason": data.redactor.mask(str(cycle.get("reason", "")))}
        if k not in events:
            before = dict(fresh)   # nothing known about the gap: start over
            out.append((base, frame.empty_frame(), {}, None))
            continue
        ev, counts, power = events[k]
        base["evidence"] = evidence.describe(counts)
        lacking = evidence.missing(counts, _collect_json(data, mac, k), bool(data.meta.get("gateway")))
        a = analyse_cycle(ev, cycle.get("actions", []), grace_s=data.grace_s,
                          tunnel_timeout_s=data.tunnel_timeout_s, before=before, power=power)
        before = {**fresh, **a.final_states()}
        base.update({k2: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k2, v in a.metrics.items()})
        if lacking:
            base["outcome"] = Outcome.RIG_ERROR.value
            base["reason"] = "incomplete evidence: " + "; ".join(lacking)
        elif not a.metrics.get("scorable"):
            base["outcome"] = Outcome.RIG_ERROR.value
            base["reason"] = a.metrics.get("why_unscorable", "")
        else:
            missed = [g["name"] for g in judge_all(data.gates, [base]) if g["verdict"] == "fail"]
            missed += cycle_failures(base, data.grace_s)
            base["outcome"] = Outcome.FAIL.value if missed else Outcome.PASS.value
            base["missed_gates"] = ", ".join(missed)
        out.append((base, ev, counts, a))
    return out


def _collect_json(data: RunData, mac: str, k: int) -> dict | None:
    """How the cycle's files were fetched (``collect.json``), or None when it is missing or torn."""
    p = data.folder.cycle_dir(mac, k) / "collect.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


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
    with atomic(f.events) as tmp:
        events.to_parquet(tmp, index=False)
    cycles = pd.DataFrame(rows)
    atomic_write(f.cycles_csv, cycles.to_csv(index=False))
    scores = {**summarize(data, rows, bad), "hardware": hardware(data.records)}
    atomic_write(f.scores_json, dumps(scores))
    # data.meta was masked when it was read (RunData); the rest is masked here, once
    scores, cycles, analyses, prov = data.redactor.mask((scores, cycles, analyses, provenance(data)))
    return Scored(f, data.meta, scores, cycles, analyses, prov)


def hardware(records) -> dict:
    """Each Mac's model and macOS version as it last said them with its build (``rig trend``
    cuts a history across racks by them); a Mac whose journal predates that says nothing."""
    out: dict = {}
    for r in records:
        if r.get("type") == Rec.BUILD and ("model" in r or "macos" in r):
            out[r["mac"]] = {"model": str(r.get("model", "")), "macos": str(r.get("macos", ""))}
    return dict(sorted(out.items()))


def provenance(data: RunData) -> dict:
    """What the report's "how this was made" shows: the build each Mac reported, the exact
    collection commands of each Mac's first collected cycle, and the recovery steps taken."""
    installed = {r["mac"]: r.get("installed", "") for r in data.records if r.get("type") == Rec.BUILD}
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
                  for r in data.records if r.get("type") == Rec.RECOVERY]
    return {"installed": installed, "collect": collect, "recoveries": recoveries}


