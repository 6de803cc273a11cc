"""Lab time to a verdict: a fixed night against ``--until-settled``, with and without on-demand
dark wakes, on a rack of alike twin Macs (batch mode, virtual time, scored by the rig).

For each extension model and each way of running it prints the median lab-hours to a verdict
and, over ``--seeds`` seeded racks, how often the settled verdict was wrong and how often the
run ended inconclusive:

- (a) ``fixed``: a night of ``--cycles`` cycles of ``--dwell`` (the nightly CI shape);
- (b) ``settled``: the same, stopping when the suite's sequential test settles (the night's
  cycles are the most a Mac runs);
- (c) ``settled + WoL``: as (b), with a Wake-on-LAN packet every ``--wol-every`` during the
  dwell, so dark wakes come on demand (the twin's Macs answer packets like ``pmset womp 1``); the
  exposure no longer needs a long sleep, so its cycles sleep ``--wol-dwell``.

*Wrong* is judged against the twin's truth, not against the rig: a model whose true rates (from
``truth.json`` of its fixed nights: false alerts and reconnects in sleep per wake, wakes slower
than the gate) reach a hypothesis' bad rate is bad, one under every good rate is good, and one in
between is in the indifference zone where either verdict is allowed. Lab hours are the rack's
time (the union of the cycles' spans, rig.score.sequential.lab_hours).

Run: ``python benchmarks/labtime.py [--seeds 200] [--macs 4] [--jobs 2]`` (seeds run in parallel
processes; each is one rack).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rig.report.rebuild import derive_run  # noqa: E402
from rig.score.sequential import lab_hours  # noqa: E402
from rig.score.suites import hypotheses  # noqa: E402
from rig.twin.serve import TwinConfig  # noqa: E402
from rig.twin.simulate import SimPlan, fleet, simulate  # noqa: E402

MODELS = ("naive", "darkwake-aware", "lazy", "flaky-handshake", "keepalive-offload")
MODES = ("fixed", "settled", "settled + WoL")
HAS_WOL = "dark_wake_every_s" in {f.name for f in fields(SimPlan)}


def one(job: tuple) -> dict:
    """One rack of one model in one mode: the verdict, lab hours and the truth's rates."""
    model, mode, seed, macs, cycles, dwell_s, wol_s, wol_dwell_s = job
    specs = fleet(macs)
    for m in specs:
        m.tags = ["rack"]          # alike Macs: their evidence is pooled
    extra = {"dark_wake_every_s": wol_s} if mode == "settled + WoL" else {}
    dwell_s = wol_dwell_s if extra else dwell_s
    plan = SimPlan(nights=1, cycles_per_night=cycles, dwell_s=dwell_s, until_settled=mode != "fixed", **extra)
    with tempfile.TemporaryDirectory(prefix="rig-labtime-") as tmp:
        sim = simulate(TwinConfig(build=model, seed=seed, macs=specs), plan, Path(tmp) / "sim")
        scores = derive_run(sim.run_dir)
        truth = json.loads(sim.truth_path.read_text())
    spans = [(c["start"], c["end"]) for c in truth["cycles"]]
    settled = scores.get("settled") or {}
    return {"model": model, "mode": mode, "verdict": scores["verdict"],
            "lab_hours": settled.get("lab_hours") if settled.get("state", "").startswith("settled")
            else lab_hours(spans),
            "rates": true_rates(truth["cycles"])}


def true_rates(cycles: list[dict]) -> dict:
    """The truth's rates over a rack's cycles, in the hypotheses' units."""
    done = [c for c in cycles if "dark_wakes" in c]
    wakes = sum(c["dark_wakes"] + 1 for c in done) or 1
    gate = next(h.over for h in hypotheses("dark_wake") if h.per == "cycles")
    slow = sum(1 for c in done if c["ttt_s"] is None or c["ttt_s"] > gate)
    return {"false alerts per wake": sum(c["false_alerts"] for c in done) / wakes,
            "reconnects in sleep per wake": sum(c["reconnects_in_sleep"] for c in done) / wakes,
            "wakes slower than the TTT gate": slow / (len(done) or 1)}


def truth_class(rates: list[dict]) -> str:
    """good | bad | indifferent, from the true rates of the model's fixed nights."""
    hyps = hypotheses("dark_wake")
    mean = {h.name: statistics.mean(r[h.name] for r in rates) for h in hyps}
    if any(mean[h.name] >= h.bad for h in hyps):
        return "bad"
    if all(mean[h.name] <= h.good for h in hyps):
        return "good"
    return "indifferent"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=200)
    p.add_argument("--macs", type=int, default=4)
    p.add_argument("--cycles", type=int, default=8, help="cycles of the fixed night (and the most when settling)")
    p.add_argument("--dwell", type=float, default=45 * 60)
    p.add_argument("--wol-every", type=float, default=180.0)
    p.add_argument("--wol-dwell", type=float, default=15 * 60, help="sleep per cycle with on-demand dark wakes")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--models", default=",".join(MODELS))
    a = p.parse_args()
    modes = MODES if HAS_WOL else MODES[:2]
    jobs = [(m, mode, seed, a.macs, a.cycles, a.dwell, a.wol_every, a.wol_dwell)
            for m in a.models.split(",") for mode in modes for seed in range(1, a.seeds + 1)]
    with ProcessPoolExecutor(a.jobs) as ex:
        results = list(ex.map(one, jobs, chunksize=4))
    print(f"{a.macs} alike twin Macs, fixed night {a.cycles} x {a.dwell / 60:g} min, WoL every {a.wol_every:g} s, "
          f"{a.seeds} seeds per model and mode" + ("" if HAS_WOL else " (no on-demand dark wakes in this build)"))
    print(f"{'model':<18} {'truth':<12} {'mode':<14} {'lab-h median':>12} {'wrong':>7} {'inconcl.':>9} verdicts")
    for model in a.models.split(","):
        cls = truth_class([r["rates"] for r in results if r["model"] == model and r["mode"] == "fixed"])
        for mode in modes:
            mine = [r for r in results if r["model"] == model and r["mode"] == mode]
            wrong = sum(1 for r in mine if (cls == "good" and r["verdict"] == "fail")
                        or (cls == "bad" and r["verdict"] == "pass"))
            inconclusive = sum(1 for r in mine if r["verdict"] in ("inconclusive", "no data"))
            counts = {v: sum(1 for r in mine if r["verdict"] == v) for v in sorted({r["verdict"] for r in mine})}
            print(f"{model:<18} {cls:<12} {mode:<14} {statistics.median(r['lab_hours'] for r in mine):>12.2f} "
                  f"{wrong / len(mine):>7.1%} {inconclusive / len(mine):>9.1%} {counts}")


if __name__ == "__main__":
    main()
