"""A night on the twin with the reference firmware under real MicroPython as its actuator.

``TwinConfig(actuator="micropython")``: the live twin's actuator is ``micropython
firmware/main.py`` behind a socat pty, its simulated pins wired to the twin's Macs
(``rig/twin/board_door.py``), so the rig's whole cycle (driver, script, journal) meets the
firmware a board runs. A board that resets in the middle of a run must be found out by the
driver and become a journaled rig error, never a doubled press: checked against the journal
and the twin's ground truth.
"""
from __future__ import annotations

import pytest

from rig.journal import Rec, read_journal
from rig.twin.serve import MacSpec, TwinConfig
from twin_runs import run_night

pytestmark = [pytest.mark.slow, pytest.mark.peer]
LAPTOP = MacSpec("mbp-01", "laptop", skew=2.75, utc_offset_min=-480, tags=["laptop"])
DESKTOP = MacSpec("mini-01", "desktop", skew=-1.3, utc_offset_min=330, tags=["desktop"])


def night_on_micropython(tmp_path, mac: MacSpec, faults: dict):
    cfg = TwinConfig(build="darkwake-aware", scale=200.0, macs=[mac], faults=faults, actuator="micropython")
    night = run_night(tmp_path, "darkwake-aware", cycles=1, dwell_s=6 * 60, twin=cfg)
    return night, read_journal(night.run_dir / "journal.jsonl")[0]


def test_a_board_that_browns_out_mid_press_is_a_journaled_rig_error_and_never_pressed_twice(tmp_path):
    night, records = night_on_micropython(tmp_path, DESKTOP, {"actuator_reboot": 1})
    assert night.truth["faults"] == {"actuator_reboot": 1}  # the board's own count of its brown-outs
    ends = [r for r in records if r["type"] == Rec.CYCLE_END.value]
    assert ends[0]["outcome"] == "rig_error" and "rebooted (boot id" in ends[0]["reason"], ends[0]
    assert "not resent" in ends[0]["reason"]
    cleanup = [r for r in records if r.get("step") == "cleanup wake"]
    assert cleanup and "not pressed again" in cleanup[0]["result"]
    assert ends[1]["attempt"] == 2 and ends[1]["outcome"] in ("pass", "fail")
    truth = night.truth["macs"]["mini-01"]
    # the press that woke it before the brown-out, and the retried cycle's: never a second press
    # on an awake Mac (that would have been a "Power Button Sleep")
    assert [w["cause"] for w in truth["wake_requests"]] == ["power", "power"]
    assert not [s for s in truth["sleeps"] if s["reason"] == "Power Button Sleep"]
    assert [r["outcome"] for r in night.rows("mini-01")] == [ends[1]["outcome"]]


def test_a_board_power_cycled_in_the_dwell_is_found_out_before_the_wake_and_the_cycle_rerun(tmp_path):
    night, records = night_on_micropython(tmp_path, LAPTOP, {"actuator_power_cycle": 1})
    assert night.truth["faults"] == {"actuator_power_cycle": 1}
    ends = [r for r in records if r["type"] == Rec.CYCLE_END.value]
    assert ends[0]["outcome"] == "rig_error", ends[0]
    assert "rebooted since its last answer" in ends[0]["reason"] and "LID 1 OPEN' was sent" in ends[0]["reason"]
    assert ends[1]["attempt"] == 2 and ends[1]["outcome"] in ("pass", "fail")
    truth = night.truth["macs"]["mbp-01"]
    # the board's safe state at its new boot opened the lid: the Mac woke in the dwell, which is
    # why the rig may not score that cycle; the rig's own lid opens came after
    causes = [w["cause"] for w in truth["wake_requests"]]
    assert causes[0] == "lid" and truth["wake_requests"][0]["t"] < ends[0]["t"]
    assert [s["reason"] for s in truth["sleeps"] if s["reason"] != "Maintenance Sleep"] == ["Clamshell Sleep"] * 2
    assert [r["outcome"] for r in night.rows("mbp-01")] == [ends[1]["outcome"]]
