"""The twin's discrete-event world on a virtual clock.

Everything that happens in the simulated lab is an event at an exact virtual instant in one
priority queue. The world is advanced lazily: whenever a door (an SSH command, an actuator
request) touches it, it first runs every event due up to that door's virtual "now". So every
logged timestamp is the exact scheduled instant, whatever the threads' jitter, and nothing needs
a ticking background thread. Batch mode (``simulate.py``) runs the same world with no doors at
all: its controllers are events too, and it advances from one event to the next (``next_at``).

Holds the scheduler and the ground truth; the Mac's power state machine is in ``mac.py``, the
extension build models in ``builds.py``, the gateway in ``gateway.py``.
"""
from __future__ import annotations

import heapq
import itertools
import random
import threading
from typing import Callable


class World:
    def __init__(self, start: float, seed: int = 1):
        self.now = start
        self.start = start
        self.seed = seed  # models that need their own stream derive it from this (see builds.py)
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self._queue: list[tuple[float, int, Callable, tuple]] = []
        self._seq = itertools.count()
        self.macs: dict = {}
        self.gateway = None
        self.listeners: list[Callable[[str, str], None]] = []  # (mac, event) e.g. power changes

    # -- scheduling ---------------------------------------------------------------------------
    def at(self, t: float, fn: Callable, *args) -> None:
        heapq.heappush(self._queue, (max(t, self.now), next(self._seq), fn, args))

    def after(self, delay: float, fn: Callable, *args) -> None:
        self.at(self.now + delay, fn, *args)

    def advance(self, t: float) -> None:
        """Run every event due at or before ``t``, each at its own instant, then stand at ``t``."""
        with self.lock:
            while self._queue and self._queue[0][0] <= t:
                when, _, fn, args = heapq.heappop(self._queue)
                self.now = max(self.now, when)
                fn(*args)
            self.now = max(self.now, t)

    def next_at(self) -> float | None:
        """The instant of the next scheduled event (None: nothing left to happen)."""
        return self._queue[0][0] if self._queue else None

    def act(self, t: float, fn: Callable, *args):
        """Apply an outside action (a door) at virtual time ``t``."""
        with self.lock:
            self.advance(t)
            return fn(*args)

    def notify(self, mac: str, event: str) -> None:
        for fn in list(self.listeners):
            fn(mac, event)

    # -- ground truth -------------------------------------------------------------------------
    def truth(self) -> dict:
        """What really happened (the rig never reads this; the rig's tests do)."""
        with self.lock:
            return {
                "now": self.now,
                "start": self.start,
                "macs": {name: mac.truth_record() for name, mac in self.macs.items()},
                "gateway": self.gateway.truth_record() if self.gateway else {},
            }
