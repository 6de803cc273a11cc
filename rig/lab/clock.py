"""One clock interface for the controller: ``now()`` and ``sleep()``.

The rig never calls ``time.time()`` for an instant it records: it asks the lab's clock. On a real
rack that is the system clock. In a twin lab it is a *scaled* clock derived from the lab file's
``[clock]`` table (a wall/virtual origin pair and a scale), so every process that reads the same
table (the controller, the twin's SSH doors, its actuator firmware) agrees on virtual time
without talking to each other, and a 45-minute dwell takes seconds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch on this lab's time axis."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this lab's time."""

    @property
    def scale(self) -> float:
        """Lab seconds per wall second (1 on real hardware)."""


class SystemClock:
    scale = 1.0

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass(frozen=True)
class ScaledClock:
    """Virtual time = ``virtual_origin + (wall - wall_origin) * scale``."""

    scale: float
    wall_origin: float
    virtual_origin: float

    def now(self) -> float:
        return self.virtual_origin + (time.time() - self.wall_origin) * self.scale

    def to_wall(self, virtual: float) -> float:
        return self.wall_origin + (virtual - self.virtual_origin) / self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)

    def sleep_until(self, virtual: float) -> None:
        self.sleep(virtual - self.now())
