"""The byte prefilter under the unified-log parser: which lines of a ~1 MB segment need a look.

A night's unified log is about a gigabyte of which ~5 % matters. :func:`clean_lines` answers,
for one segment of whole lines:

- whether every line is one JSON object (``{…}``): if not, the caller walks the segment line by
  line (pretty records, preamble lines, bad lines);
- whether every line opens like the first one (``{"key":X``, ``X`` no blank), as ``log`` writes
  its ndjson, the first one being no short line: only then can ``"subsystem":"NAME"`` stand
  for a record of NAME (*compact*);
- how many lines there are, and which lines (index, start, end) hold one of the needles (the
  compact ones when the segment is compact, the bare ones when not) or, outside a compact
  segment, are shorter than ``short`` bytes (a footer, a stray ``{garbage}``).

How, with the standard library only: the newlines are found by ``bytes.find`` (``memchr``) in a
loop, the boundaries checked by one ``map`` of ``startswith`` over them, the needles searched
with ``bytes.find`` (a final ``"`` left off the search, the whole needle checked at each hit) and
placed on their lines by ``bisect``. Measured on a 760 MB export with the segment in the CPU's
cache: the newline loop costs ~0.14 s and the boundary check ~0.06 s, where ``bytes.count`` of
the newlines alone costs ~0.20 s (it compares byte by byte; ``memchr`` does not) and of the
boundary ~0.20 s; the two needles ~0.23 s. A compiled scanner would save most of the first two
and cost a C compiler in every set-up (``benchmarks/ingest.py`` prints the whole command beside
duckdb, polars, pyarrow and pandas).
"""
from __future__ import annotations

from bisect import bisect_left
from itertools import repeat

__all__ = ["clean_lines", "edge_styles"]

_BLANKS = (b" ", b"\t", b"\r")     # JSON whitespace a writer may put after a colon


def clean_lines(block, lo: int, hi: int, compact_needles: tuple[bytes, ...],
                needles: tuple[bytes, ...], short: int):
    """``None`` for a segment that is not all JSON-object lines, else ``(count, compact, hits)``.

    ``block[lo:hi]`` (``bytes`` or ``bytearray``) must be whole lines (``hi`` just after a
    newline). ``hits`` is a list of ``(index, start, end)`` in line order, ``end`` being the
    position of the line's newline.
    """
    if hi - lo < 3 or block[lo] != 0x7B or block[hi - 2] != 0x7D or block[hi - 1] != 0x0A:
        return None
    lasts = _last_bytes(block, lo, hi)
    inner = lasts[:-1]
    boundary = _boundary(block, lo, hi)
    if (boundary is not None and lasts[0] + 1 - lo >= short
            and all(map(block.startswith, repeat(boundary), inner))):
        # every line is a record as `log` writes them, found by "subsystem":"NAME"; a short
        # line opening like the (long) first one is no footer, and its fate is a long one's
        return len(lasts), True, _hits(lo, lasts, _line_indices(block, lo, hi, compact_needles, lasts))
    if not all(map(block.startswith, repeat(b"}\n{"), inner)):
        return None
    indices = _line_indices(block, lo, hi, needles, lasts)
    if short > 0:
        starts = [lo, *(i + 2 for i in inner)]
        indices.update(i for i, (a, z) in enumerate(zip(starts, lasts)) if z + 1 - a < short)
    return len(lasts), False, _hits(lo, lasts, indices)


def _last_bytes(block, lo: int, hi: int) -> list[int]:
    """The position of each line's last byte (just before its newline): ``memchr`` per line is
    faster than one ``bytes.count`` pass, and gives the positions too. ``block[hi - 1]`` is a
    newline, so the search needs no end bound and stops there; the loop is kept to one
    expression a line, its cost being the interpreter's, not the search's."""
    find = block.find
    j = find(b"\n", lo, hi) - 1
    lasts = [j]
    append = lasts.append
    end = hi - 2
    while j != end:
        append(j := find(b"\n", j + 2) - 1)
    return lasts


def _boundary(block, lo: int, hi: int) -> bytes | None:
    """``}\\n{"key":X``: a line's end and the next line's start, where the first line opens
    ``{"key":X`` with ``X`` no blank, as in ``log``'s compact ndjson. Found after every line but
    the last, it proves at once that every line ends with a brace and opens like the first."""
    colon = block.find(b'":', lo, min(lo + 64, hi))
    if colon < 0 or block[lo + 1] != 0x22 or colon + 3 >= hi:
        return None
    head = bytes(block[lo:colon + 3])
    if head[-1:] in _BLANKS or head[-1:] == b"\n":
        return None
    return b"}\n" + head


def _line_indices(block, lo: int, hi: int, needles: tuple[bytes, ...], lasts: list[int]) -> set[int]:
    """The index of every line that holds a needle (after a hit, the search goes on at the next
    line).

    A needle that ends with ``"`` is searched without it, and a hit checked for the whole
    needle: the search looks at the last byte of each window first, and ``"`` is the commonest
    byte of JSON, so without it fewer windows need a second look (~10 % faster)."""
    find = block.find
    startswith = block.startswith
    out: set[int] = set()
    for needle in needles:
        probe = needle[:-1] if len(needle) > 2 and needle.endswith(b'"') else needle
        k = find(probe, lo, hi)
        while k >= 0:
            if probe is needle or startswith(needle, k, hi):
                i = bisect_left(lasts, k)
                out.add(i)
                k = find(probe, lasts[i] + 2, hi)
            else:
                k = find(probe, k + 1, hi)
    return out


def _hits(lo: int, lasts: list[int], indices) -> list[tuple[int, int, int]]:
    """``(index, start, end)`` of the given lines, in order."""
    return [(i, lasts[i - 1] + 2 if i else lo, lasts[i] + 1) for i in sorted(indices)]


def edge_styles(block, lo: int, hi: int, key: bytes) -> frozenset[bytes] | None:
    """How the first and last lines of ``block[lo:hi]`` write the path after ``key`` (e.g.
    ``"processImagePath":"``): ``{b"\\/"}`` (escaped, as ``log`` writes), ``{b"/"}`` (plain, as
    jq writes), both when the two lines differ, or None when either line has no such path.
    Two looks per segment instead of one per line: the lines between are trusted to be written
    like the edges, as :func:`clean_lines` trusts them to open like the first."""
    first = block.find(b"\n", lo, hi)
    last = max(block.rfind(b"\n", lo, hi - 1) + 1, lo)
    styles = frozenset((_path_style(block, lo, first, key), _path_style(block, last, hi, key)))
    return None if None in styles else styles


def _path_style(block, lo: int, hi: int, key: bytes) -> bytes | None:
    i = block.find(key, lo, hi)
    if i < 0:
        return None
    i += len(key)
    if block.startswith(b"\\/", i):
        return b"\\/"
    return b"/" if block.startswith(b"/", i) else None
