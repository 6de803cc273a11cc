"""The run journal: append-only JSON lines, flushed and fsynced per record.

A cycle is written as ``unknown`` *before* anything is done to the Mac, so a controller killed
mid-cycle (SIGKILL, power loss) can never lose it: reading the journal back, a cycle with a start
and no end is ``unknown``. Reading tolerates a torn last line (counted, not fatal).
"""
from __future__ import annotations

import errno
import os
import threading
from enum import Enum
from pathlib import Path

import orjson

from rig.outcomes import RunFolderError


class Rec(str, Enum):
    """Every journal record type, once (a reader compares ``rec["type"]`` with these)."""

    CYCLE_START = "cycle_start"   # written before the Mac is touched: outcome unknown
    STEP = "step"                 # a step begins (between steps is where a stop takes effect)
    OFFSET = "offset"             # a clock offset measured (host, t, offset, rtt)
    BUILD = "build"               # the extension's installed line, as the Mac reported it
    PROBE_STARTED = "probe_started"
    ACTION = "action"             # what the rig did to the Mac (an anchor when it is the wake)
    RECOVERY = "recovery"         # a rung of the recovery ladder, its error or its success
    RECOVERY_ACTION = "recovery_action"
    WAKE_PACKET = "wake_packet"   # a Wake-on-LAN magic packet sent in the dwell (t; or its error)
    CYCLE_END = "cycle_end"       # the outcome and why
    CYCLE_PLAN = "cycle_plan"     # a sweep's per-cycle settings (fixtures)


#: Where a torn last record (power lost mid-append) is set aside when the journal is reopened.
TORN_SUFFIX = ".torn"


class JournalError(RunFolderError):
    """The journal could not take a record whole (a short write, a full disk): the run must stop
    rather than go on with a cycle it cannot remember."""


class Journal:
    """Appends are all-or-nothing as a reader sees them: a record is one ``write`` of a whole
    line, a short write is finished or refused, and a torn tail left by an earlier writer (a
    controller killed mid-append) is moved to ``<journal>.torn`` before the first new record,
    so a resumed run never glues its record onto a fragment."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.torn = repair_tail(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def append(self, record: dict) -> None:
        data = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        with self._lock:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self._fd, view)
                except OSError as e:
                    raise JournalError(e.errno, f"cannot append a record: {e.strerror}", str(self.path)) from e
                if n <= 0:
                    raise JournalError(errno.EIO, "a write took nothing (a short write)", str(self.path))
                view = view[n:]
            os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def repair_tail(path: Path) -> int:
    """Move an unterminated last line of ``path`` (a record torn by power loss) to
    ``<path>.torn``; the number of fragments set aside (0 or 1)."""
    try:
        with open(path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return 0
            f.seek(max(0, size - (1 << 20)))
            tail = f.read()
            cut = size - len(tail) + tail.rfind(b"\n") + 1 if b"\n" in tail else size - len(tail)
            f.seek(cut)
            fragment = f.read()
            with open(str(path) + TORN_SUFFIX, "ab") as aside:
                aside.write(fragment + b"\n")
                aside.flush()
                os.fsync(aside.fileno())
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
            return 1
    except FileNotFoundError:
        return 0


def read_journal(path: Path) -> tuple[list[dict], int]:
    """All records, plus the number of unreadable lines (torn, garbage, JSON that is no object),
    the torn ones set aside included."""
    records, bad = [], 0
    p = Path(path)
    aside = Path(str(p) + TORN_SUFFIX)
    if aside.exists():
        bad += sum(1 for ln in aside.read_bytes().splitlines() if ln.strip())
    if not p.exists():
        return [], bad
    for line in p.read_bytes().splitlines():
        if line.strip():
            bad += not _take(line, records)
    return records, bad


def _take(line: bytes, records: list[dict]) -> bool:
    """Append the record on ``line``; False when it is none (torn, garbage, JSON but no object)."""
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(rec, dict):
        return False
    records.append(rec)
    return True


#: Where writers that share a run folder keep their own journal (one file per Mac): parallel
#: pytest workers, each driving its own Macs, never append to one file from two processes.
PARTS_DIR = "journal.d"


def part_path(run_dir, writer: str) -> Path:
    """The journal file of one writer (a Mac) inside ``run_dir``."""
    return Path(run_dir) / PARTS_DIR / f"{writer}.jsonl"


def _lines(path: Path) -> list[bytes]:
    return [ln for ln in path.read_bytes().splitlines() if ln.strip()] if path.exists() else []


def _unmerged(run_dir: Path, merged: set[bytes]) -> list[bytes]:
    parts = sorted((run_dir / PARTS_DIR).glob("*.jsonl")) if (run_dir / PARTS_DIR).is_dir() else []
    return [ln for p in parts for ln in _lines(p) if ln not in merged]


def read_run_journal(run_dir) -> tuple[list[dict], int]:
    """A run folder's whole journal: ``journal.jsonl`` plus every part not merged into it yet.

    A part's line that is already in ``journal.jsonl`` (a merge that stopped before removing the
    part) is read once, so a replayed ``cycle_start`` can never reopen a finished cycle.
    """
    run_dir = Path(run_dir)
    main = _lines(run_dir / "journal.jsonl")
    records, bad = [], 0
    for line in main + _unmerged(run_dir, set(main)):
        bad += not _take(line, records)
    return records, bad


def merge_parts(run_dir) -> int:
    """Append the parts' records to ``journal.jsonl`` (fsynced), then remove the parts.

    Idempotent and safe to interrupt: lines already merged are skipped, and the parts are removed
    only after the journal is on disk. Returns the number of lines appended.
    """
    run_dir = Path(run_dir)
    journal = run_dir / "journal.jsonl"
    new = _unmerged(run_dir, set(_lines(journal)))
    if new:
        torn = journal.exists() and journal.stat().st_size and not journal.read_bytes().endswith(b"\n")
        fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (b"\n" if torn else b"") + b"".join(ln + b"\n" for ln in new))
            os.fsync(fd)
        finally:
            os.close(fd)
    if (run_dir / PARTS_DIR).is_dir():
        for p in (run_dir / PARTS_DIR).glob("*.jsonl"):
            p.unlink()
        if not any((run_dir / PARTS_DIR).iterdir()):
            (run_dir / PARTS_DIR).rmdir()
    return len(new)


def cycles_from_journal(records: list[dict]) -> dict[tuple[str, int], dict]:
    """The latest state of every cycle: (mac, cycle) -> merged start/end records.

    A cycle has a ``cycle_start`` record and, if it finished, a ``cycle_end`` record with its
    outcome; without the end it is ``unknown``.
    """
    out: dict[tuple[str, int], dict] = {}
    for r in records:
        kind = r.get("type")
        key = (r.get("mac"), r.get("cycle"))
        if kind == Rec.CYCLE_START:
            out[key] = {**r, "outcome": "unknown", "actions": [], "offsets": [], "wake_packets": []}
        elif key in out:
            c = out[key]
            if kind == Rec.CYCLE_END:
                c.update({k: v for k, v in r.items() if k not in ("type", "t")})
                c["t_end"] = r.get("t")
            elif kind == Rec.ACTION:
                c["actions"].append(r)
            elif kind == Rec.OFFSET:
                c["offsets"].append(r)
            elif kind == Rec.WAKE_PACKET:
                c["wake_packets"].append(r)
    return out

