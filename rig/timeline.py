"""One clock, power phases: the stage between parsed events and scores.

Every host writes its own clock. Offsets measured over SSH (host minus controller, see
``clock_offset.py``) are applied piecewise in time: a row uses the latest measurement taken at or
before it on that host's clock, and rows before the first measurement use the first. A clock
that steps after wake is handled because a new measurement is taken after every wake.

Power phases come from power events: ``sleep`` -> asleep, ``dark_wake`` -> dark, ``full_wake`` /
``dark_to_full`` -> full. powerd's µs lines (source ``unified``) are preferred to pmset's seconds
when the cycle has them.
"""
from __future__ import annotations

import pandas as pd

from .events import FULL_KINDS, POWER_KINDS, Kind


def offsets_frame(records: list[dict]) -> pd.DataFrame:
    """Journal ``offset`` records as a frame: host, t (controller, UTC), offset (s), rtt (s)."""
    rows = [(r["host"], r["t"], r["offset"], r["rtt"]) for r in records if r.get("type") == "offset"]
    df = pd.DataFrame(rows, columns=["host", "t", "offset", "rtt"])
    df["t"] = pd.to_datetime(df["t"], unit="s", utc=True).dt.as_unit("ns")
    return df


def correct(events: pd.DataFrame, offsets: pd.DataFrame) -> pd.DataFrame:
    """Move every row of a measured host onto the controller's clock (``t`` replaced in place).

    A host with no measurement keeps its own time and is reported by the caller.
    """
    if events.empty or offsets.empty:
        return events
    parts = []
    for host, rows in events.groupby("host", sort=False):
        offs = offsets[offsets["host"] == host]
        if offs.empty:
            parts.append(rows)
            continue
        offs = offs.assign(t_host=offs["t"] + pd.to_timedelta(offs["offset"], unit="s")).sort_values("t_host")
        rows = rows.sort_values("t", kind="stable")
        valid = rows["t"].notna()
        m = pd.merge_asof(rows.loc[valid, ["t"]].reset_index(), offs[["t_host", "offset"]],
                          left_on="t", right_on="t_host", direction="backward").set_index("index")
        off = m["offset"].fillna(offs["offset"].iloc[0])
        rows = rows.copy()
        rows.loc[valid, "t"] = rows.loc[valid, "t"] - pd.to_timedelta(off, unit="s")
        parts.append(rows)
    return pd.concat(parts).sort_values("t", kind="stable")


def power_events(events: pd.DataFrame) -> pd.DataFrame:
    """The power rows of one Mac, from the most precise source present."""
    p = events[events["kind"].isin([k.value for k in POWER_KINDS])]
    fine = p[p["source"] == "unified"]
    return (fine if len(fine) else p[p["source"] == "pmset"]).sort_values("t", kind="stable")


def phases(power: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, initial: str = "full") -> list:
    """[(start, end, phase)] covering [start, end]; phase is full | sleep | dark."""
    out, cur, t0 = [], initial, start
    for t, kind in zip(power["t"], power["kind"]):
        if t < start or t > end:
            continue
        nxt = {Kind.SLEEP.value: "sleep", Kind.DARK_WAKE.value: "dark"}.get(kind, "full")
        if kind in {k.value for k in FULL_KINDS}:
            nxt = "full"
        if nxt != cur:
            out.append((t0, t, cur))
            cur, t0 = nxt, t
    out.append((t0, end, cur))
    return out
