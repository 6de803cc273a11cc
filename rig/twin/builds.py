"""Extension build models: how a NETransparentProxyProvider build reacts to sleep and wake.

Each model is a small class over the same mechanics (handshake, keep-alive timer, logging in the
product's unified-log sentences, see ``signatures.toml``); they differ only in what ``wake()`` and
``sleep()`` do:

- ``naive``: every wake finds the gateway session dead (DPD ended it while suspended), raises
  "Session Disconnected" and re-handshakes, dark wake or not. The customer's problem.
- ``darkwake-aware``: closes the session cleanly in ``sleep()`` (the gateway sees a logout, not a
  dead peer), does nothing in a dark wake, and reconnects at once, silently, on a full wake.

The process is frozen while the Mac sleeps: every timer carries the Mac's power epoch and is
dropped when the epoch has changed; ``wake()`` restarts what is needed.
"""
from __future__ import annotations


class Extension:
    model = "base"
    subsystem = "com.example.twinproxy"
    keepalive_s = 20.0
    version = "1.4.0"

    def __init__(self, mac, world):
        self.mac = mac
        self.world = world
        self.rng = world.rng
        self.state = "down"  # down | handshaking | up
        self.session: str | None = None
        self._sid = 0
        self._seq = 0

    # -- mechanics ----------------------------------------------------------------------------
    @property
    def gateway(self):
        return self.world.gateway

    def log(self, category: str, message: str) -> None:
        self.mac.ext_log(category, message)

    def connected(self) -> bool:
        return self.state == "up" and self.gateway.alive(self.session)

    def handshake(self) -> None:
        self._sid += 1
        sid = f"{self.mac.name[-2:]}{self.mac.serial:02d}x{self._sid:04d}"
        self.state = "handshaking"
        self.session = sid
        self.log("tunnel", f"Handshake started session={sid} gateway={self.gateway.name}")
        self.mac.truth_handshake_start(sid)
        latency = self.rng.uniform(0.35, 1.4)
        self.world.after(latency, self._handshake_done, sid, self.mac.epoch)

    def _handshake_done(self, sid: str, epoch: int) -> None:
        if epoch != self.mac.epoch or self.session != sid:
            return  # cut off by sleep: the process froze mid-handshake
        self.state = "up"
        self.gateway.session_start(self.mac.name, sid)
        self.log("tunnel", f"Tunnel up session={sid}")
        self.mac.truth_tunnel_up(sid)
        self._arm_keepalive()

    def _arm_keepalive(self) -> None:
        self.world.after(self.keepalive_s, self._keepalive, self.session, self.mac.epoch)

    def _keepalive(self, sid: str, epoch: int) -> None:
        if epoch != self.mac.epoch or self.session != sid or self.state != "up":
            return
        self._seq += 1
        if self.gateway.keepalive(sid):
            self.log("tunnel", f"Keepalive sent session={sid} seq={self._seq}")
            self._arm_keepalive()
        else:
            self.lost("peer_dead")

    def lost(self, reason: str, alert: bool = True) -> None:
        """The session is found dead: log it, alert (if this build alerts), reconnect."""
        sid = self.session
        self.log("tunnel", f"Tunnel down session={sid} reason={reason}")
        self.mac.truth_tunnel_down(sid)
        if alert:
            self.log("alert", f"ALERT Session Disconnected session={sid} reason={reason}")
            self.mac.truth_alert(sid)
        self.state = "down"
        self.handshake()

    def start(self) -> None:
        self.handshake()

    # -- callbacks the OS delivers ------------------------------------------------------------
    def on_sleep(self) -> None:
        self.log("provider", "sleep() called")

    def on_wake(self, dark: bool) -> None:
        self.log("provider", "wake() called")

    def on_promoted(self) -> None:
        """A dark wake became a full wake (no new wake() callback: the process is already up)."""


class Naive(Extension):
    model = "naive"

    def on_wake(self, dark: bool) -> None:
        super().on_wake(dark)
        if self.state == "up":
            if self.gateway.alive(self.session):
                self._arm_keepalive()
            else:
                self.lost("peer_dead")
        else:
            self.handshake()  # a handshake cut off by the last sleep starts over


class DarkWakeAware(Extension):
    model = "darkwake-aware"

    def on_sleep(self) -> None:
        super().on_sleep()
        if self.state == "up":
            self.log("tunnel", f"Tunnel down session={self.session} reason=sleep")
            self.mac.truth_tunnel_down(self.session)
            self.gateway.bye(self.session)
        self.state = "down"

    def on_wake(self, dark: bool) -> None:
        super().on_wake(dark)
        self.log("provider", f"wake classified as {'dark' if dark else 'full'}")
        if not dark:
            self._full()

    def on_promoted(self) -> None:
        self.log("provider", "wake classified as full (promoted from dark)")
        self._full()

    def _full(self) -> None:
        if self.state == "up" and self.gateway.alive(self.session):
            self._arm_keepalive()
        else:
            self.handshake()  # silently: no alert for a session this build closed itself


MODELS = {cls.model: cls for cls in (Naive, DarkWakeAware)}


def model(name: str):
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown twin build model {name!r} (known: {', '.join(sorted(MODELS))})") from None
