"""Writers for the real log formats the twin emits (the inverse of the rig's parsers).

Each writer takes a host-clock epoch time and the host's UTC offset and produces text exactly
as the real tool would: ``pmset -g log`` lines, ``log show --style ndjson`` records, and ocserv
lines as ``journalctl -o short-iso-precise`` prints them.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone



def _local(epoch: float, utc_offset_min: int) -> datetime:
    tz = timezone(timedelta(minutes=utc_offset_min))
    return datetime.fromtimestamp(epoch, tz)


def offset_text(utc_offset_min: int, colon: bool = False) -> str:
    sign = "+" if utc_offset_min >= 0 else "-"
    h, m = divmod(abs(utc_offset_min), 60)
    return f"{sign}{h:02d}:{m:02d}" if colon else f"{sign}{h:02d}{m:02d}"


def pmset_line(epoch: float, utc_offset_min: int, domain: str, message: str,
               duration_s: int | None = None) -> str:
    """``2026-11-25 08:30:00 -0800 Sleep               \\tEntering Sleep state … 6 secs``."""
    stamp = _local(int(epoch), utc_offset_min).strftime("%Y-%m-%d %H:%M:%S")
    tail = f" {duration_s} secs" if duration_s is not None else ""
    return f"{stamp} {offset_text(utc_offset_min)} {domain:<20}\t{message}{tail}"


def unified_timestamp(epoch: float, utc_offset_min: int) -> str:
    """``2026-07-26 18:11:22.348728+1200`` (µs, offset without colon)."""
    dt = _local(epoch, utc_offset_min)
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f") + offset_text(utc_offset_min)


def journal_line(epoch: float, utc_offset_min: int, hostname: str, ident: str, message: str) -> str:
    """``2026-11-25T08:30:00.123456+0000 gw ocserv[2101]: main[u]:10.0.0.1:5000 new user session``."""
    dt = _local(epoch, utc_offset_min)
    return f"{dt.strftime('%Y-%m-%dT%H:%M:%S.%f')}{offset_text(utc_offset_min)} {hostname} {ident}: {message}"


def parse_log_time(text: str, utc_offset_min: int) -> float:
    """``log show --start`` formats: ``YYYY-MM-DD HH:MM:SS`` (local) or with ``±ZZZZ``."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\s*([+-]\d{4}))?", text.strip())
    if not m:
        raise ValueError(f"log: Could not parse date: {text}")
    off = m.group(2)
    if off is None:
        sign = "+" if utc_offset_min >= 0 else "-"
        off = f"{sign}{abs(utc_offset_min) // 60:02d}{abs(utc_offset_min) % 60:02d}"
    return datetime.strptime(m.group(1) + off, "%Y-%m-%d %H:%M:%S%z").timestamp()
