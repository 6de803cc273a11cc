"""The main job end to end: `rig run` on the default twin lab, and the HIL suite's verdicts."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from rig.outcomes import exit_code

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_rig_run_on_the_default_twin_writes_a_run_folder_and_prints_the_report(tmp_path):
    p = _run([sys.executable, "-m", "rig.cli.main", "run", "--build", "twin:naive", "--cycles", "1", "--dwell", "20m",
              "--reports", str(tmp_path)], tmp_path)
    lines = p.stdout.splitlines()
    run_dir = Path(lines[-1].removeprefix("report: ")).parent
    scores = json.loads((run_dir / "scores.json").read_text())
    assert p.returncode == exit_code(scores) and p.returncode in (0, 1), p.stderr   # naive: 1 when it fails
    cycle_lines = [ln for ln in lines if re.match(r"^(mbp-01|mini-01)\s+cycle 1/1\s+sleep 20m \(\d+ dark wakes\)"
                                                 r"\s+reconnects \d+\s+false alerts \d+\s+TTT (\d+\.\d\d s|censored)\s+(PASS|FAIL)$", ln)]
    assert len(cycle_lines) == 2, p.stdout
    report = Path(lines[-1].removeprefix("report: "))
    assert report.is_file() and report.parent.parent == tmp_path
    assert json.loads((report.parent / "scores.json").read_text())["verdict"] == "fail"
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("build,expected", [("twin:naive", 1), ("twin:darkwake-aware", 0)])
def test_dark_wake_suite_fails_naive_and_passes_darkwake_aware(tmp_path, build, expected):
    p = _run([sys.executable, "-m", "pytest", str(ROOT / "suites" / "test_dark_wake.py"), "-p", "no:cacheprovider",
              "--build", build, "--dwell", "20m", "--cycles", "1", "--run-dir", str(tmp_path), "-q",
              "--junitxml", str(tmp_path / "junit.xml"), "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")],
             ROOT)
    assert p.returncode == expected, p.stdout[-3000:]
    junit = (tmp_path / "junit.xml").read_text()
    assert junit.count("<testcase") == 2  # one per Mac of the lab
    if expected:
        assert "gates missed: reconnects in sleep" in junit
    runs = list(tmp_path.glob("*/report.html"))
    assert len(runs) == 1


def test_a_suite_run_that_saw_no_dark_wake_is_inconclusive_in_junit_and_the_exit_code(tmp_path):
    """A 2-minute sleep meets every gate of a good build but exercises no dark wake: no test
    may pass, the JUnit says INCONCLUSIVE with the shortfall, and pytest exits 3."""
    import xml.etree.ElementTree as ET

    from rig.outcomes import EXIT_INCONCLUSIVE

    p = _run([sys.executable, "-m", "pytest", str(ROOT / "suites" / "test_dark_wake.py"), "-p", "no:cacheprovider",
              "--build", "twin:darkwake-aware", "--dwell", "2m", "--cycles", "1", "--run-dir", str(tmp_path),
              "-q", "-rs", "--junitxml", str(tmp_path / "junit.xml"), "--rootdir", str(ROOT),
              "-c", str(ROOT / "pyproject.toml")], ROOT)
    assert p.returncode == EXIT_INCONCLUSIVE, p.stdout[-3000:]
    root = ET.parse(tmp_path / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 2
    for case in cases:
        skipped = case.find("skipped")
        assert skipped is not None and "INCONCLUSIVE" in skipped.get("message", ""), ET.tostring(case)
        props = {q.get("name"): q.get("value") for q in case.iter("property")}
        assert props["exposure_short"] == "0 dark wakes seen, the suite needs at least 1"
    suite_props = {q.get("name"): q.get("value") for q in root.find(".//testsuite").iter("property")}
    assert suite_props["verdicts"].endswith("dark_wake: inconclusive")
    run = next(tmp_path.glob("*/scores.json"))
    assert json.loads(run.read_text())["verdict"] == "inconclusive"


@pytest.mark.parametrize("build,expected,max_cycles", [("twin:naive", 1, 4), ("twin:darkwake-aware", 3, 1)])
def test_a_suite_until_settled_fails_a_bad_build_early_and_ends_an_unsettled_one_inconclusive(
        tmp_path, build, expected, max_cycles):
    """``pytest suites/ --until-settled``: naive settles FAIL in its first cycle on each Mac (it
    does not run the four allowed); a good build cut off at one cycle has not settled: every test
    is INCONCLUSIVE (skipped), never passed, and pytest exits 3."""
    p = _run([sys.executable, "-m", "pytest", str(ROOT / "suites" / "test_dark_wake.py"), "-p", "no:cacheprovider",
              "--build", build, "--dwell", "20m", "--until-settled", "--max-cycles", str(max_cycles),
              "--run-dir", str(tmp_path), "-q", "-rs", "--junitxml", str(tmp_path / "junit.xml"),
              "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")], ROOT)
    assert p.returncode == expected, p.stdout[-3000:]
    run = next(tmp_path.glob("*/run.json")).parent
    ends = [json.loads(x) for part in run.glob("journal*.jsonl*") for x in part.read_text().splitlines()
            if json.loads(x)["type"] == "cycle_end"]
    junit = (tmp_path / "junit.xml").read_text()
    if expected == 1:
        assert len(ends) == 2                       # one cycle per Mac, not the four allowed
        assert "sequential test: settled FAIL after 1 cycle" in junit or "gates missed" in junit
    else:
        assert len(ends) == 2 and junit.count("INCONCLUSIVE") >= 2 and "not settled after 1 cycle" in junit
    scores = json.loads((run / "scores.json").read_text())
    assert scores["settled"]["state"] == ("settled fail" if expected == 1 else "not settled")
