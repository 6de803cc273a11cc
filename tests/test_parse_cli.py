"""Specification of ``rig parse`` (rig.cli.parse through the real command line).

Each test runs the command as a user would (a separate process, the ``rig`` entry point) and
checks stdout against the pure parsers and pandas' own UTC conversion, and stderr's counts
against the parser's bookkeeping.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.cli import parse as parse_cli
from rig.events import COLUMNS, Kind
from rig.frame import to_frame
from rig.parse.gateway_log import parse_gateway
from rig.cli.parse import utc_iso
from rig.parse.pmset import parse_pmset
from rig.parse.signatures import load_signatures
from rig.parse.unified_log import parse_unified

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(__file__).parent / "data" / "real"
SIGS = ROOT / "rig" / "twin" / "signatures.toml"
PMSET = REAL / "pmset_log_intel_hackintosh_z390_2021-04.txt"
OCSERV = REAL / "ocserv_1.1.6_dpd_timeout_and_reconnect.log"
ENTRY = "import sys; from rig.cli.main import main; sys.argv[0] = 'rig'; main()"


def rig(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", ENTRY, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


def csv_rows(text: str) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows == [] or list(rows[0]) == list(COLUMNS)
    return rows


def utc_by_pandas(rows: list[dict]) -> list[str]:
    """The instants pandas computes from the parser's rows (an independent UTC conversion)."""
    return [t.isoformat() for t in to_frame(rows)["t"]]


def counts_line(res) -> str:
    return (f"read {res.read}, parsed {res.parsed}, other {res.other}, skipped {res.skipped}, "
            f"rejected {res.rejected}")


# ---- pmset -----------------------------------------------------------------------------------

def test_pmset_dump_prints_its_power_events_in_utc_and_counts_every_line(tmp_path):
    p = rig("parse", "--source", "pmset", str(PMSET), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    res = parse_pmset(PMSET.read_text(), PMSET.stem)
    power = [r for r in res.rows if r["kind"] != Kind.OTHER.value]
    out = csv_rows(p.stdout)
    assert len(power) >= 4
    assert [(r["kind"], r["line"], r["t_raw"]) for r in out] == [(r["kind"], str(r["line"]), r["t_raw"])
                                                              for r in power]
    assert [datetime.fromisoformat(r["t"]) for r in out] == [datetime.fromisoformat(t)
                                                             for t in utc_by_pandas(power)]
    assert all(r["t"].endswith("+00:00") for r in out)
    assert f"{PMSET}: {counts_line(res)}" in p.stderr


def test_bad_lines_are_counted_with_their_numbers_and_the_exit_status_stays_zero(tmp_path):
    f = tmp_path / "mbp-01.log"
    f.write_text("2026-11-25 08:30:00 -0800 Sleep               \tEntering Sleep state due to 'Clamshell Sleep':"
                 "TCPKeepAlive=active Using AC (Charge:83%) 6 secs\n"
                 "2026-13-25 08:31:00 -0800 Wake                \tWake from Normal Sleep [CDNVA] : due to x\n"
                 "Sleep/Wakes since boot:1\n"
                 "2026-11-25 08:45:10 -0800 DarkWake            \tDarkWake from [CDN : due to\n")
    p = rig("parse", "--source", "pmset", str(f), cwd=tmp_path)
    assert p.returncode == 0
    assert [r["kind"] for r in csv_rows(p.stdout)] == ["sleep"]
    assert f"{f}: read 4, parsed 1, other 0, skipped 1, rejected 2" in p.stderr
    assert f"{f}: rejected lines 2, 4" in p.stderr
    assert [r["host"] for r in csv_rows(p.stdout)] == ["mbp-01"]   # the file's name


def test_other_rows_are_counted_and_printed_only_when_asked(tmp_path):
    plain = csv_rows(rig("parse", "--source", "pmset", str(PMSET), cwd=tmp_path).stdout)
    every = csv_rows(rig("parse", "--source", "pmset", "--other", str(PMSET), cwd=tmp_path).stdout)
    res = parse_pmset(PMSET.read_text(), PMSET.stem)
    assert len(plain) == res.parsed and len(every) == res.parsed + res.other > len(plain)


def test_overlapping_dumps_do_not_repeat_events(tmp_path):
    lines = PMSET.read_text().splitlines(keepends=True)
    half = len(lines) // 2
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("".join(lines[: half + 10]))
    b.write_text("".join(lines[half - 10:]))
    whole = csv_rows(rig("parse", "--source", "pmset", "--host", "mbp-01", str(PMSET), cwd=tmp_path).stdout)
    p = rig("parse", "--source", "pmset", "--host", "mbp-01", str(a), str(b), cwd=tmp_path)
    merged = csv_rows(p.stdout)
    key = lambda r: (r["t"], r["kind"], r["detail"])  # noqa: E731
    assert sorted(map(key, merged)) == sorted(map(key, whole))
    assert "duplicates" in p.stderr.split(f"{b}:")[1].splitlines()[0]


# ---- unified log -----------------------------------------------------------------------------

def export(n: int) -> tuple[bytes, int]:
    """An ndjson export of the twin's product (+1200) among other subsystems, with its footer."""
    out, kinds = [], 0
    for i in range(n):
        sub, msg, cat = "com.apple.coreaudio", f"frame {i} " + "x" * 300, "ac"
        if i % 9 == 0:
            sub, msg, cat = "com.example.twinproxy", f"Tunnel up session=S{i}", "tunnel"
            kinds += 1
        elif i % 13 == 0:
            msg = f"activated extension com.example.twinproxy.extension {i}"   # a mention, not the product
        out.append(orjson.dumps({
            "subsystem": sub, "category": cat, "threadID": 7, "bootUUID": "B",
            "timestamp": (datetime(2026, 7, 26, 18, 11, 22, tzinfo=timezone(timedelta(hours=12)))
                          + timedelta(seconds=i * 0.37)).strftime("%Y-%m-%d %H:%M:%S.%f%z"),
            "machTimestamp": 1000 + i, "eventMessage": msg, "traceID": 2**60 + i}))
    out.append(b'{"count":%d,"finished":1}' % n)
    return b"\n".join(out) + b"\n", kinds


def test_unified_export_gives_the_products_events_in_utc(tmp_path):
    data, kinds = export(3000)
    f = tmp_path / "unified.ndjson"
    f.write_bytes(data)
    p = rig("parse", "--source", "unified", "--signatures", str(SIGS), "--host", "mbp-01", str(f), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    res = parse_unified(data, "mbp-01", load_signatures(SIGS))
    out = csv_rows(p.stdout)
    assert len(out) == kinds == res.parsed
    assert [r["session"] for r in out] == [r["session"] for r in res.rows]
    assert [datetime.fromisoformat(r["t"]) for r in out] == [datetime.fromisoformat(t)
                                                             for t in utc_by_pandas(res.rows)]
    assert f"{f}: {counts_line(res)}" in p.stderr and "rejected 0" in p.stderr


def test_a_file_read_in_small_blocks_gives_what_one_read_gives(tmp_path, monkeypatch):
    data, _ = export(3000)
    f = tmp_path / "unified.ndjson"
    f.write_bytes(data)
    whole = parse_unified(data, "mbp-01", load_signatures(SIGS))
    monkeypatch.setattr(parse_cli, "BLOCK", 8191)    # many blocks, lines split across them
    rows, results = parse_cli.parse_files([str(f)], "unified", "", host="mbp-01", signatures=load_signatures(SIGS))
    assert results[0].result.counts() == whole.counts()
    assert [r["line"] for r in rows] == [r["line"] for r in whole.rows]


def test_a_pipe_is_read_in_blocks(tmp_path):
    data, kinds = export(3000)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", ENTRY, "parse", "--source", "unified", "--signatures", str(SIGS),
                        "--host", "mbp-01", "/dev/stdin"], input=data, capture_output=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    res = parse_unified(data, "mbp-01", load_signatures(SIGS))
    assert len(csv_rows(p.stdout.decode())) == kinds
    assert f"/dev/stdin: {counts_line(res)}" in p.stderr.decode()


def test_without_signatures_the_command_says_the_extension_is_not_recognised(tmp_path):
    data, _ = export(50)
    f = tmp_path / "u.ndjson"
    f.write_bytes(data)
    p = rig("parse", "--source", "unified", str(f), cwd=tmp_path)
    assert p.returncode == 0 and csv_rows(p.stdout) == []
    assert "no --signatures" in p.stderr


def test_json_output_is_one_valid_document_with_the_rows_of_the_csv(tmp_path):
    data, _ = export(200)
    f = tmp_path / "u.ndjson"
    f.write_bytes(data)
    args = ["parse", "--source", "unified", "--signatures", str(SIGS), str(f)]
    as_csv = csv_rows(rig(*args, cwd=tmp_path).stdout)
    as_json = json.loads(rig(*args, "--format", "json", cwd=tmp_path).stdout)
    assert len(as_json) == len(as_csv) > 0
    assert [{k: str(v) for k, v in r.items()} for r in as_json] == as_csv


def test_the_streaming_command_never_imports_pandas(tmp_path):
    """Python plus pandas costs ~0.6 s before the first byte is read: a command that only
    streams rows must not pay it (benchmarks/ingest.py measures the whole command)."""
    data, _ = export(200)
    f = tmp_path / "u.ndjson"
    f.write_bytes(data)
    probe = ("import sys\nfrom rig.cli.main import main\nsys.argv = ['rig', 'parse', '--source', 'unified', "
             f"'--signatures', {str(SIGS)!r}, {str(f)!r}]\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('PANDAS' if 'pandas' in sys.modules else 'LEAN', file=sys.stderr)\n")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.stderr.strip().splitlines()[-1] == "LEAN", p.stderr


# ---- gateway ---------------------------------------------------------------------------------

def journald(lines: list[str]) -> str:
    t0 = datetime(2026, 11, 25, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    return "".join(f"{(t0 + timedelta(seconds=i / 4)).strftime('%Y-%m-%dT%H:%M:%S.%f%z')} gw "
                   f"{ln if ln.startswith('ocserv[') else 'ocserv[14860]: ' + ln}\n" for i, ln in enumerate(lines))


def test_gateway_log_maps_its_users_to_macs(tmp_path):
    f = tmp_path / "gw.log"
    f.write_text(journald(OCSERV.read_text().splitlines()[1:]))
    p = rig("parse", "--source", "gateway:ocserv", "--clients", "mac1=mbp-01", str(f), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    res = parse_gateway(f.read_text(), "gw", "ocserv", {"mac1": "mbp-01"})
    out = csv_rows(p.stdout)
    assert [(r["kind"], r["mac"], r["session"]) for r in out] == [
        (r["kind"], r["mac"], r["session"]) for r in res.rows if r["kind"] != Kind.OTHER.value]
    assert {r["kind"] for r in out} >= {"gw_session_start", "gw_dpd_timeout", "gw_session_end"}
    assert all(r["mac"] == "mbp-01" for r in out)
    assert [r["t"][:19] for r in out][0].startswith("2026-11-25T08:")     # +0100 -> UTC


def test_gateway_format_defaults_to_ocserv_and_untimed_lines_are_rejected_with_the_reason(tmp_path):
    f = tmp_path / "gw.log"
    f.write_text(OCSERV.read_text())             # foreground output: no timestamps
    p = rig("parse", "--source", "gateway", str(f), cwd=tmp_path)
    assert p.returncode == 0 and csv_rows(p.stdout) == []
    assert "rejected: no timestamp" in p.stderr


def test_jsonl_gateway_format_is_picked_after_the_colon(tmp_path):
    f = tmp_path / "gw.jsonl"
    f.write_text('{"ts": "2026-11-25T08:30:00.5+00:00", "event": "dpd_timeout", "user": "u1", "session": "S1"}\n')
    out = csv_rows(rig("parse", "--source", "gateway:jsonl", "--clients", "u1=mini-01", str(f),
                       cwd=tmp_path).stdout)
    assert [(r["kind"], r["mac"], r["t"]) for r in out] == [("gw_dpd_timeout", "mini-01",
                                                             "2026-11-25T08:30:00.5+00:00")]


# ---- errors ----------------------------------------------------------------------------------

def test_a_file_that_cannot_be_read_stops_the_command_before_any_output(tmp_path):
    ok = tmp_path / "ok.log"
    ok.write_text(PMSET.read_text())
    p = rig("parse", "--source", "pmset", str(ok), str(tmp_path / "missing.log"), cwd=tmp_path)
    assert p.returncode == 1
    assert p.stdout == ""
    assert f"cannot read {tmp_path / 'missing.log'}" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("args,message", [
    (["--source", "syslog"], "unknown source 'syslog'"),
    (["--source", "gateway:cisco"], "unknown gateway log format 'cisco'"),
    (["--source", "pmset:ocserv"], "takes no format"),
    (["--source", "gateway", "--clients", "mac1"], "is not USER=MAC"),
    (["--source", "pmset", "--signatures", str(SIGS)], "needs --source unified"),
])
def test_a_bad_option_is_a_usage_error_that_says_what_is_known(tmp_path, args, message):
    f = tmp_path / "x.log"
    f.write_text("")
    p = rig("parse", *args, str(f), cwd=tmp_path)
    assert p.returncode == 2 and message in p.stderr and p.stdout == ""


def test_a_bad_signature_file_is_a_usage_error_naming_the_rule(tmp_path):
    sig = tmp_path / "sig.toml"
    sig.write_text('[product]\nname = "P"\nsubsystems = ["a"]\n[[rule]]\nkind = "tunnel_upp"\nmessage = "x"\n')
    f = tmp_path / "u.ndjson"
    f.write_text("")
    p = rig("parse", "--source", "unified", "--signatures", str(sig), str(f), cwd=tmp_path)
    assert p.returncode == 2 and 'rule 1 (kind "tunnel_upp")' in p.stderr


# ---- times -----------------------------------------------------------------------------------

@pytest.mark.parametrize("t,utc", [
    ("2026-07-26T18:11:22.348728+12:00", "2026-07-26T06:11:22.348728+00:00"),
    ("2025-04-02T01:17:12+05:30", "2025-04-01T19:47:12+00:00"),
    ("2026-03-08T01:59:59-08:00", "2026-03-08T09:59:59+00:00"),
    ("2026-03-08T03:00:00-07:00", "2026-03-08T10:00:00+00:00"),      # the DST change of that night
    ("2026-12-31T23:30:00.123456789-01:00", "2027-01-01T00:30:00.123456789+00:00"),  # ns kept
    ("2026-11-25T08:30:00+00:00", "2026-11-25T08:30:00+00:00"),
])
def test_times_become_the_same_instant_in_utc(t, utc):
    assert utc_iso(t) == utc
    assert pd.Timestamp(t) == pd.Timestamp(utc)


@pytest.mark.parametrize("t", ["2026-02-30T10:00:00+01:00", "2026-02-30T10:00:00+00:00", "2026-07-26T18:11:60+00:00",
                               "2026-07-26T18:11:22+24:00", "2026-07-26 18:11:22+12:00", "yesterday"])
def test_a_time_that_is_no_instant_raises(t):
    with pytest.raises(ValueError):
        utc_iso(t)


def regex_only_utc_iso(t: str) -> str:
    """The UTC rule stated once, by the regex (utc_iso's fast path must agree)."""
    if not parse_cli._T.match(t) or t[17:19] > "59":
        raise ValueError(t)
    return parse_cli._utc_minute(t[:16], t[-6:]) + t[16:-6] + "+00:00"


def outcome(f, t):
    try:
        return f(t)
    except ValueError:
        return ValueError


@settings(max_examples=500)
@given(st.lists(st.tuples(st.integers(0, 31), st.sampled_from(list("0123456789 -:.+T9Z٣x"))), max_size=3),
       st.integers(29, 34))
def test_the_utc_fast_path_agrees_with_the_regex(edits, length):
    t = list("2026-07-26T18:11:22.348728+12:00")
    for i, c in edits:
        t[min(i, len(t) - 1)] = c
    t = "".join(t)[:length].ljust(length, "0")
    assert outcome(utc_iso, t) == outcome(regex_only_utc_iso, t)


# ---- an export with odd parts, streamed in small blocks -----------------------------------------------------------------

def tricky_export() -> tuple[bytes, int, int]:
    """An export whose middle holds what a cut must not break: a window repeated (duplicates
    across the halves), odd lines, a pretty-printed record, powerd's lines. Also returns where
    the repeated window starts and ends."""
    data, _ = export(4000)
    lines = data.split(b"\n")
    mid = len(lines) // 2
    pretty = json.dumps({"subsystem": "com.example.twinproxy", "category": "tunnel", "bootUUID": "B",
                         "threadID": 9, "machTimestamp": 1, "timestamp": "2026-07-26 18:20:00.000001+1200",
                         "eventMessage": "Tunnel up session=PRETTY"}, indent=2).encode()
    powerd = orjson.dumps({"subsystem": "com.apple.powerd", "category": "sleepWake", "bootUUID": "B",
                           "threadID": 3, "machTimestamp": 5, "timestamp": "2026-07-26 18:21:00.5+1200",
                           "processImagePath": "/System/Library/CoreServices/powerd.bundle/powerd",
                           "eventMessage": "DarkWake from Normal Sleep [CDN] : due to EC.RTC/Maintenance"})
    odd = [b"log: oops", pretty, b"", powerd]
    again = lines[mid - 300:mid]                      # the last 300 records once more
    data = b"\n".join(lines[:mid] + odd + again + lines[mid:])
    start = len(b"\n".join(lines[:mid] + odd)) + 1
    return data, start, start + len(b"\n".join(again))


def test_an_export_with_odd_parts_streamed_in_small_blocks_gives_what_one_parse_gives(tmp_path, monkeypatch):
    data, again, again_end = tricky_export()
    f = tmp_path / "unified.ndjson"
    f.write_bytes(data)
    monkeypatch.setattr(parse_cli, "BLOCK", 1 << 16)
    one = parse_unified(data, "mbp-01", load_signatures(SIGS))
    with open(f, "rb") as fh:
        streamed = parse_cli.parse_unified_file(fh, "mbp-01", load_signatures(SIGS))
    assert one.duplicates >= 30 and one.rejected == 1
    assert streamed.counts() == one.counts()
    assert streamed.rows == one.rows


def test_the_csv_of_an_export_streamed_in_blocks_is_what_the_csv_module_writes_of_one_parse(tmp_path,
                                                                                            monkeypatch):
    """Streamed in small blocks, converted to UTC, sorted and written: byte for byte the csv
    module's rendering of one parse's rows in UTC."""
    data, _, _ = tricky_export()
    f = tmp_path / "unified.ndjson"
    f.write_bytes(data)
    monkeypatch.setattr(parse_cli, "BLOCK", 1 << 16)
    out, err = io.StringIO(), io.StringIO()
    out.buffer = io.BytesIO()
    assert parse_cli.run("unified", [str(f)], signatures=str(SIGS), host="mbp-01", with_other=True,
                         stdout=out, stderr=err) == 0
    rows = parse_unified(data, "mbp-01", load_signatures(SIGS)).rows
    for r in rows:
        r["t"] = utc_iso(r["t"])
    rows.sort(key=lambda r: r["t"])
    expected = io.StringIO()
    w = csv.writer(expected, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows([[r[c] for c in COLUMNS] for r in rows])
    assert len(rows) > 400 and out.getvalue() == expected.getvalue()


# ---- CSV output --------------------------------------------------------------------------------

CELL = st.one_of(st.text(alphabet=st.sampled_from(list('ab ,"\r\n\x00é\t;\'')), max_size=8),
                 st.none(), st.integers(-5, 5))


@settings(max_examples=300)
@given(st.lists(st.tuples(*[CELL] * (len(COLUMNS) - 1), st.one_of(st.integers(0, 10**6), CELL)),
                max_size=6))
def test_csv_output_is_exactly_what_the_csv_module_writes(values):
    rows = [dict(zip(COLUMNS, v)) for v in values]
    ours, theirs = io.StringIO(), io.StringIO()
    parse_cli.write_csv(rows, ours)
    w = csv.writer(theirs, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows([[r[c] for c in COLUMNS] for r in rows])
    assert ours.getvalue() == theirs.getvalue()
