"""The twin's emulation of the rig's probe loop (``rig/probe.py``) on a simulated Mac.

On a real Mac the loop is a shell process: it runs in full and dark wake, is frozen in sleep and
carries on after wake, and each attempt appends ``<start> <end> ok|fail`` (Mac clock) to a file.
Here the same happens on the world's clock: an attempt succeeds when traffic really passes (the
extension's session is up *and* alive at the gateway on the Mac's current network), so a build
that shows Connected while nothing passes is caught by the probe as it would be on hardware.
"""
from __future__ import annotations

from pathlib import Path

TIMEOUT_S = 3.0  # curl -m 3


class TwinProbe:
    def __init__(self, world, mac, log: Path, url: str, interval_s: float):
        self.world, self.mac, self.log, self.url, self.interval_s = world, mac, Path(log), url, interval_s
        self._epoch = None
        self.running = False

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.world.listeners.append(self._on_power)
        self._run_from_now()

    def _run_from_now(self) -> None:
        self._epoch = self.mac.epoch
        self.world.after(0.2, self._attempt, self._epoch)

    def _on_power(self, name: str, phase: str) -> None:
        # a process resumes on every wake; a dark wake promoted to full is the same run
        if name == self.mac.name and phase in ("full", "dark") and self.mac.epoch != self._epoch:
            self._run_from_now()

    def _attempt(self, epoch: int) -> None:
        if epoch != self.mac.epoch or self.mac.power == "sleep":
            return  # frozen: the loop resumes at the next wake
        start = self.world.now
        ok = self.mac.ext.connected()
        took = self.world.rng.uniform(0.04, 0.25) if ok else TIMEOUT_S
        self.world.after(took, self._record, epoch, start, ok)

    def _record(self, epoch: int, start: float, ok: bool) -> None:
        if epoch != self.mac.epoch:
            return  # the request was cut by sleep; curl's line is never written
        with self.log.open("a") as f:
            f.write(f"{self.mac.clock(start):.3f} {self.mac.clock():.3f} {'ok' if ok else 'fail'}\n")
        self.world.after(self.interval_s, self._attempt, epoch)
