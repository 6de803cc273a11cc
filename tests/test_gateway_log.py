"""Specification of the gateway log parsers (rig.parse.gateway_log): ocserv, strongSwan, jsonl."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.events import Kind
from rig.frame import to_frame
from rig.parse.gateway_log import (BAD_JSON, BAD_TIME, FORMATS, NO_YEAR, UNTIMED, parse_gateway)

REAL = Path(__file__).parent / "data" / "real"
OCSERV = REAL / "ocserv_1.1.6_dpd_timeout_and_reconnect.log"
CLIENTS = {"mac1": "mbp-01"}
GW = "gw-staging"


def assert_counts_add_up(res) -> None:
    assert res.read == res.parsed + res.other + res.skipped + res.rejected
    assert res.parsed == sum(r["kind"] != Kind.OTHER.value for r in res.rows)
    assert res.other == sum(r["kind"] == Kind.OTHER.value for r in res.rows)
    assert sum(res.reject_reasons.values()) == res.rejected


def events(res) -> list[tuple[str, str, str, str]]:
    """(kind, mac, session, detail) of the rows with a gateway kind."""
    return [(r["kind"], r["mac"], r["session"], r["detail"]) for r in res.rows
            if r["kind"] != Kind.OTHER.value]


def ocserv_foreground() -> list[str]:
    """The real sample's lines after its "# SOURCE:" comment."""
    return OCSERV.read_text().splitlines()[1:]


def journald(lines: list[str], start: datetime, step_s: float = 0.25,
             colon_offset: bool = False) -> str:
    """Stamp foreground ocserv lines the way `journalctl -u ocserv -o short-iso-precise` shows
    them: ISO time with µs and offset, host, identifier[pid] (the main pid for lines ocserv
    printed without one)."""
    out = []
    for i, line in enumerate(lines):
        t = (start + timedelta(seconds=i * step_s)).strftime("%Y-%m-%dT%H:%M:%S.%f%z")
        if colon_offset:
            t = t[:-2] + ":" + t[-2:]
        body = line if line.startswith("ocserv[") else f"ocserv[14860]: {line}"
        out.append(f"{t} {GW} {body}")
    return "\n".join(out) + "\n"


START = datetime(2026, 11, 25, 8, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def ocserv_run():
    return parse_gateway(journald(ocserv_foreground(), START), GW, "ocserv", CLIENTS)


# ---- ocserv: the real DPD run, timestamped as journald would ----------------------------------

def test_ocserv_dpd_teardown_then_reconnect_then_normal_disconnect(ocserv_run):
    assert events(ocserv_run) == [
        ("gw_session_start", "mbp-01", "127.0.0.1:36990", "main[mac1]:127.0.0.1:36990 new user session"),
        ("gw_dpd_timeout", "mbp-01", "127.0.0.1:36990",
         "worker[mac1]: 127.0.0.1 connection timeout (DPD); tearing down connection"),
        ("gw_session_end", "mbp-01", "127.0.0.1:36990", "DPD timeout"),
        ("gw_session_start", "mbp-01", "127.0.0.1:35012", "main[mac1]:127.0.0.1:35012 new user session"),
        ("gw_session_end", "mbp-01", "127.0.0.1:35012", "user disconnected"),
    ]


def test_ocserv_rows_carry_line_numbers_and_journal_time(ocserv_run):
    lines = ocserv_foreground()
    dpd = next(r for r in ocserv_run.rows if r["kind"] == "gw_dpd_timeout")
    assert "connection timeout (DPD)" in lines[dpd["line"] - 1]
    assert datetime.fromisoformat(dpd["t"]) == START + timedelta(seconds=(dpd["line"] - 1) * 0.25)
    assert dpd["t_raw"].endswith("+0000")
    assert (dpd["host"], dpd["source"]) == (GW, "gateway")


def test_ocserv_every_line_is_a_row_and_other_lines_keep_their_user(ocserv_run):
    assert ocserv_run.read == len(ocserv_foreground()) == len(ocserv_run.rows)
    assert ocserv_run.rejected == 0
    silent = next(r for r in ocserv_run.rows if "have not received TCP DPD" in r["detail"])
    assert (silent["kind"], silent["mac"]) == ("other", "mbp-01")
    secmod = next(r for r in ocserv_run.rows if "initiating session for user 'mac1'" in r["detail"])
    assert secmod["mac"] == "mbp-01"
    banner = next(r for r in ocserv_run.rows if "initialized ocserv" in r["detail"])
    assert banner["mac"] == ""
    assert_counts_add_up(ocserv_run)


def test_ocserv_dpd_timeout_happens_while_the_first_session_is_open(ocserv_run):
    df = to_frame(ocserv_run.rows)
    kinds = df[df["kind"] != "other"]
    assert kinds["t"].is_monotonic_increasing
    assert kinds["t"].dt.tz is not None


def test_ocserv_colon_offset_from_newer_journald_is_accepted():
    res = parse_gateway(journald(ocserv_foreground(), START, colon_offset=True), GW, "ocserv",
                        CLIENTS)
    assert [e[0] for e in events(res)] == ["gw_session_start", "gw_dpd_timeout", "gw_session_end",
                                           "gw_session_start", "gw_session_end"]
    assert (res.rows[0]["t"], res.rows[0]["t_raw"]) == ("2026-11-25T08:30:00.000000+00:00",
                                                        "2026-11-25T08:30:00.000000+00:00")


def test_ocserv_foreground_output_without_timestamps_is_rejected_as_untimed():
    text = "\n".join(ocserv_foreground()) + "\n"
    res = parse_gateway(text, GW, "ocserv", CLIENTS)
    assert res.rows == []
    assert res.rejected == res.read == len(ocserv_foreground())
    assert dict(res.reject_reasons) == {UNTIMED: res.read}
    assert res.rejected_lines[:3] == [1, 2, 3]


def test_ocserv_unknown_user_has_no_mac():
    line = "2026-11-25T08:30:00.000001+0000 gw ocserv[1]: main[stranger]:10.0.0.9:5000 new user session"
    res = parse_gateway(line, GW, "ocserv", CLIENTS)
    assert events(res) == [("gw_session_start", "", "10.0.0.9:5000",
                            "main[stranger]:10.0.0.9:5000 new user session")]


def test_ocserv_ipv6_peer_keeps_its_port_in_the_session():
    line = ("2026-11-25T08:30:00.000001+0000 gw ocserv[1]: main[mac1]:[2001:db8::7]:4431 "
            "user disconnected (reason: DPD timeout, rx: 0, tx: 400)")
    assert events(parse_gateway(line, GW, "ocserv", CLIENTS)) == [
        ("gw_session_end", "mbp-01", "[2001:db8::7]:4431", "DPD timeout")]


def test_ocserv_disconnect_without_a_reason_still_ends_the_session():
    line = ("2026-11-25T08:30:00.000001+0000 gw ocserv[1]: main[mac1]:10.0.0.9:5000 "
            "user disconnected (rx: 14017, tx: 9393)")
    assert events(parse_gateway(line, GW, "ocserv", CLIENTS)) == [
        ("gw_session_end", "mbp-01", "10.0.0.9:5000", "user disconnected")]


def test_ocserv_journal_markers_and_blank_lines_are_skipped():
    text = ("-- Boot 0a1b2c3d4e5f --\n\n"
            "2026-11-25T08:30:00.000001+0000 gw systemd[1]: Started ocserv.service - OpenConnect SSL VPN server.\n"
            "-- No entries --\n")
    res = parse_gateway(text, GW, "ocserv", CLIENTS)
    assert (res.read, res.skipped, res.other, res.rejected) == (4, 3, 1, 0)
    assert res.rows[0]["mac"] == ""


def test_bsd_syslog_time_without_year_is_rejected_with_its_reason():
    res = parse_gateway("Nov 25 08:30:00 gw ocserv[1]: main[mac1]:1.2.3.4:5 new user session\n",
                        GW, "ocserv", CLIENTS)
    assert res.rows == [] and dict(res.reject_reasons) == {NO_YEAR: 1}


# ---- strongSwan charon (lines in strongSwan's documented log grammar) -------------------------

CHARON = """\
2026-11-25T08:30:00.000100+0000 gw charon[912]: 05[NET] <rw|3> received packet: from 198.51.100.7[4500] to 192.0.2.1[4500] (480 bytes)
2026-11-25T08:30:00.000200+0000 gw charon[912]: 05[IKE] <rw|3> IKE_SA rw[3] established between 192.0.2.1[gw.lab]...198.51.100.7[mbp-01@lab]
2026-11-25T08:30:00.000300+0000 gw charon[912]: 05[IKE] <rw|3> CHILD_SA rw{5} established with SPIs c1a2b3c4_i c5d6e7f8_o and TS 0.0.0.0/0 === 10.3.0.1/32
2026-11-25T08:31:00.000000+0000 gw charon[912]: 09[IKE] <rw|3> sending DPD request
2026-11-25T08:31:04.000000+0000 gw charon[912]: 11[IKE] <rw|3> retransmit 1 of request with message ID 7
2026-11-25T08:33:10.000000+0000 gw charon[912]: 13[IKE] <rw|3> giving up after 5 retransmits
2026-11-25T08:33:10.000100+0000 gw charon[912]: 13[IKE] <rw|3> deleting IKE_SA rw[3] between 192.0.2.1[gw.lab]...198.51.100.7[mbp-01@lab]
2026-11-25T08:33:10.000200+0000 gw charon[912]: 13[IKE] <rw|3> IKE_SA deleted
"""
STRONGSWAN_CLIENTS = {"mbp-01@lab": "mbp-01"}


def test_strongswan_session_dpd_and_deletion_map_to_gateway_kinds():
    res = parse_gateway(CHARON, GW, "strongswan", STRONGSWAN_CLIENTS)
    assert [(k, mac, s) for k, mac, s, _ in events(res)] == [
        ("gw_session_start", "mbp-01", "rw[3]"),
        ("gw_dpd_timeout", "mbp-01", "rw[3]"),
        ("gw_session_end", "mbp-01", "rw[3]"),
    ]
    assert_counts_add_up(res)


def test_strongswan_dpd_request_and_retransmits_are_other_rows_of_that_mac():
    res = parse_gateway(CHARON, GW, "strongswan", STRONGSWAN_CLIENTS)
    others = [r for r in res.rows if "DPD request" in r["detail"] or "retransmit 1" in r["detail"]]
    assert [(r["kind"], r["mac"]) for r in others] == [("other", "mbp-01"), ("other", "mbp-01")]


def test_strongswan_ike_sa_deleted_alone_ends_the_session():
    lines = CHARON.splitlines()
    text = "\n".join(ln for ln in lines if "deleting IKE_SA" not in ln)
    res = parse_gateway(text, GW, "strongswan", STRONGSWAN_CLIENTS)
    assert [e[0] for e in events(res)][-1] == "gw_session_end"
    assert events(res)[-1][3] == "IKE_SA deleted"


def test_strongswan_ikev1_dpd_action_is_a_dpd_timeout_of_the_connection_user():
    line = ("2026-11-25T08:40:00.000001+0000 gw charon[912]: 07[IKE] <mbp-01-conn|4> "
            "DPD check timed out, enforcing DPD action")
    res = parse_gateway(line, GW, "strongswan", {"mbp-01-conn": "mbp-01"})
    assert events(res) == [("gw_dpd_timeout", "mbp-01", "mbp-01-conn[4]",
                            "07[IKE] <mbp-01-conn|4> DPD check timed out, enforcing DPD action")]


def test_strongswan_connection_name_identifies_the_mac_when_the_remote_id_is_unknown():
    line = ("2026-11-25T08:30:00.000200+0000 gw charon-systemd[5]: 05[IKE] <mbp-01|3> "
            "IKE_SA mbp-01[3] established between 192.0.2.1[gw]...198.51.100.7[CN=device-7]")
    assert events(parse_gateway(line, GW, "strongswan", {"mbp-01": "rig-mbp-01"}))[0][1] == "rig-mbp-01"


def test_strongswan_untimed_file_logger_line_is_rejected():
    res = parse_gateway("13[IKE] <rw|3> giving up after 5 retransmits\n", GW, "strongswan", {})
    assert res.rows == [] and res.rejected_lines == [1]


# ---- jsonl -------------------------------------------------------------------------------------

def test_jsonl_events_map_to_gateway_kinds_with_session_reason_and_mac():
    text = "\n".join([
        '{"ts": "2026-11-25T08:30:00.5+00:00", "event": "session_start", "user": "mac1", "session": "S1"}',
        '{"ts": "2026-11-25T08:30:20.5+00:00", "event": "keepalive", "user": "mac1", "session": "S1"}',
        '{"ts": "2026-11-25T08:31:20Z", "event": "dpd_timeout", "user": "mac1", "session": "S1"}',
        '{"ts": "2026-11-25T09:31:20.000001+0100", "event": "session_end", "user": "mac1", '
        '"session": "S1", "reason": "DPD timeout"}',
    ])
    res = parse_gateway(text, GW, "jsonl", CLIENTS)
    assert events(res) == [("gw_session_start", "mbp-01", "S1", ""),
                           ("gw_keepalive", "mbp-01", "S1", ""),
                           ("gw_dpd_timeout", "mbp-01", "S1", ""),
                           ("gw_session_end", "mbp-01", "S1", "DPD timeout")]
    assert [r["t"] for r in res.rows][2:] == ["2026-11-25T08:31:20+00:00",
                                              "2026-11-25T09:31:20.000001+01:00"]


def test_jsonl_unknown_event_is_an_other_row():
    res = parse_gateway('{"ts": "2026-11-25T08:30:00+00:00", "event": "rekey", "user": "mac1"}',
                        GW, "jsonl", CLIENTS)
    assert [(r["kind"], r["detail"], r["mac"]) for r in res.rows] == [("other", "rekey", "mbp-01")]


def test_jsonl_unknown_user_has_no_mac():
    res = parse_gateway('{"ts": "2026-11-25T08:30:00+00:00", "event": "keepalive", "user": "x"}',
                        GW, "jsonl", CLIENTS)
    assert res.rows[0]["mac"] == ""


def test_jsonl_malformed_lines_are_rejected_with_line_numbers_and_reasons():
    text = "\n".join([
        '{"ts": "2026-11-25T08:30:00+00:00", "event": "keepalive", "user": "mac1"}',
        '{"ts": "2026-11-25T08:30:00+00:00", "event": "keepal',           # cut short
        '',
        '["not", "an", "object"]',
        '{"ts": "2026-11-25T08:30:00", "event": "keepalive"}',            # no offset
        '{"event": "keepalive"}',                                          # no time
    ])
    res = parse_gateway(text, GW, "jsonl", CLIENTS)
    assert res.rejected_lines == [2, 4, 5, 6]
    assert dict(res.reject_reasons) == {BAD_JSON: 2, BAD_TIME: 2}
    assert (res.read, res.parsed, res.skipped) == (6, 1, 1)


# ---- the entry point ---------------------------------------------------------------------------

def test_unknown_format_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown gateway log format 'wireguard' "
                                         r"\(known: ocserv, strongswan, jsonl\)"):
        parse_gateway("", GW, "wireguard", {})


def test_empty_text_gives_nothing_in_every_format():
    for fmt in FORMATS:
        assert parse_gateway("", GW, fmt, {}).counts()["read"] == 0


SAMPLE_GW_LINES = (journald(ocserv_foreground(), START).splitlines() + CHARON.splitlines()
                   + ['{"ts": "2026-11-25T08:30:00+00:00", "event": "session_end", "user": "mac1"}'])


@settings(max_examples=200)
@given(st.sampled_from(FORMATS), st.text(max_size=400))
def test_random_text_never_raises_and_counts_add_up(fmt, text):
    assert_counts_add_up(parse_gateway(text, GW, fmt, CLIENTS))


@settings(max_examples=100)
@given(st.sampled_from(FORMATS), st.permutations(SAMPLE_GW_LINES), st.integers(0, 5000))
def test_shuffled_and_truncated_real_lines_never_raise_and_count_every_line(fmt, lines, cut):
    text = "\n".join(lines)[:cut]
    res = parse_gateway(text, GW, fmt, CLIENTS)
    assert_counts_add_up(res)
    assert res.read == len(text.split("\n")) - (text.endswith("\n") or text == "")
