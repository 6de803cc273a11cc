"""Parse ``log show`` output (the macOS unified log) into canonical rows (pure: bytes in, rows out).

Two styles are understood, also mixed in one input (concatenated windows):

- ``--style ndjson``: one JSON object per line, ended by a ``{"count":N,"finished":1}`` footer.
- ``--style json``: a pretty-printed array (``[{`` … ``},{`` … ``}]``), each record spanning many
  lines; top-level braces sit in column 0, everything inside a record is indented.

Either may be preceded by the tool's own non-JSON lines (``Filtering the log data using …``,
``Skipping info and debug messages …``): those are ``skipped``, as are blank lines, array
brackets, ``#`` comment lines (the samples' ``# SOURCE:`` lines) and the footer. Any other
non-JSON line (a default- or syslog-style line, a pasted shell prompt, a truncated last line of a
killed stream) is ``rejected`` with its line number. Nothing raises.

What becomes a row:

- records of the product's subsystems (:attr:`Signatures.watched_subsystems`) are matched with
  :meth:`Signatures.match`; a match gives its kind, ``session`` from the rule's named group, and
  ``detail`` = the ``reason`` group if the rule has one, else the eventMessage. A record that no
  rule matches is kept as a ``Kind.OTHER`` row (counted in ``other``). A rule's ``verdict``
  group (a ``wake_classified`` row: ``dark``/``full``) takes the place of ``reason`` in ``detail``.
- powerd's records (subsystem ``com.apple.powerd`` or ``powerd``, category ``sleepWake``, or
  process ``powerd``) whose message is a power sentence (``DarkWake from Normal Sleep [CDN] :
  due to XDCI/``) become power rows with µs time, classified by
  :func:`rig.parse.pmset.parse_power_message`; other powerd records are counted in ``other`` without a
  row, and a message that starts like a power sentence but does not follow its grammar is
  ``rejected``.
- everything else (≈95 % of a real export) is counted in ``other`` and not kept.

Speed: a line is parsed as JSON only if it contains one of a few byte strings (the watched
subsystems; powerd's image path ``powerd.bundle``, which every JSON key set of ``log`` carries
in ``processImagePath``, so powerd's records are found by it) or is shorter than any log record
(the footer); the rest is counted as ``other`` unparsed. In a compact segment powerd's records
are found by the whole ``"processImagePath":"…/powerd.bundle/powerd"``, written the way the
segment's first and last lines write "/" (``log`` escapes it; both forms when the two differ):
a long needle is searched about three times faster. Segments of about 1 MB whose every line
is ``{…}`` are not walked line by line: :func:`rig.parse.line_scan.clean_lines` finds their
candidate lines with ``bytes`` methods. When every line of a segment opens like ``log``'s compact
output, the product is searched as ``"subsystem":"NAME"``: faster, and blind to the ~7 % of a
real export where another subsystem's message mentions the product (in such a segment a short
line opens like a record, so it is no footer and is decoded only for a needle, like a long
one). Otherwise (a pretty record, a writer that puts spaces after colons) the bare name is
searched and a hit whose compact ``"subsystem":"…"`` names another subsystem is counted as
``other`` without decoding; after decoding, the subsystem is checked again.
:func:`parse_unified_stream` takes an iterator of byte blocks of any size (lines may be split
across blocks), so a caller can stream a huge export in fixed-size reads into one buffer;
:func:`parse_unified` runs the same core on one block.

Counting (``read == parsed + other + skipped + rejected + duplicates``): ``read`` counts *units*.
Outside a pretty-printed record a unit is a line (so for ndjson, ``read`` is the number of lines);
a whole pretty-printed ``--style json`` record is **one** unit however many lines it spans.
``duplicates`` counts records that would have made a row already made by an earlier record with
the same key (``bootUUID``, ``machTimestamp``, ``threadID``; without a ``bootUUID`` the key is
``timestamp``, ``machTimestamp``, ``threadID``, ``processID``, ``eventMessage``): overlapping
collection windows repeat records. Records that make no row are not de-duplicated.

Records are decoded with orjson (64-bit ints stay exact, e.g. a ``traceID`` above 2^53), falling
back to the stdlib for the rare record orjson refuses (bytes that are not UTF-8). ``t`` is the
record's ``timestamp`` rewritten as ISO-8601 (``2026-07-26 18:11:22.348728+1200`` ->
``2026-07-26T18:11:22.348728+12:00``) by string operations; ``t_raw`` is the timestamp as written.
A record that would make a row but has no usable ``timestamp`` is ``rejected``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

import orjson

from rig.events import Kind, ParseResult, Source
from rig.parse.line_scan import clean_lines, edge_styles
from rig.parse.pmset import parse_power_message
from rig.timestamps import iso_timestamp
from rig.parse.signatures import Signatures

__all__ = ["POWERD_SUBSYSTEM", "decode_record", "iso_timestamp", "parse_unified", "parse_unified_stream"]

_UNIFIED = Source.UNIFIED.value
_OTHER = Kind.OTHER
_VALUE = {k: k.value for k in Kind}     # Enum.value is a descriptor call; this runs per row
POWERD_SUBSYSTEM = "com.apple.powerd"
POWERD_CATEGORY = "sleepWake"
# default/syslog styles show powerd's records as [powerd:sleepWake]: accept either name
_POWERD_SUBSYSTEMS = frozenset({POWERD_SUBSYSTEM, "powerd"})
_POWERD_NEEDLE = b"powerd.bundle"
# powerd's own records carry its image path as processImagePath; `log` escapes "/" as "\/",
# a re-export through jq or orjson does not. A long needle is searched ~3x faster than a short
# one (CPython's search skips by the needle's length), and this search runs over every byte.
_IMAGE_KEY = b'"processImagePath":"'
_POWERD_PATH = b"/System/Library/CoreServices/powerd.bundle/powerd"
_POWERD_IMAGE = {b"\\/": _IMAGE_KEY + _POWERD_PATH.replace(b"/", b"\\/") + b'"',
                 b"/": _IMAGE_KEY + _POWERD_PATH + b'"'}
_SUBSYSTEM_KEY = b'"subsystem":"'
PRIVATE = "<private>"

#: Lines the ``log`` tool itself prints before (or between) its JSON output.
_PREAMBLE = (b"Filtering the log data", b"Skipping info and debug messages",
             b"Skipping debug messages")
_POWER_SENTENCE = ("Entering Sleep state", "Entering DarkWake state", "DarkWake from",
                   "DarkWake to FullWake", "Wake from")
# A pretty-printed record longer than this is not a log record: give up on it.
_MAX_RECORD_LINES = 10_000
# Clean ndjson is scanned in segments of about this many bytes.
_SEGMENT = 1 << 20
# Less than this many bytes of whole lines go line by line.
_SMALL = 1 << 16
# A JSON line shorter than this is always decoded: the footer is one; no log record is.
_SHORT = 64


def decode_record(data: bytes) -> object:
    """One JSON record as Python. Raises ``ValueError`` when not JSON.

    Integers up to 2^64-1 stay exact (``traceID`` is an unsigned 64-bit value, often above
    2^53). orjson refuses bytes that are not UTF-8; such a record is decoded again with the
    stdlib after replacing the bad bytes, so one bad byte in a message does not lose the record.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data.decode("utf-8", "replace"))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def parse_unified(data: bytes | str, host: str, signatures: Signatures | None) -> ParseResult:
    """Parse one whole ``log show`` output (ndjson or json style, see the module docstring)."""
    if isinstance(data, str):
        try:
            data = data.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            data = data.encode("utf-8", "replace")
    return parse_unified_stream((data,), host, signatures)


def parse_unified_stream(chunks: Iterable[bytes], host: str,
                         signatures: Signatures | None) -> ParseResult:
    """Parse ``log show`` output arriving as byte blocks of any size (e.g. ``f.read(1 << 20)``).

    Only one block plus one partial line is held at a time, so a 1 GB export streams in constant
    memory (apart from the rows kept). Blocks may be ``bytes`` or a ``bytearray`` that the
    caller refills after each block (``f.readinto(buf)``): nothing keeps a reference to a block.
    """
    core = _Core(host, signatures)
    carry: list[bytes] = []       # the start of a line split across blocks
    for chunk in chunks:
        if not chunk:
            continue
        if not isinstance(chunk, (bytes, bytearray)):
            chunk = bytes(chunk)        # a memoryview: no find(); the others are used in place
        last = chunk.rfind(b"\n")
        if last < 0:
            carry.append(bytes(chunk))  # a copy: the caller may refill a reused buffer
            continue
        start = 0
        if carry:  # complete the split line and parse it alone
            first = chunk.find(b"\n")
            carry.append(chunk[:first])
            core.feed_lines([b"".join(carry)])
            start = first + 1
        core.feed(chunk, start, last + 1)
        carry = [chunk[last + 1:]] if last + 1 < len(chunk) else []
    if carry:
        core.feed_lines([b"".join(carry)])
    core.finish()
    return core.res


class _Core:
    """The parsing state across blocks: line number, an open pretty record, seen keys."""

    def __init__(self, host: str, signatures: Signatures | None):
        self.host = host
        self.sig = signatures
        self.watched = frozenset(signatures.watched_subsystems) if signatures else frozenset()
        names = [s.encode("utf-8") for s in sorted(self.watched)]
        names += [n.replace(b"/", b"\\/") for n in names if b"/" in n]  # JSON may escape "/"
        # powerd's records are found by its image path, in every JSON key set of `log`
        # (".../CoreServices/powerd.bundle/powerd"): a long needle is searched twice as fast as
        # "powerd", and this search runs over every byte of a night's log
        needles = names + [_POWERD_NEEDLE]
        # hits whose compact "subsystem" value is one of these need decoding (see _worth_decoding)
        self.watched_raw = frozenset(names)
        # a subsystem name containing another needle would only add duplicate hits
        self.needles = tuple(dict.fromkeys(needles))
        # In compact ndjson (what `log` writes) a record of a watched subsystem holds the bytes
        # "subsystem":"NAME": a longer needle (searched faster) that never hits a mere mention
        # (another subsystem's message naming the product), so its hits need no second look.
        compact = [_SUBSYSTEM_KEY + n + b'"' for n in names]
        self.compact_needles = tuple(dict.fromkeys(compact + [_POWERD_NEEDLE]))
        # by how the segment's first and last lines write paths (see _compact_needles)
        self.compact_by_style = {
            frozenset([style]): tuple(dict.fromkeys(compact + [image]))
            for style, image in _POWERD_IMAGE.items()}
        self.compact_by_style[frozenset(_POWERD_IMAGE)] = tuple(dict.fromkeys(
            compact + list(_POWERD_IMAGE.values())))
        self.res = ParseResult()
        self.line_no = 0                  # lines consumed so far
        self.record: list[bytes] | None = None   # lines of an open pretty-printed record
        self.record_start = 0
        self.seen: set = set()            # de-duplication keys of the rows kept

    # ---- blocks ----------------------------------------------------------------------------

    def feed(self, block: bytes, lo: int, size: int) -> None:
        """The whole lines ``block[lo:size]`` (ending with ``\\n``), in segments of about 1 MB.

        A clean segment (every line ``{…}``, no pretty record open) is scanned by
        :func:`rig.parse.line_scan.clean_lines` without looking at its lines one by one in Python;
        any other segment goes line by line, so one odd line slows down only its own.
        """
        if size - lo < _SMALL:   # a few lines: not worth a scan call
            lines = block[lo:size].split(b"\n")
            lines.pop()
            self.feed_lines(lines)
            return
        while lo < size:
            hi = block.find(b"\n", min(lo + _SEGMENT, size - 1), size) + 1 or size
            if self.record is None:
                found = clean_lines(block, lo, hi, self._compact_needles(block, lo, hi),
                                    self.needles, _SHORT)
                if found is not None:
                    self._feed_clean(block, *found)
                    lo = hi
                    continue
            lines = block[lo:hi].split(b"\n")
            lines.pop()  # after the final newline
            self.feed_lines(lines)
            lo = hi

    def _compact_needles(self, block, lo: int, hi: int) -> tuple[bytes, ...]:
        """The needles of a compact segment ``block[lo:hi]``: powerd's records by their whole
        ``"processImagePath"`` when the segment's first and last lines both write that key, in
        the way they write "/" (escaped as ``log`` does, plain as jq does, or both when the two
        lines differ, as where two exports were joined); else by ``powerd.bundle`` anywhere.
        Like compact mode itself this trusts that the lines between are written alike."""
        styles = edge_styles(block, lo, hi, _IMAGE_KEY)
        return self.compact_needles if styles is None else self.compact_by_style[styles]

    def _feed_clean(self, block: bytes, count: int, compact: bool, hits: list) -> None:
        """Count the ``count`` lines of a clean segment and decode its candidate lines ``hits``
        (index, start, end): the lines a needle hits and the short ones (the footer; no log
        record is short). In a compact segment every hit is a watched record, powerd's image
        path or a short line; elsewhere a hit may be a mention of the product in another
        subsystem's line, which is counted as ``other`` without decoding.
        """
        res = self.res
        res.read += count
        res.other += count - len(hits)
        base = self.line_no + 1
        decode = self._decode
        if compact:
            for k, a0, b0 in hits:
                decode(block[a0:b0], base + k)
        else:
            worth = self._worth_decoding
            for k, a0, b0 in hits:
                if worth(block, a0, b0):
                    decode(block[a0:b0], base + k)
                else:
                    res.other += 1      # a mention of the product in another subsystem's line
        self.line_no += count

    def feed_lines(self, lines: list[bytes]) -> None:
        """The general path: one line at a time, through the pretty-record state machine."""
        res = self.res
        needles = self.needles
        for line in lines:
            self.line_no += 1
            no = self.line_no
            if self.record is not None:
                if self._in_record(line, no):
                    continue
            # one line outside a pretty record: one unit
            if line[:1] == b"{" and line[-1:] == b"}" and len(line) > 1:
                res.read += 1
                if len(line) < _SHORT or any(nd in line for nd in needles):
                    self._record(line, no)
                else:
                    res.other += 1
                continue
            s = line.strip()
            if s[:1] == b"[":
                s = s[1:].lstrip()
                if not s:
                    res.read += 1
                    res.skipped += 1
                    continue
            if s[:1] == b"{":
                if s == b"{":
                    self._open(no)
                    continue
                if s.endswith((b"}", b"},", b"}]")):
                    res.read += 1
                    body = s[: s.rindex(b"}") + 1]
                    if len(body) < _SHORT or any(nd in body for nd in needles):
                        self._record(body, no)
                    else:
                        res.other += 1
                    continue
                res.read += 1
                res.reject(no)  # a JSON line cut short (a killed stream)
                continue
            res.read += 1
            if not s or s in (b"]", b",") or s[:1] == b"#" or s.startswith(_PREAMBLE):
                res.skipped += 1
            else:
                res.reject(no)

    def finish(self) -> None:
        if self.record is not None:  # the input ended inside a pretty record
            self.record = None
            self.res.read += 1
            self.res.reject(self.record_start)

    # ---- pretty-printed records --------------------------------------------------------------

    def _open(self, no: int) -> None:
        self.record = [b"{"]
        self.record_start = no

    def _in_record(self, line: bytes, no: int) -> bool:
        """Feed one line to the open record; False when the line is not part of it."""
        head = line[:1]
        if head == b"}":                     # a top-level close: "}", "} ", "}]", "},{"
            self.record.append(b"}")
            data = b"\n".join(self.record)
            start = self.record_start
            self.record = None
            self.res.read += 1
            if len(data) < _SHORT or any(nd in data for nd in self.needles):
                self._record(data, start)
            else:
                self.res.other += 1
            rest = line[1:].strip().lstrip(b",").strip()
            if rest == b"{":
                self._open(no)
            elif rest not in (b"", b"]"):
                self.res.read += 1
                self.res.reject(no)
            return True
        if head in (b" ", b"\t") and len(self.record) < _MAX_RECORD_LINES:
            self.record.append(line)
            return True
        # a line in column 0 inside a record: the record was cut short; the line stands alone
        self.record = None
        self.res.read += 1
        self.res.reject(self.record_start)
        return False

    # ---- one record --------------------------------------------------------------------------

    def _record(self, data: bytes, no: int) -> None:
        """A candidate record of the line-by-line path (it contains a needle or is short);
        ``read`` is already counted."""
        if self._worth_decoding(data, 0, len(data)):
            self._decode(data, no)
        else:
            self.res.other += 1

    def _decode(self, data: bytes, no: int) -> None:
        """A record worth decoding: a row, or counted in ``other``, ``skipped`` or ``rejected``.

        This runs once per record of the product or powerd in a night's log (tens of thousands):
        it is written for speed (orjson first, exact types, positional calls, no helper calls
        on the usual path).
        """
        res = self.res
        try:
            rec = orjson.loads(data)
        except orjson.JSONDecodeError:
            try:
                rec = decode_record(data)
            except ValueError:
                res.reject(no)
                return
        if type(rec) is not dict:
            res.reject(no)
            return
        get = rec.get
        subsystem = get("subsystem")
        message = get("eventMessage")
        if type(message) is not str:
            message = ""
        if type(subsystem) is str and subsystem in self.watched:
            category = get("category")
            found = self.sig.match(subsystem, category if type(category) is str else "", message)
            if found is None:
                self._row(rec, no, _OTHER, "", message, "")
                return
            kind, groups = found
            session = groups.get("session", "")
            # a wake_classified row carries the build's own verdict (dark|full) as its detail
            reason = groups.get("verdict", groups.get("reason"))
            if session == PRIVATE:
                session = ""
            self._row(rec, no, kind, session, message if reason is None else reason, "")
            return
        if "finished" in rec and "eventMessage" not in rec and "timestamp" not in rec:
            res.skipped += 1   # the {"count":N,"finished":1} footer
            return
        if self._is_powerd(rec, subsystem):
            s = message.strip()
            if s.startswith(_POWER_SENTENCE):
                pl = parse_power_message(s)
                if pl is None:
                    res.reject(no)   # looks like a power sentence but is not one we know
                    return
                self._row(rec, no, pl.kind, "", s, pl.caps)
                return
        res.other += 1

    def _worth_decoding(self, data: bytes, lo: int, hi: int) -> bool:
        """False for a line (``data[lo:hi]``) that names another subsystem and is not powerd's.

        ``log`` writes ``"subsystem":"NAME"`` compactly; a needle hit elsewhere in such a line
        is a mention (``activated extension com.acme.proxy``). powerd's records are recognised
        by the same needle that found them (its image path). A line without that key (a pretty
        record, the footer, an odd line) is always decoded.
        """
        i = data.find(_SUBSYSTEM_KEY, lo, hi)
        if i < 0:
            return True
        i += len(_SUBSYSTEM_KEY)
        return (bytes(data[i:data.find(b'"', i, hi)]) in self.watched_raw
                or data.find(_POWERD_NEEDLE, lo, hi) >= 0)

    @staticmethod
    def _is_powerd(rec: dict, subsystem: object) -> bool:
        if (type(subsystem) is str and subsystem in _POWERD_SUBSYSTEMS) \
                or rec.get("category") == POWERD_CATEGORY:
            return True
        if rec.get("process") == "powerd":
            return True
        path = rec.get("processImagePath")
        return isinstance(path, str) and path.endswith("/powerd")

    def _row(self, rec: dict, no: int, kind: Kind, session: str, detail: str, caps: str) -> None:
        res = self.res
        get = rec.get
        ts = get("timestamp")
        t = iso_timestamp(ts) if type(ts) is str else None
        if t is None:
            res.reject(no)       # a record of interest without a usable time
            return
        boot, mach, thread = get("bootUUID"), get("machTimestamp"), get("threadID")
        if type(boot) is str and type(mach) is int and type(thread) is int:
            key = ("b", boot, mach, thread)       # the usual record: already hashable
        else:
            key = _key(rec, ts, boot, mach, thread)
        if key in self.seen:
            res.duplicates += 1
            return
        self.seen.add(key)
        # row() inlined (with the same keys): this runs once per kept record of a night's log
        res.rows.append({"t": t, "t_raw": ts, "host": self.host, "mac": self.host, "source": _UNIFIED,
                         "kind": _VALUE[kind], "session": session, "detail": detail, "caps": caps,
                         "line": no})
        if kind is _OTHER:
            res.other += 1
        else:
            res.parsed += 1



def _key(rec: dict, ts: str, boot: object, mach: object, thread: object) -> tuple:
    """The de-duplication key of a record whose ``bootUUID``, ``machTimestamp`` and ``threadID``
    are not the usual str, int, int (:meth:`_Core._row` builds the usual key itself)."""
    if boot is not None and mach is not None and thread is not None:
        return ("b", _h(boot), _h(mach), _h(thread))
    return ("t", ts, _h(mach), _h(thread), _h(rec.get("processID")), _h(rec.get("eventMessage")))


def _h(v: object) -> object:
    """A hashable stand-in for a JSON value (a record may hold a list where a number belongs)."""
    return v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)
