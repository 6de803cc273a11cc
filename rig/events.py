"""Canonical events: the one table every parser writes and every score reads.

Whatever a line came from (a `pmset -g log` line, an ndjson record of the unified log, a
gateway's journal line, the controller's own journal), it becomes one row with the same columns.
A schema instead of a class per event keeps the scoring code vectorised and lets a new source be
added by writing one pure parser.

Columns (DESIGN.md, "Canonical events"):

- ``t``       UTC instant; inside a run corrected onto the controller's clock
- ``t_raw``   the timestamp exactly as the source wrote it
- ``host``    the Mac or gateway the row came from
- ``mac``     the Mac the row is about (a gateway row is about the Mac its client user maps to)
- ``source``  pmset, unified, gateway, controller, probe
- ``kind``    a :class:`Kind`
- ``session`` tunnel or gateway session id where known
- ``detail``  the message (or reason), after redaction
- ``caps``    power capability letters (``CDNVA``) for power rows
- ``line``    1-based line number in the raw file, so a row can be traced back

Parsers return :class:`ParseResult`: the rows plus counts of what was read, parsed, kept as
``other`` and rejected (with the first rejected line numbers), because a bad line must be counted
and reported, never silently lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum


class Kind(str, Enum):
    """Every event kind the rig knows. One definition, imported everywhere."""

    # power (pmset, refined by powerd's µs lines)
    SLEEP = "sleep"
    DARK_WAKE = "dark_wake"
    FULL_WAKE = "full_wake"
    DARK_TO_FULL = "dark_to_full"
    # controller
    ACT_LID_CLOSE = "act_lid_close"
    ACT_LID_OPEN = "act_lid_open"
    ACT_POWER_PRESS = "act_power_press"
    CMD_SLEEPNOW = "cmd_sleepnow"
    CYCLE_START = "cycle_start"
    CYCLE_END = "cycle_end"
    WAKE_PACKET = "wake_packet"   # the rig sent a Wake-on-LAN magic packet (what it did: the Mac's logs)
    # extension (mapped by a product's signature file)
    EXT_SLEEP = "ext_sleep"
    EXT_WAKE = "ext_wake"
    HANDSHAKE_START = "handshake_start"
    TUNNEL_UP = "tunnel_up"
    TUNNEL_DOWN = "tunnel_down"
    KEEPALIVE = "keepalive"
    ALERT_DISCONNECTED = "alert_disconnected"
    WAKE_CLASSIFIED = "wake_classified"
    # gateway
    GW_SESSION_START = "gw_session_start"
    GW_KEEPALIVE = "gw_keepalive"
    GW_DPD_TIMEOUT = "gw_dpd_timeout"
    GW_SESSION_END = "gw_session_end"
    # probe on the Mac (a canary request through the tunnel)
    PROBE_OK = "probe_ok"
    PROBE_FAIL = "probe_fail"
    # a line that was read and understood but is not one of the above (kept, never dropped)
    OTHER = "other"


class Source(str, Enum):
    PMSET = "pmset"
    UNIFIED = "unified"
    GATEWAY = "gateway"
    CONTROLLER = "controller"
    PROBE = "probe"


POWER_KINDS = frozenset({Kind.SLEEP, Kind.DARK_WAKE, Kind.FULL_WAKE, Kind.DARK_TO_FULL})
# A full wake ends a sleep; dark_to_full promotes a dark wake and ends the sleep too.
FULL_KINDS = frozenset({Kind.FULL_WAKE, Kind.DARK_TO_FULL})


class WakeCause(StrEnum):
    """Why a Mac woke, as the reason of its power line says (:func:`rig.parse.pmset.wake_cause`).

    The reason is free text that differs by model ("EC.RTC/Maintenance", "NUB.SPMI0.SW3
    nub-spmi0.0x02 rtc/Maintenance", "EC.LidOpen/Lid Open", "GLAN/"); only a few words of it are
    read. ``network`` is what a Wake-on-LAN packet (or other traffic) gives: the rig counts
    on-demand dark wakes by it, never by the packets it sent.
    """

    NETWORK = "network"
    MAINTENANCE = "maintenance"
    USER = "user"
    OTHER = "other"


class Phase(StrEnum):
    """A power phase of a cycle's timeline, made from the power series: what the Mac was doing.

    ``StrEnum``: a phase *is* its string ("full", "sleep", "dark"), so the report's picture, a
    CSS class and a comparison with a plain string all see the same value.
    """

    FULL = "full"
    SLEEP = "sleep"
    DARK = "dark"

    @classmethod
    def after(cls, kind: str) -> "Phase":
        """The phase a power transition of ``kind`` begins (a full wake and dark_to_full: full)."""
        return _PHASE_AFTER.get(kind, cls.FULL)


_PHASE_AFTER = {Kind.SLEEP.value: Phase.SLEEP, Kind.DARK_WAKE.value: Phase.DARK}


class TunnelState(StrEnum):
    """The tunnel lane: what the extension last said about its tunnel."""

    UP = "up"
    HANDSHAKING = "handshaking"
    DOWN = "down"


class GatewayState(StrEnum):
    """The gateway lane: whether some session of the Mac is alive at the gateway."""

    ALIVE = "alive"
    DEAD = "dead"


class ProbeState(StrEnum):
    """The probe lane: the last canary request through the tunnel (unknown before the first)."""

    OK = "ok"
    FAIL = "fail"
    UNKNOWN = "unknown"


COLUMNS = ("t", "t_raw", "host", "mac", "source", "kind", "session", "detail", "caps", "line")


@dataclass
class ParseResult:
    """Rows of one parsed input plus the bookkeeping that proves nothing was lost.

    ``read`` = ``parsed`` + ``other`` + ``skipped`` + ``rejected``: ``parsed`` rows have a
    canonical kind, ``other`` rows were understood but are of no kind the rig scores (kept as
    ``Kind.OTHER`` rows where the parser keeps them), ``skipped`` lines are structure (headers,
    blank lines, a JSON footer), ``rejected`` lines could not be understood.
    Each row is a dict with the keys of :data:`COLUMNS`; ``t`` is an ISO-8601 string with its
    UTC offset (converted to a typed column once, in :func:`rig.frame.to_frame`).
    """

    rows: list[dict] = field(default_factory=list)
    read: int = 0
    parsed: int = 0
    other: int = 0
    skipped: int = 0
    rejected: int = 0
    rejected_lines: list[int] = field(default_factory=list)
    duplicates: int = 0

    MAX_REJECTED_KEPT = 20

    def reject(self, line_no: int) -> None:
        self.rejected += 1
        if len(self.rejected_lines) < self.MAX_REJECTED_KEPT:
            self.rejected_lines.append(line_no)

    def merge(self, other: "ParseResult") -> "ParseResult":
        self.rows.extend(other.rows)
        self.read += other.read
        self.parsed += other.parsed
        self.other += other.other
        self.skipped += other.skipped
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        room = self.MAX_REJECTED_KEPT - len(self.rejected_lines)
        self.rejected_lines.extend(other.rejected_lines[: max(room, 0)])
        return self

    def counts(self) -> dict:
        return {
            "read": self.read,
            "parsed": self.parsed,
            "other": self.other,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "rejected_lines": list(self.rejected_lines),
            "duplicates": self.duplicates,
        }


def row(t: str, t_raw: str, host: str, source: Source | str, kind: Kind | str, *,
        session: str = "", detail: str = "", caps: str = "", line: int = 0, mac: str = "") -> dict:
    """One canonical row as a plain dict (what every parser appends)."""
    return {
        "t": t,
        "t_raw": t_raw,
        "host": host,
        "mac": mac or host,
        "source": source.value if isinstance(source, Source) else source,
        "kind": kind.value if isinstance(kind, Kind) else kind,
        "session": session,
        "detail": detail,
        "caps": caps,
        "line": line,
    }
