"""Mask secrets before anything reaches a shared file: the lab's ``redact`` regexes.

A match is replaced by ``[REDACTED]``; applied to every log string (``detail``) when events are
derived, so neither events.parquet nor a report can leak a token a log line happened to carry.
"""
from __future__ import annotations

import re

import pandas as pd

MASK = "[REDACTED]"


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
