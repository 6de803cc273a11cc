"""Specification of the ``log show`` parser (rig.parse.unified_log), on real samples and own fixtures."""
from __future__ import annotations

import json
import random
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig import timestamps
from rig.events import Kind
from rig.frame import to_frame
from rig.parse.signatures import load_signatures, parse_signatures
from rig.parse.unified_log import (POWERD_SUBSYSTEM, decode_record, iso_timestamp, parse_unified,
                             parse_unified_stream)

ROOT = Path(__file__).parent.parent
REAL = Path(__file__).parent / "data" / "real"
ALL_REAL = sorted(p for p in REAL.iterdir() if p.is_file())
TWIN = load_signatures(ROOT / "rig" / "twin" / "signatures.toml")
SUB = "com.example.twinproxy"
TS = "2026-07-26 18:11:22.348728+1200"
BOOT = "3590A0B1-4C7D-4C4A-9F0B-69FAC3D0BD58"
POWERD_PATH = "/System/Library/CoreServices/powerd.bundle/powerd"


def real(name: str) -> bytes:
    return (REAL / name).read_bytes()


def sig_for(subsystem: str, rules: str = "") -> object:
    return parse_signatures(f'[product]\nname = "P"\nsubsystems = ["{subsystem}"]\n{rules}')


_mach = iter(range(20147685217463, 10**15, 1000))


def rec(msg: str, subsystem: str | None = SUB, category: str = "tunnel", ts: str | None = TS,
        **extra) -> dict:
    """One record with the modern key set (values as `log show --style ndjson` writes them)."""
    r = {"timezoneName": "", "messageType": "Default", "eventType": "logEvent", "source": None,
         "formatString": "%{public}s", "userID": 0, "activityIdentifier": 0,
         "subsystem": subsystem, "category": category, "threadID": 11498972, "bootUUID": BOOT,
         "processImagePath": "/Library/SystemExtensions/X/com.example.twinproxy.systemextension",
         "timestamp": ts, "machTimestamp": next(_mach), "eventMessage": msg,
         "traceID": 41979461356879876, "processID": 99240, "senderProgramCounter": 103060,
         "parentActivityIdentifier": 0}
    if subsystem is None:
        del r["subsystem"]
    if ts is None:
        del r["timestamp"]
    r.update(extra)
    return r


def powerd(msg: str, **extra) -> dict:
    return rec(msg, subsystem=POWERD_SUBSYSTEM, category="sleepWake",
               processImagePath="/System/Library/CoreServices/powerd.bundle/powerd", **extra)


def nd(*records: dict, footer: bool = True) -> bytes:
    out = b"".join(orjson.dumps(r) + b"\n" for r in records)
    if footer:
        out += orjson.dumps({"count": len(records), "finished": 1}) + b"\n"
    return out


def assert_counts_add_up(res) -> None:
    assert res.read == res.parsed + res.other + res.skipped + res.rejected + res.duplicates
    kept_other = sum(r["kind"] == Kind.OTHER.value for r in res.rows)
    assert res.parsed == len(res.rows) - kept_other
    assert kept_other <= res.other
    assert all(r["line"] >= 1 for r in res.rows)


def only_row(data: bytes, signatures=TWIN) -> dict:
    res = parse_unified(data, "mbp-01", signatures)
    assert len(res.rows) == 1, res.counts()
    return res.rows[0]


# ---- real samples ------------------------------------------------------------------------------

def test_ndjson_footer_is_skipped_and_its_count_matches_the_records():
    data = real("log_show_ndjson_coreaudio_with_footer_2026-07.txt")
    res = parse_unified(data, "mac", TWIN)
    footer = orjson.loads(data.splitlines()[-1])
    assert footer == {"count": 2, "finished": 1}
    # line 1 is the sample's "# SOURCE:" comment, lines 2-3 records, line 4 the footer
    assert res.counts() == {"read": 4, "parsed": 0, "other": footer["count"], "skipped": 2,
                            "rejected": 0, "rejected_lines": [], "duplicates": 0}


def test_ndjson_records_of_a_watched_subsystem_become_rows_with_microsecond_time():
    sig = sig_for("com.apple.coreaudio",
                  '[[rule]]\nkind = "keepalive"\nmessage = "Input format:"\n')
    res = parse_unified(real("log_show_ndjson_coreaudio_with_footer_2026-07.txt"), "m", sig)
    assert [(r["t"], r["t_raw"], r["line"], r["kind"]) for r in res.rows] == [
        ("2026-07-26T18:11:22.348728+12:00", "2026-07-26 18:11:22.348728+1200", 2, "keepalive"),
        ("2026-07-26T18:11:22.357170+12:00", "2026-07-26 18:11:22.357170+1200", 3, "keepalive"),
    ]


def test_trace_id_above_2_to_the_53_is_kept_exact():
    line = real("log_show_ndjson_coreaudio_with_footer_2026-07.txt").splitlines()[1]
    trace = decode_record(line)["traceID"]
    assert trace == 41979461356879876 and trace > 2**53
    assert isinstance(trace, int)


def test_ndjson_with_trailing_space_and_private_value_parses():
    sig = sig_for("com.apple.Authorization", '[[rule]]\nkind = "alert_disconnected"\n'
                  'message = "^Failed to authenticate user <(?P<session>.*)> \\\\(error: (?P<reason>\\\\d+)\\\\)"\n')
    res = parse_unified(real("log_show_ndjson_authorizationhost_2025-04.txt"), "m", sig)
    assert [(r["kind"], r["session"], r["detail"], r["t"]) for r in res.rows] == [
        ("alert_disconnected", "", "9", "2025-04-02T16:17:12.103054+05:30")]


def test_json_2018_single_pretty_record_counts_as_one_unit():
    sig = sig_for("com.apple.securityd", '[[rule]]\nkind = "keepalive"\nmessage = "^cert"\n')
    res = parse_unified(real("log_show_json_2018_trustd_keys_id19039015131.txt"), "m", sig)
    assert res.read == 2 and res.skipped == 1  # the "# SOURCE:" line, then one 19-line record
    assert [(r["line"], r["t"]) for r in res.rows] == [(2, "2018-02-14T21:33:12.356682+01:00")]


def test_json_array_preamble_lines_of_the_log_tool_are_skipped():
    sig = sig_for("os_log_inlinable", '[[rule]]\nkind = "keepalive"\nmessage = "^Hello"\n')
    res = parse_unified(real("log_show_json_array_os_log_inlinable_2018-06.txt"), "m", sig)
    # 1 "# SOURCE:", 2 a pasted shell prompt (not log output: rejected), 3 "Filtering the log
    # data using …", 4 "Skipping info and debug messages …", 5 "[{" starts the only record
    assert res.counts() == {"read": 5, "parsed": 1, "other": 0, "skipped": 3, "rejected": 1,
                            "rejected_lines": [2], "duplicates": 0}
    assert [(r["line"], r["t"], r["detail"]) for r in res.rows] == [
        (5, "2018-06-10T08:47:50.829488-07:00", "Hello, World!")]


def test_default_style_line_before_a_pretty_record_is_rejected_and_the_record_kept():
    sig = sig_for("system", '[[rule]]\nkind = "ext_wake"\nmessage = "^Setting service"\n')
    res = parse_unified(real("log_show_json_pretty_and_default_launchd_sshd_2025-07.txt"), "m", sig)
    assert res.rejected_lines == [2]
    assert [(r["line"], r["kind"], r["t"]) for r in res.rows] == [
        (3, "ext_wake", "2025-07-26T15:47:46.559712-04:00")]


def test_syslog_style_powerd_sample_is_not_json_and_every_line_is_accounted_for():
    res = parse_unified(real("log_show_syslog_powerd_sleepWake_issue_zearp_Nucintosh_9.txt"),
                        "m", TWIN)
    assert res.rows == []
    assert res.skipped == 1                       # the "# SOURCE:" comment
    assert res.rejected == 12 and res.rejected_lines == list(range(2, 14))


@pytest.mark.parametrize("path", ALL_REAL, ids=lambda p: p.name)
def test_every_real_sample_parses_without_raising_and_counts_add_up(path):
    res = parse_unified(path.read_bytes(), "m", TWIN)
    assert_counts_add_up(res)
    assert res.read >= 1


# ---- the twin's signatures on own ndjson fixtures ----------------------------------------------

@pytest.mark.parametrize("category,message,kind,session,detail", [
    ("provider", "sleep() called", "ext_sleep", "", "sleep() called"),
    ("provider", "wake() called", "ext_wake", "", "wake() called"),
    ("provider", "wake classified as dark (powerd caps CDN)", "wake_classified", "", "dark"),
    ("tunnel", "Handshake started session=S43", "handshake_start", "S43",
     "Handshake started session=S43"),
    ("tunnel", "Tunnel up session=S42", "tunnel_up", "S42", "Tunnel up session=S42"),
    ("tunnel", "Tunnel down session=S42 reason=dpd", "tunnel_down", "S42", "dpd"),
    ("tunnel", "Keepalive sent session=S42", "keepalive", "S42", "Keepalive sent session=S42"),
    ("alert", "ALERT Session Disconnected session=S42 reason=peer_dead", "alert_disconnected",
     "S42", "peer_dead"),
])
def test_twin_message_maps_to_its_kind_session_and_detail(category, message, kind, session, detail):
    r = only_row(nd(rec(message, category=category)))
    assert (r["kind"], r["session"], r["detail"]) == (kind, session, detail)
    assert (r["source"], r["host"], r["mac"], r["line"]) == ("unified", "mbp-01", "mbp-01", 1)
    assert r["t"] == "2026-07-26T18:11:22.348728+12:00" and r["t_raw"] == TS


def test_unmatched_record_of_the_product_is_kept_as_other():
    res = parse_unified(nd(rec("Tunnel flapping, retrying")), "m", TWIN)
    assert [(r["kind"], r["detail"]) for r in res.rows] == [("other", "Tunnel flapping, retrying")]
    assert (res.parsed, res.other) == (0, 1)


def test_records_of_other_subsystems_are_counted_but_not_kept():
    res = parse_unified(nd(rec("x", subsystem="com.apple.coreaudio"), rec("y", subsystem=None)),
                        "m", TWIN)
    assert res.rows == [] and res.other == 2


def test_message_mentioning_the_product_in_another_subsystem_is_not_the_product():
    res = parse_unified(nd(rec("Tunnel up session=S1 via com.example.twinproxy",
                               subsystem="com.apple.networkextension")), "m", TWIN)
    assert res.rows == [] and res.other == 1


def test_private_session_is_no_session():
    assert only_row(nd(rec("Tunnel up session=<private>")))["session"] == ""


def test_without_signatures_product_records_are_other_and_powerd_still_counts():
    res = parse_unified(nd(rec("Tunnel up session=S1"),
                           powerd("DarkWake from Normal Sleep [CDN] : due to XDCI/")), "m", None)
    assert [r["kind"] for r in res.rows] == ["dark_wake"]
    assert res.other == 1


def test_record_of_interest_without_timestamp_is_rejected():
    res = parse_unified(nd(rec("Tunnel up session=S1", ts=None)), "m", TWIN)
    assert res.rows == [] and res.rejected_lines == [1]


@pytest.mark.parametrize("raw,iso", [
    ("2026-07-26 18:11:22.348728+1200", "2026-07-26T18:11:22.348728+12:00"),
    ("2018-06-10 08:47:50.829488-0700", "2018-06-10T08:47:50.829488-07:00"),
    ("2025-04-02 16:17:12.103054+0530", "2025-04-02T16:17:12.103054+05:30"),
])
def test_timestamp_becomes_iso_8601_with_a_colon_in_the_offset(raw, iso):
    assert iso_timestamp(raw) == iso


def test_rows_convert_to_the_same_utc_instant():
    res = parse_unified(nd(rec("Tunnel up session=S1")), "m", TWIN)
    df = to_frame(res.rows)
    assert str(df["t"].iloc[0]) == "2026-07-26 06:11:22.348728+00:00"


# ---- powerd ------------------------------------------------------------------------------------

@pytest.mark.parametrize("message,kind,caps", [
    ("DarkWake from Normal Sleep [CDN] : due to XDCI/", "dark_wake", "CDN"),
    ("Wake from Deep Idle [CDNVA] : due to EC.LidOpen/Lid Open", "full_wake", "CDNVA"),
    ("DarkWake to FullWake from Normal Sleep [CDNVA] : due to UserActivity Assertion",
     "dark_to_full", "CDNVA"),
    ("Entering Sleep state due to 'Clamshell Sleep':TCPKeepAlive=active", "sleep", ""),
])
def test_powerd_power_sentence_becomes_a_power_row(message, kind, caps):
    r = only_row(nd(powerd(message, timestamp="2020-11-14 18:21:08.360308+0100")))
    assert (r["kind"], r["caps"], r["detail"]) == (kind, caps, message)
    assert r["t"] == "2020-11-14T18:21:08.360308+01:00"


def test_powerd_is_recognised_by_its_process_without_a_subsystem():
    r = rec("DarkWake from Normal Sleep [CDN] : due to XDCI/", subsystem=None, category="",
            processImagePath="/System/Library/CoreServices/powerd.bundle/powerd")
    assert only_row(nd(r))["kind"] == "dark_wake"


def test_other_powerd_records_are_counted_not_kept():
    res = parse_unified(nd(powerd("Updating wake end timestamp to 2541413116255"),
                           powerd("<private>")), "m", TWIN)
    assert res.rows == [] and res.other == 2


def test_power_sentence_outside_powerd_is_not_a_power_row():
    res = parse_unified(nd(rec("DarkWake from Normal Sleep [CDN] : due to XDCI/",
                               subsystem="com.apple.bluetooth", category="Server.Core")), "m", TWIN)
    assert res.rows == []


def test_power_sentence_that_breaks_the_grammar_is_rejected():
    res = parse_unified(nd(powerd("Wake from Normal Sleep [CDNVA]")), "m", TWIN)
    assert res.rows == [] and res.rejected_lines == [1]


# ---- structure: footer, truncation, pretty arrays ----------------------------------------------

def test_truncated_last_line_of_a_killed_stream_is_rejected():
    data = nd(rec("Tunnel up session=S1"), rec("Tunnel up session=S2"), footer=False)
    res = parse_unified(data[:-40], "m", TWIN)
    assert [r["session"] for r in res.rows] == ["S1"]
    assert res.rejected_lines == [2]
    assert_counts_add_up(res)


def test_footer_between_concatenated_windows_is_skipped():
    data = nd(rec("Tunnel up session=S1")) + nd(rec("Tunnel up session=S2"))
    res = parse_unified(data, "m", TWIN)
    assert [r["line"] for r in res.rows] == [1, 3]
    assert res.skipped == 2 and res.rejected == 0


def test_pretty_array_counts_records_not_lines():
    records = [rec("Tunnel up session=S1"), rec("Keepalive sent session=S1")]
    body = b",".join(orjson.dumps(r, option=orjson.OPT_INDENT_2) for r in records)
    data = b'Filtering the log data using "subsystem == \\"x\\""\n[' + body + b"]\n"
    assert b"},{" in data and data.count(b"\n") > 40
    second = data.split(b"\n").index(b"},{") + 1  # the line where the second record starts
    res = parse_unified(data, "m", TWIN)
    assert [(r["kind"], r["line"]) for r in res.rows] == [("tunnel_up", 2), ("keepalive", second)]
    assert res.counts()["read"] == 3  # the preamble line and two records
    assert_counts_add_up(res)


def test_pretty_record_cut_short_is_rejected_at_its_first_line():
    pretty = orjson.dumps(rec("Tunnel up session=S1"), option=orjson.OPT_INDENT_2)
    res = parse_unified(b"[" + pretty[: len(pretty) // 2], "m", TWIN)
    assert res.rows == [] and res.rejected_lines == [1] and res.read == 1


def test_str_input_gives_the_same_result_as_bytes():
    data = nd(rec("Tunnel up session=S1"), powerd("Wake from Deep Idle [CDNVA] : due to x"))
    assert parse_unified(data.decode(), "m", TWIN) == parse_unified(data, "m", TWIN)


# ---- duplicates from overlapping windows -------------------------------------------------------

def test_records_repeated_by_overlapping_windows_are_dropped_and_counted():
    a, b, c = (rec(f"Keepalive sent session=S{i}") for i in range(3))
    res = parse_unified(nd(a, b) + nd(b, c), "m", TWIN)
    assert [r["session"] for r in res.rows] == ["S0", "S1", "S2"]
    assert res.duplicates == 1
    assert_counts_add_up(res)


def test_same_mach_time_and_thread_in_another_boot_is_not_a_duplicate():
    a = rec("Keepalive sent session=S1", machTimestamp=5, bootUUID="A")
    b = rec("Keepalive sent session=S1", machTimestamp=5, bootUUID="B")
    res = parse_unified(nd(a, b), "m", TWIN)
    assert len(res.rows) == 2 and res.duplicates == 0


def test_without_boot_uuid_the_fallback_key_uses_time_process_and_message():
    a = rec("Keepalive sent session=S1")
    del a["bootUUID"]
    same = dict(a)
    other_msg = dict(a, eventMessage="Keepalive sent session=S2")
    res = parse_unified(nd(a, same, other_msg), "m", TWIN)
    assert [r["session"] for r in res.rows] == ["S1", "S2"]
    assert res.duplicates == 1


def test_missing_mach_timestamp_still_dedupes_by_fallback_key():
    a = rec("Keepalive sent session=S1")
    del a["machTimestamp"]
    res = parse_unified(nd(a, dict(a)), "m", TWIN)
    assert len(res.rows) == 1 and res.duplicates == 1


# ---- streaming and the fast path ---------------------------------------------------------------

def big_export(n: int, seed: int = 7) -> tuple[bytes, list[tuple[int, str]]]:
    """n records, ~5 % the product's; returns the export and (line, session) of tunnel_up rows."""
    rnd = random.Random(seed)
    out, expect = [], []
    for i in range(n):
        if rnd.random() < 0.05:
            out.append(rec(f"Tunnel up session=S{i}"))
            expect.append((i + 1, f"S{i}"))
        else:
            out.append(rec(f"audio frame {i} " + "x" * 500, subsystem="com.apple.coreaudio"))
    return nd(*out), expect


@pytest.fixture(scope="module")
def export():
    return big_export(4000)  # > 2 MB: several fast-path segments


def test_big_export_keeps_exactly_the_product_rows_with_their_line_numbers(export):
    data, expect = export
    assert len(data) > 2 * (1 << 20)
    res = parse_unified(data, "m", TWIN)
    assert [(r["line"], r["session"]) for r in res.rows] == expect
    assert res.counts() == {"read": 4001, "parsed": len(expect), "other": 4000 - len(expect),
                            "skipped": 1, "rejected": 0, "rejected_lines": [], "duplicates": 0}


def test_one_odd_line_in_a_big_export_is_rejected_and_changes_nothing_else(export):
    data, expect = export
    lines = data.split(b"\n")
    lines.insert(2000, b"log: warning: something odd")
    res = parse_unified(b"\n".join(lines), "m", TWIN)
    shifted = [(n if n <= 2000 else n + 1, s) for n, s in expect]
    assert [(r["line"], r["session"]) for r in res.rows] == shifted
    assert res.rejected_lines == [2001]


def test_streamed_blocks_of_any_size_give_the_same_result_as_one_block(export):
    data, _ = export
    whole = parse_unified(data, "m", TWIN)
    for size in (1, 7, 4096, 100_003, 1 << 20):
        chunks = (data[i:i + size] for i in range(0, len(data), size))
        assert parse_unified_stream(chunks, "m", TWIN) == whole, size


def mixed_export(n: int, seed: int = 11) -> bytes:
    """A big export with everything the fast path must treat exactly like the line path: other
    subsystems that mention the product, powerd found by subsystem and by image path only, a
    product record matched by no rule, and a stretch written with spaces (``"subsystem": "x"``,
    as ``json.dumps`` writes) where the compact needles cannot be used."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        r = rnd.random()
        if r < 0.04:
            out.append(orjson.dumps(rec(f"Tunnel up session=S{i}")))
        elif r < 0.05:
            out.append(orjson.dumps(rec(f"Reading config generation {i}")))
        elif r < 0.06:
            out.append(orjson.dumps(powerd("DarkWake from Normal Sleep [CDN] : due to XDCI/")))
        elif r < 0.07:
            out.append(orjson.dumps(rec("Wake from Deep Idle [CDNVA] : due to x", subsystem=None,
                                        category="", processImagePath=POWERD_PATH)))
        elif r < 0.15:
            out.append(orjson.dumps(rec(f"activated extension {SUB}.extension " + "y" * 300,
                                        subsystem="com.apple.sysextd", category="default")))
        else:
            out.append(orjson.dumps(rec(f"audio frame {i} " + "x" * 500, subsystem="com.apple.coreaudio")))
        if n // 3 <= i < n // 2:        # another writer for a while: keys with spaces
            out[-1] = json.dumps(orjson.loads(out[-1])).encode()
    return b"\n".join(out) + b"\n"


def test_fast_path_and_line_path_agree_on_a_mixed_export():
    data = mixed_export(6000)
    assert len(data) > 3 * (1 << 20)
    fast = parse_unified(data, "m", TWIN)
    lines = parse_unified_stream((data[i:i + 4096] for i in range(0, len(data), 4096)), "m", TWIN)
    assert fast == lines
    kinds = {r["kind"] for r in fast.rows}
    assert {"tunnel_up", "other", "dark_wake", "full_wake"} <= kinds
    spaced = [r for r in fast.rows if 2000 < r["line"] <= 3000]
    assert any(r["kind"] == "tunnel_up" for r in spaced)   # found without the compact needles
    assert fast.rejected == 0 and fast.read == 6000


def escaped(line: bytes) -> bytes:
    """A line as `log` writes it: "/" escaped as "\\/"."""
    return line.replace(b"/", b"\\/")


@pytest.mark.parametrize("slashes", ["escaped", "plain", "joined"])
def test_powerd_is_found_by_its_image_path_however_the_writer_writes_slashes(slashes):
    """In a compact segment powerd's records are found by the whole processImagePath, in the
    form the segment's first and last lines use: `log`'s "\\/", a re-export's "/", or both where
    two exports were joined inside one segment. Each way gives the rows of the line path."""
    lines = mixed_export(6000).split(b"\n")[:-1]
    if slashes == "escaped":
        lines = [escaped(x) for x in lines]
    elif slashes == "joined":   # the join falls inside a 1 MB segment, not on its edge
        lines = [escaped(x) if i < 4100 else x for i, x in enumerate(lines)]
    data = b"\n".join(lines) + b"\n"
    fast = parse_unified(data, "m", TWIN)
    by_line = parse_unified_stream((data[i:i + 4096] for i in range(0, len(data), 4096)), "m", TWIN)
    assert fast == by_line
    power = sum(1 for x in lines if b"powerd.bundle" in x)
    assert power > 100
    assert sum(1 for r in fast.rows if r["kind"] in ("dark_wake", "full_wake")) == power


def test_a_subsystem_that_is_not_a_string_is_counted_not_a_crash():
    r = rec("DarkWake from Normal Sleep [CDN] : due to XDCI/", subsystem=["com.apple.powerd"],
            category="", processImagePath=POWERD_PATH)
    res = parse_unified(nd(r, rec("x", subsystem={"a": 1})), "m", TWIN)
    assert_counts_add_up(res)
    assert [row["kind"] for row in res.rows] == ["dark_wake"]   # still powerd's, by its image path


def test_stream_accepts_bytearray_and_memoryview_blocks():
    data = nd(rec("Tunnel up session=S1"))
    res = parse_unified_stream([bytearray(data[:10]), memoryview(data[10:])], "m", TWIN)
    assert [r["session"] for r in res.rows] == ["S1"]


def test_one_reused_buffer_refilled_after_each_block_gives_the_same_result(export):
    data, _ = export
    buf = bytearray(333)     # smaller than a line: blocks without a newline are carried over

    def refills():
        for i in range(0, len(data), len(buf)):
            piece = data[i:i + len(buf)]
            buf[:len(piece)] = piece
            yield buf if len(piece) == len(buf) else bytes(piece)

    assert parse_unified_stream(refills(), "m", TWIN) == parse_unified(data, "m", TWIN)


@pytest.mark.parametrize("ts", ["2026-13-26 18:11:22.348728+1200", "2026-02-30 18:11:22.348728+1200",
                                "2026-07-26 24:11:22.348728+1200", "2026-07-26 18:11:22.348728+1275"])
def test_record_of_interest_with_an_impossible_timestamp_is_rejected(ts):
    res = parse_unified(nd(rec("Tunnel up session=S1", ts=ts)), "m", TWIN)
    assert res.rows == [] and res.rejected_lines == [1]


# ---- properties --------------------------------------------------------------------------------

SAMPLE_LINES = [ln for p in ALL_REAL for ln in p.read_bytes().split(b"\n")] + nd(
    rec("Tunnel up session=S1"), rec("ALERT Session Disconnected session=S1 reason=x", category="alert"),
    powerd("DarkWake from Normal Sleep [CDN] : due to XDCI/")).split(b"\n")
FIXTURE = nd(rec("Tunnel up session=S1"), powerd("Wake from Deep Idle [CDNVA] : due to x"),
             rec("noise", subsystem="com.apple.x"))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_and_counts_add_up(data):
    assert_counts_add_up(parse_unified(data, "m", TWIN))


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=len(FIXTURE)))
def test_any_truncation_never_raises_and_counts_add_up(cut):
    res = parse_unified(FIXTURE[:cut], "m", TWIN)
    assert_counts_add_up(res)
    assert res.read == FIXTURE[:cut].count(b"\n") + (not FIXTURE[:cut].endswith(b"\n") and cut > 0)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(SAMPLE_LINES), st.integers(min_value=1, max_value=300))
def test_shuffled_real_lines_in_any_blocks_never_raise_and_counts_add_up(lines, size):
    data = b"\n".join(lines)
    res = parse_unified_stream((data[i:i + size] for i in range(0, len(data), size)), "m", TWIN)
    assert_counts_add_up(res)
    assert res == parse_unified(data, "m", TWIN)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SAMPLE_LINES), min_size=1, max_size=60))
def test_ndjson_read_counts_every_line(lines):
    data = b"\n".join(lines) + b"\n"
    res = parse_unified(data, "m", TWIN)
    assert_counts_add_up(res)
    if not any(ln.strip() in (b"{", b"[{", b"[") or ln.startswith(b"}") for ln in lines):
        assert res.read == len(lines)  # no pretty records: one unit per line


def regex_only_iso_timestamp(ts: str) -> str | None:
    """The timestamp rule stated once, by the regex (the parser's fast path must agree)."""
    m = timestamps._TS.match(ts)
    if m is None or m[2][6:8] > "59" or not timestamps._valid_minute(m[1], m[2][:5], m[3], m[4]):
        return None
    return f"{m[1]}T{m[2]}{m[3]}:{m[4]}"


STAMP_CHARS = st.sampled_from(list("0123456789 -:.+T9Z٣x"))


@settings(max_examples=500)
@given(st.lists(st.tuples(st.integers(0, 30), STAMP_CHARS), max_size=3), st.integers(28, 33))
def test_the_timestamp_fast_path_agrees_with_the_regex(edits, length):
    """Stamps of the shape `log` writes, with characters swapped in (a non-ASCII digit, a
    month 13, a second 60, a missing offset colon ...), give what the regex alone gives."""
    ts = list("2026-07-26 18:11:22.348728+1200")
    for i, c in edits:
        ts[min(i, len(ts) - 1)] = c
    ts = "".join(ts)[:length].ljust(length, "0")
    assert iso_timestamp(ts) == regex_only_iso_timestamp(ts)
