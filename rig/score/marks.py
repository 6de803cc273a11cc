"""Marks: the instants a cycle's timeline picture draws, made by the scorer that counted them.

Each metric family that counts something (a handshake, an alert, a wake verdict) leaves a mark at
the same instant, so the picture and the numbers can never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MarkKind(StrEnum):
    """What a mark shows (the report's picture draws each kind its own way)."""

    HANDSHAKE = "handshake"
    HANDSHAKE_CUT = "handshake_cut"
    TUNNEL_UP = "tunnel_up"
    TUNNEL_DOWN = "tunnel_down"
    ALERT = "alert"
    DPD = "dpd"
    VERDICT = "verdict"
    ANCHOR = "anchor"


@dataclass
class Mark:
    """One instant the report draws: what (``kind``), a short ``label``, and the log ``detail``."""

    t: float
    kind: str      # a MarkKind
    label: str = ""
    detail: str = ""
    false: bool = False
