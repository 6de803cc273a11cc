"""``rig parse``: look at a log the way the rig sees it, outside any run.

::

    rig parse --source pmset|unified|gateway[:ocserv|strongswan|jsonl] FILE... \\
              [--signatures F] [--format csv|json] [--host NAME] [--clients user=mac,...] [--other]

Prints the canonical events of the files (the columns of :data:`rig.events.COLUMNS`) on stdout,
in time order, and on stderr what became of every line: read, parsed, other, skipped, rejected
(with the first rejected line numbers), so a bad line is counted and reported, never lost. Exit
status 0 whenever the files could be read, however many lines were bad; 1 when a file cannot be
read; 2 for a bad option (unknown source or format, a bad signature file, a malformed
``--clients``).

Times: outside a run there is no offset to apply, so ``t`` is the source's own time converted
to UTC (``2026-07-26T06:11:22.348728+00:00``); ``t_raw`` is the stamp as the source wrote it.
Rows of kind ``other`` are counted but only printed with ``--other``. ``host`` is ``--host``,
else the file's name without its suffix. Several files are merged in time order; a row identical
to one of an earlier file (``pmset -g log`` dumps and ``log show`` windows overlap) is dropped
and counted as a duplicate.

Why this module exists apart from the parsers and the DataFrame: a night's unified log is about
a gigabyte. The file is never read whole: it is streamed through
:func:`~rig.parse.unified_log.parse_unified_stream` in 1 MB reads into one reused buffer (memory
stays flat, and the buffer stays in the CPU's cache), in one process and on one thread: a reader
thread filling a ring of blocks for the search made the scan 1.9x slower on a 2-core VM, the
blocks it wrote being slow to search from the other core (``benchmarks/reader_thread.py``).
Rows are written with the csv module and orjson, so the command never imports pandas (~0.6 s
of start-up on its own).
``benchmarks/ingest.py`` measures it against the time of merely reading the file and against
library engines (duckdb, polars, pyarrow, pandas).
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import IO, Iterator

import orjson

from rig.events import COLUMNS, Kind, ParseResult
from rig.parse.pmset import parse_pmset
from rig.parse.signatures import SignatureError, Signatures, load_signatures

SOURCES = ("pmset", "unified", "gateway")
#: Read size of the unified-log stream: one buffer, reused for every block, that fits the CPU's
#: L2 cache (measured on 760 MB: the scan over 1 MB reads costs a third of the scan over 64 MB
#: memory maps, whose pages come from DRAM); big enough that per-block work is negligible.
BLOCK = 1 << 20


class BadOption(ValueError):
    """An option the command cannot work with (exit status 2); the message says what to do."""


class CannotRead(OSError):
    """A file that cannot be read (exit status 1)."""


@dataclass
class FileResult:
    path: str
    result: ParseResult
    duplicates_across_files: int = 0
    bad_time: int = 0        # rows the parser kept whose time is not a real instant (rejected)


# ---- options ---------------------------------------------------------------------------------

def source_spec(spec: str) -> tuple[str, str]:
    """``gateway:strongswan`` -> (``gateway``, ``strongswan``); a gateway defaults to ocserv."""
    name, sep, fmt = spec.partition(":")
    if name == "unified" and not sep:
        return name, ""
    # imported only here: the gateway parsers cost start-up that `rig parse` of a night's
    # unified log need not pay
    from rig.parse.gateway_log import FORMATS

    if name not in SOURCES:
        raise BadOption(f"unknown source {spec!r} (known: pmset, unified, "
                        f"gateway[:{'|'.join(FORMATS)}])")
    if name != "gateway":
        if sep:
            raise BadOption(f"--source {name} takes no format (only gateway[:FORMAT] does)")
        return name, ""
    fmt = fmt or "ocserv"
    if fmt not in FORMATS:
        raise BadOption(f"unknown gateway log format {fmt!r} (known: {', '.join(FORMATS)})")
    return name, fmt


def clients_map(text: str) -> dict[str, str]:
    """``rig-mbp-01=mbp-01,rig-mini-01=mini-01`` -> {gateway user: Mac}."""
    out: dict[str, str] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        user, eq, mac = (s.strip() for s in item.partition("="))
        if not eq or not user or not mac:
            raise BadOption(f"--clients: {item!r} is not USER=MAC (e.g. rig-mbp-01=mbp-01)")
        out[user] = mac
    return out


# ---- times -----------------------------------------------------------------------------------

_T = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?[+-]\d\d:\d\d\Z", re.ASCII)
_T_MINUTE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d\Z", re.ASCII)
_T_OFFSET = re.compile(r"[+-]\d\d:\d\d\Z", re.ASCII)


def utc_iso(t: str) -> str:
    """``2026-07-26T18:11:22.348728+12:00`` -> ``2026-07-26T06:11:22.348728+00:00``.

    Offsets are whole minutes, so only the date, hour and minute change: they are converted once
    per (minute, offset) and the seconds and fraction (up to ns) are copied as written. Raises
    ``ValueError`` for a stamp that is not a real instant. The shape the parsers write (µs) takes
    a path of slices (this runs once per row of a night's log); others go through the regex.
    """
    if (len(t) == 32 and t[19] == "." and t[16] == ":" and t.isascii() and t[17:19].isdigit()
            and t[20:26].isdigit() and t[17:19] <= "59"):
        return _utc_minute(t[:16], t[26:]) + t[16:26] + "+00:00"
    if not _T.match(t) or t[17:19] > "59":
        raise ValueError(f"not an ISO-8601 time with an offset: {t!r}")
    return _utc_minute(t[:16], t[-6:]) + t[16:-6] + "+00:00"


@lru_cache(maxsize=4096)
def _utc_minute(minute: str, off: str) -> str:
    """The UTC minute of a local minute and its offset (``ValueError`` for a date that is none)."""
    if not _T_MINUTE.match(minute) or not _T_OFFSET.match(off):
        raise ValueError(f"not a minute and a UTC offset: {minute!r} {off!r}")
    sign = 1 if off[0] == "+" else -1
    if off[1:3] > "23" or off[4:6] > "59":
        raise ValueError(f"not a UTC offset: {off!r}")
    shift = timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
    return (datetime.fromisoformat(minute) - sign * shift).isoformat(timespec="minutes")


# ---- reading ---------------------------------------------------------------------------------

def _refills(fill, size: int) -> Iterator[bytes | bytearray]:
    """Blocks of one reused buffer, each refilled by ``fill(view) -> bytes written`` until it
    writes none (a fresh object per block costs page faults); a short block is copied out, so
    only a full one is the buffer itself."""
    buf = bytearray(size)
    view = memoryview(buf)
    while n := fill(view):
        yield buf if n == size else bytes(view[:n])


def blocks(f: IO[bytes], size: int | None = None) -> Iterator[bytes | bytearray]:
    """The file in blocks from where it stands, read into one reused buffer."""
    return _refills(f.readinto, size or BLOCK)


def parse_unified_file(f: IO[bytes], host: str, signatures: Signatures | None) -> ParseResult:
    """A unified-log export streamed in :data:`BLOCK` reads (a file, a pipe or ``/dev/stdin``)."""
    from rig.parse.unified_log import parse_unified_stream   # the other sources need none of it

    return parse_unified_stream(blocks(f), host, signatures)


def _open(path: str) -> IO[bytes]:
    try:
        f = open(path, "rb")
        if os.path.isdir(path):
            f.close()
            raise IsADirectoryError(21, "is a directory")
        return f
    except OSError as e:
        raise CannotRead(f"cannot read {path}: {e.strerror or e}") from None


def parse_file(path: str, source: str, fmt: str, host: str, signatures: Signatures | None,
               clients: dict[str, str]) -> FileResult:
    """One file through its parser (the only I/O of the command besides writing rows), its
    rows' times converted to UTC."""
    with _open(path) as f:
        try:
            if source == "unified":
                res = parse_unified_file(f, host, signatures)
                return FileResult(path, res, bad_time=rows_to_utc(res))
            text = f.read().decode("utf-8", "replace")
        except OSError as e:
            raise CannotRead(f"cannot read {path}: {e.strerror or e}") from None
    if source == "pmset":
        res = parse_pmset(text, host)
    else:
        from rig.parse.gateway_log import parse_gateway
        res = parse_gateway(text, host, fmt, clients)
    return FileResult(path, res, bad_time=rows_to_utc(res))


def rows_to_utc(res: ParseResult) -> int:
    """Convert every row's ``t`` to UTC in place (:func:`utc_iso`). A row whose time is not a
    real instant is taken out and its line rejected; returns how many were."""
    bad = []
    for i, r in enumerate(res.rows):
        try:
            r["t"] = utc_iso(r["t"])
        except ValueError:   # the parser let through a time that is no instant: reject it
            bad.append(i)
    for i in reversed(bad):
        r = res.rows.pop(i)
        _uncount(res, r)
        res.reject(r["line"])
    return len(bad)


def parse_files(paths: list[str], source: str, fmt: str, *, host: str | None = None,
                signatures: Signatures | None = None, clients: dict[str, str] | None = None,
                with_other: bool = False) -> tuple[list[dict], list[FileResult]]:
    """Parse every file; rows in UTC time order (``t`` converted), and what became of each file.

    Every file is opened first, so an unreadable one stops the command before any output.
    Counts stay whole: ``read == parsed + other + skipped + rejected + duplicates`` per file.
    """
    for p in paths:
        _open(p).close()
    rows: list[dict] = []
    seen: set = set()
    results = []
    other = Kind.OTHER.value
    for i, p in enumerate(paths):
        fr = parse_file(p, source, fmt, host or Path(p).stem, signatures, clients or {})
        res = fr.result
        for r in res.rows:
            if len(paths) > 1:
                key = (r["t_raw"], r["host"], r["source"], r["kind"], r["session"], r["detail"])
                if i and key in seen:
                    _uncount(res, r)
                    res.duplicates += 1
                    fr.duplicates_across_files += 1
                    continue
                seen.add(key)
            if r["kind"] != other or with_other:
                rows.append(r)
        results.append(fr)
    rows.sort(key=itemgetter("t"))
    return rows, results


def _uncount(res: ParseResult, r: dict) -> None:
    """Take a row out of the bucket its parser counted it in (it is re-counted elsewhere)."""
    if r["kind"] == Kind.OTHER.value:
        res.other -= 1
    else:
        res.parsed -= 1


# ---- writing ---------------------------------------------------------------------------------

def write_csv(rows: list[dict], out: IO[str]) -> None:
    """CSV with a header, by the csv module (minimal quoting, ``\n``), in one C-level call."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows(map(itemgetter(*COLUMNS), rows))


def write_json(rows: list[dict], out: IO[bytes]) -> None:
    """A JSON array with one event a line: valid JSON for any reader, still greppable."""
    out.write(b"[")
    sep = b"\n"
    for r in rows:
        out.write(sep)
        out.write(orjson.dumps({c: r[c] for c in COLUMNS}))
        sep = b",\n"
    out.write(b"\n]\n")


def summary(fr: FileResult) -> list[str]:
    """What became of every line of one file, for stderr."""
    res = fr.result
    parts = [f"read {res.read}", f"parsed {res.parsed}", f"other {res.other}", f"skipped {res.skipped}",
             f"rejected {res.rejected}"]
    if res.duplicates:
        parts.append(f"duplicates {res.duplicates}")
    out = [f"{fr.path}: " + ", ".join(parts)]
    first = sorted(res.rejected_lines)
    if first:
        more = f" (first {len(first)} of {res.rejected})" if res.rejected > len(first) else ""
        out.append(f"{fr.path}: rejected lines {', '.join(map(str, first))}{more}")
    if getattr(res, "reject_reasons", None):     # a gateway parser says why it rejected
        for reason, n in res.reject_reasons.most_common():
            out.append(f"{fr.path}: {n} rejected: {reason}")
    if fr.bad_time:
        out.append(f"{fr.path}: {fr.bad_time} rejected: time is not a real instant")
    return out


def run(source: str, paths: list[str], *, signatures: str | None = None, out_format: str = "csv",
        host: str | None = None, clients: str = "", with_other: bool = False,
        stdout: IO[str], stderr: IO[str]) -> int:
    """The whole command; raises :class:`BadOption` or :class:`CannotRead` before any output."""
    name, fmt = source_spec(source)
    client_map = clients_map(clients)
    if client_map and name != "gateway":
        raise BadOption("--clients maps gateway users to Macs: it needs --source gateway")
    sigs = None
    if signatures:
        if name != "unified":
            raise BadOption("--signatures maps unified-log records: it needs --source unified")
        try:
            sigs = load_signatures(signatures)
        except SignatureError as e:
            raise BadOption(str(e)) from None
        except OSError as e:
            raise BadOption(f"--signatures: cannot read {signatures}: {e.strerror or e}") from None
    rows, results = parse_files(list(paths), name, fmt, host=host, signatures=sigs, clients=client_map,
                                with_other=with_other)
    try:
        if out_format == "json":
            stdout.flush()
            write_json(rows, stdout.buffer)
            stdout.buffer.flush()
        else:
            write_csv(rows, stdout)
            stdout.flush()
    except BrokenPipeError:
        # the reader went away (``rig parse … | head``): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
    for fr in results:
        for line in summary(fr):
            print(f"rig parse: {line}", file=stderr)
    if name == "unified" and sigs is None:
        print("rig parse: no --signatures: only powerd's power lines are recognised; "
              "the extension's records count as other", file=stderr)
    if len(results) > 1:
        print(f"rig parse: {len(rows)} events from {len(results)} files", file=stderr)
    return 0
