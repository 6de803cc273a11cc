"""Stop when the verdict is settled (``--until-settled``): Wald's SPRT per suite hypothesis.

The decisions are checked three ways: against the test's own definition on streams whose true
rate is known (error rates within alpha and beta over seeded repeats), against the twin's truth
(a build that truly alerts settles FAIL, one that truly never does settles PASS), and through the
real doors (``rig run --until-settled`` stops the Macs, and ``rig score`` decides the same again).
"""
from __future__ import annotations

import json
import math
import random

import pytest
from click.testing import CliRunner

from rig.cli.main import main
from rig.outcomes import EXIT_FAIL, EXIT_INCONCLUSIVE, exit_code
from rig.score.sequential import Hypothesis, boundaries, lab_hours, settle
from rig.score.suites import FALSE_ALERTS_PER_WAKE, SLOW_WAKES, hypotheses
from tests.batch_nights import batch_run

ALERTS = FALSE_ALERTS_PER_WAKE


def rows(counts, dark_wakes=3, mac="m1", metric="false_alerts", span_s=3000.0):
    return [{"mac": mac, "cycle": i + 1, "t_start": i * span_s, "t_end": i * span_s + span_s * 0.9,
             metric: x, "dark_wakes": dark_wakes, "outcome": "pass"} for i, x in enumerate(counts)]


# -- the test's definition ------------------------------------------------------------------------

def test_a_clean_stream_settles_pass_where_the_poisson_likelihood_ratio_crosses_the_lower_boundary():
    lower, _ = boundaries(0.05, 0.05)
    wakes = 4                                   # 3 dark wakes and the full wake of each cycle
    per_cycle = -wakes * (ALERTS.bad - ALERTS.good)   # log of e^-(4*0.10) / e^-(4*0.01)
    expect = math.ceil(lower / per_cycle - 1e-12)
    s = settle([ALERTS], rows([0] * 40), {"m1": []})
    assert s["state"] == "settled pass" and s["cycles"] == expect
    assert s["pools"]["untagged"]["paths"][0]["llr"][0] == pytest.approx(per_cycle)
    assert s["overrun_cycles"] == 40 - expect


def test_one_cycle_of_a_plainly_bad_build_settles_fail():
    s = settle([ALERTS], rows([3, 0, 0]), {"m1": []})
    assert s["state"] == "settled fail" and s["cycles"] == 1 and s["overrun_cycles"] == 2
    assert s["words"].startswith("settled FAIL after 1 cycle,")


def test_too_few_cycles_are_not_settled_and_say_inconclusive():
    s = settle([ALERTS], rows([0, 0]), {"m1": []})
    assert s["state"] == "not settled" and "inconclusive" in s["words"]


def test_slow_or_censored_wakes_are_the_events_of_the_time_to_tunnel_hypothesis():
    h = SLOW_WAKES
    assert h.evidence({"ttt_s": 1.0, "ttt_censored": False}) == (0, 1)
    assert h.evidence({"ttt_s": 9.0, "ttt_censored": False}) == (1, 1)
    assert h.evidence({"ttt_s": float("nan"), "ttt_censored": True}) == (1, 1)   # no tunnel: a failure


@pytest.mark.parametrize("rate,wrong", [(ALERTS.good, "settled fail"), (ALERTS.bad, "settled pass")])
def test_wrong_verdicts_stay_within_alpha_and_beta_over_seeded_streams(rate, wrong):
    """Streams drawn at exactly the good (or bad) rate: the wrong decision's frequency must stay
    within its error rate (Wald's bounds are conservative), over 600 seeds."""
    n, wrong_n = 600, 0
    for seed in range(n):
        rng = random.Random(seed)
        counts = [sum(rng.random() < rate for _ in range(4)) for _ in range(400)]   # 4 wakes a cycle
        s = settle([ALERTS], rows(counts), {"m1": []}, alpha=0.05, beta=0.05)
        assert s["state"] != "not settled"
        wrong_n += s["state"] == wrong
    assert wrong_n / n <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / n)


def test_macs_with_the_same_tags_are_pooled_and_others_are_not():
    both = rows([0] * 6, mac="a") + rows([0] * 6, mac="b")
    pooled = settle([ALERTS], both, {"a": ["mini"], "b": ["mini"]})
    apart = settle([ALERTS], both, {"a": ["mini"], "b": ["laptop"]})
    assert list(pooled["pools"]) == ["mini"] and pooled["state"] == "settled pass"
    assert set(apart["pools"]) == {"mini", "laptop"} and apart["state"] == "not settled"


def test_several_hypotheses_share_alpha_and_a_fail_of_any_settles_the_run():
    two = [ALERTS, Hypothesis("reconnects", "reconnects_in_sleep", "wakes", 0.01, 0.10, "per wake")]
    lo1, hi1 = boundaries(0.05, 0.05)
    s = settle(two, [{**r, "reconnects_in_sleep": 3} for r in rows([0] * 5)], {"m1": []})
    assert s["boundaries"]["upper"] > hi1 and s["boundaries"]["lower"] == pytest.approx(lo1, rel=0.02)
    assert s["state"] == "settled fail"


def test_lab_hours_are_the_racks_time_not_the_sum_over_macs():
    assert lab_hours([(0, 3600), (1800, 5400), (86400, 90000)]) == pytest.approx(2.5)


def test_a_suite_without_hypotheses_cannot_run_until_settled():
    from rig.runner.plan import Plan
    from rig.runner.run import sequential_spec

    assert hypotheses("sleep_length_sweep") == []
    with pytest.raises(ValueError, match="no sequential hypotheses"):
        sequential_spec("sleep_length_sweep", Plan(build="x", until_settled=True))


# -- against the twin's truth, in batch mode ----------------------------------------------------------

ALIKE = {"tags": ["rack-a"]}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_naive_settles_fail_and_darkwake_aware_settles_pass_as_the_truth_says(tmp_path, seed):
    bad = batch_run(tmp_path / "naive", "naive", macs=2, nights=2, cycles_per_night=8, dwell_s=45 * 60,
                    seed=seed, mac_spec=ALIKE, until_settled=True)
    good = batch_run(tmp_path / "aware", "darkwake-aware", macs=2, nights=2, cycles_per_night=8,
                     dwell_s=45 * 60, seed=seed, mac_spec=ALIKE, until_settled=True)
    # the truth: naive really alerts at wakes, darkwake-aware never does
    assert sum(c.get("false_alerts", 0) for c in bad.truth["cycles"]) > 0
    assert sum(c.get("false_alerts", 0) for c in good.truth["cycles"]) == 0
    assert bad.scores["settled"]["state"] == "settled fail" and bad.scores["verdict"] == "fail"
    assert good.scores["settled"]["state"] == "settled pass" and good.scores["verdict"] == "pass"
    # it stopped: fewer cycles than the 16 per Mac allowed, the bad build after its first round
    assert len(bad.truth["cycles"]) <= 2 and len(good.truth["cycles"]) < 32
    assert list(good.scores["settled"]["pools"]) == ["rack-a"]
    run = json.loads((good.run_dir / "run.json").read_text())
    assert run["settled"]["state"] == "settled pass"
    assert run["settled"]["cycles"] == good.scores["settled"]["cycles"]


def test_max_cycles_ends_inconclusive_never_pass(tmp_path):
    short = batch_run(tmp_path / "short", "darkwake-aware", macs=1, nights=1, cycles_per_night=8,
                      dwell_s=45 * 60, until_settled=True, max_cycles=2)
    assert len(short.truth["cycles"]) == 2
    assert all(g["verdict"] == "pass" for g in short.scores["gates"])   # nothing failed...
    assert short.scores["settled"]["state"] == "not settled"
    assert short.scores["verdict"] == "inconclusive" and exit_code(short.scores) == EXIT_INCONCLUSIVE
    assert "not settled after 2 cycles" in (short.run_dir / "summary.md").read_text()
    html = (short.run_dir / "report.html").read_text()
    assert "Sequential test" in html and html.count("<polyline") == 3   # one path per hypothesis
    res = CliRunner().invoke(main, ["score", str(short.run_dir)])
    assert res.exit_code == EXIT_INCONCLUSIVE and "sequential: not settled" in res.output


def test_a_fixed_cycle_run_has_no_sequential_test(tmp_path):
    fixed = batch_run(tmp_path / "fixed", "darkwake-aware", macs=1, nights=1, cycles_per_night=2, dwell_s=45 * 60)
    assert "settled" not in fixed.scores and fixed.scores["verdict"] == "pass"
    assert "Sequential test" not in (fixed.run_dir / "report.html").read_text()


# -- through the real doors: rig run on the live twin ----------------------------------------------------

def test_rig_run_until_settled_stops_a_plainly_bad_build_after_its_first_cycles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["run", "--build", "twin:naive", "--until-settled", "--max-cycles", "5",
                                    "--dwell", "16m", "--scale", "100", "-q"])
    assert res.exit_code == EXIT_FAIL, res.output
    assert "sequential: settled FAIL after" in res.output
    run_dir = next((tmp_path / "reports").iterdir())
    cycles = [json.loads(x) for x in (run_dir / "journal.jsonl").read_text().splitlines()
              if json.loads(x)["type"] == "cycle_end"]
    assert 1 <= len(cycles) < 2 * 5          # stopped well before the most allowed
    run = json.loads((run_dir / "run.json").read_text())
    assert run["plan"]["until_settled"] is True and run["settled"]["state"] == "settled fail"
    truth = json.loads((run_dir / "twin-truth.json").read_text())
    assert sum(len(m["alerts"]) for m in truth["macs"].values()) > 0     # it really alerted
    again = CliRunner().invoke(main, ["score", str(run_dir)])             # decided again from the folder
    assert again.exit_code == EXIT_FAIL and f"settled FAIL after {run['settled']['cycles']} cycle" in again.output
