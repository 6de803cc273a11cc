"""The twin actuator: protocol-v1 firmware logic on the master side of a pty.

The rig opens the slave side with pyserial through a stable symlink (the way
``/dev/serial/by-id/…`` names a USB device). Replies carry ``at=<µs>``: the instant the firmware
acted, on the lab's (virtual) clock, so anchors are exact even when a thread is late. Recent
request ids are remembered: a retried request is answered again but not acted on twice.
"""
from __future__ import annotations

import os
import threading
import tty
from collections import OrderedDict
from pathlib import Path

from ..actuator_protocol import Request, format_reply, parse_request

FIRMWARE = "twin-1.2.0"


class Firmware:
    def __init__(self, world, clock, channels: dict[int, object], link: Path):
        self.world = world
        self.clock = clock
        self.channels = channels
        self.link = Path(link)
        self.recent: OrderedDict[str, bytes] = OrderedDict()
        self.silent = False  # fault: the device stops answering
        self.actions: list[tuple[str, str, float]] = []  # (id, request, at) acted on
        self._master = -1
        self._slave = -1

    def start(self) -> "Firmware":
        self.plug()
        return self

    def plug(self) -> None:
        """Create a new pty pair and point the stable link at it (a USB (re)enumeration)."""
        master, slave = os.openpty()
        tty.setraw(slave)
        self._master, self._slave = master, slave
        tmp = self.link.with_name(self.link.name + ".tmp")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link)
        threading.Thread(target=self._loop, args=(master,), name="firmware", daemon=True).start()

    def unplug(self) -> None:
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.link.unlink()
        except FileNotFoundError:
            pass

    def _loop(self, master: int) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                reply = self.handle(line.decode("ascii", "replace").strip())
                if reply and not self.silent:
                    try:
                        os.write(master, reply)
                    except OSError:
                        return

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
            return format_reply(req.id, fw=FIRMWARE, proto=1, channels=len(self.channels), at=at)
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
