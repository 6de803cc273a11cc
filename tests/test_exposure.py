"""No PASS without the exposure the suite needs: a dark-wake run that saw no dark wake is
inconclusive in scores.json, summary.md, the report and the exit code."""
from __future__ import annotations

import json

from click.testing import CliRunner

from rig.cli.main import main
from rig.outcomes import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS, EXIT_RIG_ERROR, exit_code
from tests.batch_nights import batch_run


def test_a_dark_wake_run_without_a_dark_wake_is_inconclusive_not_pass(tmp_path):
    short = batch_run(tmp_path / "short", "darkwake-aware", macs=1, cycles_per_night=2, dwell_s=120, seed=1)
    assert sum(c.get("dark_wakes", 0) or 0 for c in short.truth["cycles"]) == 0   # truly none
    s = short.scores
    assert s["verdict"] == "inconclusive"
    assert s["exposure"]["needed"] == {"dark_wakes": 1} and s["exposure"]["seen"]["dark_wakes"] == 0
    assert all(g["verdict"] == "pass" for g in s["gates"])          # nothing failed: it just saw too little
    assert "**INCONCLUSIVE**" in (short.run_dir / "summary.md").read_text()
    assert "0 dark wakes seen, the suite needs at least 1" in (short.run_dir / "report.html").read_text()
    res = CliRunner().invoke(main, ["score", str(short.run_dir)])
    assert res.exit_code == EXIT_INCONCLUSIVE and "exposure: 0 dark wakes seen" in res.output


def test_the_same_build_with_enough_sleep_passes(tmp_path):
    long = batch_run(tmp_path / "long", "darkwake-aware", macs=1, cycles_per_night=2, dwell_s=45 * 60, seed=1)
    assert long.scores["exposure"]["short"] == []
    assert long.scores["verdict"] == "pass" and exit_code(long.scores) == EXIT_PASS
    assert json.loads((long.run_dir / "run.json").read_text())["exposure"] == {"dark_wakes": 1}


def test_exit_codes_rank_a_failure_then_rig_errors_then_missing_exposure():
    assert exit_code({"verdict": "fail", "outcomes": {"rig_error": 2}}) == EXIT_FAIL
    assert exit_code({"verdict": "pass", "outcomes": {"pass": 3, "rig_error": 1}}) == EXIT_RIG_ERROR
    assert exit_code({"verdict": "no data", "outcomes": {}}) == EXIT_INCONCLUSIVE
    assert exit_code({"verdict": "inconclusive", "outcomes": {"pass": 2}}) == EXIT_INCONCLUSIVE
    assert exit_code({"verdict": "pass", "outcomes": {"pass": 2}}) == EXIT_PASS
