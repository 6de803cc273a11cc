"""Fidelity: the rig's per-cycle scores against the twin's ground truth, over every build model.

Batch mode simulates 4 Macs x 9 cycles of 50-minute sleeps per build model (216 cycles in all),
with every clock skewed (Macs seconds apart from the controller and in other time zones, the
gateway 0.6 s off), and writes the raw logs the rig would have collected plus ``truth.json``.
The rig scores the run folder from the logs alone; each cycle is then held to the truth:
reconnect, DPD and alert counts exactly, dark/full classification exactly, time-to-tunnel
within 10 ms at the 95th percentile.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from report_runs import simulated_run
from rig.report.rebuild import derive_run
from rig.twin.builds import MODELS

pytestmark = pytest.mark.slow
GRACE = 30.0


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """[(build, rig's row, true row)] for every cycle of every build model."""
    out = []
    for i, build in enumerate(sorted(MODELS)):
        run, truth_path = simulated_run(tmp_path_factory.mktemp(build), build, macs=4, cycles=9, seed=40 + i,
                                        dwell_s=50 * 60)
        derive_run(run)
        truth = json.loads(truth_path.read_text())
        rows = {(r["mac"], int(r["cycle"])): r for r in pd.read_csv(run / "cycles.csv").to_dict("records")}
        out += [(build, rows[(t["mac"], t["cycle"])], t) for t in truth["cycles"]]
        skews = [m["skew"] for m in truth["macs"].values()]
        assert min(abs(s) for s in skews) > 0.5 and truth["gateway"]["skew"] != 0
    return out


def collected(scored):
    return [(b, r, t) for b, r, t in scored if t.get("sleep_s") is not None]


def test_at_least_200_cycles_of_every_build_model_were_scored(scored):
    cycles = collected(scored)
    assert len(cycles) >= 200
    assert {b for b, _, _ in cycles} == set(MODELS)
    assert all(r["scorable"] for _, r, _ in cycles)


@pytest.mark.parametrize("rig_key,truth_key", [
    ("reconnects_in_sleep", "reconnects_in_sleep"),
    ("handshakes_in_sleep", "handshakes_in_sleep"),
    ("gw_sessions_in_sleep", "gw_sessions_in_sleep"),
    ("dpd_in_sleep", "dpd_in_sleep"),
    ("dpd_terminations", "dpd_in_cycle"),
    ("false_alerts", "false_alerts"),
    ("dark_wakes", "dark_wakes"),
])
def test_counts_equal_the_truth_exactly(scored, rig_key, truth_key):
    wrong = [(b, r["mac"], r["cycle"], r[rig_key], t[truth_key]) for b, r, t in collected(scored)
             if r[rig_key] != t[truth_key]]
    assert not wrong
    assert sum(t[truth_key] for _, _, t in collected(scored)) > 0 or rig_key == "gw_sessions_in_sleep"


def test_false_alerts_are_split_by_why_as_the_truth_is(scored):
    for b, r, t in collected(scored):
        assert r["alerts_ext_false_asleep"] + r["alerts_ext_false_dark"] == t["alerts_in_sleep"], (b, r["cycle"])
        assert r["alerts_ext_false_recovered"] == t["alerts_recovered"], (b, r["cycle"])
        assert r["alerts_gw_false_asleep"] + r["alerts_gw_false_dark"] == t["dpd_in_sleep"], (b, r["cycle"])
        assert r["alerts_gw_false_recovered"] == t["dpd_recovered"], (b, r["cycle"])


def test_the_full_wake_is_found_at_the_true_instant(scored):
    err = [abs(pd.Timestamp(r["full_wake"]).value / 1e9 - t["wake"]) for _, r, t in collected(scored)]
    assert max(err) <= 0.010


def test_time_to_tunnel_error_is_within_10ms_at_p95(scored):
    pairs = [(r["ttt_s"], t["ttt_s"]) for _, r, t in collected(scored) if t["ttt_s"] is not None]
    assert len(pairs) >= 150
    err = np.abs(np.array([a - b for a, b in pairs]))
    assert np.percentile(err, 95) <= 0.010, np.percentile(err, 95)


def test_a_tunnel_that_never_came_back_is_censored_or_a_zombie_failure(scored):
    gone = [(b, r) for b, r, t in collected(scored) if t["ttt_s"] is None]
    assert gone
    for b, r in gone:
        assert r["ttt_censored"] or r["zombie_s"] > GRACE, (b, r["mac"], r["cycle"])
        assert r["outcome"] == "fail"


def test_zombie_time_of_the_zombie_build_matches_the_truth(scored):
    z = [(r["zombie_s"], t["zombie_full_s"]) for b, r, t in collected(scored) if t["zombie_full_s"] > 0]
    assert len(z) >= 5
    assert max(abs(a - b) for a, b in z) <= 0.1


def test_the_darkwake_aware_builds_own_verdicts_agree_with_the_power_log(scored):
    aware = [r for b, r, _ in collected(scored) if b == "darkwake-aware"]
    assert sum(r["verdicts"] for r in aware) >= 2 * len(aware)
    assert sum(r["verdict_errors"] + r["verdicts_unmatched"] for r in aware) == 0
