"""A twin USB relay board (CH340 "LCUS" type): 4-byte frames in, relays switched, nothing said back.

It serves on an existing tty (``attach(path)``, e.g. one end of a socat pty pair) the way the
board's CH340 sits behind ``/dev/serial/by-id/…``. It checks every frame like the board does
(header ``A0``, state 0/1, checksum) and ignores bad ones; unlike the board it *keeps* them in
``rejected`` so a test can see that a corrupted frame switched nothing.

``log`` holds every switch as ``(t, relay, on)`` on the lab clock; ``on_switch(relay, on, t)``
lets a twin lab wire a relay to a Mac's power button or AC line.
"""
from __future__ import annotations

import os
import termios
import threading
import tty
from pathlib import Path
from typing import Callable

from rig.drive.actuators.lcus_relay import HEADER, decode_frame


class RelayBoard:
    def __init__(self, clock, relays: int = 4, on_switch: Callable[[int, bool, float], None] | None = None):
        self.clock = clock
        self.relays = relays
        self.on_switch = on_switch
        self.state = {r: False for r in range(1, relays + 1)}
        self.log: list[tuple[float, int, bool]] = []
        self.rejected: list[tuple[bytes, str]] = []
        self._buf = b""
        self._fd = -1
        self._session = 0  # bumped by detach: an older loop stops before touching a reused fd
        self._lock = threading.Lock()

    def attach(self, path: str | Path) -> "RelayBoard":
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd, termios.TCSANOW)
        self._fd = fd
        threading.Thread(target=self._loop, args=(fd, self._session), name="relay-board", daemon=True).start()
        return self

    def detach(self) -> None:
        self._session += 1
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = -1

    def _loop(self, fd: int, session: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 64)
            except OSError:
                return  # unplugged or detached
            if not chunk or session != self._session:
                return
            self.feed(chunk)

    def feed(self, data: bytes) -> None:
        """Decode bytes as the board does: frames start at ``A0``; a bad frame switches nothing."""
        with self._lock:
            self._buf += data
            while self._buf:
                if self._buf[0] != HEADER:
                    self.rejected.append((self._buf[:1], f"{self._buf[0]:#04x} is not a frame start"))
                    self._buf = self._buf[1:]
                    continue
                if len(self._buf) < 4:
                    return
                raw, self._buf = self._buf[:4], self._buf[4:]
                try:
                    relay, on = decode_frame(raw)
                except ValueError as e:
                    self.rejected.append((raw, str(e)))
                    continue
                if relay not in self.state:
                    self.rejected.append((raw, f"no relay {relay} on a {self.relays}-relay board"))
                    continue
                t = self.clock.now()
                self.state[relay] = on
                self.log.append((t, relay, on))
                if self.on_switch:
                    self.on_switch(relay, on, t)
