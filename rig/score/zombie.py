"""Zombie time: "shows Connected, nothing passes".

Full-wake time after the rig's wake during which the extension says the tunnel is up but the
probe (if the Mac runs one) or else the gateway says it is dead. A cycle whose zombie time
exceeds the grace fails even with no alert and no reconnect
(:func:`rig.score.analysis.cycle_failures`). No probe and no gateway: no evidence, NaN.
"""
from __future__ import annotations

import math

from rig.events import GatewayState, Phase, ProbeState, TunnelState
from rig.score.lanes import overlap
from rig.score.window import Window

#: Shorter stretches of "up but dead" are within what two corrected clocks agree on.
ZOMBIE_MIN_S = 0.05


def zombie_time(w: Window, tunnel: list, gateway: list, probe: list) -> tuple[dict, list]:
    """``zombie_s`` and ``zombie_evidence``, and the zombie intervals the picture draws."""
    if probe:
        dead, evidence = [(a, b) for a, b, s in probe if s == ProbeState.FAIL], "probe"
    elif gateway:
        dead, evidence = [(a, b) for a, b, s in gateway if s == GatewayState.DEAD], "gateway"
    else:
        dead, evidence = [], "none"
    end = w.span[1]
    full_after = [(a, b) for a, b, s in w.phases if s == Phase.FULL and b > w.full_t]
    up_iv = [(a, b) for a, b, s in tunnel if s == TunnelState.UP]
    zombie = overlap(overlap(up_iv, full_after, w.full_t, end), dead, w.full_t, end) if dead else []
    # two hosts' lines a few ms apart are within the clocks' agreement, not a zombie
    zombie = [(a, b) for a, b in zombie if b - a >= ZOMBIE_MIN_S]
    zs = float(sum(b - a for a, b in zombie)) if evidence != "none" else math.nan
    return {"zombie_s": zs, "zombie_evidence": evidence}, zombie
