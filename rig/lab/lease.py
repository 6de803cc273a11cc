"""Leases: a run holds an expiring claim on each Mac it drives, so two runs never drive one Mac.

An ad hoc pre-release run and the nightly job share a rack; without leases the second one would
close a lid the first one is waiting on. A lease is a small JSON file per Mac in the lab's lease
folder (``[lab] leases``, default ``<reports>/.leases``; put it on storage every controller of the
rack shares). Taking one is atomic (``O_CREAT|O_EXCL``; renewing and stealing a stale lease go
through ``os.replace``); a lease carries its holder and expiry, is renewed while the run works,
and expires by itself if the controller dies, so a crashed night never blocks the next one.

Leases live on wall-clock time (``time.time()``), not the lab's clock: they coordinate people and
processes in the real world, even when the lab itself is a twin on a virtual clock.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path


class LeaseBusy(Exception):
    """The Mac is leased to another run."""


@dataclass
class Lease:
    mac: str
    holder: str  # run id
    host: str
    pid: int
    taken: float
    expires: float

    @property
    def stale(self) -> bool:
        return time.time() > self.expires


def key(mac) -> str:
    """A lease names the machine, not only the lab's label: ``mbp-01@mbp-01.lab:22``."""
    return f"{mac.name}@{mac.ssh.host}:{mac.ssh.port}".replace("/", "_")


def _path(folder: Path, mac: str) -> Path:
    return Path(folder) / f"{mac}.lease.json"


def read(folder: Path, mac: str) -> Lease | None:
    try:
        return Lease(**json.loads(_path(folder, mac).read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def _write_new(path: Path, lease: Lease) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(lease), f)
    return True


def _replace(path: Path, lease: Lease) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(lease)))
    os.replace(tmp, path)


def acquire(folder: Path, mac: str, holder: str, ttl_s: float) -> Lease:
    """Take the lease on ``mac`` for ``holder`` or raise :class:`LeaseBusy` naming who has it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    lease = Lease(mac, holder, socket.gethostname(), os.getpid(), now, now + ttl_s)
    path = _path(folder, mac)
    if _write_new(path, lease):
        return lease
    cur = read(folder, mac)
    if cur is None or cur.stale or cur.holder == holder:
        _replace(path, lease)  # expired, unreadable, or ours already (a resumed run)
        if read(folder, mac).holder == holder:
            return lease
        cur = read(folder, mac)
    left = cur.expires - now
    raise LeaseBusy(f"{mac} is leased to run {cur.holder} on {cur.host} (pid {cur.pid}) for another "
                    f"{left / 60:.0f} min; wait, or release it: rig lease release {mac}")


def renew(folder: Path, mac: str, holder: str, ttl_s: float) -> None:
    cur = read(folder, mac)
    if cur is not None and cur.holder == holder:
        cur.expires = time.time() + ttl_s
        _replace(_path(folder, mac), cur)


def release(folder: Path, mac: str, holder: str | None = None) -> bool:
    """Drop the lease (only ``holder``'s, unless ``holder`` is None: an operator's release)."""
    cur = read(folder, mac)
    if cur is None or (holder is not None and cur.holder != holder):
        return False
    _path(folder, mac).unlink(missing_ok=True)
    return True


def list_leases(folder: Path) -> list[Lease]:
    folder = Path(folder)
    if not folder.exists():
        return []
    out = []
    for p in sorted(folder.glob("*.lease.json")):
        lease = read(folder, p.name.removesuffix(".lease.json"))
        if lease:
            out.append(lease)
    return out
