"""Actuators found through a labgrid place: ``port = "place:NAME[/GROUP]"`` in the lab file.

An actuator plugged into another host is published by that host's ``labgrid-exporter`` (a
``USBSerialPort``, served by ``ser2net``) and matched to a place. Its TCP port is not fixed (the
exporter picks a free one each time it starts ``ser2net``, which it does only while the place is
acquired), so the lab file names the *place*, and the rig asks the coordinator for the port after
it has acquired that place, turning the actuator's port into pyserial's ``rfc2217://`` (or
``socket://``) URL. From then on the actuator is an ordinary remote port: protocol v1 unchanged,
the same retries, the same re-open when the link drops; a re-open that fails asks the
coordinator again (at most once a second), so an exporter restarted mid-run, which publishes a
new TCP port for the same place, is found again within the actuator's ``reopen_s``. Every port
a run was given for an actuator is kept (:class:`Locator`) and written to ``run.json``
(``actuator_port_moves``, beside the first one in ``actuator_ports``), so a run's provenance
names each port its commands went through, not only the first.

A board's place may be a Mac's own place (one board per Mac) or a place of its own (one board
wired to several Macs): the run acquires it like a Mac's, so two controllers never drive one
board at once.
"""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from dataclasses import replace

PREFIX = "place:"
_SPEC = re.compile(r"place:([A-Za-z0-9_.+-]+)(?:/([A-Za-z0-9_.+-]+))?")
RULE = 'port = "place:NAME" or "place:NAME/GROUP" (a labgrid place, and the exporter group of its serial port)'


def place_spec(port: str) -> tuple[str, str] | None:
    """``(place, group)`` for a ``place:`` port, None for any other port; ValueError if malformed."""
    if not port.startswith(PREFIX):
        return None
    m = _SPEC.fullmatch(port)
    if not m:
        raise ValueError(f"{port!r} is not a place port: {RULE}")
    return m.group(1), m.group(2) or ""


def actuator_places(lab, macs) -> list[str]:
    """The places named by the actuators of ``macs`` (sorted, each once)."""
    out = set()
    for m in macs:
        act = lab.actuators.get(m.actuator)
        spec = place_spec(act.port) if act else None
        if spec:
            out.add(spec[0])
    return sorted(out)


def needs_coordinator(lab, macs) -> str | None:
    """A message when an actuator of ``macs`` is found through a place and the lab has no coordinator."""
    if lab.coordinator:
        return None
    for m in macs:
        act = lab.actuators.get(m.actuator)
        if act and place_spec(act.port):
            return (f'actuator "{act.name}": port "{act.port}" is found through a labgrid place; '
                    f"name the coordinator ([lab] coordinator = \"HOST:PORT\" or --coordinator)")
    return None


def resolve(lab, macs, coord):
    """``lab`` with each ``place:`` port of ``macs``' actuators replaced by the URL the
    coordinator's exporter publishes (the places must be acquired by ``coord`` already); what
    was resolved, and where it moved since, is :func:`ports_used` of the result."""
    acts = dict(lab.actuators)
    changed = False
    for m in macs:
        act = acts.get(m.actuator)
        spec = place_spec(act.port) if act else None
        if spec:   # once per actuator: a resolved one's port is a URL, no place
            url = coord.serial_url(*spec)
            acts[act.name] = replace(act, port=url, locate=Locator(coord, spec, url))
            changed = True
    return replace(lab, actuators=acts) if changed else lab


class Locator:
    """Where a place's serial port is now (an actuator's ``locate``), asked of the coordinator
    without waiting; remembers every URL it was given, in order, from the one the run began
    with. One actuator may serve several Macs, each driven from its own thread: hence the lock."""

    def __init__(self, coord, spec: tuple[str, str], first: str):
        self._coord, self._spec = coord, spec
        self._lock = threading.Lock()
        self.urls = [first]

    def __call__(self) -> str:
        url = self._coord.serial_url(*self._spec, timeout_s=0.0)
        with self._lock:
            if url != self.urls[-1]:
                self.urls.append(url)
        return url

    def history(self) -> list[str]:
        """Every URL given so far, the first one first."""
        with self._lock:
            return list(self.urls)


def ports_used(lab) -> dict[str, list[str]]:
    """``{actuator: [first url, next, …]}``: every port each place-found actuator of ``lab`` was given."""
    out = {}
    for name, act in lab.actuators.items():
        if isinstance(act.locate, Locator):
            out[name] = act.locate.history()
    return out


def merge_ports(meta: dict, used: dict[str, list[str]]) -> dict:
    """``run.json``'s ``actuator_ports`` (the first URL each actuator had in this run folder, kept
    across ``--resume``) and ``actuator_port_moves`` (every URL in order, only for an actuator
    that had more than one), with the ports ``used`` since added."""
    first = dict(meta.get("actuator_ports", {}))
    moves = {a: list(v) for a, v in meta.get("actuator_port_moves", {}).items()}
    for act, urls in used.items():
        seen = moves.get(act) or ([first[act]] if act in first else [])
        for url in urls:
            if not seen or seen[-1] != url:
                seen.append(url)
        first.setdefault(act, seen[0])
        if len(seen) > 1:
            moves[act] = seen
    return {"actuator_ports": first, **({"actuator_port_moves": moves} if moves else {})}


class PlaceError(Exception):
    """An actuator's place could not be used (no coordinator, held by another, nothing exported)."""


@contextmanager
def reachable(lab, cfg):
    """``cfg`` (an :class:`rig.lab.inventory.Actuator`) with a port the driver can open, for one
    bench request or a doctor check outside a run: a ``place:`` port's place is acquired for the
    duration (unless this controller holds it already, e.g. a run in progress) and its exported
    URL used. Any other port is ``cfg`` itself."""
    spec = place_spec(cfg.port)
    if spec is None:
        yield cfg
        return
    if not lab.coordinator:
        raise PlaceError(needs_coordinator(lab, [m for m in lab.macs.values() if m.actuator == cfg.name])
                         or f'actuator "{cfg.name}": a place port needs a coordinator ([lab] coordinator)')
    from rig.lab.coordinator import CoordinatorError, CoordinatorLeases
    from rig.lab.lease import LeaseBusy

    try:
        coord = CoordinatorLeases(lab.coordinator)
    except CoordinatorError as e:
        raise PlaceError(str(e)) from None
    try:
        ours = coord.holder(spec[0]) == coord.identity
        try:
            if not ours:
                coord.acquire(spec[0])
            url = coord.serial_url(*spec)
        except (CoordinatorError, LeaseBusy) as e:
            raise PlaceError(f'actuator "{cfg.name}": {e}') from None
        try:
            yield replace(cfg, port=url)
        finally:
            if not ours:
                coord.release(spec[0])
    finally:
        coord.close()
