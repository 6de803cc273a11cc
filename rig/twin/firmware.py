"""The twin actuator: the reference firmware's own protocol code behind a tty.

The protocol (parsing, the memory of recent ids, replies, safe states at boot, bounded presses)
is ``rigfw.protocol``, the module the board runs (``firmware/rigfw/protocol.py``); the twin
imports it and replaces only the *pin layer* (:class:`TwinPins`: a lid, a button, an AC relay
become actions on the twin's Macs) and the USB link (a pty served by a thread). So the rig meets
the same replies from the twin as from a board, and ``tests/test_actuator_firmware.py`` runs one
suite against both.

Two ways to wire it, like a real board:

- ``plug()`` makes its own pty pair and points a stable symlink at the rig's side (the way
  ``/dev/serial/by-id/…`` names a USB device); ``unplug()`` closes it and removes the link.
  ``rig.twin.serve`` uses this.
- ``attach(path)`` opens an existing tty as the *device* side, e.g. one end of a
  ``socat pty,link=A pty,link=B`` pair whose other end the rig opens. ``detach()`` lets go.
  Tests use this to unplug and replug under the rig: kill socat, start a new pair with the same
  links, attach again. The object (and its memory of recent ids) survives, like an MCU that
  keeps running while its USB serial re-enumerates.

Replies carry ``at=<µs>``: the instant the firmware acted, on the lab's (virtual) clock, so
anchors are exact even when a thread is late. A press is answered when its button is released
(``at=`` when it went down), on the lab clock too: a 6 s press takes 30 ms at x200.

Faults a test can switch on (a real board can't produce them on demand): ``silent`` (hung: reads
and drops everything, acts on nothing), ``answers`` (answer that many more requests, then hang),
``reply_delay_s`` (act at once, answer late), ``preamble`` (line noise before each reply),
``garble`` (every reply turned to noise), ``proto``/``version`` (what PING reports), and
``faults`` (``actuator_reboot``: act, then reset before answering; the reset is a boot like a
board's: a new boot id, every id forgotten, every channel in its safe state, so a closed lid
opens again).
"""
from __future__ import annotations

import os
import select
import termios
import threading
import time
import tty
from pathlib import Path

from rigfw import protocol as v1

FIRMWARE = f"twin-{v1.VERSION}"
IDLE_S = 0.5  # wall seconds a serving thread waits for input before it looks at its session again


def _boot_id() -> str:
    """A board's boot id: random per boot, so the rig can tell a reset from a slow reply."""
    return os.urandom(4).hex()


class TwinPins:
    """The twin's pin layer for ``rigfw.protocol.Board``: pins are actions on the twin's Macs.

    ``now_us()`` is the lab clock; every pin call that follows acts at the instant it last
    read (the one the reply's ``at=`` carries), so the twin's truth and the rig's anchor agree
    exactly. The Mac model takes a press whole (its length decides what it does), so
    ``press`` carries it and ``release`` has nothing left to do.
    """

    def __init__(self, world, clock, macs: dict[int, object]):
        self.world, self.clock, self.macs = world, clock, macs
        self.t = clock.now()

    def now_us(self) -> int:
        us = int(self.clock.now() * 1_000_000)
        self.t = us / 1_000_000
        return us

    def lid(self, ch: int, closed: bool) -> None:
        self.world.act(self.t, self.macs[ch].lid, closed)

    def press(self, ch: int, ms: int) -> None:
        self.world.act(self.t, self.macs[ch].power_press, ms)

    def release(self, ch: int) -> None:
        pass

    def ac(self, ch: int, on: bool) -> None:
        self.world.act(self.t, setattr, self.macs[ch], "ac", on)


class Firmware:
    def __init__(self, world, clock, channels: dict[int, object], link: Path | None = None, faults=None):
        self.world = world
        self.clock = clock
        self.channels = channels
        self.link = Path(link) if link is not None else None
        self.faults = faults  # rig.twin.faults.Faults: ``actuator_reboot`` acts, then reboots unanswered
        self.pins = TwinPins(world, clock, channels)
        self._version, self._proto, self.boots = FIRMWARE, v1.PROTOCOL, 0
        self._lock = threading.RLock()  # the board is shared by the serving thread of each attach
        self._acted = False
        self.actions: list[tuple[str, str, float]] = []  # (id, request, at) acted on
        self._boot(_boot_id())
        self.silent = False  # fault: hung, nothing is acted on or answered
        self.answers = -1  # fault: answer this many more requests, then hang (-1: never)
        self.reply_delay_s = 0.0  # fault: wall seconds between acting and answering
        self.preamble = b""  # fault: bytes written in front of every reply (line noise)
        self.garble = False  # fault: replies arrive as noise (what a baud-rate mismatch looks like)
        self.received: list[str] = []  # every request line, in order (retries included)
        self._fds: list[int] = []
        self._session = 0  # bumped by detach: a loop of an older session stops touching fds

    # -- wiring -------------------------------------------------------------------------------
    def start(self) -> "Firmware":
        self.plug()
        return self

    def plug(self) -> None:
        """Create a new pty pair and point the stable link at it (a USB (re)enumeration)."""
        master, slave = os.openpty()
        tty.setraw(slave)
        self._fds = [master, slave]  # holding the slave keeps the pty alive between rig opens
        tmp = self.link.with_name(self.link.name + ".tmp")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link)
        self._serve(master)

    def unplug(self) -> None:
        self.detach()
        if self.link is not None:
            try:
                self.link.unlink()
            except FileNotFoundError:
                pass

    def attach(self, path: str | Path) -> "Firmware":
        """Serve on an existing tty (the device side of a pty pair)."""
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd, termios.TCSANOW)  # TCSANOW: keep bytes the rig already sent
        self._fds = [fd]
        self._serve(fd)
        return self

    def detach(self) -> None:
        self._session += 1
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []

    def _serve(self, fd: int) -> None:
        threading.Thread(target=self._loop, args=(fd, self._session), name="firmware", daemon=True).start()

    # -- the board ----------------------------------------------------------------------------
    def _boot(self, boot: str) -> None:
        """A boot of the board: the protocol code starts afresh (safe states, no ids)."""
        with self._lock:
            self.board = v1.Board(self.pins, max(self.channels, default=0), self._version, boot,
                                  on_act=self._on_act)
            self.board.proto = self._proto
            self.boots += 1

    def _on_act(self, rid: str, what: str, at_us: int) -> None:
        self._acted = True
        self.actions.append((rid, what, at_us / 1_000_000))

    @property
    def boot(self) -> str:
        return self.board.boot

    @boot.setter
    def boot(self, value: str) -> None:  # "" : a firmware that reports no boot id
        self.board.boot = value

    @property
    def version(self) -> str:
        return self._version

    @version.setter
    def version(self, value: str) -> None:
        self._version = self.board.fw = value

    @property
    def proto(self) -> int:
        return self._proto

    @proto.setter
    def proto(self, value: int) -> None:
        self._proto = self.board.proto = value

    def reboot(self) -> None:
        """A board reset: a new boot id, every remembered request id gone, safe states."""
        self._boot(_boot_id())

    # -- the loop -----------------------------------------------------------------------------
    def _loop(self, fd: int, session: int) -> None:
        while True:
            try:
                ready = select.select([fd], [], [], self._wait_s())[0]
                if session != self._session:
                    return  # detached meanwhile: the fd number may already belong to a new tty
                chunk = os.read(fd, 4096) if ready else b"-"
            except (OSError, ValueError):
                return  # unplugged (the pty's other side is gone) or detached
            if not chunk:
                return
            replies = []
            with self._lock:
                if ready:
                    for line in self.board.framer.push(chunk):
                        replies += self._request(line)
                replies += self.board.poll()  # presses whose time is up: released, answered
            for reply in replies:
                if not self._send(fd, session, reply):
                    return

    def _wait_s(self) -> float:
        """Wall seconds until the board's next held press is due (the lab clock may be scaled)."""
        due = self.board.due_us()
        if due is None:
            return IDLE_S
        return min(IDLE_S, max(0.0, (due / 1_000_000 - self.clock.now()) / getattr(self.clock, "scale", 1.0)))

    def _request(self, line: bytes) -> list[bytes]:
        self.received.append(line.decode("ascii", "replace").strip())
        if self.silent or self.answers == 0:
            return []
        if self.answers > 0:
            self.answers -= 1
        self._acted = False
        reply = self.board.handle(line)
        if self._acted and self.faults is not None and self.faults.take("actuator_reboot"):
            self.reboot()  # acted, then the board reset before its reply left
            return []
        return [reply] if reply else []

    def _send(self, fd: int, session: int, reply: bytes) -> bool:
        if self.reply_delay_s:
            time.sleep(self.reply_delay_s)
        if session != self._session:
            return False  # unplugged while "thinking": the reply is lost, the action stands
        if self.garble:
            reply = bytes(b | 0x80 for b in reply[:-1]) + b"\n"
        try:
            os.write(fd, self.preamble + reply)
        except OSError:
            return False
        return True
