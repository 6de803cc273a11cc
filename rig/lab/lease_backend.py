"""One small lease interface (acquire / renew / release / close) with two backends.

``drive()`` should not care where a lease lives: a single controller keeps file leases (no server
to run), a rack shared by several controllers names a labgrid coordinator in ``[lab] coordinator``
(or ``rig run --coordinator``). The choice is made once, here, instead of in every caller.
"""
from __future__ import annotations

import re
import time

from rig.lab import lease
from rig.lab.lease import LeaseBusy


class FileLeases:
    """The shared-folder leases of :mod:`rig.lab.lease`, keyed by the Mac's machine name."""

    def __init__(self, folder):
        self.folder = folder

    def acquire(self, mac, holder: str, ttl_s: float, wait_s: float = 0.0) -> lease.Lease:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return lease.acquire(self.folder, lease.key(mac), holder, ttl_s)
            except LeaseBusy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)

    def renew(self, mac, holder: str, ttl_s: float) -> None:
        lease.renew(self.folder, lease.key(mac), holder, ttl_s)

    def release(self, mac, holder: str) -> None:
        lease.release(self.folder, lease.key(mac), holder)

    def close(self) -> None:
        pass


class PlaceLeases:
    """A Mac's labgrid place, acquired as this controller's ``host/user`` (not the run id: a
    resumed run is the same controller, so it finds the place its own)."""

    def __init__(self, address: str, identity: str | None = None):
        from rig.lab.coordinator import CoordinatorLeases

        self.coord = CoordinatorLeases(address, identity)

    def acquire(self, mac, holder: str, ttl_s: float, wait_s: float = 0.0) -> lease.Lease:
        from rig.lab.coordinator import place_name

        place = place_name(mac)
        self.coord.ensure_place(place, place_tags(mac))
        return self.coord.acquire(place, wait_s)

    def renew(self, mac, holder: str, ttl_s: float) -> None:
        pass  # places do not expire

    def release(self, mac, holder: str) -> None:
        from rig.lab.coordinator import place_name

        self.coord.release(place_name(mac))

    def close(self) -> None:
        self.coord.close()


def place_tags(mac) -> dict[str, str]:
    """The Mac's tags as labgrid tags (keys ``[a-z][a-z0-9_]+``), so reservations can filter on them."""
    out = {"rig": "mac"}
    for t in getattr(mac, "tags", ()):
        k = re.sub(r"[^a-z0-9_]", "_", str(t).lower())
        if re.fullmatch(r"[a-z][a-z0-9_]+", k):
            out[k] = "1"
    return out


def open_leases(lab):
    """The lab's lease backend: its coordinator when it names one, else its lease folder."""
    if getattr(lab, "coordinator", None):
        return PlaceLeases(lab.coordinator)
    return FileLeases(lab.lease_folder)
