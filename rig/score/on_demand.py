"""On-demand dark wakes: what the rig's Wake-on-LAN packets did, read from the Mac's own lines.

With ``--dark-wake-every`` the rig sends a magic packet every interval of the dwell (journal
records ``wake_packet``, controller rows of kind ``wake_packet``). A packet has no answer, and a
Mac may dark-wake on it, full-wake on it or ignore it (``womp 0``, a model that only wakes on
Ethernet), so nothing here assumes it worked. Per cycle, between the rig's sleep and its own
wake action (the actuator's instant; the full wake when there is none):

- ``wol_sent``: packets that left the controller (a send the network refused is journaled with
  its error and not counted);
- ``wol_dark_wakes``: dark wakes whose reason is a network one
  (:func:`rig.parse.pmset.wake_cause`; other traffic can cause those too on a real Mac, which
  is why each model is verified once with one cycle, docs/lab-setup.md);
- ``wol_full_wakes``: full wakes a packet caused, by a network reason or by coming within
  :data:`FOLLOW_S` after a packet (a model that logs some other reason for it).

The report says it in one line: "on-demand dark wakes: 14 sent, 13 dark wakes, 1 full wake".
"""
from __future__ import annotations

import numpy as np

from rig.events import Kind, WakeCause
from rig.parse.pmset import parse_power_message
from rig.score.window import FULL, CycleColumns, Window

#: A full wake this soon after a packet is the packet's, whatever reason it logs.
FOLLOW_S = 30.0


def _network(detail) -> bool:
    pl = parse_power_message(detail) if isinstance(detail, str) else None
    return pl is not None and pl.cause is WakeCause.NETWORK


def on_demand_wakes(c: CycleColumns, w: Window) -> dict:
    """The three counts of the module docstring for one cycle."""
    sent = c.t[c.idx(Kind.WAKE_PACKET.value)]
    end = w.anchors.get("actuator", w.full_t)
    details = w.pw_detail if w.pw_detail is not None else np.full(len(w.pw_t), "", dtype=object)
    dark = full = 0
    for t, kind, detail in zip(w.pw_t, w.pw_kind, details):
        if not w.sleep_start <= t < end:
            continue
        if kind == Kind.DARK_WAKE.value:
            dark += _network(detail)
        elif kind in FULL:
            full += _network(detail) or bool(((sent <= t) & (sent >= t - FOLLOW_S)).any())
    return {"wol_sent": len(sent), "wol_dark_wakes": dark, "wol_full_wakes": full}
