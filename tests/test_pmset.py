"""Specification of the ``pmset -g log`` parser (rig.parse.pmset), checked against real public samples."""
from __future__ import annotations

import collections
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.events import POWER_KINDS, Kind, WakeCause
from rig.frame import to_frame
from rig.parse.pmset import PowerLine, parse_pmset, parse_power_message

REAL = Path(__file__).parent / "data" / "real"
ALL_REAL = sorted(p for p in REAL.iterdir() if p.is_file())
PMSET_REAL = sorted(REAL.glob("pmset_log_*.txt"))
POWER = ("sleep", "dark_wake", "full_wake", "dark_to_full")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def parse_file(name: str):
    return parse_pmset(read(REAL / name), "mac")


def power_counts(result) -> tuple[int, int, int, int]:
    c = collections.Counter(r["kind"] for r in result.rows)
    return tuple(c[k] for k in POWER)


def assert_counts_add_up(result) -> None:
    assert result.read == result.parsed + result.other + result.skipped + result.rejected
    assert result.parsed == sum(r["kind"] in {k.value for k in POWER_KINDS} for r in result.rows)
    assert result.other == sum(r["kind"] == Kind.OTHER.value for r in result.rows)
    assert len(result.rows) == result.parsed + result.other
    lines = [r["line"] for r in result.rows]
    assert len(set(lines)) == len(lines)
    assert all(1 <= n <= result.read for n in lines + result.rejected_lines)


def pm(stamp: str, domain: str, message: str) -> str:
    """One line as pmset prints it: domain padded to 20 columns, then a TAB."""
    return f"{stamp} {domain:<20}\t{message}"


def only_row(text: str) -> dict:
    res = parse_pmset(text, "mac")
    assert len(res.rows) == 1, res.counts()
    return res.rows[0]


# ---- 1. hand counts on real samples -----------------------------------------------------------
# (sleep, dark_wake, full_wake, dark_to_full), counted by reading each file line by line.
HAND_COUNTS = {
    # l.7 'Entering Sleep state … Maintenance Sleep'; l.13 'DarkWake from Deep Idle [CDNP]'.
    # l.17 is a unified-log line (µs stamp, 'GOING TO SLEEP') pasted in: not a pmset event.
    "pmset_log_apple_silicon_m1pro_macos15.3_2025-02.txt": (1, 1, 0, 0),
    # grep output: 2x 'Entering DarkWake state' (Idle Sleep, Software Sleep pid=173),
    # 2x 'DarkWake to FullWake from Invalid [CDNVA]'.
    "pmset_log_hackintosh_2022-10_id30239215497.txt": (0, 2, 0, 2),
    # space-pasted; sleeps at l.2 (Idle), l.48 and l.66 (Maintenance, l.66 has no 'secs');
    # dark wakes l.28 [CDNPB] RTC/Maintenance and l.55 [CDNP] 'XDCI CNVW/'. The rest are
    # Assertions, Wake Requests, Client Acks, HibernateStats, ShutdownCause, AppWakeReason …
    "pmset_log_intel_hackintosh_z390_2021-04.txt": (3, 2, 0, 0),
    # only one power line: l.9 'DarkWake from Normal Sleep [CDN] … ARTC PEG3 RP04/Maintenance';
    # the Assertions lines mention 'darkwake' in their text but are not power lines.
    "pmset_log_issue_5T33Z0_Z490_45.txt": (0, 1, 0, 0),
    # +0530; l.2 'Entering DarkWake' has no timestamp (paste began mid-line) so it is skipped;
    # l.4 'Entering DarkWake state'; l.3 and l.5 'DarkWake to FullWake from Invalid [CDNVA]'.
    "pmset_log_issue_ChefKissInc_NootedRed_312.txt": (0, 1, 0, 2),
    # Markdown-quoted ('> ', one '> _'): sleeps l.2, l.6 (Clamshell); full wake l.3
    # 'Wake from Normal Sleep [CDNVA] GLAN/Lid Open'; dark wakes l.4, l.9 'Entering DarkWake'
    # and l.7 'DarkWake from … [CDN]'; dark_to_full l.5, l.8, l.10.
    "pmset_log_issue_adrgumula_oc-m3800_7.txt": (2, 3, 1, 3),
    # l.5 'Entering Sleep state due to Software Sleep pid=138'; the rest is Assertions/Acks.
    "pmset_log_issue_appleserial_NUC8I5BEH_29.txt": (1, 0, 0, 0),
    # hourly maintenance: 4x 'DarkWake from Normal Sleep [CDN] RTC/Maintenance' each followed by
    # 'Entering Sleep state … Maintenance Sleep'.
    "pmset_log_issue_misa198_dell-latitude-5570_16.txt": (4, 4, 0, 0),
    # backtick-wrapped 10.12 form: one 'DarkWake from Normal Sleep [CDN] due to /HID Activity:'.
    "pmset_log_issue_syscl_XPS9350_26.txt": (0, 1, 0, 0),
    # space-pasted grep output: 'Entering DarkWake' l.2; dark_to_full l.3; sleeps l.4, l.5, l.7
    # (Software Sleep); full wakes l.6, l.8 'Wake from Normal Sleep [CDNVA] GLAN XDCI/HID Activity'.
    "pmset_log_sakoula_XiaoMi-Air-6200U_DETAILS.txt": (3, 1, 2, 1),
    # header, column titles, '=====' row, UUID line, then Notification + Assertions only.
    "pmset_log_issue_Mieze_AtherosE2200Ethernet_20.txt": (0, 0, 0, 0),
    # messages pasted without timestamp/domain columns: nothing can be placed in time.
    "pmset_log_fragment_korean_k3s_macbookair.txt": (0, 0, 0, 0),
    "pmset_log_issue_actuallymentor_battery_226.txt": (0, 0, 0, 0),
}


@pytest.mark.parametrize("name", sorted(HAND_COUNTS))
def test_power_event_counts_match_hand_counts(name):
    assert power_counts(parse_file(name)) == HAND_COUNTS[name]


def test_every_real_pmset_log_sample_has_a_hand_count():
    assert {p.name for p in PMSET_REAL} == set(HAND_COUNTS)


# ---- 2. every real sample, whatever tool wrote it ----------------------------------------------

@pytest.mark.parametrize("path", ALL_REAL, ids=lambda p: p.name)
def test_any_real_file_parses_without_crash_and_counts_add_up(path):
    text = read(path)
    res = parse_pmset(text, "mac")
    assert res.read == text.count("\n") + (not text.endswith("\n"))
    assert_counts_add_up(res)


@pytest.mark.parametrize("path", ALL_REAL, ids=lambda p: p.name)
def test_power_rows_become_utc_datetimes_without_nat(path):
    res = parse_pmset(read(path), "mac")
    df = to_frame(res.rows)
    assert str(df["t"].dtype) == "datetime64[ns, UTC]"
    power = df[df["kind"].isin([k.value for k in POWER_KINDS])]
    assert not power["t"].isna().any()
    assert not df["t"].isna().any()


# ---- 3. behaviours ------------------------------------------------------------------------------

def test_row_has_iso_time_with_own_offset_raw_stamp_and_message_as_detail():
    text = read(REAL / "pmset_log_apple_silicon_m1pro_macos15.3_2025-02.txt")
    res = parse_pmset(text, "mbp-01")
    sleep = next(r for r in res.rows if r["kind"] == "sleep")
    assert sleep == {
        "t": "2025-02-07T07:00:05-05:00",
        "t_raw": "2025-02-07 07:00:05 -0500",
        "host": "mbp-01",
        "mac": "mbp-01",
        "source": "pmset",
        "kind": "sleep",
        "session": "",
        "detail": "Entering Sleep state due to 'Maintenance Sleep':TCPKeepAlive=active "
                  "Using Batt (Charge:76%) 2 secs",
        "caps": "",
        "line": 7,
    }
    wake = next(r for r in res.rows if r["kind"] == "dark_wake")
    assert (wake["caps"], wake["line"]) == ("CDNP", 13)


def test_offset_is_taken_per_line_so_a_dst_change_inside_one_dump_gives_correct_utc():
    # US fall-back night: 01:50 EDT, then the clock goes back; 01:10 EST is 20 minutes later.
    text = "\n".join([
        pm("2024-11-03 01:50:00 -0400", "Sleep",
           "Entering Sleep state due to 'Clamshell Sleep':TCPKeepAlive=active Using AC (Charge:90%) 1200 secs"),
        pm("2024-11-03 01:10:00 -0500", "Wake",
           "Wake from Normal Sleep [CDNVA] : due to EC.LidOpen/Lid Open Using AC (Charge:90%)"),
    ])
    res = parse_pmset(text, "mac")
    assert [r["t"] for r in res.rows] == ["2024-11-03T01:50:00-04:00", "2024-11-03T01:10:00-05:00"]
    t = to_frame(res.rows)["t"]
    assert list(t) == [pd.Timestamp("2024-11-03 05:50:00", tz="UTC"),
                       pd.Timestamp("2024-11-03 06:10:00", tz="UTC")]
    assert t[1] - t[0] == pd.Timedelta(minutes=20)


def test_half_hour_offset_plus_0530_gives_correct_utc():
    res = parse_file("pmset_log_issue_ChefKissInc_NootedRed_312.txt")
    first = res.rows[0]
    assert first["t"] == "2024-10-17T22:17:22+05:30"
    assert to_frame(res.rows)["t"][0] == pd.Timestamp("2024-10-17 16:47:22", tz="UTC")


def test_space_pasted_columns_parse_like_tabbed():
    tabbed = pm("2021-04-11 16:33:08 +0800", "DarkWake",
                "DarkWake from Normal Sleep [CDNPB] : due to RTC/Maintenance Using AC (Charge:0%) 75 secs")
    pasted = tabbed.expandtabs(8)
    assert "\t" not in pasted
    a, b = only_row(tabbed), only_row(pasted)
    assert a == b
    assert (a["kind"], a["caps"]) == ("dark_wake", "CDNPB")


def test_long_domain_without_padding_parses():
    text = "\n".join([
        "2025-02-07 07:00:07 -0500 com.apple.sleepservices.sessionStarted\t"
        "SleepService: window begins with cap time=180 secs                         \t          ",
        # a long domain whose tab, once expanded, left a single blank
        "2025-02-07 07:00:08 -0500 com.apple.powermanagement.x Wake from Normal Sleep [CDNVA] : "
        "due to EC.LidOpen/Lid Open Using AC (Charge:100%) 5 secs",
    ])
    res = parse_pmset(text, "mac")
    assert [r["kind"] for r in res.rows] == ["other", "full_wake"]
    assert res.rows[0]["detail"] == "SleepService: window begins with cap time=180 secs"
    assert res.rows[1]["detail"].startswith("Wake from Normal Sleep [CDNVA]")


def test_off_caps_are_kept_and_make_a_dark_wake():
    pl = parse_power_message("Wake from Normal Sleep [<off>] : due to EC.RTC/Maintenance Using AC (Charge:100%)")
    assert (pl.kind, pl.caps, pl.dark) == (Kind.DARK_WAKE, "<off>", True)
    row = only_row(pm("2025-01-01 00:00:00 +0000", "Wake",
                      "Wake from Normal Sleep [<off>] : due to EC.RTC/Maintenance Using AC"))
    assert (row["kind"], row["caps"]) == ("dark_wake", "<off>")


def test_wake_from_with_caps_lacking_v_is_dark_even_if_written_wake():
    pl = parse_power_message("Wake from Deep Idle [CDNP] : due to EC.RTC/Maintenance Using BATT (Charge:99%) 12 secs")
    assert (pl.kind, pl.dark, pl.caps) == (Kind.DARK_WAKE, True, "CDNP")


def test_darkwake_from_with_v_in_caps_is_a_full_wake():
    pl = parse_power_message("DarkWake from Normal Sleep [CDNVA] : due to EC.LidOpen/Lid Open Using AC")
    assert (pl.kind, pl.dark) == (Kind.FULL_WAKE, False)


def test_without_caps_the_word_decides_dark_or_full():
    assert parse_power_message("DarkWake from Normal Sleep : due to RTC/Maintenance Using AC").kind == Kind.DARK_WAKE
    assert parse_power_message("Wake from Normal Sleep : due to EC.LidOpen/Lid Open Using AC").kind == Kind.FULL_WAKE


def test_darkwake_to_fullwake_is_dark_to_full():
    assert parse_power_message("DarkWake to FullWake : due to HID Activity").kind == Kind.DARK_TO_FULL
    pl = parse_power_message(
        "DarkWake to FullWake from Normal Sleep [CDNVA] : due to UserActivity Assertion Using AC (Charge:100%)")
    assert pl == PowerLine(kind=Kind.DARK_TO_FULL, caps="CDNVA", dark=False, from_state="Normal Sleep",
                           reason="UserActivity Assertion", reason_type="", power_source="AC", charge=100,
                           cause=WakeCause.USER)


def test_entering_darkwake_state_is_a_dark_wake():
    pl = parse_power_message("Entering DarkWake state due to 'Idle Sleep':TCPKeepAlive=active Using AC (Charge:0%) 2 secs")
    assert (pl.kind, pl.dark, pl.sleep_reason, pl.duration_s) == (Kind.DARK_WAKE, True, "Idle Sleep", 2)


def test_pre_10_15_form_without_colon_before_due_to():
    pl = parse_power_message("Wake from Normal Sleep [CDNVA] due to EC.LidOpen/Lid Open: Using AC")
    assert pl == PowerLine(kind=Kind.FULL_WAKE, caps="CDNVA", dark=False, from_state="Normal Sleep",
                           reason="EC.LidOpen/Lid Open", reason_type="Lid Open", power_source="AC",
                           cause=WakeCause.USER)


def test_10_12_form_with_empty_driver_before_slash():
    pl = parse_power_message("DarkWake from Normal Sleep [CDN] due to /HID Activity: Using BATT (Charge:94%) 1 secs")
    assert pl == PowerLine(kind=Kind.DARK_WAKE, caps="CDN", dark=True, from_state="Normal Sleep",
                           reason="/HID Activity", reason_type="HID Activity", power_source="BATT",
                           charge=94, duration_s=1, cause=WakeCause.USER)


@pytest.mark.parametrize("message, reason", [
    ("Entering Sleep state due to 'Clamshell Sleep':TCPKeepAlive=active Using AC (Charge:83%) 6 secs",
     "Clamshell Sleep"),
    ("Entering DarkWake state due to 'Software Sleep pid=173':TCPKeepAlive=active Using AC (Charge:0%) 5 secs",
     "Software Sleep pid=173"),
    ("Entering Sleep state due to 'Maintenance Sleep':TCPKeepAlive=disabled Using AC (Charge:100%) 3603 secs",
     "Maintenance Sleep"),
    ("Entering Sleep state due to 'Idle Sleep': Using AC (Charge:0%) 1803 secs", "Idle Sleep"),
])
def test_sleep_reason_is_extracted(message, reason):
    pl = parse_power_message(message)
    assert (pl.sleep_reason, pl.reason) == (reason, reason)


def test_wake_from_state_and_reason_are_extracted():
    pl = parse_power_message(
        "Wake from Standby [CDNVA] : due to EC.LidOpen/UserActivity Assertion Using BATT (Charge:58%) 6999 secs")
    assert (pl.from_state, pl.reason, pl.reason_type) == ("Standby", "EC.LidOpen/UserActivity Assertion",
                                                          "UserActivity Assertion")
    pl = parse_power_message("DarkWake from Deep Idle [CDN] : due to NUB.SPMI0.SW3 nub-spmi0.0x02 "
                             "rtc/Maintenance Using AC (Charge:80%) 45 secs")
    assert (pl.from_state, pl.reason_type) == ("Deep Idle", "Maintenance")


@pytest.mark.parametrize("message, source, charge, duration", [
    ("Entering Sleep state due to 'Maintenance Sleep':TCPKeepAlive=active Using Batt (Charge:76%) 2 secs",
     "BATT", 76, 2),
    ("DarkWake from Deep Idle [CDNP] : due to EC.RTC/Maintenance Using BATT (Charge:100%) 7 secs",
     "BATT", 100, 7),
    ("DarkWake from Normal Sleep [CDN] : due to RTC/Maintenance Using AC (Charge:100%) 0 secs", "AC", 100, 0),
    ("Entering Sleep state due to 'Maintenance Sleep': Using AC (Charge:0%)", "AC", 0, None),
    ("Wake from Normal Sleep [CDNVA] due to EC.LidOpen/Lid Open: Using AC", "AC", None, None),
    ("DarkWake from Normal Sleep [CDN] : due to XDCI/", "", None, None),  # powerd's unified-log form
])
def test_power_source_charge_and_duration_are_extracted(message, source, charge, duration):
    pl = parse_power_message(message)
    assert (pl.power_source, pl.charge, pl.duration_s) == (source, charge, duration)


def test_messages_that_are_not_power_lines_give_none():
    for msg in ["WakeTime: 0.329 sec", "DriverReason:SMC.OutboxNotEmpty - DriverDetails:",
                "Summary- [System: No Assertions] Using AC", "", "Wake from Norm", "Entering the matrix"]:
        assert parse_power_message(msg) is None


def test_power_lines_are_classified_by_message_whatever_the_domain():
    text = "\n".join([
        pm("2025-01-01 00:00:00 +0000", "Sleep", "Entering DarkWake state due to 'Idle Sleep': Using AC"),
        pm("2025-01-01 00:00:01 +0000", "Wake", "DarkWake from Normal Sleep [CDN] : due to RTC/Maintenance"),
        pm("2025-01-01 00:00:02 +0000", "Foo", "Entering Sleep state due to 'Idle Sleep': Using AC"),
        pm("2025-01-01 00:00:03 +0000", "DarkWake", "PID 1(x) Created MaintenanceWake \"Wake from here\""),
    ])
    assert [r["kind"] for r in parse_pmset(text, "mac").rows] == ["dark_wake", "dark_wake", "sleep", "other"]


@pytest.mark.parametrize("garbled", [
    "2025-02-3O 07:00:05 -0500",   # letter O in the day
    "2025-02-30 07:00:05 -0500",   # no such date
    "2025-13-07 07:00:05 -0500",   # month 13
    "2025-02-07 25:00:05 -0500",   # hour 25
    "2025-02-07 07:00:05 0500",    # no sign on the offset
    "2025-02-07 07:00 -0500",      # no seconds
    "2025-02-07 07:00:05.123 -0500",  # not pmset's stamp
    "1025-02-07 07:00:05 -0500",   # a year no Mac wrote (and outside datetime64[ns])
])
def test_garbled_timestamp_line_is_rejected_with_its_line_number(garbled):
    good = pm("2025-02-07 07:00:05 -0500", "Sleep", "Entering Sleep state due to 'Idle Sleep': Using AC")
    bad = pm(garbled, "Sleep", "Entering Sleep state due to 'Idle Sleep': Using AC")
    res = parse_pmset("\n".join([good, bad, good]), "mac")
    assert (res.parsed, res.rejected, res.rejected_lines) == (2, 1, [2])
    assert [r["line"] for r in res.rows] == [1, 3]
    assert_counts_add_up(res)


def test_power_line_broken_inside_its_grammar_is_rejected_not_guessed():
    res = parse_pmset(pm("2025-02-07 07:00:05 -0500", "Wake", "Wake from Normal Sleep [CDNV"), "mac")
    assert (res.parsed, res.other, res.rejected, res.rejected_lines) == (0, 0, 1, [1])


def test_stamp_without_domain_or_message_is_rejected():
    res = parse_file("pmset_g_assertions_caffeinate_u_2024-07.txt")  # l.2 is a bare stamp
    assert res.rejected_lines == [2]


@pytest.mark.parametrize("garbage", [
    "lorem ipsum dolor",                  # prose
    "\x00\x01\x02binary",                  # control bytes
    "caf\ufffd bytes that were not UTF-8",   # decode replacement char
    "{\"json\": true}",                    # another tool's output
    "  \x1b[31m coloured indent",           # an indented line with an escape sequence
])
def test_garbage_between_stamped_lines_is_rejected_not_skipped(garbage):
    good = pm("2025-02-07 07:00:05 -0500", "Sleep", "Entering Sleep state due to 'Idle Sleep': Using AC")
    res = parse_pmset("\n".join([good, garbage, good]), "mac")
    assert (res.parsed, res.skipped, res.rejected_lines) == (2, 0, [2])
    assert_counts_add_up(res)


def test_pmset_structure_without_stamps_is_skipped_not_rejected():
    text = "\n".join([
        "Time stamp                Domain              Message                                                                         Duration  Delay",
        "==========                ======              =======                                                                         ========  =====",
        "UUID: 1234-5678",
        "Sleep/Wakes since boot at 2/1/25, 09:12:03 :4   Dark Wake Count in this sleep cycle:2",
        "   pid 123(caffeinate): [0x0000] 00:00:10 PreventUserIdleSystemSleep named: \"caffeinate\"",
        "No kernel assertions.",
        "",
        "# a comment",
    ])
    res = parse_pmset(text, "mac")
    assert (res.rejected, res.skipped) == (0, 8)


def test_other_pmset_commands_are_not_a_power_log_and_say_so():
    # `pmset -g batt` pasted where a `pmset -g log` belongs: its lines are rejected, not skipped
    res = parse_file("pmset_g_batt_states_id37663028375.txt")
    assert res.parsed == 0 and res.rejected >= 5
    assert_counts_add_up(res)


def test_another_tools_line_pasted_into_a_dump_is_rejected():
    res = parse_file("pmset_log_apple_silicon_m1pro_macos15.3_2025-02.txt")
    assert res.rejected_lines == [17]  # a unified-log line with a µs stamp


def test_other_domains_are_kept_as_other_rows():
    res = parse_file("pmset_log_apple_silicon_m1pro_macos15.3_2025-02.txt")
    other = {r["line"]: r["detail"] for r in res.rows if r["kind"] == "other"}
    assert res.other == len(other) == 12
    assert sorted(other) == [2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 14, 15]
    assert other[2] == "WakeTime: 0.329 sec"                                      # WakeTime
    assert other[5] == "SleepService: window has terminated."                     # sleepservices
    assert other[8].startswith("[*process=dasd request=SleepService")             # Wake Requests
    assert other[9].startswith("Delays to Sleep notifications")                   # PM Client Acks
    assert other[14].startswith("DriverReason:SMC.OutboxNotEmpty")                # WakeDetails
    assert other[3].startswith("Delays to Wake notifications")                    # Kernel Client Acks


def test_headers_uuid_blank_and_comment_lines_are_skipped():
    res = parse_file("pmset_log_issue_Mieze_AtherosE2200Ethernet_20.txt")
    # '# SOURCE', 'Sleep/Wakes since boot …', blank, 'Time stamp … Domain', '====', 'UUID: …'
    assert (res.read, res.skipped, res.other, res.parsed, res.rejected) == (11, 6, 5, 0, 0)
    assert min(r["line"] for r in res.rows) == 7


def test_continuation_lines_without_timestamp_are_skipped():
    res = parse_file("pmset_log_issue_ChefKissInc_NootedRed_312.txt")
    assert 2 not in [r["line"] for r in res.rows]  # '\tEntering DarkWake state …' (no stamp)
    assert (res.skipped, res.rejected) == (2, 0)   # the '# SOURCE' line and line 2


def test_messages_pasted_without_columns_parse_as_messages_but_not_as_rows():
    text = read(REAL / "pmset_log_fragment_korean_k3s_macbookair.txt").splitlines()
    assert parse_power_message(text[1]).kind == Kind.SLEEP
    pl = parse_power_message(text[3])
    assert (pl.kind, pl.from_state, pl.reason_type, pl.duration_s) == (Kind.DARK_WAKE, "Deep Idle", "Maintenance", 45)
    assert parse_file("pmset_log_fragment_korean_k3s_macbookair.txt").rows == []


def test_backtick_wrapped_lines_parse():
    res = parse_file("pmset_log_issue_syscl_XPS9350_26.txt")
    (r,) = res.rows
    assert r["detail"] == "DarkWake from Normal Sleep [CDN] due to /HID Activity: Using BATT (Charge:94%) 1 secs"
    assert r["t"] == "2017-03-07T11:30:14+01:00"


def test_markdown_quote_and_emphasis_markers_before_the_stamp_are_tolerated():
    res = parse_file("pmset_log_issue_adrgumula_oc-m3800_7.txt")  # '> _2021-…' and '> 2021-…'
    assert res.rows[0]["t_raw"] == "2021-01-21 18:56:24 +0100"
    assert res.rows[0]["line"] == 2
    assert res.rejected == 0


def test_trailing_blanks_and_crlf_do_not_change_the_row():
    line = pm("2022-11-16 08:16:48 +0100", "DarkWake",
              "DarkWake from Normal Sleep [CDN] : due to RTC/Maintenance Using AC (Charge:100%) 0 secs")
    assert only_row(line + "    \t  \r\n") == only_row(line)


def test_read_counts_lines_and_a_final_newline_starts_none():
    assert parse_pmset("", "m").read == 0
    assert parse_pmset("\n", "m").read == 1
    assert parse_pmset("a\nb\n", "m").read == 2
    assert parse_pmset("a\nb", "m").read == 2


# ---- 4. properties ------------------------------------------------------------------------------

REAL_LINES = [ln for p in PMSET_REAL for ln in read(p).splitlines()]
REAL_LINES_PARSED = parse_pmset("\n".join(REAL_LINES) + "\n", "m")
POWER_REAL_LINES = [ln for ln in REAL_LINES if parse_pmset(ln, "m").parsed]
PROPS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mostly(lo: int, hi: int, top: int):
    """Integers mostly in a plausible range, sometimes anywhere in 0..top."""
    return st.one_of(st.integers(lo, hi), st.integers(0, top))


@PROPS
@given(st.text())
def test_random_text_never_raises_and_counts_add_up(text):
    assert_counts_add_up(parse_pmset(text, "m"))


@PROPS
@given(st.binary(max_size=2000))
def test_random_bytes_decoded_with_replacement_never_raise(data):
    assert_counts_add_up(parse_pmset(data.decode("utf-8", errors="replace"), "m"))


@PROPS
@given(st.lists(st.tuples(st.sampled_from(REAL_LINES), st.integers(0, 400)), max_size=30))
def test_truncated_real_lines_never_raise_and_stamps_stay_valid(cuts):
    res = parse_pmset("\n".join(line[:k] for line, k in cuts), "m")
    assert_counts_add_up(res)
    assert not to_frame(res.rows)["t"].isna().any()


@PROPS
@given(st.sampled_from(POWER_REAL_LINES), st.integers(0, 300), st.text(max_size=20))
def test_power_lines_cut_and_garbled_at_the_end_never_raise(line, k, junk):
    res = parse_pmset(line[:k] + junk, "m")
    assert_counts_add_up(res)


@PROPS
@given(mostly(1970, 2261, 9999), mostly(1, 12, 99), mostly(1, 28, 99), mostly(0, 23, 99),
       mostly(0, 59, 99), mostly(0, 59, 99), st.sampled_from("+-"), mostly(0, 14, 99),
       mostly(0, 59, 99))
def test_any_digits_in_the_stamp_are_rejected_or_land_on_the_right_utc_instant(y, mo, d, h, mi, s, sign, oh, om):
    stamp = f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d} {sign}{oh:02d}{om:02d}"
    res = parse_pmset(pm(stamp, "Sleep", "Entering Sleep state due to 'Idle Sleep': Using AC"), "m")
    assert res.parsed + res.rejected == 1
    try:
        local = datetime(y, mo, d, h, mi, s)
        offset = timedelta(hours=oh, minutes=om)
        expected = (local - offset if sign == "+" else local + offset).replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        expected = None
    if res.parsed:
        assert expected is not None and oh < 24 and om < 60
        assert to_frame(res.rows)["t"][0] == pd.Timestamp(expected)


@PROPS
@given(st.permutations(REAL_LINES))
def test_shuffled_real_lines_give_the_same_kinds(lines):
    # every line is classified on its own, so order changes nothing but line numbers
    shuffled = parse_pmset("\n".join(lines) + "\n", "m")
    assert_counts_add_up(shuffled)
    original = REAL_LINES_PARSED
    assert collections.Counter(r["kind"] for r in shuffled.rows) == collections.Counter(
        r["kind"] for r in original.rows)
    assert (shuffled.skipped, shuffled.rejected) == (original.skipped, original.rejected)


@pytest.mark.parametrize("rest", [
    "Wake  Wake from " + " " * 50_000 + "x",
    "Wake  Wake from" + " \t" * 20_000 + "due to" + " " * 20_000 + "Using AC" + " " * 20_000 + "x",
    "Sleep  Entering Sleep state due to " + ":TCPKeepAlive=a" * 20_000 + " x",
    "Sleep  Entering Sleep state due to " + "Using " * 20_000,
    "a " * 50_000 + "b",
])
def test_garbled_huge_lines_take_linear_time(rest):
    import time
    start = time.perf_counter()
    res = parse_pmset("2025-02-07 07:00:05 -0500 " + rest, "m")
    assert time.perf_counter() - start < 0.5
    assert_counts_add_up(res)


def test_parser_is_fast_enough_for_a_long_dump():
    import time
    lines = REAL_LINES * 200  # ~34k lines
    random.Random(1).shuffle(lines)
    start = time.perf_counter()
    res = parse_pmset("\n".join(lines), "m")
    assert res.read == len(lines)
    assert time.perf_counter() - start < 5.0


# ---- why a Mac woke: the network reason of on-demand dark wakes -----------------------------------
# (file, a piece of one of its lines, the cause): every line verbatim from a real sample.
WAKE_CAUSES = [
    ("pmset_log_issue_adrgumula_oc-m3800_7.txt", "due to GLAN/ Using", "network"),        # wired LAN alone
    ("pmset_log_issue_actuallymentor_battery_226.txt", "wifibt wlan/", "network"),         # Apple silicon WLAN
    ("pmset_log_apple_silicon_m1pro_macos15.3_2025-02.txt", "wifibt/ Using", "other"),     # Wi-Fi or Bluetooth
    ("pmset_log_issue_adrgumula_oc-m3800_7.txt", "GLAN/Lid Open", "user"),                 # LAN listed, lid woke it
    ("pmset_log_sakoula_XiaoMi-Air-6200U_DETAILS.txt", "GLAN XDCI/HID Activity", "user"),
    ("pmset_log_issue_misa198_dell-latitude-5570_16.txt", "RTC/Maintenance", "maintenance"),
    ("pmset_log_fragment_korean_k3s_macbookair.txt", "rtc/Maintenance", "maintenance"),
    ("pmset_log_intel_hackintosh_z390_2021-04.txt", "XDCI CNVW/", "other"),
]


@pytest.mark.parametrize("name,piece,cause", WAKE_CAUSES)
def test_a_wake_reason_is_classified_by_its_words(name, piece, cause):
    msg = next(m.group(0) for ln in read(REAL / name).splitlines() if piece in ln and not ln.startswith("#")
               for m in [re.search(r"(?:DarkWake|Wake) from .*", ln)] if m)
    pl = parse_power_message(msg.strip("`_* "))
    assert pl is not None and pl.cause is WakeCause(cause), (msg, pl)


def test_powerds_network_dark_wake_sentence_is_network_and_a_sleep_line_has_no_cause():
    assert parse_power_message("DarkWake from Normal Sleep [CDN] : due to GLAN/").cause is WakeCause.NETWORK
    assert parse_power_message("Entering Sleep state due to 'Clamshell Sleep':TCPKeepAlive=active").cause is None
