"""Faults on the twin, on demand, end to end (docs/design.md, "Fault matrix").

Door faults (a link cut mid-SFTP or mid-gateway fetch, a gateway log source that is down, an
actuator that reboots) are injected by the live twin through its real doors and met by the rig
over real SSH and a pty. Mac faults (a Mac that needs the second or third rung of the recovery
ladder, a clock step at wake, a DST change in the night) live on the Mac model: the live twin
runs the ladder ones through the actuator, the batch twin the clock ones (the same cycle script,
many wakes on virtual time). Every test checks the outcome against the twin's ground truth and
that no cycle is lost.
"""
from __future__ import annotations

import json

import pytest

from batch_nights import batch_run
from rig.journal import Rec, cycles_from_journal, read_journal
from rig.twin.serve import MacSpec, TwinConfig
from twin_runs import TTT_TOLERANCE_S, assert_matches_truth, run_night, truth_cycles

pytestmark = pytest.mark.slow
LAPTOP = MacSpec("mbp-01", "laptop", skew=2.75, utc_offset_min=-480, tags=["laptop"])
DESKTOP = MacSpec("mini-01", "desktop", skew=-1.3, utc_offset_min=330, tags=["desktop"])


def _live(tmp_path, build="darkwake-aware", macs=(LAPTOP,), faults=None, cycles=1, dwell_s=17 * 60, **plan):
    cfg = TwinConfig(build=build, scale=200.0, macs=[MacSpec(**vars(m)) for m in macs], faults=faults or {})
    return run_night(tmp_path, build, cycles=cycles, dwell_s=dwell_s, twin=cfg, plan_overrides=plan or None)


def _records(night):
    return read_journal(night.run_dir / "journal.jsonl")[0]


# -- door faults (live twin) ---------------------------------------------------------------------

def test_a_link_cut_mid_sftp_and_mid_gateway_fetch_is_retried_and_the_cycle_scored(tmp_path):
    night = _live(tmp_path, faults={"sftp_drop": 1, "gateway_fetch_drop": 1})
    assert night.truth["faults"] == {"sftp_drop": 1, "gateway_fetch_drop": 1}
    attempts = json.loads((night.run_dir / "raw" / "mbp-01" / "001" / "collect.json").read_text())["attempts"]
    mac = [a for a in attempts if a["host"] == "mbp-01"]
    gw = [a for a in attempts if a["host"].startswith("gateway")]
    assert [a["got"] for a in mac] == [["pmset"], ["unified"]] and "link lost" in mac[0]["error"], mac
    assert [bool(a["error"]) for a in gw] == [True, False] and gw[1]["got"] == ["gateway"], gw
    assert_matches_truth(night, "mbp-01")  # nothing lost: the whole cycle is there and scored


def test_a_gateway_log_source_that_is_down_is_a_rig_error_retried_and_never_scored(tmp_path):
    night = _live(tmp_path, faults={"gateway_down": 1})
    ends = [r for r in _records(night) if r["type"] == Rec.CYCLE_END.value]
    assert [e["outcome"] for e in ends][0] == "rig_error"
    assert "collecting gateway failed" in ends[0]["reason"] and "Failed to open journal" in ends[0]["reason"]
    assert ends[1]["attempt"] == 2 and ends[1]["outcome"] in ("pass", "fail")
    rows = night.rows("mbp-01")
    assert len(rows) == 1 and rows[0]["outcome"] in ("pass", "fail")  # the retry is the cycle's row
    assert (night.run_dir / "raw" / "mbp-01" / "001.attempt1" / "gateway.log").read_bytes() == b""


def test_a_gateway_that_stays_down_scores_nothing_and_the_run_is_a_rig_error(tmp_path):
    from rig.outcomes import EXIT_RIG_ERROR, exit_code

    night = _live(tmp_path, faults={"gateway_down": -1})
    scores = json.loads((night.run_dir / "scores.json").read_text())
    assert set(night.cycles["outcome"]) == {"rig_error"}
    assert scores["cycles_scored"] == 0 and scores["verdict"] != "pass"
    assert exit_code(scores) == EXIT_RIG_ERROR


def test_an_actuator_that_reboots_after_closing_the_lid_is_found_out_and_closes_it_again(tmp_path):
    night = _live(tmp_path, faults={"actuator_reboot": 1})
    assert night.truth["faults"] == {"actuator_reboot": 1}
    close = next(r for r in _records(night) if r.get("kind") == "act_lid_close")
    # the reset's safe state opened the lid again: STATUS says so and the close is resent
    assert any("rebooted" in n and "STATUS shows lid=open" in n and "new id" in n for n in close["notes"]), close
    truth = night.truth["macs"]["mbp-01"]
    rig_sleeps = [s for s in truth["sleeps"] if s["reason"] == "Clamshell Sleep"]
    assert len(rig_sleeps) == 1 and abs(rig_sleeps[0]["t"] - close["t"]) < 1.0  # its instant is the resend's
    assert_matches_truth(night, "mbp-01")


def test_an_actuator_power_cycled_in_the_dwell_is_found_out_at_the_wake_and_the_cycle_rerun(tmp_path):
    night = _live(tmp_path, faults={"actuator_power_cycle": 1})
    assert night.truth["faults"] == {"actuator_power_cycle": 1}
    ends = [r for r in _records(night) if r["type"] == Rec.CYCLE_END.value]
    assert ends[0]["outcome"] == "rig_error", ends[0]
    assert "rebooted since its last answer" in ends[0]["reason"] and "LID 1 OPEN' was sent" in ends[0]["reason"]
    assert ends[1]["attempt"] == 2 and ends[1]["outcome"] in ("pass", "fail")
    truth = night.truth["macs"]["mbp-01"]
    assert truth["wake_requests"][0]["cause"] == "lid"  # the board's safe state woke it in the dwell
    assert_matches_truth(night, "mbp-01")


def test_an_actuator_that_reboots_mid_press_is_never_pressed_twice(tmp_path):
    night = _live(tmp_path, macs=(DESKTOP,), faults={"actuator_reboot": 1})
    ends = [r for r in _records(night) if r["type"] == Rec.CYCLE_END.value]
    assert ends[0]["outcome"] == "rig_error" and "not resent" in ends[0]["reason"], ends[0]
    assert ends[1]["outcome"] in ("pass", "fail")
    cleanup = [r for r in _records(night) if r.get("step") == "cleanup wake"]
    assert cleanup and "not pressed again" in cleanup[0]["result"]
    truth = night.truth["macs"]["mini-01"]
    # two wakes (the press that woke it before the reboot, the retried cycle's), no press on an
    # awake Mac (that would have put it to sleep: a "Power Button Sleep")
    assert [w["cause"] for w in truth["wake_requests"]] == ["power", "power"]
    assert not [s for s in truth["sleeps"] if s["reason"] == "Power Button Sleep"]
    rows = night.rows("mini-01")
    assert len(rows) == 1 and rows[0]["outcome"] in ("pass", "fail")


# -- Mac faults -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fault,rung,remedy", [("needs_long_press", "long press then press", "long press"),
                                               ("needs_ac_cycle", "AC off and on", "ac cycle")])
def test_a_mac_that_needs_a_later_rung_of_the_ladder_is_recovered_and_scored(tmp_path, fault, rung, remedy):
    laptop = MacSpec(**{**vars(LAPTOP), "fault": fault})
    night = _live(tmp_path, macs=(laptop,), wake_timeout_s=60.0)
    recs = [r for r in _records(night) if r["type"] == Rec.RECOVERY.value]
    tried = [r["step"] for r in recs if "error" not in r and "result" not in r]
    assert tried == ["power press", "long press then press", "AC off and on"][: tried.index(rung) + 1]
    assert [r["step"] for r in recs if r.get("result") == "recovered"] == [rung]
    truth = night.truth["macs"]["mbp-01"]
    assert [r["remedy"] for r in truth["remedies"]] == [remedy]
    row = night.rows("mbp-01")[0]
    assert row["outcome"] in ("pass", "fail") and row["dark_wakes"] == truth_cycles(night.truth, "mbp-01")[0]["dark_wakes"]


def test_a_clock_step_at_every_wake_keeps_every_score_true(tmp_path):
    run = batch_run(tmp_path, "naive", macs=2, cycles_per_night=3, dwell_s=40 * 60,
                    mac_spec={"clock_step_s": 7.25})
    truth = run.truth["macs"]["mbp-01"]
    assert len(truth["clock_steps"]) == 3  # one per full wake: the Mac's clock moved 21.75 s in all
    for row, t in run.pairs():
        assert row["outcome"] in ("pass", "fail")
        for metric in ("dark_wakes", "reconnects_in_sleep", "false_alerts"):
            assert row[metric] == t[metric], (t["mac"], t["cycle"], metric)
        assert abs(row["ttt_s"] - t["ttt_s"]) <= TTT_TOLERANCE_S, (row["ttt_s"], t["ttt_s"])


def test_a_dst_change_inside_the_pmset_dump_keeps_every_score_true(tmp_path):
    # mbp-01 is at -08:00; 50 minutes into the night its zone moves to -07:00
    run = batch_run(tmp_path, "naive", macs=1, cycles_per_night=3, dwell_s=40 * 60,
                    mac_spec={"tz_change": [50 * 60, -420]})
    pmset = (run.run_dir / "raw" / "mbp-01" / "003" / "pmset.log").read_text()
    assert " -0800 " in pmset and " -0700 " in pmset  # both offsets inside one dump
    pairs = run.pairs()
    assert len(pairs) == 3
    for row, t in pairs:
        assert row["outcome"] in ("pass", "fail")
        for metric in ("dark_wakes", "reconnects_in_sleep", "false_alerts"):
            assert row[metric] == t[metric], (t["mac"], t["cycle"], metric)
        assert abs(row["ttt_s"] - t["ttt_s"]) <= TTT_TOLERANCE_S
        assert abs(row["sleep_s"] - t["sleep_s"]) <= 1.0
    assert cycles_from_journal(read_journal(run.run_dir / "journal.jsonl")[0]).keys() == {
        ("mbp-01", k) for k in (1, 2, 3)}
