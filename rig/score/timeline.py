"""One clock and one power series: the stage between parsed events and scores.

**One clock.** Every host stamps its lines with its own clock. Before each cycle and after each
wake the rig measures each host's offset over SSH (``offset = host - controller``, error <= RTT/2,
see ``clock_offset.py``) and journals it. :func:`correct` moves every row of a measured host onto
the controller's clock (``t_controller = t_host - offset(t_host)``) with these rules:

- *Segments.* A Mac's clock may **step at a wake** (it re-reads its RTC, or syncs time once the
  network is back), so its timeline is cut at each of its full wakes (``full_wake`` /
  ``dark_to_full``, taken from its own power rows, µs-refined where powerd logged them). A
  measurement belongs to the segment that holds its instant on the host's clock
  (``t + offset``). The wake's own lines and everything after them use the measurements after
  the wake; everything before uses the ones before.
- *Inside a segment*, the offset is interpolated linearly between consecutive measurements, so a
  clock that drifts is followed; before the first and after the last measurement of the segment
  it is held constant (extrapolating a drift measured over a minute across a 45-minute sleep
  would amplify the measurement error far beyond the drift itself). Interpolating between two
  measurements each good to RTT/2 keeps every corrected instant within RTT/2 of the truth.
- *Inside the sleep* (between falling asleep and the full wake) the Mac cannot be reached, so
  nothing is measured there. Those rows, dark wakes included, belong to the segment before the
  wake and use the last measurement taken before the sleep. Why not the one after the wake: a
  step at the wake is in that measurement and did not apply to lines written before it. What
  this cannot see: drift during the sleep itself (rate x sleep length, ~30 ms for 10 ppm over
  45 min), a step at a *dark* wake (no measurement can follow it before the full wake), and,
  for a backward step of S seconds, rows written in the last S seconds before the wake (on the
  host's clock they sort after the wake's line, so they take the post-wake offset).
- *A segment without a measurement* (a wake after which SSH never answered) takes the last
  measurement of the nearest earlier segment, else the first of the nearest later one.
- A host with no measurement at all (the controller's own rows, a host not measured) keeps its
  time; the caller reports it.

**One power series.** ``pmset -g log`` lists every power transition but only to the second, in
the Mac's local time with the offset of that instant; powerd writes the same sentences to the
unified log with µs. :func:`power_events` returns *one row per transition*: each pmset power row
takes the time of the powerd row of the same host and kind whose instant (in UTC, after
correction) falls in the pmset row's second, widened by :data:`MATCH_TOLERANCE_S` either side
for the two lines not being written at the same instant; pairs are one-to-one, nearest first.
The pmset row is kept (its line says more: power source, charge, duration), with ``t``
replaced, ``refined`` True and ``t_pmset`` its own second. A pmset row with no powerd line
keeps its second (``refined`` False); a powerd row with no pmset line (the dump was taken
before it, or pmset was not collected) is kept as it is (``refined`` True, ``t_pmset`` NaT).
The events frame itself keeps both sources' rows untouched; only this series is merged, so
nothing is counted twice.

Power phases (:class:`rig.events.Phase`) come from the power series: ``sleep`` -> sleep,
``dark_wake`` -> dark, ``full_wake`` / ``dark_to_full`` -> full.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from rig.events import FULL_KINDS, POWER_KINDS, Phase, Source
from rig.journal import Rec

#: How far (s) a powerd line may lie outside the second pmset printed and still refine it.
MATCH_TOLERANCE_S = 1.0

_POWER = [k.value for k in POWER_KINDS]
_FULL = [k.value for k in FULL_KINDS]
_NS = 1_000_000_000


def offsets_frame(records: list[dict]) -> pd.DataFrame:
    """Journal ``offset`` records as a frame: host, t (controller, UTC), offset (s), rtt (s)."""
    rows = [(r["host"], r["t"], r["offset"], r["rtt"]) for r in records if r.get("type") == Rec.OFFSET]
    df = pd.DataFrame(rows, columns=["host", "t", "offset", "rtt"])
    df["t"] = pd.to_datetime(df["t"], unit="s", utc=True).dt.as_unit("ns")
    return df


# ---- one clock ---------------------------------------------------------------------------------

def correct(events: pd.DataFrame, offsets: pd.DataFrame) -> pd.DataFrame:
    """Move every row of a measured host onto the controller's clock (see the module docstring).

    ``offsets``: :func:`offsets_frame`. Returns a new frame sorted by the corrected ``t``.
    """
    if events.empty or offsets.empty:
        return events
    parts = []
    for host, rows in events.groupby("host", sort=False):
        offs = offsets[offsets["host"] == host]
        valid = rows["t"].notna()
        if offs.empty or not valid.any():
            parts.append(rows)
            continue
        h = _ns(rows.loc[valid, "t"])
        est = offset_at(h, _ns(wake_instants(rows)), _ns(offs["t"]), offs["offset"].to_numpy(float))
        rows = rows.copy()
        rows.loc[valid, "t"] = rows.loc[valid, "t"] - pd.to_timedelta(np.rint(est * _NS).astype("int64"),
                                                                     unit="ns").to_numpy()
        parts.append(rows)
    return pd.concat(parts).sort_values("t", kind="stable")


def wake_instants(rows: pd.DataFrame) -> pd.Series:
    """The full wakes of one host's rows, on its own clock: where that clock may have stepped.

    A wake is cut at the earlier of its two stamps (pmset's truncated second, powerd's µs), so
    both lines of the wake fall after the cut; a sleeping Mac writes nothing in between.
    """
    p = power_events(rows)
    p = p[p["kind"].isin(_FULL)]
    return p["t_pmset"].where(p["t_pmset"].notna() & (p["t_pmset"] < p["t"]), p["t"])


def offset_at(h: np.ndarray, wakes: np.ndarray, m_t: np.ndarray, m_off: np.ndarray) -> np.ndarray:
    """The offset (s) valid at each host-clock instant ``h`` (ns since the epoch).

    ``wakes``: host-clock instants (ns) where the clock may step; ``m_t`` / ``m_off``: the
    measurements' controller instants (ns) and offsets (s). Pure numpy, see the module docstring.
    """
    wakes = np.sort(np.asarray(wakes, dtype="int64"))
    m_h = np.asarray(m_t, dtype="int64") + np.rint(np.asarray(m_off, float) * _NS).astype("int64")
    order = np.argsort(m_h, kind="stable")
    m_h, m_off = m_h[order], np.asarray(m_off, float)[order]
    base = int(m_h[0])
    x_m = (m_h - base) / _NS            # seconds, relative: float64 keeps sub-µs precision
    x = (np.asarray(h, dtype="int64") - base) / _NS
    seg_m = np.searchsorted(wakes, m_h, side="right")
    seg_e = np.searchsorted(wakes, np.asarray(h, dtype="int64"), side="right")
    measured = np.unique(seg_m)
    out = np.empty(len(x), dtype=float)
    for s in np.unique(seg_e):
        sel = seg_e == s
        own = seg_m == s
        if own.any():
            out[sel] = np.interp(x[sel], x_m[own], m_off[own])
            continue
        earlier = measured[measured < s]
        if len(earlier):
            out[sel] = m_off[seg_m == earlier[-1]][-1]
        else:
            out[sel] = m_off[seg_m == measured[measured > s][0]][0]
    return out


def _ns(col) -> np.ndarray:
    """A UTC datetime column as int64 ns since the epoch."""
    return pd.to_datetime(pd.Series(col), utc=True).dt.as_unit("ns").astype("int64").to_numpy()


# ---- one power series --------------------------------------------------------------------------

def power_events(events: pd.DataFrame) -> pd.DataFrame:
    """One row per power transition, pmset's list refined by powerd's µs lines (module docstring).

    Extra columns: ``refined`` (``t`` is a µs instant from powerd) and ``t_pmset`` (pmset's
    second, NaT when pmset has no line for it). Sorted by ``t``; rows without a time are left out.
    """
    p = events[events["kind"].isin(_POWER) & events["t"].notna()].reset_index(drop=True)
    is_coarse = (p["source"] == Source.PMSET.value).to_numpy()
    is_fine = (p["source"] == Source.UNIFIED.value).to_numpy()
    t = p["t"].copy()
    refined = is_fine.copy()
    used = np.zeros(len(p), dtype=bool)       # fine rows that refined a coarse one
    if is_coarse.any() and is_fine.any():
        t_ns = _ns(t)
        for _, grp in p.groupby(["host", "kind"], sort=False):
            idx = grp.index.to_numpy()
            c_idx, f_idx = idx[is_coarse[idx]], idx[is_fine[idx]]
            if not len(c_idx) or not len(f_idx):
                continue
            for ci, fi in match_seconds(t_ns[c_idx], t_ns[f_idx]):
                t.iloc[c_idx[ci]] = t.iloc[f_idx[fi]]
                refined[c_idx[ci]] = True
                used[f_idx[fi]] = True
    out = p.assign(t=t, refined=refined, t_pmset=p["t"].where(pd.Series(is_coarse)))
    out = out[is_coarse | (is_fine & ~used)]
    return out.sort_values("t", kind="stable")


def match_seconds(coarse_ns: np.ndarray, fine_ns: np.ndarray,
                  tolerance_s: float = MATCH_TOLERANCE_S) -> list[tuple[int, int]]:
    """Pair second-resolution instants with µs ones: ``(coarse index, fine index)`` pairs.

    A fine instant can match a coarse one when it lies in ``[c - tol, c + 1 + tol)`` (pmset
    truncates to the second). One-to-one: candidate pairs are taken nearest first (distance from
    the fine instant to the middle of the coarse second), so a line refines the second it falls
    in rather than a neighbouring one.
    """
    tol = int(tolerance_s * _NS)
    coarse_ns = np.asarray(coarse_ns, dtype="int64")
    fine_ns = np.asarray(fine_ns, dtype="int64")
    f_order = np.argsort(fine_ns, kind="stable")
    f_sorted = fine_ns[f_order]
    cands = []
    for ci, c in enumerate(coarse_ns.tolist()):
        lo = np.searchsorted(f_sorted, c - tol, side="left")
        hi = np.searchsorted(f_sorted, c + _NS + tol, side="left")
        for j in range(lo, hi):
            cands.append((abs(int(f_sorted[j]) - (c + _NS // 2)), ci, int(f_order[j])))
    cands.sort()
    c_taken, f_taken, pairs = set(), set(), []
    for _, ci, fi in cands:
        if ci not in c_taken and fi not in f_taken:
            c_taken.add(ci)
            f_taken.add(fi)
            pairs.append((ci, fi))
    return sorted(pairs)


def phases(power: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, initial: str = Phase.FULL) -> list:
    """[(start, end, Phase)] covering [start, end] (:meth:`rig.events.Phase.after` of each row)."""
    out, cur, t0 = [], Phase(initial), start
    for t, kind in zip(power["t"], power["kind"]):
        if t < start or t > end:
            continue
        nxt = Phase.after(kind)
        if nxt != cur:
            out.append((t0, t, cur))
            cur, t0 = nxt, t
    out.append((t0, end, cur))
    return out
