"""The lanes of a cycle: who says the tunnel is alive, as intervals of state over the window.

- **tunnel**: the extension's own word (:class:`~rig.events.TunnelState`): ``handshake_start``
  -> handshaking, ``tunnel_up`` and ``keepalive`` -> up, ``tunnel_down`` -> down. Before its first
  word in the window it is what the Mac's previous cycle ended with; without one the precondition
  left the tunnel up, unless the cycle's first word says otherwise.
- **gateway** (:class:`~rig.events.GatewayState`): alive while some session started since is
  not ended; as it was before the window (default alive) until an end is seen. Present when the
  run collects a gateway log, so a window in which the gateway says nothing about the Mac still
  has a gateway state. Its **DPD terminations** are counted here too: ocserv logs both a DPD line
  and a session end; they are one termination (a DPD-reason end within 10 s of a DPD line of the
  same session, or of no session, is not counted again).
- **probe** (:class:`~rig.events.ProbeState`): the last canary request through the tunnel.

A lane is a list of ``(t0, t1, state)``, merged and clipped to the window.
"""
from __future__ import annotations

import numpy as np

from rig.events import GatewayState, Kind, ProbeState, TunnelState
from rig.score.marks import Mark, MarkKind
from rig.score.window import CycleColumns

_K = Kind
EXT_STATE = {_K.HANDSHAKE_START.value: TunnelState.HANDSHAKING, _K.TUNNEL_UP.value: TunnelState.UP,
             _K.TUNNEL_DOWN.value: TunnelState.DOWN, _K.KEEPALIVE.value: TunnelState.UP}
#: How long after a DPD line a DPD-reason session end is the same termination.
DPD_END_MATCH_S = 10.0


def intervals(changes: list[tuple[float, str]], start: float, end: float, initial: str) -> list:
    """[(t0, t1, state)] from state changes, merged, clipped to [start, end]."""
    out, cur, t0 = [], initial, start
    for t, s in changes:
        t = min(max(t, start), end)
        if s != cur:
            if t > t0:
                out.append((t0, t, cur))
            cur, t0 = s, t
    if end > t0 or not out:
        out.append((t0, end, cur))
    return out


def overlap(a: list, b: list, lo: float, hi: float) -> list:
    """Intersections of two sorted lists of (t0, t1) within [lo, hi]."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s = max(a[i][0], b[j][0], lo)
        e = min(a[i][1], b[j][1], hi)
        if e > s:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def state_after(lane: list, t: float) -> str:
    """The state of a lane just after ``t`` ('' if the lane is empty)."""
    for a, b, s in lane:
        if a <= t < b or (a > t):
            return s
    return lane[-1][2] if lane else ""


def state_at(lane: list, t: float) -> str:
    """The state of a lane just before ``t`` ('' if the lane is empty)."""
    for a, b, s in lane:
        if a < t <= b:
            return s
    return lane[0][2] if lane and t <= lane[0][0] else (lane[-1][2] if lane else "")


def tunnel_lane(c: CycleColumns, span: tuple[float, float], before: dict, marks: list[Mark]) -> list:
    """The extension's word over the window (module docstring); marks its ups and downs."""
    ext_rows = np.flatnonzero(np.isin(c.kind, list(EXT_STATE)))
    first = next((c.kind[i] for i in ext_rows if c.kind[i] != _K.KEEPALIVE.value), None)
    opened_down = first in (_K.TUNNEL_UP.value, _K.HANDSHAKE_START.value)
    initial = before.get("tunnel") or (TunnelState.DOWN if opened_down else TunnelState.UP)
    lane = intervals([(c.t[i], EXT_STATE[c.kind[i]]) for i in ext_rows], span[0], span[1], initial)
    for i in c.idx(_K.TUNNEL_UP.value):
        marks.append(Mark(c.t[i], MarkKind.TUNNEL_UP, "tunnel up", c.detail[i]))
    for i in c.idx(_K.TUNNEL_DOWN.value):
        marks.append(Mark(c.t[i], MarkKind.TUNNEL_DOWN, "tunnel down", c.detail[i]))
    return lane


def gateway_lane(c: CycleColumns, span: tuple[float, float], before: dict) -> tuple[list, list[int]]:
    """The gateway's sessions alive or dead over the window, and the rows of its DPD
    terminations (module docstring). Empty lane: no gateway rows and no state from before."""
    gw_rows = np.flatnonzero(c.source == "gateway")
    dpd: list[int] = []
    if not (len(gw_rows) or before.get("gateway")):
        return [], dpd
    live: set = set()
    pending: dict = {}       # session ('' if unknown) -> its DPD line not yet matched by an end
    changes = []
    for n, i in enumerate(gw_rows):
        k, sid = c.kind[i], c.session[i]
        if k == _K.GW_SESSION_START.value:
            live.add(sid or f"#{n}")
        elif k in (_K.GW_SESSION_END.value, _K.GW_DPD_TIMEOUT.value):
            _count_dpd(c, i, pending, dpd)
            if sid:
                live.discard(sid)
            elif k == _K.GW_SESSION_END.value and len(live) == 1:
                live.clear()
            elif k == _K.GW_DPD_TIMEOUT.value:
                continue             # no session named: the end line that follows says which
        else:
            continue
        changes.append((c.t[i], GatewayState.ALIVE if live else GatewayState.DEAD))
    lane = intervals(changes, span[0], span[1], before.get("gateway") or GatewayState.ALIVE)
    return lane, dpd


def _count_dpd(c: CycleColumns, i: int, pending: dict, dpd: list[int]) -> None:
    """Count row ``i`` (a DPD line or a session end) as a DPD termination unless it is the end
    that follows a DPD line already counted."""
    sid = c.session[i]
    if c.kind[i] == _K.GW_DPD_TIMEOUT.value:
        dpd.append(i)
        pending[sid] = i
    elif "dpd" in str(c.detail[i]).lower():
        key = sid if sid in pending else ("" if "" in pending else None)
        if key is not None and c.t[i] - c.t[pending[key]] <= DPD_END_MATCH_S:
            del pending[key]      # the end that follows a DPD line: one termination
        else:
            dpd.append(i)


def probe_lane(c: CycleColumns, span: tuple[float, float]) -> tuple[np.ndarray, list]:
    """The probe's rows and its lane (ok | fail, unknown before the first); empty: no probe."""
    pr = c.idx(_K.PROBE_OK.value, _K.PROBE_FAIL.value)
    if not len(pr):
        return pr, []
    changes = [(c.t[i], ProbeState.OK if c.kind[i] == _K.PROBE_OK.value else ProbeState.FAIL) for i in pr]
    return pr, intervals(changes, span[0], span[1], ProbeState.UNKNOWN)
