"""Running a night on the twin from a test, and reading the twin's ground truth per cycle.

The truth is the twin's own record of what happened (exact virtual instants); the rig never reads
it. Tests compare the rig's scores, derived from logs fetched over SSH, against it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from rig.runner.plan import Plan
from rig.lab.inventory import Lab, load_lab
from rig.runner.run import drive, start_run
from rig.score.suites import SUITES
from rig.twin.launch import TwinProcess
from rig.twin.serve import TwinConfig

GRACE_S = 30.0
TTT_TOLERANCE_S = 0.05


@dataclass
class Night:
    run_dir: Path
    truth: dict
    cycles: pd.DataFrame

    def rows(self, mac: str) -> list[dict]:
        return self.cycles[self.cycles["mac"] == mac].sort_values("cycle").to_dict("records")


def run_night(tmp: Path, build: str, *, cycles: int = 1, dwell_s: float = 17 * 60, scale: float = 50.0,
              seed: int = 1, macs=None, plan_overrides: dict | None = None,
              dark_interval_s: float = 900.0, twin: TwinConfig | None = None, twin_root: Path | None = None,
              lab_for: Callable[[Path], Lab] = load_lab) -> Night:
    """Start a twin lab, drive ``cycles`` on every Mac of it, stop it; the run and the truth.

    ``twin`` replaces the twin's whole configuration; ``lab_for`` turns the twin's lab file into
    the lab the rig drives (a test may point a Mac at another door, or shorten a timeout).
    """
    cfg = twin or TwinConfig(build=build, scale=scale, seed=seed, dark_interval_s=dark_interval_s)
    if macs is not None:
        cfg.macs = macs
    proc = TwinProcess(cfg, root=twin_root or tmp / "twin")
    lab_path = proc.start()
    try:
        lab = lab_for(lab_path)
        plan = Plan(build=f"twin:{cfg.build}", cycles=cycles, dwell_s=dwell_s,
                    gates=list(SUITES["dark_wake"]["gates"]), **(plan_overrides or {}))
        folder = start_run(lab, plan, tmp / "reports")
        drive(lab, folder, plan, list(lab.macs.values()))
    finally:
        truth = proc.stop()
    return Night(folder.path, truth, pd.read_csv(folder.path / "cycles.csv"))


def truth_cycles(truth: dict, mac: str) -> list[dict]:
    """Per cycle of ``mac``: the true counts and time-to-tunnel, from the twin's own record."""
    t = truth["macs"][mac]
    rig_sleeps = [s["t"] for s in t["sleeps"] if s["reason"] != "Maintenance Sleep"]
    out = []
    for k, fw in enumerate(t["full_wakes"]):
        ts, tw = rig_sleeps[k], fw["wake"]
        nxt = rig_sleeps[k + 1] if k + 1 < len(rig_sleeps) else float("inf")
        ups = [u["t"] for u in t["tunnel_ups"]]
        asleep = lambda x: ts <= x < tw  # noqa: E731
        ext_false = sum(1 for a in t["alerts"] if asleep(a["t"]))
        ext_false += sum(1 for a in t["alerts"] if tw <= a["t"] < nxt
                         and any(a["t"] < u <= a["t"] + GRACE_S for u in ups))
        gw_false = sum(1 for d in t["dpd"] if asleep(d["t"]) and d["phase"] in ("sleep", "dark"))
        out.append({
            "dark_wakes": sum(1 for w in t["wakes"] if w["kind"] == "dark" and asleep(w["t"])),
            "reconnects_in_sleep": sum(1 for u in t["tunnel_ups"] if asleep(u["t"])),
            "false_alerts": ext_false + gw_false,
            "ttt_s": 0.0 if fw["survived"] else fw["tunnel_up"] - fw["requested"],
        })
    return out


def assert_matches_truth(night: Night, mac: str, ttt_tolerance_s=None) -> None:
    """Every cycle of ``mac`` was scored and its numbers are the truth's: counts exact,
    time-to-tunnel within ``ttt_tolerance_s`` (one number, or one per cycle)."""
    rows = night.rows(mac)
    truth = truth_cycles(night.truth, mac)
    assert len(rows) == len(truth) and all(r["outcome"] in ("pass", "fail") for r in rows), rows
    tol = ttt_tolerance_s if ttt_tolerance_s is not None else TTT_TOLERANCE_S
    tols = list(tol) if isinstance(tol, (list, tuple)) else [tol] * len(rows)
    for row, t, tl in zip(rows, truth, tols):
        for metric in ("dark_wakes", "reconnects_in_sleep", "false_alerts"):
            assert row[metric] == t[metric], (mac, row["cycle"], metric)
        assert abs(row["ttt_s"] - t["ttt_s"]) <= tl, (row["ttt_s"], t["ttt_s"], tl)
