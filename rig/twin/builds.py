"""Extension build models: how a NETransparentProxyProvider build reacts to sleep and wake.

Each model is a small class over the same mechanics (handshake, keep-alive timer, logging in the
product's unified-log sentences, see ``signatures.toml``); they differ only in what ``wake()`` and
``sleep()`` do:

- ``naive``: every wake finds the gateway session dead (DPD ended it while suspended), raises
  "Session Disconnected" and re-handshakes, dark wake or not. The customer's problem.
- ``darkwake-aware``: closes the session cleanly in ``sleep()`` (the gateway sees a logout, not a
  dead peer), does nothing in a dark wake, and reconnects at once, silently, on a full wake.
- ``lazy``: checks nothing in ``wake()``; its keep-alive timer restarts its period when the
  process resumes, and the first tick (``keepalive_s`` after ``wake()``) finds the session dead,
  alerts and reconnects. A dark wake shorter than that passes without a reconnect; a full wake
  waits ``keepalive_s`` for its tunnel.
- ``flaky-handshake``: ``naive``, but a share of handshakes fail (the gateway logs a TLS error);
  each failure is logged and retried after a doubling back-off (2 s ... 60 s). Which handshakes
  fail is drawn from the build's own random stream (world seed + Mac), so a seed replays exactly.
- ``keepalive-offload``: ``naive``, but while the Mac sleeps the kernel keeps the session's TCP
  connection alive (``TCPKeepAlive=active``): the gateway keeps receiving keep-alives, so there
  is no DPD and every wake finds the session alive. A network change kills the offload.
- ``zombie``: keeps its session across sleep (the gateway ends it by DPD) and checks it on a full
  wake, except after a sleep longer than ``zombie_after_s``: then it "resumes" the stale session,
  logs "Tunnel up" and sends keep-alives into the void, showing Connected while nothing passes,
  until the extension is restarted (in the twin: the next night starts a fresh process). The
  truth records each such interval.

The process is frozen while the Mac sleeps: every timer carries the Mac's power epoch and is
dropped when the epoch has changed; ``wake()`` restarts what is needed. A session also dies with
the network it was opened on: after the Mac wakes on another network (``Mac.network_change``)
the extension logs a path change when ``wake()`` is delivered, and the old session is unusable.
"""
from __future__ import annotations

import random


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
        self.net_seen = mac.net_gen  # the network generation this process last noticed
        self.session_net = mac.net_gen  # the network the session's socket was opened on

    # -- mechanics ----------------------------------------------------------------------------
    @property
    def gateway(self):
        return self.world.gateway

    def log(self, category: str, message: str) -> None:
        self.mac.ext_log(category, message)

    def session_alive(self) -> bool:
        """The gateway still has the session and its socket's network is still the Mac's."""
        return self.gateway.alive(self.session) and self.session_net == self.mac.net_gen

    def connected(self) -> bool:
        return self.state == "up" and self.session_alive()

    def handshake(self) -> None:
        self._sid += 1
        sid = f"{self.mac.name[-2:]}{self.mac.serial:02d}x{self._sid:04d}"
        self.state = "handshaking"
        self.session = sid
        self.session_net = self.mac.net_gen
        self.log("tunnel", f"Handshake started session={sid} gateway={self.gateway.name}")
        self.mac.truth_handshake_start(sid)
        draws = self.mac.draws or {}
        latency = draws["handshake_s"].sample(self.rng) if "handshake_s" in draws else self.rng.uniform(0.35, 1.4)
        self.world.after(latency, self._handshake_done, sid, self.mac.epoch)

    def _handshake_done(self, sid: str, epoch: int) -> None:
        if epoch != self.mac.epoch or self.session != sid:
            return  # cut off by sleep: the process froze mid-handshake
        self.state = "up"
        self.gateway.session_start(self.mac.name, sid, self.mac.address)
        self.log("tunnel", f"Tunnel up session={sid}")
        self.mac.truth_tunnel_up(sid)
        self._arm_keepalive()

    def _arm_keepalive(self) -> None:
        self.world.after(self.keepalive_s, self._keepalive, self.session, self.mac.epoch)

    def _keepalive(self, sid: str, epoch: int) -> None:
        if epoch != self.mac.epoch or self.session != sid or self.state != "up":
            return
        self._seq += 1
        if self.session_net == self.mac.net_gen and self.gateway.keepalive(sid):
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

    def on_network_change(self) -> None:
        """Delivered with ``wake()`` when the Mac woke on another network (an NWPath update)."""
        self.net_seen = self.mac.net_gen
        self.log("network", f"Path changed: satisfied via {self.mac.network_text()}")

    def _death(self) -> str:
        return "network_changed" if self.session_net != self.mac.net_gen else "peer_dead"


class Naive(Extension):
    model = "naive"

    def on_wake(self, dark: bool) -> None:
        super().on_wake(dark)
        if self.state == "up":
            if self.session_alive():
                self._arm_keepalive()
            else:
                self.lost(self._death())
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
        if self.state == "up" and self.session_alive():
            self._arm_keepalive()
        else:
            self.handshake()  # silently: no alert for a session this build closed itself


class Lazy(Extension):
    model = "lazy"

    def on_wake(self, dark: bool) -> None:
        super().on_wake(dark)
        self.world.after(self.keepalive_s, self._tick, self.session, self.mac.epoch)

    def _tick(self, sid: str | None, epoch: int) -> None:
        """The first keep-alive tick after a resume: the only place this build looks."""
        if epoch != self.mac.epoch or self.session != sid:
            return
        if self.state == "up":
            self._seq += 1
            if self.session_alive() and self.gateway.keepalive(sid):
                self.log("tunnel", f"Keepalive sent session={sid} seq={self._seq}")
                self._arm_keepalive()
            else:
                self.lost(self._death())
        else:
            self.handshake()  # down, or a handshake the sleep cut off


class FlakyHandshake(Naive):
    model = "flaky-handshake"
    fail_p = 0.35
    backoff_s = (2.0, 4.0, 8.0, 16.0, 32.0, 60.0)

    def __init__(self, mac, world):
        super().__init__(mac, world)
        self.fate = random.Random(f"{world.seed}/{mac.name}/{self.model}")
        self.failures = 0  # in a row; reset by a success

    def _handshake_done(self, sid: str, epoch: int) -> None:
        if epoch != self.mac.epoch or self.session != sid:
            return
        if self.fate.random() >= self.fail_p:
            self.failures = 0
            super()._handshake_done(sid, epoch)
            return
        self.failures += 1
        delay = self.backoff_s[min(self.failures, len(self.backoff_s)) - 1]
        self.state = "down"
        self.log("tunnel", f"Handshake failed session={sid} reason=tls_error attempt={self.failures} "
                           f"retry_in={delay:g}s")
        self.mac.truth_failed_handshake(sid, self.failures)
        self.gateway.handshake_failed(self.mac.name, self.mac.address)
        self.world.after(delay, self._retry, sid, epoch)

    def _retry(self, sid: str, epoch: int) -> None:
        if epoch == self.mac.epoch and self.session == sid and self.state == "down":
            self.handshake()


class KeepaliveOffload(Naive):
    model = "keepalive-offload"

    def __init__(self, mac, world):
        super().__init__(mac, world)
        self._offload = 0  # generation of the kernel's keep-alive chain; a new one voids the old

    def on_sleep(self) -> None:
        super().on_sleep()
        self._offload += 1
        if self.state == "up":
            self.world.after(self.keepalive_s, self._kernel_keepalive, self.session, self.session_net,
                             self._offload)

    def _kernel_keepalive(self, sid: str, net: int, gen: int) -> None:
        """Sent by the kernel, not the frozen process: no extension log line, the gateway sees it."""
        mac = self.mac
        if gen != self._offload or self.session != sid or net != mac.net_gen or mac.power == "full":
            return
        if self.gateway.keepalive(sid):
            mac.truth["offload_keepalives"] += 1
            self.world.after(self.keepalive_s, self._kernel_keepalive, sid, net, gen)

    def on_wake(self, dark: bool) -> None:
        if not dark:
            self._offload += 1  # the process runs again: its own timer takes over
        super().on_wake(dark)

    def on_promoted(self) -> None:
        self._offload += 1


class Zombie(Extension):
    model = "zombie"
    zombie_after_s = 40 * 60.0

    def __init__(self, mac, world):
        super().__init__(mac, world)
        self.zombie = False
        self._slept_at: float | None = None

    def on_sleep(self) -> None:
        super().on_sleep()
        if self.mac.power == "full":  # leaving full wake (not a dark wake going back to sleep)
            self._slept_at = self.world.now

    def on_wake(self, dark: bool) -> None:
        super().on_wake(dark)
        if not dark:
            self._full()

    def on_promoted(self) -> None:
        self._full()

    def _full(self) -> None:
        slept = self.world.now - (self._slept_at if self._slept_at is not None else self.world.now)
        if self.zombie:
            self.log("tunnel", f"Tunnel up session={self.session} resumed=1")  # still believes it
            self._arm_keepalive()
        elif self.state == "up" and self.session_alive():
            self._arm_keepalive()
        elif self.state == "up" and slept >= self.zombie_after_s:
            self.zombie = True  # the bug: the stale session is "resumed" and never checked again
            self.log("tunnel", f"Tunnel up session={self.session} resumed=1")
            self.mac.truth_zombie(self.session)
            self._arm_keepalive()
        else:
            if self.state == "up":
                self.log("tunnel", f"Tunnel down session={self.session} reason={self._death()}")
                self.mac.truth_tunnel_down(self.session)
                self.state = "down"
            self.handshake()  # quietly: no alert

    def _keepalive(self, sid: str, epoch: int) -> None:
        if not self.zombie:
            super()._keepalive(sid, epoch)
            return
        if epoch != self.mac.epoch or self.session != sid:
            return
        self._seq += 1
        self.gateway.keepalive(sid)  # dropped: the gateway has no such session any more
        self.log("tunnel", f"Keepalive sent session={sid} seq={self._seq}")
        self._arm_keepalive()


MODELS = {cls.model: cls for cls in (Naive, DarkWakeAware, Lazy, FlakyHandshake, KeepaliveOffload, Zombie)}


def model(name: str):
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown twin build model {name!r} (known: {', '.join(sorted(MODELS))})") from None


def write_packages(folder) -> list:
    """A twin build manifest per model (what a ``.pkg`` is to a real Mac), for ``rig install``."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, cls in sorted(MODELS.items()):
        version = f"{cls.version}-{name}"
        path = folder / f"TwinProxy-{version}.pkg"
        path.write_text("# A twin build manifest: what a .pkg is to a real Mac.\n"
                        f'product = "TwinProxy"\nmodel = "{name}"\nversion = "{version}"\n')
        out.append(path)
    return out


def manifest(build: str, folder) -> tuple:
    """A twin build manifest for ``twin:MODEL[@LABEL]`` in ``folder`` and the version the Mac's
    listing will show after it is installed (the label, else the model's own version)."""
    from pathlib import Path

    name, _, label = build.split(":", 1)[1].partition("@")
    cls = model(name)
    version = label or f"{cls.version}-{name}"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"TwinProxy-{version}.pkg"
    path.write_text("# A twin build manifest: what a .pkg is to a real Mac.\n"
                    f'product = "TwinProxy"\nmodel = "{name}"\nversion = "{version}"\n')
    return path, version
