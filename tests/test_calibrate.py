"""A twin calibrated from real nights (``rig twin calibrate``, ``whatif``, ``fleet``).

Checked against truth: nights simulated with known parameters are calibrated and each parameter's
95 % interval is checked to hold the true value over seeded repeats; real ``pmset -g log`` samples
are calibrated and compared with intervals counted by hand; a profile drives the twin (what it
drew is in the truth) and is recorded in the run folder; the what-if and the fleet estimate are
the rig's own scores and agree with the twin's truth.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from scipy import stats

from rig.cli.main import main
from rig.twin.calibrate import fit, from_pmset_files, from_run_folders, uncut
from rig.twin.fleet_rates import estimate, rate
from rig.twin.profile import Dist, Parameter, Profile, load
from rig.twin.serve import TwinConfig
from rig.twin.simulate import SimPlan, fleet, simulate
from rig.twin.whatif import grid, parse_vary

REAL = Path(__file__).parent / "data" / "real"
MISA = REAL / "pmset_log_issue_misa198_dell-latitude-5570_16.txt"
Z390 = REAL / "pmset_log_intel_hackintosh_z390_2021-04.txt"


def night(tmp: Path, seed: int, **cfg) -> Path:
    sim = simulate(TwinConfig(build="naive", seed=seed, macs=fleet(cfg.pop("macs", 1)), **cfg),
                   SimPlan(nights=1, cycles_per_night=3, dwell_s=2700), tmp / f"s{seed}", command=["test"])
    return sim.run_dir


def test_calibration_recovers_known_parameters_within_their_95_percent_intervals(tmp_path):
    """Nights with a 600 s dark-wake interval and a DPD of 20 s (teardown 60 s): over 60 seeded
    repeats each true value lies in its interval about 95 % of the time; the count of hits is
    binomial, so the test asserts it is not significantly below 95 % (and never below 90 %)."""
    truth = {"dark_wake_interval_s": 600.0, "dark_wake_duration_s": 35.0, "handshake_s": 0.875,
             "dpd_teardown_s": 60.0}
    hits = dict.fromkeys(truth, 0)
    repeats = 60
    for seed in range(repeats):
        prof = from_run_folders([night(tmp_path, seed, dark_interval_s=600.0, dpd_s=20)]).profile([])
        for name, value in truth.items():
            p = prof.groups["all"][name]
            assert p.source in ("fit", "empirical") and p.n >= 5, (name, p)
            hits[name] += p.ci95[0] <= value <= p.ci95[1]
    for name, n in hits.items():
        assert n >= 0.9 * repeats and stats.binomtest(n, repeats, 0.95, alternative="less").pvalue > 0.01, hits


def test_real_pmset_samples_give_the_dark_wake_intervals_counted_by_hand():
    # misa198 (Dell Latitude 5570): Sleep 08:16:48 -> DarkWake 09:16:51, 09:17:36 -> 10:17:38, 10:17:38 -> 11:17:40
    s, rejected = from_pmset_files([MISA])
    assert uncut(s.values["all"]["dark_wake_interval_s"]) == [3603.0, 3602.0, 3602.0]
    assert s.values["all"]["dark_wake_duration_s"] == [0.0, 45.0, 0.0, 46.0]
    assert dict(s.reasons["all"]) == {"maintenance": 3} and rejected == {str(MISA): 0}
    # z390: Sleep 16:03:05 -> DarkWake 16:33:08 (RTC/Maintenance), 16:34:23 -> 16:48:32 (XDCI CNVW/)
    s, _ = from_pmset_files([Z390])
    assert uncut(s.values["all"]["dark_wake_interval_s"]) == [1803.0, 849.0]
    assert s.values["all"]["dark_wake_duration_s"] == [75.0, 45.0]


def test_too_little_data_keeps_the_built_in_number_and_says_so():
    p = fit("dark_wake_interval_s", [3603.0, 3602.0, 3602.0])
    assert p.source == "default" and p.n == 3 and "fewer than 5" in p.note and p.dist.kind == "uniform"
    equal = fit("dpd_teardown_s", [60.0] * 8)
    assert equal.dist == Dist("fixed", (60.0,)) and equal.ci95 == (60.0, 60.0)
    zeros = fit("dark_wake_duration_s", [0.0, 45.0, 0.0, 46.0, 30.0, 12.0])
    assert zeros.source == "empirical" and "0" in zeros.note


def test_a_poor_parametric_fit_falls_back_to_the_empirical_distribution():
    two_humps = [10.0] * 40 + [100.0] * 40 + [11.0, 99.0]
    p = fit("dark_wake_duration_s", two_humps)
    assert p.source == "empirical" and "rejected" in p.note and sorted(p.dist.values) == sorted(two_humps)


def test_a_profile_round_trips_and_a_broken_one_names_the_field(tmp_path):
    prof = from_pmset_files([MISA, Z390])[0].profile([MISA, Z390], min_n=2)
    path = prof.write(tmp_path / "p.toml")
    again = load(path)
    for name, p in prof.groups["all"].items():
        q = again.groups["all"][name]
        assert (q.dist.kind, q.n, q.source) == (p.dist.kind, p.n, p.source)
        assert q.dist.params == pytest.approx(p.dist.params) and (math.isnan(p.mean) or q.mean == pytest.approx(p.mean))
    bad = tmp_path / "bad.toml"
    bad.write_text('[groups.all.dark_wake_interval_s]\nkind = "cauchy"\n')
    with pytest.raises(ValueError, match=r"groups\.all\.dark_wake_interval_s\.kind"):
        load(bad)


def test_the_twin_draws_from_a_profile_and_the_run_folder_records_it(tmp_path):
    fixed = {"dark_wake_interval_s": Parameter(Dist("fixed", (300.0,)), 9, 300.0, (300.0, 300.0), "fit"),
             "dark_wake_duration_s": Parameter(Dist("fixed", (20.0,)), 9, 20.0, (20.0, 20.0), "fit")}
    path = Profile({"all": fixed}).write(tmp_path / "p.toml")
    sim = simulate(TwinConfig(build="naive", seed=3, macs=fleet(1), profile=str(path)),
                   SimPlan(nights=1, cycles_per_night=1, dwell_s=1800), tmp_path / "run", command=["test"])
    truth = json.loads(sim.truth_path.read_text())
    mac = next(iter(truth["macs"].values()))
    sleeps = [s["t"] for s in mac["sleeps"]]
    darks = [w["t"] for w in mac["wakes"] if w["kind"] == "dark"]
    assert len(darks) >= 4
    for d in darks:   # every dark wake came 300 s after the sleep before it and lasted 20 s
        before = max(s for s in sleeps if s < d)
        assert d - before == pytest.approx(300.0)
        assert min(s for s in sleeps if s > d) - d == pytest.approx(20.0)
    meta = json.loads((sim.run_dir / "run.json").read_text())
    assert meta["twin"]["profile"]["path"] == str(path) and len(meta["twin"]["profile"]["sha256"]) == 64


def test_whatif_cells_are_the_rigs_scores_and_agree_with_truth(tmp_path):
    prof = from_pmset_files([MISA])[0].profile([MISA])
    path = prof.write(tmp_path / "p.toml")
    cells = grid(path, load(path), [parse_vary("dpd-timeout=30s,900s")], build="naive", macs=1, nights=1,
                 cycles=3, dwell_s=3600, out=tmp_path / "cells")
    assert [c.settings["dpd-timeout"] for c in cells] == [30.0, 900.0]
    assert all(c.agrees for c in cells)
    # a gateway that waits longer than the Macs' hour between dark wakes has nothing to tear down
    assert cells[1].reconnects <= cells[0].reconnects
    with pytest.raises(ValueError, match="NAME one of"):
        parse_vary("dpd=10s")


def test_rig_twin_whatif_writes_the_table_and_the_chart(tmp_path):
    path = from_pmset_files([MISA])[0].profile([MISA]).write(tmp_path / "p.toml")
    res = CliRunner().invoke(main, ["twin", "whatif", "--profile", str(path), "--vary", "dpd-timeout=30s,300s",
                                    "--vary", "dark-wake-interval=5m,15m", "--macs", "1", "--nights", "1",
                                    "--cycles-per-night", "2", "--out", str(tmp_path / "wi")])
    assert res.exit_code == 0, res.output
    assert "truth in 4/4 cells" in res.output and "| 5 min |" in res.output
    html = (tmp_path / "wi" / "whatif.html").read_text()
    assert "<svg" in html and "polyline" in html and html.count("<table") == 2


def test_the_fleet_estimate_is_an_exact_poisson_interval_that_agrees_with_truth(tmp_path):
    r = rate(0, 100)
    assert r.per_1000 == 0 and r.ci95[0] == 0 and r.ci95[1] == pytest.approx(36.89, abs=0.01)  # -ln(0.025)/100*1000
    bad = estimate(None, "naive", 14, macs=1, days=4, out=tmp_path / "naive")
    good = estimate(None, "darkwake-aware", 14, macs=1, days=4, out=tmp_path / "good")
    assert bad.agrees and good.agrees and bad.mac_days == 4
    assert bad.false_alerts.count > 0 and bad.false_alerts.ci95[0] < bad.false_alerts.per_1000 < bad.false_alerts.ci95[1]
    assert good.false_alerts.count == 0 and "0 per 1,000 Mac-days" in good.text()
    with pytest.raises(ValueError, match="between 0 and 24"):
        estimate(None, "naive", 30, out=tmp_path / "x")


def test_rig_twin_calibrate_from_pmset_dumps_prints_each_parameter(tmp_path):
    out = tmp_path / "p.toml"
    res = CliRunner().invoke(main, ["twin", "calibrate", "--pmset", str(MISA), "--pmset", str(Z390),
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "dark_wake_interval_s" in res.output and "n=5" in res.output and out.exists()
    assert load(out).groups["all"]["dark_wake_interval_s"].n == 5
    res = CliRunner().invoke(main, ["twin", "calibrate", "--out", str(out)])
    assert res.exit_code == 2 and "give run folders" in res.output


def test_rig_run_with_a_twin_profile_runs_the_live_twin_on_it_and_records_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fixed = {"dark_wake_interval_s": Parameter(Dist("fixed", (240.0,)), 9, 240.0, (240.0, 240.0), "fit")}
    path = Profile({"all": fixed}).write(tmp_path / "p.toml")
    res = CliRunner().invoke(main, ["run", "--build", "twin:darkwake-aware", "--cycles", "1", "--dwell", "20m",
                                    "--scale", "300", "--macs", "mini-01", "--twin-profile", str(path), "-q"])
    assert res.exit_code in (0, 3), res.output
    run = next((tmp_path / "reports").iterdir())
    meta = json.loads((run / "run.json").read_text())
    assert meta["twin"]["profile"]["path"] == str(path)
    truth = json.loads((run / "twin-truth.json").read_text())["macs"]["mini-01"]
    sleeps = [s["t"] for s in truth["sleeps"]]
    darks = [w["t"] for w in truth["wakes"] if w["kind"] == "dark"]
    assert len(darks) >= 3 and all(d - max(s for s in sleeps if s < d) == pytest.approx(240.0, abs=0.5) for d in darks)
    res = CliRunner().invoke(main, ["run", "--lab", str(path), "--twin-profile", str(path)])
    assert res.exit_code == 2 and "--twin-profile is for the twin" in res.output
