"""Per-cycle scores on hand-made cycles: each test is one sentence of DESIGN.md's "Scores".

A cycle here: the rig closes the lid at 10 s, the Mac sleeps at 10.5 s, a maintenance dark wake
runs from 900 s to 930 s, the rig opens the lid at 1800 s, the Mac is in full wake at 1800.5 s,
and the cycle ends at 1840 s. Each test adds the extension, gateway or probe lines it is about.
"""
from __future__ import annotations

import math

import pandas as pd
import pytest

from rig.events import Kind, row
from rig.frame import to_frame
from rig.score.gates import Gate, judge_all
from rig.score.analysis import ZOMBIE_MIN_S, analyse_cycle, cycle_failures, score_cycle

T0 = pd.Timestamp("2026-11-25T21:00:00Z")
SLEEP, DARK, DARK_END, WAKE_ACT, FULL, END = 10.5, 900.0, 930.0, 1800.0, 1800.5, 1840.0
GRACE = 30.0


def at(s: float) -> str:
    return (T0 + pd.Timedelta(seconds=s)).isoformat()


def epoch(s: float) -> float:
    return (T0 + pd.Timedelta(seconds=s)).value / 1e9


def ext(t, kind, session="", detail=""):
    return row(at(t), "", "mbp-01", "unified", kind, session=session, detail=detail or kind.value)


def gw(t, kind, session="", detail=""):
    return row(at(t), "", "gw", "gateway", kind, session=session, detail=detail, mac="mbp-01")


def probe(t, ok: bool):
    return row(at(t), "", "mbp-01", "probe", Kind.PROBE_OK if ok else Kind.PROBE_FAIL)


def power(t, kind, source="unified"):
    return row(at(t), "", "mbp-01", source, kind, detail=kind.value)


def base_rows(dark: bool = True, pmset: bool = False) -> list[dict]:
    src = "pmset" if pmset else "unified"
    rows = [row(at(0), "", "controller", "controller", Kind.CYCLE_START, mac="mbp-01"),
            power(SLEEP, Kind.SLEEP, src), power(FULL, Kind.FULL_WAKE, src),
            row(at(END), "", "controller", "controller", Kind.CYCLE_END, mac="mbp-01")]
    if dark:
        rows += [power(DARK, Kind.DARK_WAKE, src), power(DARK_END, Kind.SLEEP, src)]
    return rows


ACTIONS = [{"kind": "act_lid_close", "t": epoch(10.0)}, {"kind": "act_lid_open", "t": epoch(WAKE_ACT)}]


def score(extra: list[dict], *, actions=ACTIONS, dark=True, **kw) -> dict:
    return score_cycle(to_frame(base_rows(dark) + extra), actions, grace_s=GRACE, **kw)


# ---- reconnects and handshakes ------------------------------------------------------------------

def test_dark_wake_reconnect_is_counted_once_and_the_full_wake_one_is_not():
    s = score([ext(DARK + 0.1, Kind.HANDSHAKE_START, "S1"), ext(DARK + 1.0, Kind.TUNNEL_UP, "S1"),
               ext(FULL + 0.1, Kind.HANDSHAKE_START, "S2"), ext(FULL + 1.1, Kind.TUNNEL_UP, "S2")])
    assert (s["reconnects_in_sleep"], s["handshakes_in_sleep"], s["dark_wakes"]) == (1, 1, 1)


def test_handshake_that_sleep_interrupts_is_counted_as_cut_off():
    s = score([ext(DARK_END - 0.5, Kind.HANDSHAKE_START, "S1"),           # sleep comes first
               ext(FULL + 0.1, Kind.HANDSHAKE_START, "S2"), ext(FULL + 1.0, Kind.TUNNEL_UP, "S2")])
    assert (s["handshakes_in_sleep"], s["handshakes_cut_by_sleep"], s["reconnects_in_sleep"]) == (1, 1, 0)


def test_handshake_that_completes_before_sleep_is_not_cut_off():
    s = score([ext(DARK + 0.1, Kind.HANDSHAKE_START, "S1"), ext(DARK + 1.0, Kind.TUNNEL_UP, "S1")])
    assert s["handshakes_cut_by_sleep"] == 0


def test_gateway_sessions_created_in_sleep_and_in_the_cycle():
    s = score([gw(DARK + 1.0, Kind.GW_SESSION_START, "ip:1"), gw(FULL + 1.0, Kind.GW_SESSION_START, "ip:2")])
    assert (s["gw_sessions_in_sleep"], s["gw_sessions_created"]) == (1, 2)


# ---- alerts -------------------------------------------------------------------------------------

def test_alert_in_a_dark_wake_is_false_because_dark():
    s = score([ext(DARK + 0.1, Kind.ALERT_DISCONNECTED, "S1")])
    assert (s["alerts_ext_false_dark"], s["alerts_ext_false_asleep"], s["false_alerts"], s["true_alerts"]) == (1, 0, 1, 0)


def test_alert_stamped_while_asleep_is_false_because_asleep():
    s = score([ext(500.0, Kind.ALERT_DISCONNECTED, "S1")])
    assert (s["alerts_ext_false_asleep"], s["alerts_ext_false_dark"], s["false_alerts"]) == (1, 0, 1)


def test_alert_after_full_wake_with_tunnel_back_within_grace_is_false_recovered():
    s = score([ext(FULL + 0.1, Kind.ALERT_DISCONNECTED, "S1"), ext(FULL + 0.1 + GRACE - 1, Kind.TUNNEL_UP, "S2")])
    assert (s["alerts_ext_false_recovered"], s["true_alerts"]) == (1, 0)


def test_alert_after_full_wake_with_an_outage_longer_than_grace_is_true():
    s = score([ext(FULL + 0.1, Kind.ALERT_DISCONNECTED, "S1"), ext(FULL + 0.1 + GRACE + 1, Kind.TUNNEL_UP, "S2")])
    assert (s["true_alerts_ext"], s["true_alerts"], s["false_alerts"]) == (1, 1, 0)


def test_dpd_line_and_the_session_end_it_causes_are_one_termination():
    s = score([gw(500.0, Kind.GW_DPD_TIMEOUT, "ip:1"), gw(500.0, Kind.GW_SESSION_END, "ip:1", "DPD timeout")])
    assert (s["dpd_terminations"], s["dpd_in_sleep"]) == (1, 1)


def test_dpd_end_without_a_dpd_line_counts_and_a_logout_does_not():
    s = score([gw(500.0, Kind.GW_SESSION_END, "ip:1", "DPD timeout"),
               gw(12.0, Kind.GW_SESSION_END, "ip:0", "user disconnected")])
    assert s["dpd_terminations"] == 1


def test_gateway_dpd_while_asleep_and_in_dark_wake_are_false_gateway_alerts():
    s = score([gw(500.0, Kind.GW_DPD_TIMEOUT, "ip:1"), gw(DARK + 5.0, Kind.GW_DPD_TIMEOUT, "ip:2")])
    assert (s["alerts_gw_false_asleep"], s["alerts_gw_false_dark"], s["false_alerts"]) == (1, 1, 2)


def test_gateway_dpd_in_full_wake_is_true_unless_a_new_session_comes_within_grace():
    recovered = score([gw(FULL + 5.0, Kind.GW_DPD_TIMEOUT, "ip:1"), gw(FULL + 9.0, Kind.GW_SESSION_START, "ip:2")])
    lost = score([gw(FULL + 5.0, Kind.GW_DPD_TIMEOUT, "ip:1")])
    assert (recovered["alerts_gw_false_recovered"], recovered["true_alerts_gw"]) == (1, 0)
    assert (lost["alerts_gw_false_recovered"], lost["true_alerts_gw"]) == (0, 1)


# ---- time-to-tunnel -----------------------------------------------------------------------------

def test_ttt_is_measured_from_the_actuator_and_from_every_other_anchor_present():
    rows = [power(FULL, Kind.FULL_WAKE, "pmset"), ext(FULL + 1.0, Kind.TUNNEL_UP, "S2")]
    s = score(rows)
    assert s["ttt_anchor"] == "actuator"
    assert s["ttt_s"] == pytest.approx(FULL + 1.0 - WAKE_ACT, abs=1e-6)
    assert s["ttt_from_powerd_s"] == pytest.approx(1.0, abs=1e-6)
    assert s["ttt_from_pmset_s"] == pytest.approx(1.0, abs=1e-6)


def test_without_an_actuator_action_ttt_is_from_powerd_then_pmset():
    no_act = [ACTIONS[0]]
    powerd = score([ext(FULL + 1.0, Kind.TUNNEL_UP, "S2")], actions=no_act)
    pmset = score_cycle(to_frame(base_rows(pmset=True) + [ext(FULL + 1.0, Kind.TUNNEL_UP, "S2")]), no_act)
    assert (powerd["ttt_anchor"], powerd["ttt_s"]) == ("powerd", pytest.approx(1.0, abs=1e-6))
    assert (pmset["ttt_anchor"], pmset["ttt_s"]) == ("pmset", pytest.approx(1.0, abs=1e-6))


def test_no_tunnel_within_the_timeout_is_censored_and_fails_the_cycle():
    s = score([ext(FULL + 61.0, Kind.TUNNEL_UP, "S2")], tunnel_timeout_s=60.0)
    assert s["ttt_censored"] is True and math.isnan(s["ttt_s"])
    assert "no tunnel within the timeout" in cycle_failures(s, GRACE)


def test_a_session_that_survived_the_sleep_has_zero_ttt():
    s = score([ext(5.0, Kind.TUNNEL_UP, "S1"), ext(FULL + 20.0, Kind.KEEPALIVE, "S1")])
    assert (s["ttt_s"], s["ttt_evidence"]) == (0.0, "session survived")


def test_probe_success_is_the_ttt_evidence_when_the_mac_runs_a_probe():
    s = score([ext(FULL + 1.0, Kind.TUNNEL_UP, "S2"), probe(FULL + 1.5, False), probe(FULL + 3.5, True)])
    assert s["ttt_evidence"] == "probe"
    assert s["ttt_s"] == pytest.approx(FULL + 3.5 - WAKE_ACT, abs=1e-6)


# ---- zombie time --------------------------------------------------------------------------------

def zombie_rows(dead_for: float) -> list[dict]:
    """The extension says up from before the sleep on; the gateway ends the session at FULL + 1
    and a new one starts ``dead_for`` seconds later."""
    return [ext(5.0, Kind.TUNNEL_UP, "S1"), gw(5.0, Kind.GW_SESSION_START, "ip:1"),
            gw(FULL + 1.0, Kind.GW_SESSION_END, "ip:1", "DPD timeout"),
            gw(FULL + 1.0 + dead_for, Kind.GW_SESSION_START, "ip:2")]


def test_zombie_time_is_full_wake_time_the_extension_says_up_while_the_gateway_has_no_session():
    s = score(zombie_rows(12.0))
    assert (s["zombie_evidence"], s["zombie_s"]) == ("gateway", pytest.approx(12.0, abs=1e-6))
    assert cycle_failures(s, GRACE) == []


def test_zombie_time_longer_than_grace_fails_a_cycle_with_no_alert_and_no_reconnect():
    s = score(zombie_rows(GRACE + 5.0))
    assert (s["false_alerts"] - s["alerts_gw_false"], s["reconnects_in_sleep"]) == (0, 0)
    assert any(f.startswith("zombie time > grace") for f in cycle_failures(s, GRACE))


def test_zombie_time_ends_when_the_extension_admits_the_tunnel_is_down():
    s = score(zombie_rows(GRACE + 5.0) + [ext(FULL + 4.0, Kind.TUNNEL_DOWN, "S1", "peer_dead")])
    assert s["zombie_s"] == pytest.approx(3.0, abs=1e-6)


def test_probe_failures_are_the_zombie_evidence_when_present():
    s = score(zombie_rows(2.0) + [probe(FULL + 2.0, False), probe(FULL + 9.0, True)])
    assert (s["zombie_evidence"], s["zombie_s"]) == ("probe", pytest.approx(7.0, abs=1e-6))


def test_cross_host_jitter_shorter_than_the_clocks_agreement_is_not_zombie_time():
    s = score(zombie_rows(ZOMBIE_MIN_S / 2))
    assert s["zombie_s"] == 0.0


def test_a_gateway_silent_all_cycle_keeps_the_state_the_previous_cycle_ended_in():
    rows = [ext(5.0, Kind.TUNNEL_UP, "S1")]
    dead = analyse_cycle(to_frame(base_rows() + rows), ACTIONS, grace_s=GRACE, before={"gateway": "dead"})
    alive = analyse_cycle(to_frame(base_rows() + rows), ACTIONS, grace_s=GRACE, before={"gateway": "alive"})
    assert dead.metrics["zombie_s"] == pytest.approx(END - FULL, abs=1e-6)
    assert alive.metrics["zombie_s"] == 0.0
    assert dead.final_states()["gateway"] == "dead"


def test_zombie_time_is_not_measured_without_a_probe_or_a_gateway_log():
    s = score([ext(5.0, Kind.TUNNEL_UP, "S1")])
    assert s["zombie_evidence"] == "none" and math.isnan(s["zombie_s"])


# ---- callbacks, keep-alives, the build's own verdicts -------------------------------------------

def test_wake_and_sleep_callbacks_are_counted_per_dark_wake():
    s = score([ext(SLEEP, Kind.EXT_SLEEP), ext(DARK + 0.08, Kind.EXT_WAKE), ext(DARK_END, Kind.EXT_SLEEP),
               ext(FULL + 0.08, Kind.EXT_WAKE)])
    assert (s["dark_wake_wake_callbacks"], s["dark_wake_sleep_callbacks"]) == (1, 1)
    assert (s["wake_callbacks_per_dark_wake"], s["sleep_callbacks_per_dark_wake"]) == (1.0, 1.0)


def test_longest_keepalive_gap_is_the_longest_silence_inside_one_session():
    s = score([ext(2.0, Kind.TUNNEL_UP, "S1"), ext(5.0, Kind.KEEPALIVE, "S1"),
               ext(FULL + 1.0, Kind.KEEPALIVE, "S1"),                       # S1 silent through the sleep
               ext(FULL + 2.0, Kind.TUNNEL_UP, "S2"), ext(FULL + 22.0, Kind.KEEPALIVE, "S2")])
    assert s["keepalive_gap_max_s"] == pytest.approx(FULL + 1.0 - 5.0, abs=1e-6)


def test_the_builds_wake_verdicts_are_scored_against_the_power_log():
    s = score([ext(DARK + 0.1, Kind.WAKE_CLASSIFIED, detail="dark"), ext(FULL + 0.1, Kind.WAKE_CLASSIFIED, detail="dark"),
               ext(FULL + 0.2, Kind.WAKE_CLASSIFIED, detail="full"), ext(5.0, Kind.WAKE_CLASSIFIED, detail="maybe")])
    assert (s["verdict_true_dark_said_dark"], s["verdict_true_full_said_dark"], s["verdict_true_full_said_full"],
            s["verdict_true_dark_said_full"]) == (1, 1, 1, 0)
    assert (s["verdict_errors"], s["verdicts_unmatched"], s["verdicts"]) == (1, 1, 4)


def test_a_cycle_without_a_full_wake_is_not_scorable():
    rows = [r for r in base_rows() if r["kind"] != Kind.FULL_WAKE.value]
    s = score_cycle(to_frame(rows), [ACTIONS[0]])
    assert s["scorable"] is False and "no sleep or no full wake" in s["why_unscorable"]


# ---- gates --------------------------------------------------------------------------------------

def test_count_gate_counts_cycles_with_a_true_value():
    g = Gate("censored", "ttt_censored", "==", 0, "cycles", "count")
    assert g.judge([False, True, True])["value"] == 2.0


def test_rate_gate_divides_by_sleep_hours():
    g = Gate("reconnects", "reconnects_in_sleep", "<=", 2, "per sleep-hour", "rate")
    got = judge_all([g], [{"reconnects_in_sleep": 3, "sleep_s": 1800}, {"reconnects_in_sleep": 0, "sleep_s": 1800}])
    assert (got[0]["value"], got[0]["verdict"]) == (3.0, "fail")


def test_a_censored_time_never_passes_a_percentile_gate():
    g = Gate("ttt", "ttt_s", "<=", 5.0, "s", "p95")
    assert g.judge([1.0, float("nan")])["verdict"] == "fail"
