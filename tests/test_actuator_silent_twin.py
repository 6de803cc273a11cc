"""End to end: an actuator that goes silent mid-night makes a journaled ``rig_error`` cycle, not a crash.

The twin's firmware answers the PING at open, the boot check before the lid close and the lid
close, then hangs (``actuator_answers = 3``): the
Mac goes to sleep and the rig cannot wake it. The cycle must end ``rig_error`` (the rig's fault,
never scored against the build), saying which step failed and every attempt's problem, and the
twin's ground truth must show that no wake ever reached the Mac.
"""
from __future__ import annotations

import dataclasses

import pytest

from rig.journal import read_journal
from rig.lab.inventory import load_lab
from rig.outcomes import Outcome
from rig.twin.serve import DEFAULT_MACS, TwinConfig
from twin_runs import run_night

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    laptop = next(m for m in DEFAULT_MACS if m.kind == "laptop")

    def short_timeouts(path):
        # a short per-attempt timeout keeps the test fast; three attempts as in a real lab
        lab = load_lab(path)
        lab.actuators = {n: dataclasses.replace(a, timeout_s=0.3) for n, a in lab.actuators.items()}
        return lab

    n = run_night(tmp_path_factory.mktemp("silent"), "naive", dwell_s=5 * 60, lab_for=short_timeouts,
                  twin=TwinConfig(build="naive", scale=200.0, macs=[laptop], actuator_answers=3),
                  plan_overrides={"rig_retries": 0})
    records, _ = read_journal(n.run_dir / "journal.jsonl")
    return {"mac": laptop.name, "records": records, "truth": n.truth, "cycles": n.cycles}


def test_a_silent_actuator_ends_the_cycle_as_rig_error_at_the_wake_step(night):
    ends = [r for r in night["records"] if r["type"] == "cycle_end"]
    assert [(r["mac"], r["cycle"], r["outcome"]) for r in ends] == [(night["mac"], 1, Outcome.RIG_ERROR.value)]
    reason = ends[0]["reason"]
    assert reason.startswith("wake: ")
    assert "LID 1 OPEN" in reason and all(f"attempt {k}: no reply" in reason for k in (1, 2, 3))


def test_the_silent_actuators_cycle_is_reported_not_scored(night):
    rows = night["cycles"].to_dict("records")
    assert [(r["mac"], r["outcome"]) for r in rows] == [(night["mac"], Outcome.RIG_ERROR.value)]
    assert not Outcome.RIG_ERROR.scored


def test_the_twin_confirms_the_lid_closed_and_no_wake_reached_the_mac(night):
    truth = night["truth"]["macs"][night["mac"]]
    assert [s["reason"] for s in truth["sleeps"]][:1] == ["Clamshell Sleep"]  # the answered lid close
    assert truth["wake_requests"] == []  # the unanswered lid open was never acted on
