"""Faults the twin injects through its real doors, on demand (``TwinConfig.faults``).

A real lab produces these at random: a link that drops in the middle of a transfer, a gateway
whose log source is down, an actuator board that reboots between acting and answering. Here
each is a named counter: ``{"sftp_drop": 1}`` cuts the first SFTP transfer half way, ``-1``
means every time. The doors ask :meth:`Faults.take` at the moment a fault could strike, so the
rig meets it exactly as it would meet the real thing (a closed transport, a failing command, a
missing reply), never through a shortcut. The Mac's own faults (a Mac that needs the second or
third rung of the recovery ladder, a clock step, a time-zone change) live on the Mac model
(``MacSpec``), because the batch twin runs them too.

Names (docs/design.md, "Fault matrix"):

- ``sftp_drop``: the SSH transport is closed when half of a file has been read over SFTP;
- ``gateway_fetch_drop``: the gateway's log command sends half its output, then the link drops;
- ``gateway_down``: the gateway's log command fails (its journal cannot be opened);
- ``actuator_reboot``: the actuator acts on a request, then reboots before answering it (a new
  boot id, every remembered request id forgotten, every channel back in its safe state: a lid
  the request closed opens again);
- ``actuator_power_cycle``: a minute (lab time) after a lid is closed the actuator loses power
  and comes back (a new boot, a new tty behind the same link); its safe states open the lid,
  so the laptop wakes in the middle of the dwell.
"""
from __future__ import annotations

import threading

KNOWN = ("sftp_drop", "gateway_fetch_drop", "gateway_down", "actuator_reboot", "actuator_power_cycle")


class Faults:
    def __init__(self, counts: dict | None = None):
        counts = dict(counts or {})
        unknown = sorted(set(counts) - set(KNOWN))
        if unknown:
            raise ValueError(f"unknown twin fault(s) {', '.join(unknown)} (known: {', '.join(KNOWN)})")
        self._left = {k: int(v) for k, v in counts.items()}
        self._lock = threading.Lock()
        self.struck: dict[str, int] = {}  # how often each fault struck (for the truth)

    def left(self, name: str) -> int:
        """How many more times ``name`` strikes (-1: always)."""
        with self._lock:
            return self._left.get(name, 0)

    def take(self, name: str) -> bool:
        """Whether ``name`` strikes now (and one fewer is left)."""
        with self._lock:
            left = self._left.get(name, 0)
            if left == 0:
                return False
            if left > 0:
                self._left[name] = left - 1
            self.struck[name] = self.struck.get(name, 0) + 1
            return True
