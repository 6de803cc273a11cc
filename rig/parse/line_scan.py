"""The byte scan under the unified-log parser: which lines of a ~1 MB segment need a look.

A night's unified log is about a gigabyte of which ~5 % matters. :func:`clean_lines` answers,
for one segment of whole lines, without a Python-level loop over its lines:

- whether every line is one compact JSON object (``{…}``, at least two bytes): if not, the
  caller walks the segment line by line (pretty records, preamble lines, bad lines);
- whether every line opens like the first one (``{"key":`` and no blank after the colon), as
  ``log`` writes its ndjson: only then can ``"subsystem":"NAME"`` stand for a record of NAME;
- how many lines there are, and which lines (index, start, end) hold one of the needles (the
  compact ones when the segment is compact, the bare ones when not) or are shorter than ``short``
  bytes (the ``{"count":N,"finished":1}`` footer).

Two implementations give the same answer for every input (tests compare them): the C extension
``rig._lines`` (built with the package where a C compiler is at hand; two passes over a segment
held in the CPU's cache, ~0.35 s of CPU per 760 MB) and numpy plus ``bytes.find`` (four passes,
~1 s). :data:`NATIVE` says which one runs; ``RIG_PURE_SCAN=1`` forces the numpy one.
"""
from __future__ import annotations

import os

__all__ = ["NATIVE", "clean_lines", "clean_lines_numpy"]

_BLANK = b" \t\r"     # JSON whitespace within a line


def clean_lines_numpy(block, lo: int, hi: int, compact_needles: tuple[bytes, ...],
                      needles: tuple[bytes, ...], short: int):
    """:func:`clean_lines` with numpy and ``bytes.find`` (the fallback; see the module doc).

    ``block[lo:hi]`` must be whole lines (``hi`` just after a newline). Returns None, or
    ``(count, compact, hits)`` with ``hits`` a list of ``(index, start, end)``, ``end`` being the
    position of the line's newline.
    """
    import numpy as np       # imported here: the native scan needs no numpy at start-up

    a = np.frombuffer(block, dtype=np.uint8, count=hi)
    nl = np.flatnonzero(a[lo:hi] == 0x0A)
    nl += lo
    starts = np.empty_like(nl)
    starts[0] = lo
    starts[1:] = nl[:-1] + 1
    if not ((a[starts] == 0x7B).all() and (a[nl - 1] == 0x7D).all() and (nl - starts >= 2).all()):
        return None
    compact = _compact(block, a, starts, nl, hi)
    find = block.find
    hit_pos = []
    for needle in compact_needles if compact else needles:
        k = find(needle, lo, hi)
        while k >= 0:
            hit_pos.append(k)
            k = find(needle, find(b"\n", k, hi), hi)
    idx = np.union1d(np.searchsorted(nl, hit_pos), np.flatnonzero(nl - starts < short))
    hits = list(zip(idx.tolist(), starts[idx].tolist(), nl[idx].tolist()))
    return len(nl), compact, hits


def _compact(block, a, starts, nl, hi: int) -> bool:
    """Whether every line (starting at ``starts``, ending at ``nl``) opens with the first line's
    ``{"key":`` followed by no blank: one small gather per segment, not a pass over its bytes."""
    import numpy as np

    lo = int(starts[0])
    colon = block.find(b'":', lo, min(lo + 64, hi))
    if colon < 0 or block[lo + 1:lo + 2] != b'"':
        return False
    width = colon + 2 - lo                      # '{"key":'
    if not (nl - starts > width).all():
        return False
    head = a[starts[:, None] + np.arange(width + 1)]
    pattern = a[lo:lo + width]
    return bool((head[:, :width] == pattern).all()
                and not np.isin(head[:, width], np.frombuffer(_BLANK, dtype=np.uint8)).any())


def _native():
    if os.environ.get("RIG_PURE_SCAN") == "1":
        return None
    try:
        from rig import _lines
    except ImportError:      # built without a C compiler: the numpy scan does the same
        return None
    return _lines.clean_lines


NATIVE = _native() is not None
clean_lines = _native() or clean_lines_numpy
