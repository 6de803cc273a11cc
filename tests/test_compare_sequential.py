"""Two builds compared until settled (``rig compare BASE CAND --until-settled``).

Checked on streams whose true rates are known (the decision follows the true ratio; wrong
decisions stay within alpha and beta over seeded repeats), and through the real doors on the
twin: both builds installed on the same Macs round by round, in ABBA order, each in a run folder
of its own, and a build that truly alerts in dark wakes is called worse than one that does not.
"""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from rig.cli.main import main
from rig.outcomes import EXIT_FAIL
from rig.score.sequential_compare import BETTER, CONTINUE, EQUIVALENT, WORSE, Interleaved, RatioTest
from rig.score.suites import FALSE_ALERTS_PER_WAKE, hypotheses

MACS = {"m1": ["laptop"], "m2": ["laptop"]}


def a_round(rng, n: int, alerts_per_wake: float, slow: float = 0.0) -> list[dict]:
    out = []
    for mac in MACS:
        dark = int(rng.poisson(3))
        out.append({"mac": mac, "cycle": n, "dark_wakes": dark, "outcome": "pass",
                    "false_alerts": int(rng.poisson(alerts_per_wake * (dark + 1))),
                    "reconnects_in_sleep": 0, "ttt_s": 8.0 if rng.random() < slow else 1.0,
                    "t_start": n * 3000.0, "t_end": n * 3000.0 + 2700.0})
    return out


def decide(base_rate: float, cand_rate: float, seed: int, hyps=None, rounds: int = 60) -> Interleaved:
    rng = np.random.default_rng(seed)
    test = Interleaved(hyps or [FALSE_ALERTS_PER_WAKE], MACS)
    for n in range(1, rounds + 1):
        if test.add(a_round(rng, n, base_rate), a_round(rng, n, cand_rate)) != CONTINUE:
            break
    return test


def test_the_ratio_test_weighs_each_rounds_split_by_the_binomial_of_the_ratio():
    t = RatioTest(2.0, -3.0, 3.0)
    t.add(2, 4.0, 6, 4.0)                       # 8 events, equal exposure: the candidate took 6
    p1, p0 = 2 * 4 / (4 + 2 * 4), 0.5
    want = math.log(math.comb(8, 6) * p1 ** 6 * (1 - p1) ** 2) - math.log(math.comb(8, 6) * p0 ** 8)
    assert t.llr == [pytest.approx(want)]
    t.add(0, 4.0, 0, 4.0)                       # no event: nothing to weigh, the path stays
    assert t.llr[1] == t.llr[0] and t.state == CONTINUE


@pytest.mark.parametrize("base,cand,want", [(0.3, 1.5, WORSE), (1.5, 0.3, BETTER), (0.8, 0.8, EQUIVALENT),
                                            (0.0, 0.0, EQUIVALENT)])
def test_the_decision_follows_the_true_ratio(base, cand, want):
    decisions = [decide(base, cand, seed).state for seed in range(40)]
    assert decisions.count(want) >= 36, decisions


def test_equal_rates_are_called_better_or_worse_within_alpha_over_seeded_repeats():
    calls = [decide(0.8, 0.8, seed).state for seed in range(300)]
    wrong = sum(c in (BETTER, WORSE) for c in calls) / len(calls)
    assert wrong <= 0.05, wrong


def test_a_fourfold_regression_is_missed_within_beta_over_seeded_repeats():
    calls = [decide(0.25, 1.0, seed).state for seed in range(300)]
    missed = sum(c in (BETTER, EQUIVALENT) for c in calls) / len(calls)
    assert missed <= 0.05, missed


def test_two_clean_builds_are_equivalent_because_both_settle_good_not_because_nothing_happened():
    test = decide(0.0, 0.0, 1, hyps=hypotheses("dark_wake"))
    assert test.state == EQUIVALENT
    assert {c["why"] for c in test.summary()["hypotheses"]} == {"both settled good"}
    assert all(c.worse.llr[-1] == 0.0 for c in test.contrasts[:2])   # zero events weigh nothing


def test_one_regressing_hypothesis_is_a_regression_whatever_the_others_say():
    rng = np.random.default_rng(3)
    test = Interleaved(hypotheses("dark_wake"), MACS)
    for n in range(1, 30):
        if test.add(a_round(rng, n, 0.0), a_round(rng, n, 0.0, slow=0.9)) != CONTINUE:
            break
    assert test.state == WORSE
    by = {c["hypothesis"]: c["decision"] for c in test.summary()["hypotheses"]}
    assert by["wakes slower than the TTT gate"] == WORSE


def test_an_unsettled_comparison_is_inconclusive_and_says_so():
    test = decide(0.8, 0.8, 0, rounds=1)
    s = test.summary(max_rounds=1)
    assert s["state"] == "inconclusive" and s["words"].startswith("not settled after 1 round")


def test_a_ratio_that_is_no_change_and_a_suite_without_hypotheses_are_refused():
    with pytest.raises(ValueError, match="over 1"):
        Interleaved([FALSE_ALERTS_PER_WAKE], MACS, ratio=1.0)
    with pytest.raises(ValueError, match="no sequential hypotheses"):
        Interleaved([], MACS)


# -- through the doors, on the twin -------------------------------------------------------------------

def _records(run, kind):
    return [json.loads(x) for x in (run / "journal.jsonl").read_text().splitlines() if json.loads(x)["type"] == kind]


def test_rig_compare_until_settled_interleaves_two_builds_and_calls_the_alerting_one_worse(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["compare", "twin:darkwake-aware@1.0", "twin:naive@1.1", "--until-settled",
                                    "--max-rounds", "4", "--dwell", "40m", "--scale", "400"])
    assert res.exit_code == EXIT_FAIL, res.output
    assert "sequential: settled WORSE after" in res.output
    rounds = [line for line in res.output.splitlines() if line.startswith("round ")]
    assert rounds[0].startswith("round 1: base") and (len(rounds) < 2 or rounds[1].startswith("round 2: cand"))
    runs = {json.loads((r / "run.json").read_text())["compare"]["role"]: r for r in (tmp_path / "reports").iterdir()}
    assert set(runs) == {"base", "cand"}
    for role, label in (("base", "1.0"), ("cand", "1.1")):
        meta = json.loads((runs[role] / "run.json").read_text())
        ends = _records(runs[role], "cycle_end")
        assert len(ends) == 2 * len(rounds) and meta["plan"]["cycles"] == len(rounds)   # a cycle per Mac per round
        installed = _records(runs[role], "build")
        assert installed and all(f"({label}/" in r["installed"] for r in installed)   # through the door, each round
    cand = json.loads((runs["cand"] / "run.json").read_text())["compare"]
    assert cand["with"] == runs["base"].name and cand["settled"]["state"] == WORSE
    # the twin's truth: every alert was raised in a cycle of the naive build, none in the aware one's
    truth = json.loads((runs["cand"] / "twin-truth.json").read_text())
    cycles = {role: [(c["mac"], c["t_start"], c["t_end"]) for c in
                     csv.DictReader((runs[role] / "cycles.csv").open())] for role in runs}
    alerts = [(mac, a["t"]) for mac, m in truth["macs"].items() for a in m["alerts"]]
    assert alerts
    within = {role: sum(any(m == mac and float(t0) <= t <= float(t1) for m, t0, t1 in cycles[role])
                        for mac, t in alerts) for role in runs}
    assert within == {"cand": len(alerts), "base": 0}
    html = (runs["cand"] / "compare.html").read_text()
    assert "Sequential comparison" in html and "<svg" in html and "settled WORSE" in html
    assert "Sequential comparison: settled WORSE" in (runs["cand"] / "compare.md").read_text()


def test_rig_compare_without_until_settled_wants_run_folders_and_with_it_two_builds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["compare", "twin:naive", "twin:lazy"])
    assert res.exit_code == 2 and "no such run folder" in res.output and "--until-settled" in res.output
    res = CliRunner().invoke(main, ["compare", "twin:naive", "twin:naive", "--until-settled"])
    assert res.exit_code == 2 and "the same build" in res.output
