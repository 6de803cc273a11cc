"""A USB-serial cable a test can unplug: a socat pty pair behind two stable symlinks.

``rig`` is the link the driver opens (what ``/dev/serial/by-id/…`` is on a rack); ``device`` is
the link the twin firmware or relay board attaches to. ``unplug()`` stops socat (it removes its
links, and both ends see the device vanish, as on a real unplug); ``plug()`` starts a new pair
under the same links, usually on new ``/dev/pts/N`` numbers.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

SOCAT = shutil.which("socat")


class SocatPair:
    def __init__(self, folder: Path):
        self.rig = Path(folder) / "usb-rig-actuator-TEST0001-if00"
        self.device = Path(folder) / "device-side"
        self.proc: subprocess.Popen | None = None
        self._log = Path(folder) / "socat.log"

    def plug(self, timeout: float = 5.0) -> "SocatPair":
        assert SOCAT, "socat is not installed (./dev test installs it)"
        self.proc = subprocess.Popen(
            [SOCAT, "-d", "-d", f"pty,raw,echo=0,link={self.rig}", f"pty,raw,echo=0,link={self.device}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log.open("ab"))
        deadline = time.monotonic() + timeout
        while not (os.path.exists(self.rig) and os.path.exists(self.device)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"socat did not make its ptys: {self._log.read_text()[-500:]}")
            time.sleep(0.002)
        return self

    def unplug(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
        self.proc = None

    def tty(self) -> str:
        """The /dev/pts/N the rig's link points at now."""
        return os.path.realpath(self.rig)
