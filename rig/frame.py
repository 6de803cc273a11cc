"""Rows to a typed events DataFrame, once per input.

Timestamps are converted as a whole column (``pd.to_datetime(..., utc=True)``), never per row:
per-row parsing is ~40x slower, and ``utc=True`` is what lets a night that crosses a DST change
(two offsets in one dump) land on one UTC axis.
"""
from __future__ import annotations

import pandas as pd

from rig.events import COLUMNS

_STR_COLUMNS = ("t_raw", "host", "mac", "source", "kind", "session", "detail", "caps")


def empty_frame() -> pd.DataFrame:
    return to_frame([])


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Build the canonical frame; ``t`` may be ISO strings with offsets or already datetimes."""
    df = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    df["t"] = to_utc(df["t"])
    for col in _STR_COLUMNS:
        df[col] = df[col].fillna("").astype(str)
    df["line"] = pd.to_numeric(df["line"], errors="coerce").fillna(0).astype("int64")
    return df


def to_utc(col: pd.Series) -> pd.Series:
    """A column of ISO-8601 strings with offsets (or datetimes) as ``datetime64[ns, UTC]``."""
    if len(col) == 0:
        return pd.Series([], dtype="datetime64[ns, UTC]", index=col.index)
    if pd.api.types.is_datetime64_any_dtype(col):
        out = col if getattr(col.dt, "tz", None) is not None else col.dt.tz_localize("UTC")
        return out.dt.tz_convert("UTC").dt.as_unit("ns")
    out = pd.to_datetime(col, utc=True, format="ISO8601", errors="coerce")
    return out.dt.as_unit("ns")


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame()
    return pd.concat(frames, ignore_index=True).sort_values("t", kind="stable").reset_index(drop=True)
