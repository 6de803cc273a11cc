"""The twin gateway: ocserv-like sessions with keep-alive dead-peer detection.

A session lives while keep-alives arrive. ocserv probes after 2 x dpd seconds of silence and
tears the session down after 3 x dpd; the twin logs the same sentences ocserv does
(see tests/data/README.md), as journald prints them with ``-o short-iso-precise``.

A session is logged with the client address it came from: a Mac that woke on another network
reconnects from a new address, while its old session (on the old address) dies by DPD. A
handshake the client gives up on is logged as a TLS error of the worker (ocserv's wording), which
the rig reads as an ``other`` line: visible, never an event of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rig.twin import formats


@dataclass
class GwSession:
    sid: str
    mac: str
    user: str
    port: int
    start: float
    last_seen: float
    alive: bool = True
    gen: int = 0
    tx: int = 0
    end: float | None = None
    end_reason: str = ""
    ip: str = ""  # the client address the session came from


@dataclass
class Gateway:
    world: object
    name: str = "gw-twin"
    users: dict = field(default_factory=dict)  # mac -> gateway user
    dpd_s: int = 30
    skew: float = 0.0
    utc_offset_min: int = 0
    pid: int = 2101

    def __post_init__(self):
        self.sessions: dict[str, GwSession] = {}
        self.lines: list[tuple[float, str]] = []  # (virtual time, rendered line)
        self._port = 50100

    @property
    def teardown_s(self) -> int:
        return 3 * self.dpd_s

    def clock(self, virtual: float) -> float:
        return virtual + self.skew

    def _log(self, ident: str, message: str) -> None:
        t = self.world.now
        self.lines.append((t, formats.journal_line(self.clock(t), self.utc_offset_min,
                                                   self.name, ident, message)))

    def _main(self, message: str) -> None:
        self._log(f"ocserv[{self.pid}]", message)

    def _worker(self, s: GwSession, message: str) -> None:
        self._log(f"ocserv[{self.pid + 100 + s.port % 97}]", f"worker[{s.user}]: {s.ip} {message}")

    def _ip(self, mac: str) -> int:
        return 10 + sorted(self.users).index(mac) if mac in self.users else 9

    # -- what clients do ----------------------------------------------------------------------
    def address(self, mac: str) -> str:
        """A Mac's address on its home network (where it starts every night)."""
        return f"10.77.0.{self._ip(mac)}"

    def session_start(self, mac: str, sid: str, ip: str | None = None) -> None:
        user = self.users.get(mac, mac)
        self._port += 1
        s = GwSession(sid, mac, user, self._port, self.world.now, self.world.now, ip=ip or self.address(mac))
        self.sessions[sid] = s
        peer = f"{s.ip}:{s.port}"
        self._log("ocserv[2102]", f"sec-mod: initiating session for user '{user}' (session: {sid[:6]})")
        self._main(f"main[{user}]:{peer} new user session")
        self._main(f"main[{user}]:{peer} user logged in")
        self._worker(s, f"suggesting DPD of {self.dpd_s} secs")
        self._arm(s)

    def keepalive(self, sid: str) -> bool:
        s = self.sessions.get(sid)
        if not s or not s.alive:
            return False
        s.last_seen = self.world.now
        s.tx += 80
        self._arm(s)
        return True

    def handshake_failed(self, mac: str, ip: str | None = None) -> None:
        """A client's TLS handshake broke off before a session existed (no session, no DPD)."""
        self._port += 1
        user = self.users.get(mac, mac)
        self._log(f"ocserv[{self.pid + 100 + self._port % 97}]",
                  f"worker[{user}]: {ip or self.address(mac)} error in TLS handshake: "
                  "The TLS connection was non-properly terminated.")

    def bye(self, sid: str) -> None:
        s = self.sessions.get(sid)
        if not s or not s.alive:
            return
        self._worker(s, "received BYE packet; exiting")
        self._end(s, "user disconnected")

    def alive(self, sid: str | None) -> bool:
        s = self.sessions.get(sid or "")
        return bool(s and s.alive)

    # -- dead-peer detection ------------------------------------------------------------------
    def _arm(self, s: GwSession) -> None:
        s.gen += 1
        self.world.at(s.last_seen + self.teardown_s, self._dpd, s.sid, s.gen)

    def _dpd(self, sid: str, gen: int) -> None:
        s = self.sessions[sid]
        if not s.alive or s.gen != gen:
            return
        silent = int(self.world.now - s.last_seen)
        self._worker(s, f"have not received TCP DPD for long ({silent} secs)")
        self._worker(s, "connection timeout (DPD); tearing down connection")
        self._end(s, "DPD timeout")
        mac = self.world.macs.get(s.mac)
        if mac is not None:
            mac.truth_dpd(self.world.now, sid)

    def _end(self, s: GwSession, reason: str) -> None:
        self._worker(s, f"sent periodic stats (in: {s.tx // 2}, out: {s.tx}) to sec-mod")
        self._main(f"main[{s.user}]:{s.ip}:{s.port} user disconnected "
                   f"(reason: {reason}, rx: {s.tx // 2}, tx: {s.tx})")
        s.alive = False
        s.end = self.world.now
        s.end_reason = reason

    # -- doors --------------------------------------------------------------------------------
    def journal(self, since: float | None, until: float | None) -> str:
        """Lines whose gateway-clock time is within [since, until] (journalctl --since/--until)."""
        out = []
        for t, line in self.lines:
            g = self.clock(t)
            if (since is None or g >= since) and (until is None or g <= until):
                out.append(line)
        return "".join(line + "\n" for line in out)

    def truth_record(self) -> dict:
        return {
            "name": self.name,
            "skew": self.skew,
            "dpd_s": self.dpd_s,
            "sessions": [
                {"sid": s.sid, "mac": s.mac, "start": s.start, "end": s.end, "end_reason": s.end_reason,
                 "ip": s.ip, "keepalives": s.tx // 80}
                for s in self.sessions.values()
            ],
        }
