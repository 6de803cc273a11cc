"""Simulate Mac-nights in batch mode from a test, score them with the rig, pair scores with truth.

Batch mode writes the run folder the rig would have collected and the twin's ground truth next to
it; ``rig score`` (``derive_run``) turns the folder into per-cycle scores. Tests compare those
scores against the truth, cycle by cycle.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rig.report.rebuild import derive_run
from rig.twin.serve import TwinConfig
from rig.twin.simulate import SimPlan, fleet, simulate


@dataclass
class BatchRun:
    run_dir: Path
    truth: dict
    scores: dict
    cycles: pd.DataFrame

    def pairs(self):
        """(rig's row, true row) for every cycle, in order."""
        rows = {(r["mac"], int(r["cycle"])): r for r in self.cycles.to_dict("records")}
        return [(rows[(t["mac"], t["cycle"])], t) for t in self.truth["cycles"]]

    def events(self) -> pd.DataFrame:
        return pd.read_parquet(self.run_dir / "events.parquet")


def batch_run(out: Path, build: str, *, macs: int = 1, nights: int = 1, cycles_per_night: int = 3,
              dwell_s: float = 45 * 60, seed: int = 1, network_change: float = 0.0, mac_spec: dict | None = None,
              until_settled: bool = False, max_cycles: int = 0, **twin) -> BatchRun:
    """``mac_spec``: fields set on every Mac's ``MacSpec`` (a fault, a clock step, a DST change)."""
    specs = fleet(macs)
    for m in specs:
        m.network_change = network_change
        for k, v in (mac_spec or {}).items():
            setattr(m, k, v)
    sim = simulate(TwinConfig(build=build, seed=seed, macs=specs, **twin),
                   SimPlan(nights=nights, cycles_per_night=cycles_per_night, dwell_s=dwell_s,
                           until_settled=until_settled, max_cycles=max_cycles), out)
    scores = derive_run(sim.run_dir)
    return BatchRun(sim.run_dir, json.loads(sim.truth_path.read_text()), scores,
                    pd.read_csv(sim.run_dir / "cycles.csv"))
