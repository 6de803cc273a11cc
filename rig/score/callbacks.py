"""What the extension was asked to do in dark wakes, and how long its sessions went silent.

- ``wake()``/``sleep()`` callbacks the extension got in the sleep's dark wakes (a ``sleep()`` comes
  just before the power line that ends the dark wake, so it is judged a µs earlier), and per dark
  wake;
- the longest keep-alive gap inside one session (:func:`keepalive_gap`).
"""
from __future__ import annotations

import math

import numpy as np

from rig.events import Kind, Phase
from rig.score.window import CycleColumns, Window

_EPS = 1e-6


def dark_wake_callbacks(c: CycleColumns, w: Window) -> dict:
    """The callbacks in dark wakes, and per dark wake (NaN without a dark wake)."""
    wakes = c.idx(Kind.EXT_WAKE.value)
    sleeps = c.idx(Kind.EXT_SLEEP.value)
    n_wake = sum(1 for i in wakes if w.in_sleep[i] and w.phase_at(c.t[i]) == Phase.DARK)
    n_sleep = sum(1 for i in sleeps
                  if w.sleep_start < c.t[i] <= w.full_t and w.phase_at(c.t[i] - _EPS) == Phase.DARK)
    dw = len(w.dark_wakes)
    return {"dark_wake_wake_callbacks": n_wake, "dark_wake_sleep_callbacks": n_sleep,
            "wake_callbacks_per_dark_wake": n_wake / dw if dw else math.nan,
            "sleep_callbacks_per_dark_wake": n_sleep / dw if dw else math.nan}


def keepalive_gap(c: CycleColumns) -> float:
    """The longest silence inside one session: between its start and its keep-alives, in order.

    Measured on the extension's side (``tunnel_up`` + ``keepalive``) and on the gateway's
    (``gw_session_start`` + ``gw_keepalive``, when it logs them); where both exist the gateway's
    word wins when it is denser (a build that offloads keep-alives to the kernel keeps the
    session alive through a sleep while its own log is silent). NaN: no session with two marks.
    """
    out = []
    for kinds in ((Kind.TUNNEL_UP.value, Kind.KEEPALIVE.value), (Kind.GW_SESSION_START.value, Kind.GW_KEEPALIVE.value)):
        idx = c.idx(*kinds)
        if not any(c.kind[i] == kinds[1] for i in idx):
            continue
        by_session: dict = {}
        for i in idx:
            by_session.setdefault(c.session[i], []).append(c.t[i])
        gaps = [float(np.diff(ts).max()) for ts in by_session.values() if len(ts) >= 2]
        if gaps:
            out.append(max(gaps))
    return min(out) if out else math.nan
