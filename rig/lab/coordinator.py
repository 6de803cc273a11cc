"""Leases through labgrid's coordinator: each Mac is a place, a run acquires it as ``host/user``.

File leases need a folder every controller mounts and have no view of who waits; a rack shared by
CI runners and engineers' machines needs a server. labgrid's coordinator (gRPC) already is one,
and the HIL tools around it (``labgrid-client``, exporters) see the same places. The place's
holder is labgrid's identity ``host/user`` (``LG_HOSTNAME``/``LG_USERNAME`` override it, as for
``labgrid-client``), not the run id: a killed run leaves its place acquired, and the same
controller re-acquires it on ``--resume`` because the coordinator names it the holder already.

labgrid's client is asyncio; the rig is threads. One private event loop runs in a daemon thread
and every call is handed to it, so cycle threads can renew without owning a loop.
"""
from __future__ import annotations

import asyncio
import threading
import time

from rig.lab.lease import Lease, LeaseBusy
from rig.lab.lease_backend import controller_identity


class CoordinatorError(Exception):
    """The coordinator could not be reached or refused a request for a reason other than a holder."""


def place_name(mac) -> str:
    """``rig-<mac>`` unless the lab file names the place (``place = "…"`` on the Mac)."""
    return getattr(mac, "place", "") or f"rig-{mac.name}"


class CoordinatorLeases:
    """acquire / renew / release / list on a labgrid coordinator at ``address`` (HOST:PORT)."""

    def __init__(self, address: str, identity: str | None = None, poll_s: float = 0.2):
        from labgrid.remote.client import ClientSession

        self.address, self.poll_s = address, poll_s
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="labgrid-loop", daemon=True)
        self.thread.start()
        host, _, user = (identity or controller_identity()).partition("/")

        class Session(ClientSession):
            def gethostname(s):
                return host

            def getuser(s):
                return user

        async def start():
            import grpc
            from labgrid.remote.generated import labgrid_coordinator_pb2_grpc as pb_grpc

            s = Session(address, self.loop)
            # The coordinator tells clients apart by their connection: two sessions in one process
            # (a test's two controllers) must not share grpc's global subchannel.
            await s.channel.close()
            s.channel = grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1),
                                                                     ("grpc.keepalive_time_ms", 7500)])
            s.stub = pb_grpc.CoordinatorStub(s.channel)
            await asyncio.wait_for(s.start(), 10)
            return s

        try:
            self.session = self._call(start())
        except Exception as e:  # noqa: BLE001 - the reason is in the message
            self.loop.call_soon_threadsafe(self.loop.stop)
            raise CoordinatorError(f"labgrid coordinator {address}: cannot connect ({e})") from e
        self.identity = f"{self.session.gethostname()}/{self.session.getuser()}"

    def _call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _rpc(self, name: str, request):
        import grpc

        try:
            return await getattr(self.session.stub, name)(request)
        except grpc.aio.AioRpcError as e:
            raise CoordinatorError(f"labgrid coordinator {self.address}: {name}: {e.details()}") from e

    async def _sync(self):
        await self.session.sync_with_coordinator()

    def holder(self, place: str) -> str | None:
        self._call(self._sync())
        p = self.session.places.get(place)
        return p.acquired if p else None

    def ensure_place(self, place: str, tags: dict[str, str]) -> None:
        """Create the place (first run on a new rack) and keep its tags equal to the Mac's."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        self._call(self._sync())
        if place not in self.session.places:
            self._call(self._rpc("AddPlace", pb.AddPlaceRequest(name=place)))
        if tags:
            self._call(self._rpc("SetPlaceTags", pb.SetPlaceTagsRequest(placename=place, tags=tags)))

    def acquire(self, place: str, wait_s: float = 0.0, prio: float = 0.0) -> Lease:
        """Acquire ``place`` (or find it ours already); wait up to ``wait_s`` for another holder.

        Waiting is a labgrid *reservation* (filter ``name=<place>``, priority ``prio``), not a
        retry loop: the coordinator allocates a freed place to the oldest waiting reservation of
        the highest priority, so two runs queued behind a night run get the Mac in the order they
        asked (a release-day run given a higher ``prio`` goes before both), and
        a third controller that just tries cannot jump the queue (an allocated place is refused to
        anyone but its reservation's owner). The reservation is polled (which keeps it alive) and
        cancelled once the place is ours, or when the wait runs out.
        """
        cur, reserved_for = self._state(place)
        if cur == self.identity:
            return self._lease(place)
        if cur is None and reserved_for in (None, self.identity) and self._try_acquire(place):
            return self._lease(place)
        if wait_s <= 0:
            raise self._busy(place, wait_s)
        return self._wait_reserved(place, wait_s, prio)

    def _state(self, place: str) -> tuple[str | None, str | None]:
        """(holder, owner of the reservation the place is allocated to), either None."""
        self._call(self._sync())
        p = self.session.places.get(place)
        if p is None:
            return None, None
        owner = None
        if p.reservation:
            owner = next((r.owner for r in self.reservations() if r.token == p.reservation), "another reservation")
        return p.acquired, owner

    def reservations(self):
        """Every reservation the coordinator holds (waiting, allocated, acquired), oldest first."""
        from labgrid.remote.common import Reservation
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        resp = self._call(self._rpc("GetReservations", pb.GetReservationsRequest()))
        return [Reservation.from_pb2(r) for r in resp.reservations]

    def _try_acquire(self, place: str) -> bool:
        """AcquirePlace; False when someone else got there first (or it is reserved for them)."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        try:
            self._call(self._rpc("AcquirePlace", pb.AcquirePlaceRequest(placename=place)))
            return True
        except CoordinatorError as e:
            if "already acquired" in str(e) or "not reserved for" in str(e):
                return False
            raise

    def _wait_reserved(self, place: str, wait_s: float, prio: float) -> Lease:
        from labgrid.remote.common import ReservationState
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        fltr = pb.Reservation.Filter(filter={"name": place})
        token = self._call(self._rpc("CreateReservation", pb.CreateReservationRequest(
            filters={"main": fltr}, prio=prio))).reservation.token
        deadline = time.monotonic() + wait_s
        try:
            while time.monotonic() < deadline:
                res = self._call(self._rpc("PollReservation", pb.PollReservationRequest(token=token))).reservation
                if ReservationState(res.state) in (ReservationState.allocated, ReservationState.acquired) \
                        and res.allocations.get("main") == place:
                    if self._try_acquire(place) or self.holder(place) == self.identity:
                        return self._lease(place)
                elif ReservationState(res.state) in (ReservationState.expired, ReservationState.invalid):
                    raise CoordinatorError(f"labgrid coordinator {self.address}: the reservation for {place} "
                                           f"became {ReservationState(res.state).name}")
                time.sleep(self.poll_s)
            raise self._busy(place, wait_s)
        finally:
            try:
                self._call(self._rpc("CancelReservation", pb.CancelReservationRequest(token=token)))
            except CoordinatorError:
                pass  # expired already: the coordinator dropped it

    def _busy(self, place: str, wait_s: float) -> LeaseBusy:
        cur, reserved_for = self._state(place)
        who = f"acquired by {cur}" if cur else f"reserved for {reserved_for}" if reserved_for else "taken"
        return LeaseBusy(f"{place} is {who} (labgrid coordinator {self.address}); waited {wait_s:.0f} s; "
                         f"wait longer (--wait-lease), or release it: rig lease release --force")

    def _lease(self, place: str) -> Lease:
        now = time.time()
        return Lease(place, self.identity, self.address, 0, now, float("inf"))

    def renew(self, place: str) -> None:
        """A coordinator's place does not expire: nothing to renew, a holder releases it."""

    def release(self, place: str, force: bool = False) -> bool:
        """Release our place (another's only with ``force``); False when there was nothing to do."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        cur = self.holder(place)
        if cur is None or (cur != self.identity and not force):
            return False
        req = pb.ReleasePlaceRequest(placename=place) if force else \
            pb.ReleasePlaceRequest(placename=place, fromuser=self.identity)
        self._call(self._rpc("ReleasePlace", req))
        return True

    def list_places(self) -> list[tuple[str, str | None, dict]]:
        """Every place: name, holder (or None) and tags."""
        self._call(self._sync())
        return [(n, p.acquired, dict(p.tags)) for n, p in sorted(self.session.places.items())]

    def close(self) -> None:
        try:
            self._call(self.session.stop(), timeout=5)
        except Exception:  # noqa: BLE001 - closing a dead link is not an error worth raising
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def serial_url(self, place: str, group: str = "", timeout_s: float = 10.0) -> str:
        """The pyserial URL of the NetworkSerialPort an exporter publishes for ``place``.

        ``labgrid-exporter`` starts ``ser2net`` only when the place holding the port is
        acquired, then publishes the TCP port it chose: so the place must be ours, and the
        port is waited for (``timeout_s``, wall). ``group`` picks one of several serial ports
        matched to the place (the exporter's group name, e.g. ``rig-act``).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            found = self._exported_serial(place, group)
            if found is not None and found.get("port"):
                host, port = found["host"], int(found["port"])
                if found.get("protocol", "rfc2217") == "raw":
                    return f"socket://{host}:{port}"
                # a pty (or an adapter without modem lines) never confirms RTS/DTR: as labgrid's
                # own SerialDriver, do not wait for it
                return f"rfc2217://{host}:{port}?ign_set_control"
            if time.monotonic() >= deadline:
                what = "published no TCP port yet (is its ser2net running?)" if found is not None else \
                    "has no NetworkSerialPort" + (f" in group {group!r}" if group else "")
                raise CoordinatorError(f"labgrid coordinator {self.address}: place {place} {what}; "
                                       f"labgrid-client -p {place} show lists what it matches")
            time.sleep(self.poll_s)

    def _exported_serial(self, place: str, group: str) -> dict | None:
        self._call(self._sync())
        p = self.session.places.get(place)
        if p is None:
            raise CoordinatorError(f"labgrid coordinator {self.address}: no place {place}")
        if p.acquired != self.identity:
            raise CoordinatorError(f"labgrid coordinator {self.address}: place {place} is not acquired by "
                                   f"{self.identity} (held by {p.acquired}): its exported ports are not ours")
        hits = []
        for path in p.acquired_resources:
            exporter, grp, cls, name = path
            if cls != "NetworkSerialPort" or (group and grp != group):
                continue
            res = self.session.resources.get(exporter, {}).get(grp, {}).get(name)
            if res is not None:
                hits.append({**res.params, "path": "/".join(path)})
        if len(hits) > 1:
            raise CoordinatorError(f"labgrid coordinator {self.address}: place {place} has "
                                   f"{len(hits)} serial ports ({', '.join(h['path'] for h in hits)}): "
                                   f"name one, port = \"place:{place}/GROUP\"")
        return hits[0] if hits else None
