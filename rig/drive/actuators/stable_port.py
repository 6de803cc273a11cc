"""A serial port named by a stable path, found again when the USB device re-enumerates.

A USB-serial adapter that resets (a brown-out, a flaky hub, firmware restarting its USB stack)
comes back as a *new* tty: ``/dev/ttyACM0`` becomes ``/dev/ttyACM1``. udev keeps
``/dev/serial/by-id/usb-<vendor>_<product>_<serial>-if00`` pointing at whichever tty it is now,
so the rig names the port by that link and re-opens *the link* every time, never the tty it
resolved to last time (``device`` remembers that only for messages).

Finding the device again takes a while (the kernel enumerates it, udev makes the link, then
fixes its permissions), so ``open()`` retries until a deadline in **wall** seconds: it waits on
a device, not on the lab (a twin lab's scaled clock would shrink 10 s to 50 ms). Every distinct
problem on the way is kept for the error message, so the journal shows what happened: the link
missing for 2 s, then permission denied twice, then the deadline.

The path may also be a pyserial URL: ``rfc2217://host:port?ign_set_control`` for an actuator
exported from another host by ``ser2net`` (as ``labgrid-exporter`` runs it), ``socket://`` for raw
TCP. A dropped network link then looks like an unplug (a read or write fails) and is handled the
same way: close, re-open the URL until the deadline, resend under the same request id. Such a
URL may move (an exporter that restarts publishes a new TCP port): ``locate``, when given, says
where the port is now, and a failed open asks it again (at most once per ``LOCATE_EVERY_S``), as
a by-id link is followed to whichever tty it points at now.

Reads are bounded by a deadline too (``read_line``), not by pyserial's per-byte timeout: a
stream of line noise without a newline must not hold a request forever.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

import serial

from rig.drive.actuator import ActuatorError

MAX_LINE = 512  # longer than any protocol line: a longer run without a newline is noise
LOCATE_EVERY_S = 1.0  # a moved URL is looked up at most this often (each look asks a coordinator)


class Problems:
    """Distinct failures in order, each with how often it repeated (journal-friendly)."""

    def __init__(self):
        self.items: list[list] = []

    def add(self, what: str) -> None:
        if self.items and self.items[-1][0] == what:
            self.items[-1][1] += 1
        else:
            self.items.append([what, 1])

    def __str__(self) -> str:
        return "; ".join(w if n == 1 else f"{w} (x{n})" for w, n in self.items)


class StablePort:
    def __init__(self, path: str, baud: int, owner: str, reopen_s: float = 10.0,
                 write_timeout: float = 2.0, poll_s: float = 0.05, locate: Callable[[], str] | None = None):
        self.path = path
        self.locate = locate
        self.baud = baud
        self.owner = owner  # e.g. 'actuator "act-1"', the start of every message
        self.reopen_s = reopen_s
        self.write_timeout = write_timeout
        self.poll_s = poll_s
        self.serial: serial.Serial | None = None
        self.device = ""  # the tty the link pointed at when last opened (messages only)
        self.opens = 0  # successful opens; > 1 means the device was found again
        self._buf = b""

    @property
    def is_open(self) -> bool:
        return self.serial is not None

    def open(self) -> None:
        """Open the stable path, retrying until the re-open deadline (wall seconds)."""
        deadline = time.monotonic() + self.reopen_s
        problems = Problems()
        located = 0.0
        while True:
            try:
                port = serial.serial_for_url(self.path, self.baud, timeout=self.poll_s, **self._write_timeout())
                port.reset_input_buffer()  # bytes from before the open belong to nobody
                break
            except (serial.SerialException, OSError) as e:
                problems.add(str(e))
            if self.locate is not None and time.monotonic() - located >= LOCATE_EVERY_S:
                located = time.monotonic()
                self._relocate(problems)
            if time.monotonic() >= deadline:
                hint = ("is ser2net (the exporter) up on that host?" if self.is_url
                        else f"unplugged? check the USB cable and `ls -l {self.path}`")
                raise ActuatorError(f"{self.owner}: cannot open {self.path} within {self.reopen_s:g} s: {problems} "
                                    f"({hint})")
            time.sleep(self.poll_s)
        self.serial, self._buf = port, b""
        self.opens += 1
        self.device = self.path if self.is_url else os.path.realpath(self.path)

    def _relocate(self, problems: Problems) -> None:
        """Ask ``locate`` where the port is now; a new answer is opened next (and said)."""
        try:
            where = self.locate()
        except Exception as e:  # noqa: BLE001 - any failure to look is one more problem to report
            problems.add(f"cannot look up where the port is now ({e})")
            return
        if where != self.path:
            problems.add(f"the port moved from {self.path} to {where}")
            self.path = where

    @property
    def is_url(self) -> bool:
        return "://" in self.path

    def _write_timeout(self) -> dict:
        """pyserial's RFC 2217 client refuses a write timeout; a socket write fails on its own."""
        return {} if self.path.startswith("rfc2217://") else {"write_timeout": self.write_timeout}

    def ensure_open(self) -> bool:
        """Open if closed; True if this call (re)opened the port."""
        if self.serial is None:
            self.open()
            return True
        return False

    def close(self) -> None:
        if self.serial is not None:
            try:
                self.serial.close()
            except (serial.SerialException, OSError):
                pass  # already gone: that is why we close
            self.serial = None
        self._buf = b""

    def write(self, data: bytes) -> None:
        """Write all of ``data``; raises SerialException/OSError if the device is gone."""
        self.serial.write(data)

    def drain(self) -> None:
        """Wait until written bytes have left the adapter (tcdrain), for send-time instants."""
        self.serial.flush()

    def read_line(self, deadline: float) -> bytes | None:
        """One line (with its ``\\n``), a run of noise longer than any line, or None at the deadline.

        ``deadline`` is ``time.monotonic()`` based. A port error propagates (the caller re-opens).
        """
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line, self._buf = self._buf[:i + 1], self._buf[i + 1:]
                return line
            if len(self._buf) > MAX_LINE:
                junk, self._buf = self._buf, b""
                return junk
            if time.monotonic() >= deadline:
                return None
            chunk = self.serial.read(1)
            if chunk:
                chunk += self.serial.read(self.serial.in_waiting)
            self._buf += chunk
