"""The probe: a small loop on the Mac that requests a canary URL through the tunnel.

Time-to-tunnel as a user feels it is "when does a request get through again", not "when does the
extension say Connected" (an extension can report Connected while nothing passes). The probe
runs as a background shell loop on the Mac (``nohup``; it is frozen in sleep and carries on after
wake), appends one line per attempt to a file, and the rig fetches that file each cycle.

Line format (host clock, epoch seconds): ``<start> <end> ok|fail``; a line of another shape, or
with a reading no clock writes (``inf``, ``nan``, beyond 2261), is rejected with its number. Pure parsing here; starting
and fetching are argv lists the cycle runner sends over SSH.
"""
from __future__ import annotations

import shlex

from rig.events import Kind, ParseResult, Source, row
from rig.timestamps import utc_micro, valid_epoch

LOG_PATH = "rig-probe.log"  # in the login user's home (relative: SFTP and shell agree)
MARKER = "rig-probe"
# $1 url, $2 log file, $3 interval seconds; $0 is the marker (shows in ps, found by pgrep -f)
SCRIPT = ('while :; do s=$(perl -MTime::HiRes=time -e "printf q(%.3f), time"); '
          'if curl -fsS -m 3 -o /dev/null "$1"; then r=ok; else r=fail; fi; '
          'e=$(perl -MTime::HiRes=time -e "printf q(%.3f), time"); '
          'echo "$s $e $r" >> "$2"; sleep "$3"; done')


def running_argv() -> list[str]:
    return ["pgrep", "-f", MARKER]


def start_argv(url: str, interval_s: float = 2.0, log_path: str = LOG_PATH) -> list[str]:
    """The loop as one argv (every part quoted when sent); run it in the background."""
    return ["nohup", "/bin/sh", "-c", SCRIPT, MARKER, url, log_path, f"{interval_s:g}"]


def start_line(url: str, interval_s: float = 2.0, log_path: str = LOG_PATH) -> str:
    """The shell line that starts the loop in the background, detached from the SSH session."""
    return shlex.join(start_argv(url, interval_s, log_path)) + " >/dev/null 2>&1 &"


def fetch_argv(log_path: str = LOG_PATH) -> list[str]:
    return ["cat", log_path]


def parse_probe(text: str, host: str) -> ParseResult:
    res = ParseResult()
    for n, line in enumerate(text.splitlines(), start=1):
        res.read += 1
        parts = line.split()
        if not parts:
            res.skipped += 1
            continue
        try:
            if len(parts) != 3 or parts[2] not in ("ok", "fail"):
                raise ValueError(line)
            end = float(parts[1])
            if not (valid_epoch(float(parts[0])) and valid_epoch(end)):
                raise ValueError(line)  # inf, nan, a year no clock wrote
        except ValueError:
            res.reject(n)
            continue
        t = utc_micro(end)
        kind = Kind.PROBE_OK if parts[2] == "ok" else Kind.PROBE_FAIL
        res.rows.append(row(t, parts[1], host, Source.PROBE, kind, detail=line.strip(), line=n))
        res.parsed += 1
    return res
