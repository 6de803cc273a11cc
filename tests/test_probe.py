"""The probe's lines become probe_ok / probe_fail events; bad lines are counted, never fatal."""
import shlex

import pytest
from rig.events import Kind
from rig.drive.probe import MARKER, parse_probe, start_line


def test_probe_lines_become_events_at_their_end_time():
    res = parse_probe("1795597000.100 1795597000.350 ok\n1795597002.400 1795597005.400 fail\n", "mbp-01")
    assert [r["kind"] for r in res.rows] == [Kind.PROBE_OK.value, Kind.PROBE_FAIL.value]
    assert res.rows[0]["t"].startswith("2026-11-25T") and res.rows[0]["t"].endswith("+00:00")
    assert res.rows[0]["t_raw"] == "1795597000.350"
    assert res.parsed == 2 and res.rejected == 0


def test_bad_probe_lines_are_rejected_with_their_line_numbers():
    res = parse_probe("1795597000.1 1795597000.3 ok\ngarbage\n1.0 x ok\n\n", "m")
    assert res.parsed == 1 and res.rejected == 2 and res.rejected_lines == [2, 3] and res.skipped == 1
    assert res.read == res.parsed + res.rejected + res.skipped


def test_the_start_line_quotes_the_url_so_a_hostile_url_stays_one_argument():
    url = "https://canary.example/x;rm -rf /"
    argv = shlex.split(start_line(url).removesuffix(" >/dev/null 2>&1 &"))
    assert argv[argv.index(MARKER) + 1] == url


@pytest.mark.parametrize("bad", ["inf 1795640405.2 ok", "1795640405.0 nan ok", "1795640405.0 1e12 ok",
                                 "-5 1795640405.2 fail", "1795640405.0 10795640405.041 ok"])
def test_a_reading_no_clock_writes_is_rejected_not_a_crash_later(bad):
    res = parse_probe("1795640405.000 1795640405.041 ok\n" + bad + "\n", "mac")
    assert (res.parsed, res.rejected_lines) == (1, [2])
