"""Comparing builds: the statistics on hand-made cycle tables, then on the twin (batch mode).

The twin tests are the acceptance of the comparison: a build compared with itself (other seeds)
must say "no evidence of change" in at least 95 % of 40 repeats, and ``naive`` against
``darkwake-aware`` must show a significant difference.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from report_runs import simulated_run
from rig.report import compare
from rig.cli.main import main
from rig.report.compare import BETTER, NO_EVIDENCE, WORSE, Side
from rig.report.rebuild import derive_run


def side(n: int, *, reconnects: float = 0.0, ttt: float = 1.0, spread: float = 0.3, sleep_s: float = 3600.0,
         censored: int = 0, seed: int = 0) -> Side:
    """``n`` scored cycles of ``sleep_s``; reconnects per cycle ~ Poisson(reconnects); TTT ~ ttt+U."""
    rng = np.random.default_rng(seed)
    t = ttt + rng.uniform(0, spread, n)
    cens = np.zeros(n, dtype=bool)
    cens[:censored] = True
    cycles = pd.DataFrame({
        "mac": "m", "cycle": np.arange(1, n + 1), "outcome": "pass", "scorable": True, "sleep_s": sleep_s,
        "reconnects_in_sleep": rng.poisson(reconnects, n), "false_alerts": 0, "true_alerts": 0,
        "dpd_terminations": 0, "handshakes_in_sleep": 0, "ttt_censored": cens,
        "ttt_s": np.where(cens, np.nan, t), "zombie_s": 0.0})
    return Side(Path(f"run-{seed}"), {"build": f"b{seed}", "run_id": f"r{seed}"}, cycles,
                n * sleep_s / 3600, 60.0)


def metric(c: compare.Comparison, name: str) -> compare.MetricChange:
    return next(m for m in c.metrics if m.metric == name)


# ---- the statistics ---------------------------------------------------------------------------

def test_the_rate_test_is_the_exact_conditional_binomial():
    # all 10 events on one side of equal exposures: two-sided p = 2 * 0.5**10
    m = compare.rate_change("x", "x", "sleep-hour", 0, 5.0, 10, 5.0)
    assert m.p == pytest.approx(2 * 0.5 ** 10)
    assert m.change == math.inf and m.ci[0] > 1.0 and m.ci[1] == math.inf


def test_equal_rates_give_a_ratio_of_one_inside_its_interval():
    m = compare.rate_change("x", "x", "sleep-hour", 40, 10.0, 80, 20.0)
    assert m.change == pytest.approx(1.0) and m.ci[0] < 1.0 < m.ci[1] and m.p == pytest.approx(1.0)


def test_no_events_on_either_side_is_no_evidence_not_an_error():
    c = compare.compare(side(10), side(10, seed=1))
    m = metric(c, "true_alerts")
    assert (m.words, m.p, m.change) == (NO_EVIDENCE, 1.0, None)


def test_a_tripled_reconnect_rate_is_worse_with_an_interval_above_one():
    c = compare.compare(side(30, reconnects=1.0), side(30, reconnects=3.0, seed=1))
    m = metric(c, "reconnects_in_sleep")
    assert m.words == WORSE and m.ci[0] > 1.0
    assert c.verdict == WORSE


def test_faster_time_to_tunnel_is_better_with_an_interval_below_zero():
    c = compare.compare(side(30, ttt=3.0), side(30, ttt=1.0, seed=1))
    m = metric(c, "ttt_s")
    assert m.words == BETTER and m.ci[1] < 0 and m.change == pytest.approx(-2.0, abs=0.2)
    assert c.verdict == BETTER


def test_a_censored_time_to_tunnel_ranks_above_every_real_one():
    base = side(12, ttt=50.0, spread=9.0)                     # slow, but every one within the timeout
    cand = side(12, ttt=1.0, seed=1, censored=12)             # never came back
    assert list(compare._times(cand, "ttt_s")) == [60.0] * 12
    m = metric(compare.compare(base, cand), "ttt_s")
    assert (m.words, m.direction) == (WORSE, 1) and m.p < 1e-4


def test_p_values_are_adjusted_for_the_number_of_metrics_tested():
    c = compare.compare(side(20, reconnects=1.0, ttt=1.0), side(20, reconnects=1.6, ttt=1.1, seed=3))
    tested = [m for m in c.metrics if not math.isnan(m.p)]
    assert len(tested) >= 2 and all(m.q >= m.p for m in tested)


def test_a_comparison_is_reproducible():
    a, b = side(15, reconnects=1.0), side(15, reconnects=1.0, seed=2)
    assert compare.render_md(compare.compare(a, b)) == compare.render_md(compare.compare(a, b))


def test_fewer_than_two_times_is_reported_not_tested():
    m = compare.time_change("ttt_s", "time-to-tunnel", "s", np.array([1.0]), np.array([1.0, 2.0]))
    assert math.isnan(m.p) and m.words == NO_EVIDENCE and "fewer than two" in m.note


# ---- on the twin ------------------------------------------------------------------------------

def batch(tmp: Path, build: str, seed: int) -> Path:
    run, _ = simulated_run(tmp / f"{build}-{seed}", build, macs=2, cycles=4, seed=seed, dwell_s=45 * 60)
    derive_run(run)
    return run


@pytest.mark.slow
def test_a_build_compared_with_itself_shows_no_evidence_of_change_in_95_percent_of_40_repeats(tmp_path):
    verdicts = []
    for i in range(40):
        c = compare.compare_runs(batch(tmp_path, "naive", 1000 + 2 * i), batch(tmp_path, "naive", 1001 + 2 * i))
        assert metric(c, "reconnects_in_sleep").base_n > 0      # the runs have something to compare
        verdicts.append(c.verdict)
    assert verdicts.count(NO_EVIDENCE) >= 38, verdicts


@pytest.mark.slow
def test_naive_against_darkwake_aware_is_a_significant_difference(tmp_path):
    c = compare.compare_runs(batch(tmp_path, "naive", 7), batch(tmp_path, "darkwake-aware", 8))
    for name in ("reconnects_in_sleep", "false_alerts", "dpd_terminations"):
        m = metric(c, name)
        assert m.words == BETTER and m.q < 0.05 and m.ci[1] < 1.0, (name, m)
    assert c.verdict == BETTER


@pytest.mark.slow
def test_rig_compare_writes_compare_html_and_md(tmp_path):
    base, cand = batch(tmp_path, "darkwake-aware", 3), batch(tmp_path, "naive", 4)
    res = CliRunner().invoke(main, ["compare", str(base), str(cand), "--out", str(tmp_path / "cmp")])
    assert res.exit_code == 0, res.output
    assert "WORSE" in res.output
    md = (tmp_path / "cmp" / "compare.md").read_text()
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "**WORSE**" in md and "reconnects in sleep" in md and "worse" in page
    assert "default-src 'none'" in page and "<script" not in page


def test_a_side_without_scored_cycles_is_no_data_not_no_evidence():
    empty = side(0, seed=5)
    c = compare.compare(empty, side(6, seed=6))
    assert c.verdict == compare.NO_DATA and c.metrics == []
    assert "base run has no scored cycle" in c.warning
    assert "Warning: the base run has no scored cycle" in compare.render_md(c)
    assert "Warning: the base run has no scored cycle" in compare.render_html(c)


def test_a_run_compared_with_itself_is_refused(tmp_path):
    run, _ = simulated_run(tmp_path, "naive", macs=1, cycles=2)
    res = CliRunner().invoke(main, ["compare", str(run), str(run)])
    assert res.exit_code == 1 and "are the same run" in res.output
    assert not (run / "compare.html").exists()


def test_a_copy_of_a_run_is_the_same_run(tmp_path):
    run, _ = simulated_run(tmp_path / "a", "naive", macs=1, cycles=2)
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(run, copy)
    with pytest.raises(compare.SameRun):
        compare.compare_runs(run, copy)
