"""The suites as CI runs them: pytest in a subprocess, one xdist worker per Mac, JUnit XML.

Each test here is a whole pytest session on the twin (~10-20 s), so there are only two: one
parallel night checked against the twin's ground truth, and one night the rig cannot measure.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

import rig
from rig.score.suites import SUITES
from rig.twin.launch import TwinProcess
from rig.twin.serve import TwinConfig
from twin_runs import truth_cycles

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def pytest_run(tmp_path: Path, *args, suites=("test_dark_wake.py",)) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "pytest", *(str(ROOT / "suites" / s) for s in suites), "-p", "no:cacheprovider",
           "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "--run-dir", str(tmp_path / "reports"),
           "--junitxml", str(tmp_path / "junit.xml"), *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def junit_cases(path: Path) -> tuple[dict, list]:
    suite = ET.parse(path).getroot().find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    cases = []
    for case in suite.findall("testcase"):
        cases.append({"name": case.get("name"),
                      "props": {p.get("name"): p.get("value") for p in case.iter("property")},
                      "failure": case.find("failure"), "error": case.find("error")})
    return props, cases


def journal(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]


def test_one_worker_per_mac_writes_one_run_folder_per_suite_that_matches_the_twins_truth(tmp_path):
    p = pytest_run(tmp_path, "-n", "2", "--build", "twin:naive", "--dwell", "17m", "--cycles", "1",
                   suites=("test_dark_wake.py", "test_wake_kinds.py"))
    assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-2000:]  # naive misses the gates: failures
    runs = {json.loads(r.read_text())["suite"]: r.parent for r in (tmp_path / "reports").glob("*/run.json")}
    assert sorted(runs) == ["dark_wake", "wake_kinds"]
    assert not any((r / "journal.d").exists() for r in runs.values()), "the per-Mac journals were not merged"
    # every test of a Mac ran on one worker, and the two Macs on two workers
    workers = {}
    for r in runs.values():
        for rec in journal(r):
            if rec["type"] == "cycle_plan":
                workers.setdefault(rec["mac"], set()).add(rec["worker"])
    assert sorted(workers) == ["mbp-01", "mini-01"] and all(len(w) == 1 for w in workers.values())
    assert workers["mbp-01"] != workers["mini-01"]
    # the two tests of wake_kinds share each Mac's cycle: one cycle per Mac, not two
    assert sorted(r["mac"] for r in journal(runs["wake_kinds"]) if r["type"] == "cycle_start") == ["mbp-01", "mini-01"]

    run = runs["dark_wake"]

    cycles = pd.read_csv(run / "cycles.csv")
    truth = json.loads((run / "twin-truth.json").read_text())
    assert sorted(cycles["mac"]) == ["mbp-01", "mini-01"]
    for mac in ("mbp-01", "mini-01"):
        row, want = cycles[cycles["mac"] == mac].iloc[0], truth_cycles(truth, mac)[0]
        assert (row["dark_wakes"], row["reconnects_in_sleep"]) == (want["dark_wakes"], want["reconnects_in_sleep"])
    # both Macs were driven at once, by different workers
    starts = {m: t for m, t in zip(cycles["mac"], cycles["t_start"])}
    ends = {r["mac"]: r["t"] for r in journal(run) if r["type"] == "cycle_end"}
    assert starts["mini-01"] < ends["mbp-01"] and starts["mbp-01"] < ends["mini-01"]
    # every suite's gates name metrics the scorer writes
    assert {g.metric for s in SUITES.values() for g in s["gates"]} <= set(cycles.columns)

    props, cases = junit_cases(tmp_path / "junit.xml")
    assert props["lab"] == "twin" and props["rig_version"] == rig.__version__
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", props["rig_git_sha"]) and props["rig_git_sha"].startswith(head)
    cases = [c for c in cases if c["name"].startswith("test_dark_wake[")]
    assert sorted(c["name"] for c in cases) == ["test_dark_wake[mbp-01]", "test_dark_wake[mini-01]"]
    for c in cases:
        mac = c["name"][len("test_dark_wake["):-1]
        row = cycles[cycles["mac"] == mac].iloc[0]
        assert c["failure"] is not None and c["error"] is None
        assert "gates missed: " in c["failure"].get("message")
        assert c["props"]["mac"] == mac and c["props"]["build"] == "twin:naive"
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", c["props"]["macos"])
        assert int(c["props"]["reconnects_in_sleep"]) == row["reconnects_in_sleep"]
        assert c["props"]["run"] == run.name


def test_a_cycle_the_rig_cannot_measure_is_a_pytest_error_not_a_failure(tmp_path):
    twin = TwinProcess(TwinConfig(build="naive"), root=tmp_path / "twin")
    try:
        lab = twin.start()
        # the actuator's USB cable is out: the rig cannot close the lid
        text = re.sub(r'port = "[^"]*"\n', 'port = "/dev/serial/by-id/usb-rig-actuator-GONE-if00"\n'
                      'timeout_s = 0.5\nreopen_s = 0.2\n', lab.read_text(), count=1)
        broken = lab.with_name("lab-unplugged.toml")
        broken.write_text(text)
        pkg = twin.root / "pkgs" / "TwinProxy-1.4.0-darkwake-aware.pkg"  # the build, as a package
        p = pytest_run(tmp_path, "--lab", str(broken), "--build", str(pkg), "--macs", "mbp-01",
                       "--cycles", "1", "--dwell", "5m")
    finally:
        truth = twin.stop()
    assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-2000:]
    _, (case,) = junit_cases(tmp_path / "junit.xml")
    assert case["failure"] is None and case["error"] is not None
    assert "rig_error" in case["error"].get("message") and "cannot open" in case["error"].get("message")
    (run,) = [r.parent for r in (tmp_path / "reports").glob("*/run.json")]
    assert pd.read_csv(run / "cycles.csv")["outcome"].tolist() == ["rig_error"]
    # the package was installed once on the Mac before its first cycle, and verified
    assert [i["build"] for i in truth["macs"]["mbp-01"]["installs"]] == ["darkwake-aware"]
    assert "installs" not in truth["macs"]["mini-01"] or not truth["macs"]["mini-01"]["installs"]
    assert case["props"]["build"] == "1.4.0-darkwake-aware" and "1.4.0-darkwake-aware" in case["props"]["build_installed"]
