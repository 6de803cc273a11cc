"""Mask secrets before anything reaches a shared file: the lab's ``redact`` regexes.

A match is replaced by ``[REDACTED]``. Applied in one place, :func:`rig.score.derive.score_run`
(and the per-cycle scoring of a live run), before any output is written: the events' text
columns (``detail``, ``session``, ``caps``: a token can sit in a field a signature extracted, not
only in the message), each cycle's reason, and every string of what the reports show
(``run.json``'s record of the run, the commands and installed lines of the provenance). The
report, summary, compare and trend pages then lay out data that is already masked.
"""
from __future__ import annotations

import re

import pandas as pd

MASK = "[REDACTED]"
#: The events' columns that carry a log's own words (the rest are checked names, kinds, stamps).
EVENT_TEXT = ("detail", "session", "caps")


class Redactor:
    def __init__(self, patterns):
        self.patterns = [re.compile(p) for p in patterns]

    def text(self, s: str) -> str:
        for p in self.patterns:
            s = p.sub(MASK, s)
        return s

    def series(self, s: pd.Series) -> pd.Series:
        for p in self.patterns:
            s = s.str.replace(p, MASK, regex=True)
        return s

    def mask(self, v, columns=None):
        """``v`` with every string inside it masked: text, dicts, lists and tuples (recursively)
        and a DataFrame's text columns (a copy; only ``columns`` when given: an events frame's
        names, kinds and stamps are checked at the source and need no regex pass); other values
        (numbers, analyses) as they are."""
        if not self.patterns:
            return v
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {k: self.mask(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(self.mask(x) for x in v)
        if isinstance(v, pd.DataFrame):
            out = v.copy()
            for c in (out.columns if columns is None else [c for c in columns if c in out.columns]):
                col = out[c]
                if not len(out) or not (col.dtype == object or pd.api.types.is_string_dtype(col)):
                    continue
                if pd.api.types.infer_dtype(col, skipna=False) == "string":
                    out[c] = self.series(out[c])        # vectorised: every cell is text
                else:
                    out[c] = out[c].map(lambda x: self.text(x) if isinstance(x, str) else x)
            return out
        return v


def masked_meta(meta: dict) -> tuple[Redactor, dict]:
    """A run's ``run.json`` as every output reads it: the lab's redactor, and the record with
    each string masked (its ``redact`` patterns kept as they are: they are the masks)."""
    red = Redactor(meta.get("redact", []))
    out = red.mask({k: v for k, v in meta.items() if k != "redact"})
    if "redact" in meta:
        out["redact"] = meta["redact"]
    return red, out
