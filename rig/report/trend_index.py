"""The history index under ``rig trend``: one row per run folder, kept in ``trend.parquet`` and
updated incrementally, so a reports tree fed by several controllers for months stays fast.

Why incremental: a run folder's ``run.json`` and ``scores.json`` are small, but opening two
files in each of thousands of folders (often on a network share several controllers write to)
is what a naive index spends its time on. Each row keeps a *signature* of its folder (size and
mtime of both files); an update lists the tree, ``stat``s those two files per folder and reads
only the folders that are new or changed, dropping the rows of folders that are gone. Queries
(``--rack``, ``--controller``, ``--model``, ``--macos``, ``--build``) are then answered from the
index alone, never by re-reading runs.

A reports tree may hold run folders directly (``reports/<run>``) or one level down, grouped by
whoever copied them in (``reports/<controller>/<run>``, the CI copy step of ``docs/nightly.md``).
A folder that is neither is listed with the reason and never stops the rest.

Each row says where the run came from: ``rack`` (``[lab] rack``, default the lab's name),
``controller`` (its ``host/user``, as labgrid names it), and per Mac its model and macOS version
(``scores.json`` ``hardware``, from what each Mac said with its build; older runs have none).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rig.redact import masked_meta

#: bumped when a column changes meaning: an index of another version is rebuilt, not trusted
INDEX_VERSION = 2
COLUMNS = ["run_id", "path", "build", "started", "lab", "rack", "controller", "suite", "verdict", "cycles",
           "cycles_scored", "sleep_hours", "reconnects_in_sleep_per_h", "false_alerts_per_h", "ttt_p50_s",
           "ttt_p95_s", "ttt_censored", "zombie_cycles_over_grace", "gates_json", "macs", "models", "macos",
           "sig", "index_version"]
FILTERS = ("rack", "controller", "model", "macos", "build")


@dataclass
class Index:
    runs: pd.DataFrame
    skipped: list = field(default_factory=list)   # (folder, reason)
    read: int = 0      # run folders read in this update (the rest came from the index)


def run_folders(reports: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(relative path, absolute path) of every run folder, and (name, reason) of other folders."""
    found, skipped = [], []
    with os.scandir(reports) as it:
        top = sorted((e for e in it if e.is_dir() and not e.name.startswith(".")), key=lambda e: e.name)
    for e in top:
        if os.path.exists(os.path.join(e.path, "run.json")):
            found.append((e.name, e.path))
            continue
        with os.scandir(e.path) as it:
            inner = sorted((c for c in it if c.is_dir() and not c.name.startswith(".")), key=lambda c: c.name)
        runs = [c for c in inner if os.path.exists(os.path.join(c.path, "run.json"))]
        if not runs:
            skipped.append((e.name, "not a run folder (no run.json)"))
        found += [(f"{e.name}/{c.name}", c.path) for c in runs]
    return found, skipped


def signature(folder: str) -> str:
    """Size and mtime of run.json and scores.json: a rewritten file changes it."""
    parts = []
    for name in ("run.json", "scores.json"):
        try:
            st = os.stat(os.path.join(folder, name))
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
        except FileNotFoundError:
            parts.append("-")
    return "/".join(parts)


def update(reports: Path, index_path: Path, derive_missing: bool = True) -> Index:
    """The index of ``reports``, reusing the rows of ``index_path`` whose folders did not change."""
    reports = Path(reports)
    folders, skipped = run_folders(reports)
    old = _load(index_path)
    known = dict(zip(old["path"], old["sig"])) if len(old) else {}
    keep, rows = set(), []
    for rel, abs_path in folders:
        sig = signature(abs_path)
        if known.get(rel) == sig:
            keep.add(rel)
            continue
        row, why = read_run(Path(abs_path), rel, derive_missing)
        if row is None:
            skipped.append((rel, why))
        else:
            rows.append(row)
    fresh = pd.DataFrame(rows, columns=COLUMNS)
    kept = old[old["path"].isin(keep)] if len(old) else old
    df = pd.concat([d for d in (kept, fresh) if len(d)], ignore_index=True) if len(kept) or len(fresh) \
        else pd.DataFrame(columns=COLUMNS)
    if len(df):
        t = pd.to_datetime(df["started"], utc=True, errors="coerce", format="ISO8601")
        df = df.assign(_t=t).sort_values(["_t", "run_id"], kind="stable").drop(columns="_t").reset_index(drop=True)
    return Index(df, sorted(skipped), read=len(rows))


def _load(index_path: Path) -> pd.DataFrame:
    """The previous index, or an empty one when there is none or it is of another version."""
    try:
        df = pd.read_parquet(index_path)
    except (OSError, ValueError):
        return pd.DataFrame(columns=COLUMNS)
    if list(df.columns) != COLUMNS or (len(df) and int(df["index_version"].iloc[0]) != INDEX_VERSION):
        return pd.DataFrame(columns=COLUMNS)
    return df


def read_run(d: Path, rel: str, derive_missing: bool) -> tuple[dict | None, str]:
    """One run folder's row (``scores.json`` re-derived from ``raw/`` when it is missing)."""
    scores_p = d / "scores.json"
    try:
        _, meta = masked_meta(json.loads((d / "run.json").read_text()))
        if not scores_p.exists():
            if not (derive_missing and (d / "raw").is_dir()):
                return None, "no scores.json and no raw/ to derive it from"
            from rig.report.rebuild import derive_run

            derive_run(d)
        scores = json.loads(scores_p.read_text())
    except (OSError, ValueError, KeyError) as e:
        return None, f"unreadable: {type(e).__name__}: {e}"
    return _row(meta, scores, rel, signature(str(d))), ""


def _row(meta: dict, scores: dict, rel: str, sig: str) -> dict:
    rates = scores.get("rates_per_sleep_hour") or {}
    ttt = scores.get("ttt") or {}
    lab = meta.get("lab") or {}
    hw = scores.get("hardware") or {}
    macs = sorted(meta.get("macs") or hw)
    return {
        "run_id": str(meta.get("run_id", Path(rel).name)), "path": rel, "build": str(meta.get("build", "?")),
        "started": str(meta.get("started", "")), "lab": str(lab.get("name", "")),
        "rack": str(lab.get("rack") or lab.get("name", "")), "controller": str(meta.get("controller", "")),
        "suite": str(meta.get("suite", "")), "verdict": str(scores.get("verdict", "")),
        "cycles": int(scores.get("cycles") or 0), "cycles_scored": int(scores.get("cycles_scored") or 0),
        "sleep_hours": as_float(scores.get("sleep_hours")),
        "reconnects_in_sleep_per_h": as_float(rates.get("reconnects_in_sleep")),
        "false_alerts_per_h": as_float(rates.get("false_alerts")),
        "ttt_p50_s": as_float(ttt.get("p50")), "ttt_p95_s": as_float(ttt.get("p95")),
        "ttt_censored": int(ttt.get("censored") or 0),
        "zombie_cycles_over_grace": int((scores.get("zombie") or {}).get("cycles_over_grace") or 0),
        "gates_json": json.dumps(scores.get("gates", []), sort_keys=True),
        "macs": list(macs),
        "models": sorted({str(h.get("model", "")) for h in hw.values() if h.get("model")}),
        "macos": sorted({str(h.get("macos", "")) for h in hw.values() if h.get("macos")}),
        "sig": sig, "index_version": INDEX_VERSION,
    }


def as_float(v) -> float:
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def select(runs: pd.DataFrame, **want) -> pd.DataFrame:
    """The runs matching every given filter (``rack``, ``controller``, ``build``: equal;
    ``model``, ``macos``: one of the run's Macs has it)."""
    unknown = set(want) - set(FILTERS)
    if unknown:
        raise ValueError(f"no trend filter {sorted(unknown)[0]!r} (filters: {', '.join(FILTERS)})")
    mask = pd.Series(True, index=runs.index)
    for key, value in want.items():
        if value is None or value == "":
            continue
        if key in ("model", "macos"):
            col = "models" if key == "model" else "macos"
            mask &= runs[col].map(lambda xs, v=value: v in list(xs))
        else:
            mask &= runs[key] == value
    return runs[mask].reset_index(drop=True)


def breakdown(runs: pd.DataFrame) -> list[tuple[str, str, int]]:
    """(dimension, value, runs) for the page's "where the runs came from" table."""
    out = []
    for dim, col in (("rack", "rack"), ("controller", "controller")):
        for v, n in sorted(runs[col].value_counts().items()):
            out.append((dim, v or "(not recorded)", int(n)))
    for dim, col in (("Mac model", "models"), ("macOS", "macos")):
        counts: dict = {}
        for xs in runs[col]:
            for x in (list(xs) or ["(not recorded)"]):
                counts[x] = counts.get(x, 0) + 1
        out += [(dim, v, n) for v, n in sorted(counts.items())]
    return out
