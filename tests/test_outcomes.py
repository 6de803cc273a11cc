"""A Mac that never answers after wake ends its cycle classified, never missing."""
from __future__ import annotations

import json

import pytest

from rig.journal import cycles_from_journal, read_journal
from rig.twin.serve import MacSpec
from twin_runs import run_night


@pytest.fixture(scope="module")
def hung_night(tmp_path_factory):
    macs = [MacSpec("mbp-01", "laptop", skew=1.0), MacSpec("mini-01", "desktop", skew=-2.0, fault="never_wakes")]
    return run_night(tmp_path_factory.mktemp("hang"), "darkwake-aware", cycles=2, dwell_s=120, scale=200.0,
                     macs=macs, plan_overrides={"wake_timeout_s": 60.0, "hang_limit": 1})


def test_a_mac_that_never_wakes_is_a_dut_hang_in_the_journal(hung_night):
    records, torn = read_journal(hung_night.run_dir / "journal.jsonl")
    cycles = cycles_from_journal(records)
    assert torn == 0
    assert cycles[("mini-01", 1)]["outcome"] == "dut_hang"
    assert "recovery ladder" in cycles[("mini-01", 1)]["reason"]
    ladder = [r for r in records if r.get("type") == "recovery" and r["mac"] == "mini-01"]
    assert ladder and ladder[0]["step"] == "power press"


def test_an_unhealthy_mac_is_skipped_but_every_cycle_is_recorded(hung_night):
    cycles = cycles_from_journal(read_journal(hung_night.run_dir / "journal.jsonl")[0])
    assert set(cycles) == {("mbp-01", 1), ("mbp-01", 2), ("mini-01", 1), ("mini-01", 2)}
    assert cycles[("mini-01", 2)]["outcome"] == "dut_hang"
    assert "skipped" in cycles[("mini-01", 2)]["reason"]
    assert all(c["outcome"] != "unknown" for c in cycles.values())


def test_the_healthy_mac_is_still_scored(hung_night):
    rows = hung_night.rows("mbp-01")
    assert [r["outcome"] for r in rows] == ["pass", "pass"]


def test_hangs_are_shown_apart_and_not_scored(hung_night):
    scores = json.loads((hung_night.run_dir / "scores.json").read_text())
    assert scores["outcomes"].get("dut_hang") == 2
    assert scores["cycles_scored"] == 2
    assert {(e["mac"], e["cycle"]) for e in scores["rig_errors"]} == {("mini-01", 1), ("mini-01", 2)}
