"""The build's own dark/full verdicts (``wake_classified`` rows, the verdict in ``detail``)
against the power log's truth, as a confusion matrix.

A verdict is matched to the last wake (dark or full) of the power series at or before it; a
verdict that is neither "dark" nor "full", or comes before any wake, is *unmatched*.
"""
from __future__ import annotations

import bisect

import numpy as np

from rig.events import Kind
from rig.score.marks import Mark, MarkKind
from rig.score.window import FULL, CycleColumns, Window

WAKES = ("dark", "full")


def wake_verdicts(c: CycleColumns, w: Window, marks: list[Mark]) -> dict:
    """``verdict_true_<x>_said_<y>`` counts, ``verdicts``, ``verdict_errors``,
    ``verdicts_unmatched``; marks every verdict."""
    is_wake = np.isin(w.pw_kind, list(FULL)) | (w.pw_kind == Kind.DARK_WAKE.value)
    wake_t, wake_kind = list(w.pw_t[is_wake]), list(w.pw_kind[is_wake])
    conf = {f"verdict_true_{a}_said_{b}": 0 for a in WAKES for b in WAKES}
    unmatched = 0
    for i in c.idx(Kind.WAKE_CLASSIFIED.value):
        said = str(c.detail[i]).strip().lower()
        j = bisect.bisect_right(wake_t, c.t[i]) - 1
        if said not in WAKES or j < 0:
            unmatched += 1
            marks.append(Mark(c.t[i], MarkKind.VERDICT, "wake verdict (unmatched)", c.detail[i]))
            continue
        truth = "dark" if wake_kind[j] == Kind.DARK_WAKE.value else "full"
        conf[f"verdict_true_{truth}_said_{said}"] += 1
        marks.append(Mark(c.t[i], MarkKind.VERDICT, f"build says {said}, power log says {truth}", c.detail[i],
                          false=said != truth))
    return {**conf, "verdicts": sum(conf.values()) + unmatched,
            "verdict_errors": conf["verdict_true_dark_said_full"] + conf["verdict_true_full_said_dark"],
            "verdicts_unmatched": unmatched}
