"""One small lease interface (acquire / renew / release / close) with two backends.

``drive()`` should not care where a lease lives: a single controller keeps file leases (no server
to run), a rack shared by several controllers names a labgrid coordinator in ``[lab] coordinator``
(or ``rig run --coordinator``). The choice is made once, here, instead of in every caller.
"""
from __future__ import annotations

import getpass
import os
import re
import socket
import threading
import time

from rig.lab import lease
from rig.lab.lease import LeaseBusy


class FileLeases:
    """The shared-folder leases of :mod:`rig.lab.lease`, keyed by the Mac's machine name."""

    def __init__(self, folder):
        self.folder = folder

    def acquire(self, mac, holder: str, ttl_s: float, wait_s: float = 0.0, prio: float = 0.0) -> lease.Lease:
        """Retry until ``wait_s``; a shared folder keeps no queue, so ``prio`` has no meaning
        here (:class:`Holding` refuses a priority without a coordinator)."""
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

    def acquire(self, mac, holder: str, ttl_s: float, wait_s: float = 0.0, prio: float = 0.0) -> lease.Lease:
        from rig.lab.coordinator import place_name

        place = place_name(mac)
        self.coord.ensure_place(place, place_tags(mac))
        return self.coord.acquire(place, wait_s, prio)

    def renew(self, mac, holder: str, ttl_s: float) -> None:
        pass  # places do not expire

    def release(self, mac, holder: str) -> None:
        from rig.lab.coordinator import place_name

        self.coord.release(place_name(mac))

    def close(self) -> None:
        self.coord.close()


def controller_identity() -> str:
    """This controller as labgrid names a client, ``host/user`` (``LG_HOSTNAME``/``LG_USERNAME``
    override it): the holder of its places, and the controller of its runs in ``rig trend``."""
    host = os.environ.get("LG_HOSTNAME") or socket.gethostname()
    user = os.environ.get("LG_USERNAME") or getpass.getuser()
    return f"{host}/{user}"


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


def why_not_holdable(lab, macs) -> str | None:
    """Why ``macs`` of ``lab`` cannot be held as asked, or None: checked by :class:`Holding`, and
    by ``rig run`` before it makes a run folder that would stay empty."""
    from rig.lab.exported import needs_coordinator

    if lab.lease_priority and not lab.coordinator:
        return ("a lease priority (--lease-priority) ranks a run in a labgrid coordinator's queue; "
                "this lab's leases are files, which keep no queue: name the coordinator "
                "([lab] coordinator = \"HOST:PORT\" or --coordinator)")
    return needs_coordinator(lab, macs)


class Holding:
    """Everything a run holds while it drives its Macs: each Mac's lease and, with a coordinator,
    the places of the boards its actuators are exported from (``port = "place:…"``), whose
    ports are then resolved into ``lab`` (:mod:`rig.lab.exported`).

    Every place is taken in one order, sorted by place name, whether it is a Mac's or a board's:
    two controllers that each want a Mac and a shared board then never hold one and wait for the
    other. Anything taken is given back if a later one is refused, and on :meth:`release`.
    """

    def __init__(self, lab, macs, holder: str, ttl_s: float):
        from rig.lab.coordinator import place_name
        from rig.lab.exported import actuator_places, resolve
        from rig.lab.inventory import LabError

        missing = why_not_holdable(lab, macs)
        if missing:
            raise LabError(missing)
        self.leases, self.holder, self.ttl_s = open_leases(lab), holder, ttl_s
        self._stop, self._renewer = threading.Event(), None
        self.taken: list = []   # Macs and board places (str), in the order taken
        by_place = {place_name(m) if lab.coordinator else m.name: m for m in macs}
        for p in actuator_places(lab, macs):
            by_place.setdefault(p, p)
        try:
            for key in sorted(by_place):
                item = by_place[key]
                if isinstance(item, str):
                    self.leases.coord.acquire(item, lab.lease_wait_s, lab.lease_priority)
                else:
                    self.leases.acquire(item, holder, ttl_s, lab.lease_wait_s, lab.lease_priority)
                self.taken.append(item)
            self.lab = resolve(lab, macs, self.leases.coord) if lab.coordinator else lab
        except BaseException:  # busy, Ctrl-C while waiting, a coordinator gone: give back what we took
            self.release()
            raise

    def renew(self, mac) -> None:
        self.leases.renew(mac, self.holder, self.ttl_s)

    def renew_every(self, interval_s: float) -> None:
        """Renew every Mac's lease from a daemon thread until :meth:`release` (for a caller with
        no cycle loop of its own, e.g. a pytest session)."""
        def loop():
            while not self._stop.wait(interval_s):
                for item in list(self.taken):
                    if not isinstance(item, str):
                        try:
                            self.renew(item)
                        except Exception:  # noqa: BLE001 - a missed renewal is retried next time
                            pass

        self._renewer = threading.Thread(target=loop, name="lease-renew", daemon=True)
        self._renewer.start()

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()   # no renewal may land after the release below
            self._renewer = None
        for item in reversed(self.taken):
            if isinstance(item, str):
                self.leases.coord.release(item)
            else:
                self.leases.release(item, self.holder)
        self.taken = []
        self.leases.close()
