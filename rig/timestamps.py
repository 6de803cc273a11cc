"""Instants as the rig writes them: one place for epoch seconds <-> text and nanoseconds.

The controller keeps instants as epoch seconds (floats) on its clock; files want text. Each form
below has one writer, so a journal record, ``run.json`` and a parsed row that mean the same
instant are spelled the same way (and round the same way: a controller row and a parsed row at
one instant must compare equal in nanoseconds).
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from functools import lru_cache


def utc_seconds(epoch: float) -> str:
    """``2026-11-25T21:00:05+00:00``: run.json's ``started``/``finished`` (whole seconds)."""
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def utc_micro(epoch: float) -> str:
    """``2026-11-25T21:00:05.123456+00:00``: a journal record's ``utc`` (µs, no pandas)."""
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def utc_exact(epoch: float) -> str:
    """The instant as ISO text with all its digits (a controller row's ``t``)."""
    import pandas as pd  # here, not at the top: ``rig parse`` never loads pandas

    return pd.Timestamp(epoch, unit="s", tz="UTC").isoformat()


def epoch_ns(epoch: float) -> int:
    """An epoch instant as ns, rounded exactly as :func:`utc_exact` rounds it."""
    import pandas as pd

    return pd.Timestamp(epoch, unit="s", tz="UTC").value


def log_show_time(epoch: float) -> str:
    """``log show --start`` form with an explicit offset, so the Mac's time zone never matters."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S+0000")


#: Epoch seconds of the instants every parser accepts (1970-01-01 up to the end of 2261, inside
#: ``datetime64[ns]``): the same bounds as :func:`valid_date`.
EPOCH_MAX = 9_214_646_400.0   # 2262-01-01T00:00:00Z


def valid_epoch(epoch: float) -> bool:
    """An epoch-seconds reading a clock can have written (finite, 1970…2261)."""
    return 0.0 <= epoch < EPOCH_MAX


@lru_cache(maxsize=4096)
def valid_date(d: str) -> bool:
    """``YYYY-MM-DD`` is a real calendar date inside what ``datetime64[ns]`` can hold
    (1970…2261): every parser refuses the same impossible stamps (month 13, 30 February)."""
    try:
        year = int(d[0:4])
        if not 1970 <= year <= 2261:
            return False
        date(year, int(d[5:7]), int(d[8:10]))
    except ValueError:
        return False
    return True


# ---- the unified log's stamps ----------------------------------------------------------------

_MINUTE = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d)\Z", re.ASCII)
_OFFSET = re.compile(r"[+-]\d{4}\Z", re.ASCII)
_TS = re.compile(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d{1,9})?)([+-]\d\d):?(\d\d)\Z",
                 re.ASCII)


def iso_timestamp(ts: str) -> str | None:
    """``2026-07-26 18:11:22.348728+1200`` -> ``2026-07-26T18:11:22.348728+12:00``; None if not one.

    This runs once per kept record: the shape ``log`` writes (µs, ``+HHMM``) takes a path of
    slices and one cached check per minute; any other shape goes through the regex.
    """
    if len(ts) == 31 and ts[19] == "." and ts[16] == ":" and ts.isascii():
        sec = ts[17:26]
        head = _minute_iso(ts[:16], ts[26:])
        if head is not None and sec[:2].isdigit() and sec[3:].isdigit():
            return None if sec[:2] > "59" else f"{head[0]}:{sec}{head[1]}"
    m = _TS.match(ts)
    if m is None or m[2][6:8] > "59" or not _valid_minute(m[1], m[2][:5], m[3], m[4]):
        return None   # a stamp no clock writes (month 13, 25:00): rejected, not a silent NaT
    return f"{m[1]}T{m[2]}{m[3]}:{m[4]}"


@lru_cache(maxsize=4096)
def _minute_iso(minute: str, off: str) -> tuple[str, str] | None:
    """``("2026-07-26 18:11", "+1200")`` -> ``("2026-07-26T18:11", "+12:00")`` if both are real."""
    m = _MINUTE.match(minute)
    if m is None or _OFFSET.match(off) is None or not _valid_minute(m[1], m[2], off[:3], off[3:]):
        return None
    return f"{m[1]}T{m[2]}", f"{off[:3]}:{off[3:]}"


@lru_cache(maxsize=4096)
def _valid_minute(day: str, hh_mm: str, off_h: str, off_m: str) -> bool:
    """Date, hour, minute and offset of a stamp are real (checked once per minute of a log)."""
    return valid_date(day) and hh_mm[:2] <= "23" and hh_mm[3:] <= "59" and off_h[1:] <= "23" \
        and off_m <= "59"
