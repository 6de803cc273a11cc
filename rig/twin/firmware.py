"""The twin actuator: protocol-v1 firmware logic behind a tty.

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
anchors are exact even when a thread is late. Recent request ids are remembered: a retried
request is answered again but not acted on twice.

Faults a test can switch on (a real board can't produce them on demand): ``silent`` (hung: reads
and drops everything, acts on nothing), ``answers`` (answer that many more requests, then hang),
``reply_delay_s`` (act at once, answer late), ``preamble`` (line noise before each reply),
``garble`` (every reply turned to noise), ``proto``/``version`` (what PING reports).
"""
from __future__ import annotations

import os
import termios
import threading
import time
import tty
from collections import OrderedDict
from pathlib import Path

from rig.drive.actuator_protocol import PROTOCOL, Request, format_reply, parse_request

FIRMWARE = "twin-1.2.0"


def _boot_id() -> str:
    """A board's boot id: random per boot, so the rig can tell a reset from a slow reply."""
    return os.urandom(4).hex()


class Firmware:
    def __init__(self, world, clock, channels: dict[int, object], link: Path | None = None, faults=None):
        self.world = world
        self.clock = clock
        self.channels = channels
        self.link = Path(link) if link is not None else None
        self.recent: OrderedDict[str, bytes] = OrderedDict()
        self.faults = faults  # rig.twin.faults.Faults: ``actuator_reboot`` acts, then reboots unanswered
        self.boot = _boot_id()
        self.boots = 1
        self.version = FIRMWARE
        self.proto = PROTOCOL
        self.silent = False  # fault: hung, nothing is acted on or answered
        self.answers = -1  # fault: answer this many more requests, then hang (-1: never)
        self.reply_delay_s = 0.0  # fault: wall seconds between acting and answering
        self.preamble = b""  # fault: bytes written in front of every reply (line noise)
        self.garble = False  # fault: replies arrive as noise (what a baud-rate mismatch looks like)
        self.received: list[str] = []  # every request line, in order (retries included)
        self.actions: list[tuple[str, str, float]] = []  # (id, request, at) acted on
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

    # -- the loop -----------------------------------------------------------------------------
    def _loop(self, fd: int, session: int) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return  # unplugged (the pty's other side is gone) or detached
            if not chunk or session != self._session:
                return  # detached meanwhile: the fd number may already belong to a new tty
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("ascii", "replace").strip()
                self.received.append(text)
                if self.silent or self.answers == 0:
                    continue
                if self.answers > 0:
                    self.answers -= 1
                reply = self.handle(text)
                if not reply:
                    continue
                if self.faults is not None and b" PING" not in line and self.faults.take("actuator_reboot"):
                    self.reboot()  # acted, then the board reset before its reply left
                    continue
                if self.reply_delay_s:
                    time.sleep(self.reply_delay_s)
                if session != self._session:
                    return  # unplugged while "thinking": the reply is lost, the action stands
                if self.garble:
                    reply = bytes(b | 0x80 for b in reply[:-1]) + b"\n"
                try:
                    os.write(fd, self.preamble + reply)
                except OSError:
                    return

    def reboot(self) -> None:
        """A board reset: a new boot id, and every remembered request id is gone."""
        self.boot = _boot_id()
        self.boots += 1
        self.recent.clear()

    def handle(self, line: str) -> bytes | None:
        if not line:
            return None
        try:
            req = parse_request(line)
        except ValueError as e:
            rid = line.split(" ", 1)[0] if " " in line else "0"
            return format_reply(rid, ok=False, code=1, text=str(e))
        if req.id in self.recent:
            return self.recent[req.id]  # a retry: answer again, act once
        reply = self._act(req)
        self.recent[req.id] = reply
        while len(self.recent) > 256:
            self.recent.popitem(last=False)
        return reply

    def _act(self, req: Request) -> bytes:
        now = self.clock.now()
        at = int(now * 1_000_000)
        if req.verb == "PING":
            return format_reply(req.id, fw=self.version, proto=self.proto, channels=len(self.channels),
                                boot=self.boot, at=at)
        mac = self.channels.get(req.channel)
        if mac is None:
            return format_reply(req.id, ok=False, code=2, text=f"no channel {req.channel}")
        t = at / 1_000_000
        if req.verb == "LID":
            self.world.act(t, mac.lid, req.arg == "CLOSE")
        elif req.verb == "PWR":
            self.world.act(t, mac.power_press, req.ms)
        elif req.verb == "AC":
            self.world.act(t, setattr, mac, "ac", req.arg == "ON")
        elif req.verb == "STATUS":
            return format_reply(req.id, lid="closed" if mac.lid_closed else "open",
                                ac="on" if mac.ac else "off", at=at)
        self.actions.append((req.id, f"{req.verb} {req.channel} {req.arg}", t))
        return format_reply(req.id, at=at)
