"""``rig trend`` over a history of thousands of run folders from several controllers.

Builds a reports tree of ``--runs`` run folders (default 2,000) grouped by controller
(``reports/<controller>/<run>/``: 4 controllers on 2 racks, 3 builds, Macs of 3 models on 2
macOS versions), each a copy of one simulated night's ``run.json`` and ``scores.json`` (what
the index reads) with its own run id, date, rack, controller and hardware. Then measures
``rig trend`` as a whole process (CLI start-up included; wall time and peak RSS of that process,
median of ``--repeat``):

- **cold**: no ``trend.parquet`` yet: every folder is read (what the index did on every call
  before it was incremental);
- **warm**: nothing changed: the tree is listed and two files per folder ``stat``-ed, no run read;
- **+20 runs**: a night's worth of new folders from two controllers: only those are read;
- **filtered**: warm, and the page drawn for one Mac model only.

Prints each beside cold and the rows per second, then the index update alone in one process
(cold, warm, +20). Goal: an unchanged tree or +20 runs costs the index under 0.2 x cold (a listing
and two stats per folder), every case under 300 MB.

Run: ``python benchmarks/trend.py [--runs N] [--repeat K] [--keep DIR]``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest import measure  # noqa: E402 - one way of measuring a whole process

CONTROLLERS = [("ci-a/ci", "rack-1"), ("ci-b/ci", "rack-1"), ("ci-c/ci", "rack-2"), ("alice-mbp/alice", "rack-2")]
BUILDS = ["1.4.1", "1.4.2", "1.5.0-rc1"]
HARDWARE = [("Mac15,3", "15.3"), ("Mac14,3", "15.3"), ("Mac16,10", "14.7.2")]


def template(scratch: Path) -> tuple[dict, dict]:
    """run.json and scores.json of one simulated night (two Macs, two cycles), derived by the rig."""
    from rig.report.rebuild import derive_run
    from rig.twin.serve import TwinConfig
    from rig.twin.simulate import SimPlan, simulate

    sim = simulate(TwinConfig(build="naive", seed=11), SimPlan(nights=1, cycles_per_night=2, dwell_s=30 * 60),
                   scratch)
    derive_run(sim.run_dir)
    return (json.loads((sim.run_dir / "run.json").read_text()),
            json.loads((sim.run_dir / "scores.json").read_text()))


def build_tree(reports: Path, runs: int, meta: dict, scores: dict, start: int = 0, seed: int = 1) -> list[Path]:
    rnd = random.Random(seed + start)
    made = []
    for i in range(start, start + runs):
        ctl, rack = CONTROLLERS[i % len(CONTROLLERS)]
        build = BUILDS[(i // 40) % len(BUILDS)]
        day = 1_700_000_000 + i * 3600
        run_id = time.strftime("%Y-%m-%dT%H%M", time.gmtime(day)) + f"-{build}-{i}"
        d = reports / ctl.split("/")[0] / run_id
        d.mkdir(parents=True)
        m = dict(meta, run_id=run_id, build=build, controller=ctl,
                 started=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(day)),
                 lab=dict(meta["lab"], rack=rack))
        hw = {mac: dict(zip(("model", "macos"), rnd.choice(HARDWARE))) for mac in m.get("macs", {})}
        s = dict(scores, hardware=hw, verdict=rnd.choice(["pass", "fail", "pass"]))
        (d / "run.json").write_text(json.dumps(m))
        (d / "scores.json").write_text(json.dumps(s))
        made.append(d)
    return made


def rig_trend(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MB) of one ``rig trend`` process, and its output."""
    wall, _, rss, out = measure([sys.executable, "-m", "rig.cli", "trend", *args],
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, keep="stdout")
    return wall, rss, out.decode()


def index_work(reports: Path, meta: dict, scores: dict, runs: int, repeat: int) -> None:
    """The index update alone, in this process (no start-up, no page): what incrementality buys."""
    from rig.report import trend_index

    pq = reports / "trend.parquet"

    def timed(index_path: Path) -> tuple[float, int]:
        t = time.perf_counter()
        idx = trend_index.update(reports, index_path)
        took = time.perf_counter() - t
        idx.runs.to_parquet(pq, index=False)
        return took, idx.read

    cold = statistics.median(timed(reports / "absent.parquet")[0] for _ in range(repeat))
    warm = statistics.median(timed(pq)[0] for _ in range(repeat))
    build_tree(reports, 20, meta, scores, start=runs + 10_000)
    plus, read = timed(pq)
    print(f"index update alone: cold {cold:.3f} s (every folder read), warm {warm:.3f} s "
          f"({warm / cold:.2f} x cold), +20 runs {plus:.3f} s ({read} read, {plus / cold:.2f} x cold)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None)
    a = ap.parse_args()
    work = a.keep or Path(tempfile.mkdtemp(prefix="rig-trend-bench-"))
    reports = work / "reports"
    try:
        if reports.exists():
            shutil.rmtree(reports)
        meta, scores = template(work / "template")
        build_tree(reports, a.runs, meta, scores)
        rows, new = {}, []
        for name in ("cold", "warm", "+20 runs", "filtered"):
            walls, rss, out = [], [], ""
            for k in range(a.repeat):
                if name == "cold":
                    (reports / "trend.parquet").unlink(missing_ok=True)
                if name == "+20 runs":
                    for d in new:
                        shutil.rmtree(d)
                    rig_trend([str(reports)])     # back to the tree without them, indexed
                    new = build_tree(reports, 20, meta, scores, start=a.runs + 100 * k)
                extra = ["--model", "Mac16,10"] if name == "filtered" else []
                w, r, out = rig_trend([str(reports), *extra])
                walls.append(w)
                rss.append(r)
            rows[name] = (statistics.median(walls), max(rss), out.splitlines()[0])
        cold = rows["cold"][0]
        print(f"rig trend over {a.runs} run folders from {len(CONTROLLERS)} controllers "
              f"(median of {a.repeat}, whole process):")
        print(f"{'case':<10} {'wall s':>8} {'x cold':>7} {'peak RSS MB':>12}  output")
        for name, (w, r, line) in rows.items():
            print(f"{name:<10} {w:8.3f} {w / cold:7.2f} {r:12.0f}  {line}")
        print(f"cold: {a.runs / cold:,.0f} run folders/s")
        index_work(reports, meta, scores, a.runs, a.repeat)
        print(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
