"""Scoring and report speed: ``rig score`` on a run folder of 1,000 cycles, and its report alone.

The run folder comes from the twin's batch mode (``rig.twin.simulate``): real formats, real
clock skews, every build model's kind of night (default ``naive``, the busiest logs: a reconnect
and two DPD ends per dark wake). It is simulated once, outside the measurement. Then, each in a
fresh process with the files in the page cache (median of ``--repeat`` runs, wall time and that
process's peak RSS):

- ``derive``: the whole of ``rig score``: parse every cycle's raw files, correct clocks, score,
  summarize, write ``events.parquet``, ``cycles.csv``, ``scores.json``, ``report.html``,
  ``summary.md``;
- ``report``: rendering ``report.html`` and ``summary.md`` from the already scored cycles (the
  share of the total the timeline pictures cost);
- the floor: the same process importing the rig and reading the run folder's bytes.

and prints ms per cycle and the report's size. There is no hard goal; a nightly rack of 40 Macs
x 8 cycles is 320 cycles, so the figure says how long a re-score of a month of nights takes.

Run: ``python benchmarks/score_report.py [--cycles N] [--repeat K] [--build MODEL] [--keep DIR]``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
what, run = sys.argv[1], sys.argv[2]
from rig.report import run_report as report
from rig.report.rebuild import derive_run
from rig.score.derive import score_run
if what == "floor":
    n = sum(len(p.read_bytes()) for p in __import__("pathlib").Path(run).rglob("*") if p.is_file())
elif what == "derive":
    derive_run(run)
elif what == "report":
    s = score_run(run)
    t0 = time.perf_counter()          # only the rendering and writing
    report.write(s.folder, s.meta, s.scores, s.cycles, s.analyses, s.provenance)
dt = time.perf_counter() - t0
print(json.dumps({"s": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def simulate(out: Path, cycles: int, build: str) -> Path:
    from rig.twin.serve import TwinConfig
    from rig.twin.simulate import SimPlan, fleet, simulate as run

    macs = 8
    per_night = 5
    nights = max(1, -(-cycles // (macs * per_night)))
    sim = run(TwinConfig(build=build, seed=7, macs=fleet(macs)),
              SimPlan(nights=nights, cycles_per_night=per_night, dwell_s=45 * 60), out)
    return sim.run_dir


def measure(what: str, run: Path, repeat: int) -> dict:
    got = []
    for _ in range(repeat):
        p = subprocess.run([sys.executable, "-c", CHILD, what, str(run)], cwd=ROOT, capture_output=True,
                           text=True, check=True)
        got.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return {"s": statistics.median(g["s"] for g in got), "rss_mb": max(g["rss_mb"] for g in got)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--build", default="naive")
    ap.add_argument("--keep", type=Path, help="simulate into this folder and keep it")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="rig-bench-score-"))
    out = a.keep or tmp
    try:
        run = simulate(out, a.cycles, a.build)
        n = sum(1 for line in (run / "journal.jsonl").read_text().splitlines() if '"cycle_end"' in line)
        floor = measure("floor", run, a.repeat)
        derive = measure("derive", run, a.repeat)
        rep = measure("report", run, a.repeat)
        size = (run / "report.html").stat().st_size
        print(f"run folder: {n} cycles of twin:{a.build}")
        print(f"floor (import + read the folder)  {floor['s']:7.2f} s   peak RSS {floor['rss_mb']:6.0f} MB")
        print(f"rig score (everything)            {derive['s']:7.2f} s   peak RSS {derive['rss_mb']:6.0f} MB"
              f"   {1000 * derive['s'] / n:6.1f} ms/cycle   {derive['s'] / max(floor['s'], 1e-9):5.1f}x floor")
        print(f"  of which report.html+summary.md {rep['s']:7.2f} s   peak RSS {rep['rss_mb']:6.0f} MB"
              f"   {1000 * rep['s'] / n:6.1f} ms/cycle   report.html {size / 1e6:.1f} MB")
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
