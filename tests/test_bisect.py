"""``rig bisect``: the first bad build of an ordered list in ceil(log2(n - 1)) runs plus the ends.

The search is checked on every position of the first bad build, and end to end on the twin: each
step installs its build through ``rig install``'s door (SFTP + installer over real SSH) and runs
the suite, and the answer is the build where the twin's model changes from good to bad.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rig.cli.main import main
from rig.runner.bisect import Step, max_midpoints, search


def judge_for(first_bad: int, builds: list[str], odd: dict | None = None):
    calls = []

    def judge(build: str, why: str) -> Step:
        calls.append(build)
        verdict = (odd or {}).get(build) or ("fail" if builds.index(build) >= first_bad else "pass")
        return Step(build, why, verdict)
    return judge, calls


@pytest.mark.parametrize("n", [2, 3, 8, 10])
def test_every_position_of_the_first_bad_build_is_found_within_log2_steps_plus_the_ends(n):
    builds = [f"b{i}" for i in range(n)]
    for first_bad in range(1, n):
        judge, calls = judge_for(first_bad, builds)
        res = search(builds, judge)
        assert res.first_bad == builds[first_bad]
        assert calls[:2] == [builds[0], builds[-1]]           # the ends, checked first
        assert len(calls) - 2 <= max_midpoints(n)
    assert max_midpoints(8) == 3


def test_trusted_ends_are_not_run_and_the_summary_says_so():
    builds = [f"b{i}" for i in range(8)]
    judge, calls = judge_for(5, builds)
    res = search(builds, judge, trust_ends=True)
    assert res.first_bad == "b5" and builds[0] not in calls and builds[-1] not in calls
    assert res.as_dict()["trusted_ends"] is True


def test_an_inconclusive_midpoint_stops_the_search_with_the_range_left():
    builds = [f"b{i}" for i in range(8)]
    judge, _ = judge_for(5, builds, odd={"b3": "inconclusive"})
    res = search(builds, judge)
    assert res.first_bad is None and "b3 is INCONCLUSIVE" in res.stopped and "after b0" in res.stopped
    assert res.last_line.startswith("no first bad build:")


def test_a_known_good_end_that_fails_is_refused_not_bisected():
    builds = [f"b{i}" for i in range(4)]
    judge, calls = judge_for(0, builds)
    res = search(builds, judge)
    assert res.first_bad is None and calls == ["b0"] and "b0 was given as known good" in res.stopped


def test_a_list_that_repeats_a_build_is_refused():
    with pytest.raises(ValueError, match="different one"):
        search(["twin:naive", "twin:naive"], judge_for(1, ["twin:naive"] * 2)[0])


def test_bisect_on_the_twin_installs_each_step_and_names_the_first_bad_build(tmp_path, monkeypatch):
    """Eight labelled twin builds: 1.0-1.4 are darkwake-aware, 1.5-1.7 naive."""
    monkeypatch.chdir(tmp_path)
    builds = [f"twin:darkwake-aware@1.{i}" for i in range(5)] + [f"twin:naive@1.{i}" for i in range(5, 8)]
    res = CliRunner().invoke(main, ["bisect", "--builds", ",".join(builds), "--cycles", "1", "--dwell", "40m",
                                    "--scale", "300", "--reports", str(tmp_path / "reports")])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == "first bad build: twin:naive@1.5"
    summary = next((tmp_path / "reports").glob("bisect-*"))
    data = json.loads((summary / "bisect.json").read_text())
    assert len(data["steps"]) <= 2 + 3
    for step in data["steps"]:
        run = Path(step["run"])
        meta = json.loads((run / "run.json").read_text())
        assert meta["build"] == step["build"]
        # the build the Mac reported was the step's: installed through the door, not assumed
        installed = [json.loads(x) for x in (run / "journal.jsonl").read_text().splitlines()
                     if json.loads(x)["type"] == "build"]
        assert installed and all(f"({step['build'].split('@')[1]}/" in r["installed"] for r in installed)
        assert step["verdict"] == ("fail" if "naive" in step["build"] else "pass")
    html = (summary / "bisect.html").read_text()
    assert html.count('href="../') == len(data["steps"]) and "first bad build" in html
