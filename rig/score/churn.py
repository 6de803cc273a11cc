"""Churn in sleep: what the extension and the gateway did while nobody used the Mac.

- **reconnects in sleep**: ``tunnel_up`` in sleep (each one is a handshake the gateway pays for
  and a possible alert); ``handshake_start`` in sleep; gateway sessions created (in sleep, and
  in the whole cycle); the dark wakes and their total length.
- **handshakes cut off by sleep**: a ``sleep`` arrived before that handshake's ``tunnel_up``
  (of the same session, when both name one) and before any newer handshake.
"""
from __future__ import annotations

import math

from rig.events import Kind
from rig.score.marks import Mark, MarkKind
from rig.score.window import CycleColumns, Window

_K = Kind


def sleep_exposure(c: CycleColumns, w: Window) -> dict:
    """Time asleep, dark wakes, and the reconnects, handshakes and sessions in sleep."""
    dark = w.dark_wakes
    return {
        "sleep_s": w.full_t - w.sleep_start,
        "dark_wakes": len(dark),
        "dark_wake_s": float(sum(p[1] - p[0] for p in dark)),
        "reconnects_in_sleep": c.count(_K.TUNNEL_UP, w.in_sleep),
        "handshakes_in_sleep": c.count(_K.HANDSHAKE_START, w.in_sleep),
        "gw_sessions_in_sleep": c.count(_K.GW_SESSION_START, w.in_sleep),
        "gw_sessions_created": c.count(_K.GW_SESSION_START),
    }


def handshakes_cut(c: CycleColumns, w: Window, marks: list[Mark]) -> dict:
    """How many handshakes a sleep cut off (module docstring); marks every handshake."""
    ups = c.idx(_K.TUNNEL_UP.value)
    hs = c.idx(_K.HANDSHAKE_START.value)
    sleep_rows = list(w.pw_t[w.pw_kind == _K.SLEEP.value])
    cut = 0
    for n, i in enumerate(hs):
        h, sid = c.t[i], c.session[i]
        later_ups = [c.t[u] for u in ups if c.t[u] > h and (not sid or not c.session[u] or c.session[u] == sid)]
        done = min(later_ups, default=math.inf)
        nxt = c.t[hs[n + 1]] if n + 1 < len(hs) else math.inf
        s = next((x for x in sleep_rows if x > h), math.inf)
        is_cut = s < min(done, nxt)
        cut += is_cut
        marks.append(Mark(h, MarkKind.HANDSHAKE_CUT if is_cut else MarkKind.HANDSHAKE,
                          "handshake cut off by sleep" if is_cut else "handshake", c.detail[i]))
    return {"handshakes_cut_by_sleep": cut}
