"""Batch-mode speed: simulated Mac-nights per second on one core, and the ratio to real time.

A *night* here is what nightly CI does to one Mac: 8 cycles of a 1-hour sleep (dark wakes every
~15 min, a lid open, the wait for the tunnel and the alert grace, collection of the pmset log,
the unified log and the gateway log), about 8 h 05 min of lab time. That is the realistic shape
and the heavier one: a single 8-hour sleep has the same dark wakes but one collection instead of
eight (it is measured too, as a second line). Everything a night writes is included: the run
folder (``run.json``, journal, ``raw/<mac>/<cycle>/`` files) and the ``truth.json`` next to it.
Scoring (``rig score``) is not: it is the rig's ingest, measured by ``benchmarks/ingest.py``.

The process is pinned to one CPU when the OS allows it; the simulation is single-threaded anyway.
Each figure is the median of ``--repeat`` runs of ``--nights`` nights, after one warm-up run
(imports and first-touch costs are not per-night costs).

Goal (issue 6): >= 10^5 x real time, i.e. an 8-hour night in under 0.3 s including its logs.

Run: ``python benchmarks/twin_simulate.py [--nights N] [--repeat K] [--build MODEL]``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rig.twin.serve import TwinConfig  # noqa: E402
from rig.twin.simulate import SimPlan, fleet, simulate  # noqa: E402

GOAL = 1e5


def measure(build: str, plan: SimPlan, macs: int, repeat: int, scratch: Path) -> tuple[float, float]:
    """(median wall seconds per Mac-night, Mac-seconds of lab time per Mac-night)."""
    per_night, lab = [], 0.0
    for i in range(repeat + 1):
        out = scratch / f"{build}-{plan.cycles_per_night}-{i}"
        t0 = time.perf_counter()
        sim = simulate(TwinConfig(build=build, macs=fleet(macs)), plan, out)
        wall = time.perf_counter() - t0
        shutil.rmtree(out)
        if i:  # the first run is the warm-up
            per_night.append(wall / sim.mac_nights)
            lab = sim.virtual_s / sim.mac_nights
    return statistics.median(per_night), lab


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nights", type=int, default=20, help="nights per measured run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--build", default="naive")
    p.add_argument("--macs", type=int, default=1)
    a = p.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    shapes = [("8 x 1 h (nightly CI)", SimPlan(nights=a.nights, cycles_per_night=8, dwell_s=3600)),
              ("1 x 8 h", SimPlan(nights=a.nights, cycles_per_night=1, dwell_s=8 * 3600))]
    print(f"build {a.build}, {a.macs} Mac(s), {a.nights} nights a run, median of {a.repeat} runs, one core")
    print(f"{'night':<22} {'s/Mac-night':>12} {'Mac-nights/s':>13} {'x real time':>12} {'goal':>10}")
    with tempfile.TemporaryDirectory(prefix="rig-sim-bench-") as tmp:
        for label, plan in shapes:
            wall, lab = measure(a.build, plan, a.macs, a.repeat, Path(tmp))
            ratio = lab / wall
            verdict = "met" if ratio >= GOAL and wall < 0.3 else "MISSED"
            print(f"{label:<22} {wall:>12.4f} {1 / wall:>13.1f} {ratio:>12,.0f} {verdict:>10}")


if __name__ == "__main__":
    main()
