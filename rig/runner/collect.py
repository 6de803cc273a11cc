"""Collection: fetch a cycle's window of logs into ``raw/<mac>/<cycle>/`` exactly as they came back.

Windows are computed on the controller's clock and translated into each host's clock with the
offsets measured this cycle, padded by a margin (padding is harmless: scoring filters by
corrected time, and overlapping windows are de-duplicated). Only the predicates the signatures
need are asked of ``log show``: the extension's subsystems and powerd's sleep/wake lines.

How the bytes travel:

- ``pmset -g log`` is small: it comes back on stdout.
- The unified log can be large, so it is not streamed through the session: the Mac writes it to
  a file in the login user's home and compresses it (``rm -f F F.gz && log show … > F && gzip -f
  F``, one shell line of quoted words; ``&&`` keeps ``log show``'s own exit status), the rig
  fetches ``F.gz`` over SFTP (size checked), decompresses it (gzip's CRC checked) into
  ``unified.ndjson`` and removes the remote file. A host that refuses SFTP gets the old way
  (stdout), and ``collect.json`` says which way was used.
- The gateway's log comes back on stdout of the lab's ``log_command``.

A dropped link is retried: each host's collection gets ``attempts`` tries, reconnecting between
them after a growing wait (wall seconds: the link comes back in real time, whatever the lab
clock does). A piece already collected is kept and not fetched again; if the link stays down a
``RigError`` says what was kept, and the runner makes the cycle ``rig_error``. An error of the
controller's own disk (full, read-only) is not a dropped link and is never retried: it is a
``RunFolderError``, which stops the run (``rig.outcomes``).

Files: ``pmset.log``, ``unified.ndjson``, ``gateway.log`` and ``collect.json`` (the exact commands,
exit statuses, stderr, windows, how each file travelled, and every attempt with its error), so a
report can say how every byte was obtained.
"""
from __future__ import annotations

import gzip
import json
import os
import shlex
import shutil
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Callable

from rig.lab.clock import Clock
from rig.lab.inventory import Lab, Mac
from rig.outcomes import RigError, RunFolderError, is_disk_error
from rig.parse.signatures import load_signatures
from rig.run_folder import atomic_write, writing
from rig.drive.ssh import CommandResult, HostKeyError, SFTPUnavailable, SSHError, SSHSession
from rig.parse.unified_log import POWERD_SUBSYSTEM
from rig.timestamps import log_show_time

MARGIN_S = 60.0
ATTEMPTS = 3  # tries per host and cycle when the link drops
RETRY_WAIT_S = 2.0  # wall seconds before the first retry, doubled after each
REMOTE_UNIFIED = ".rig-unified.ndjson"  # in the login user's home; the next collection clears it


def predicate(lab: Lab) -> str:
    """The ``log show`` predicate: the extension's subsystems and powerd's (read once per file)."""
    return _predicate(str(lab.extension.signatures), lab.extension.subsystem)


@lru_cache(maxsize=16)
def _predicate(signatures: str, subsystem: str) -> str:
    subs = list(load_signatures(signatures).watched_subsystems) or [subsystem]
    subs.append(POWERD_SUBSYSTEM)
    return " OR ".join(f'subsystem == "{s}"' for s in dict.fromkeys(subs))


def host_window(start: float, end: float, offsets) -> tuple[float, float]:
    offs = [o.offset for o in offsets] or [0.0]
    return start + min(offs) - MARGIN_S, end + max(offs) + MARGIN_S


def log_show_argv(lab: Lab, start: float, end: float) -> list[str]:
    return ["log", "show", "--style", "ndjson", "--info", "--debug", "--predicate", predicate(lab),
            "--start", log_show_time(start), "--end", log_show_time(end)]


def gateway_argv(lab: Lab, start: float, end: float) -> list[str]:
    """The lab's gateway ``log_command`` for a window of the gateway's clock (whole seconds,
    the end rounded up so the window's last second is inside)."""
    return shlex.split(lab.gateway.log_command.format(start=int(start), end=int(end) + 1))


def unified_to_file_line(argv: list[str], remote: str = REMOTE_UNIFIED) -> list:
    """The shell line (for ``SSHSession.run_line``) that leaves ``remote + ".gz"`` on the Mac."""
    return [["rm", "-f", remote, remote + ".gz"], "&&", argv, ">", [remote], "&&", ["gzip", "-f", remote]]


def _record(res: CommandResult, window=None, **extra) -> dict:
    return {"command": res.command, "status": res.status, "bytes": len(res.out),
            "stderr": res.err.decode("utf-8", "replace")[-2000:], "window": window, **extra}


def _save(raw: Path, meta: dict) -> None:
    """Merge ``meta`` into ``collect.json`` (atomically: a watcher never reads half a file)."""
    path = raw / "collect.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(meta)
    atomic_write(path, json.dumps(old, indent=1))


def _gunzip(src: Path, dst: Path) -> int:
    """Decompress ``src`` into ``dst`` (via ``.part``); a corrupt or cut file raises SSHError."""
    part = dst.with_name(dst.name + ".part")
    try:
        with gzip.open(src, "rb") as f, open(part, "wb") as g:
            shutil.copyfileobj(f, g, 1 << 20)
        os.replace(part, dst)
    except (OSError, EOFError, zlib.error) as e:
        part.unlink(missing_ok=True)
        if is_disk_error(e):
            raise RunFolderError.from_os(e, part) from e
        raise SSHError(f"{src.name}: the fetched file is not a whole gzip stream ({e})") from None
    return dst.stat().st_size


# -- the pieces of a Mac's collection ------------------------------------------------------------

def _pmset(ssh: SSHSession, raw: Path) -> dict:
    res = ssh.run(["pmset", "-g", "log"])
    atomic_write(raw / "pmset.log", res.out)
    return _record(res, via="stdout")


def _unified(ssh: SSHSession, lab: Lab, raw: Path, window: list[float]) -> dict:
    argv = log_show_argv(lab, *window)
    res = ssh.run_line(unified_to_file_line(argv))
    if res.status != 0:
        return _record(res, window, via="sftp")
    gz = REMOTE_UNIFIED + ".gz"
    local_gz = raw / "unified.ndjson.gz"
    try:
        transferred = ssh.fetch(gz, local_gz)
    except SFTPUnavailable as e:
        streamed = ssh.run(argv)
        atomic_write(raw / "unified.ndjson", streamed.out)
        _cleanup(ssh, gz)
        return _record(streamed, window, via="stdout", why=str(e))
    try:
        size = _gunzip(local_gz, raw / "unified.ndjson")
    finally:
        local_gz.unlink(missing_ok=True)
    info = _record(res, window, via="sftp", remote=gz, transferred=transferred)
    info["bytes"] = size
    cleanup_error = _cleanup(ssh, gz)
    if cleanup_error:
        info["cleanup_error"] = cleanup_error
    return info


def _cleanup(ssh: SSHSession, remote: str) -> str:
    """Remove the remote file; a failure is noted, not fatal (the next collection clears it)."""
    try:
        res = ssh.run(["rm", "-f", remote])
    except SSHError as e:
        return str(e)
    return "" if res.status == 0 else res.err.decode("utf-8", "replace").strip()[:200]


def _with_retries(who: str, ssh: SSHSession, pieces: list[tuple[str, Callable[[], dict]]], raw: Path,
                  attempts: int, retry_wait_s: float) -> dict:
    """Collect every piece, reconnecting ``ssh`` between attempts; keep what came back.

    Each attempt is appended to ``collect.json``'s ``attempts`` (which pieces it got, its
    error). Host-key errors are not retried: waiting does not fix them.
    """
    meta: dict = {}
    saved = raw / "collect.json"
    log = json.loads(saved.read_text()).get("attempts", []) if saved.exists() else []
    wait = retry_wait_s
    n = 0
    while True:
        n += 1
        entry = {"host": who, "attempt": n, "t": ssh.clock.now(), "got": [], "error": None}
        log.append(entry)
        try:
            if not ssh.connected:
                ssh.reconnect()
            for name, fetch in pieces:
                if name in meta:
                    continue
                meta[name] = fetch()
                entry["got"].append(name)
                _save(raw, {name: meta[name], "attempts": log})
            _save(raw, {"attempts": log})
            return meta
        except HostKeyError as e:
            entry["error"] = str(e)
            _save(raw, {"attempts": log})
            raise
        except SSHError as e:
            entry["error"] = str(e)
            _save(raw, {"attempts": log})
            if n >= attempts:
                kept = ", ".join(meta) or "nothing"
                raise RigError(f"{who}: collection failed {attempts} times (link down?); kept {kept}; "
                               f"last error: {e}") from None
        ssh.clock.sleep(wait * ssh.clock.scale)
        wait *= 2


def _check_statuses(who: str, meta: dict) -> None:
    for name, info in meta.items():
        if info["status"] != 0:
            raise RigError(f"{who}: collecting {name} failed: {info['command']} exited "
                           f"{info['status']}: {info['stderr'].strip()[:200]}")


def collect_mac(ssh: SSHSession, lab: Lab, mac: Mac, raw: Path, start: float, end: float, offsets, *,
                attempts: int = ATTEMPTS, retry_wait_s: float = RETRY_WAIT_S) -> None:
    """pmset log and unified log of the cycle's window; ``ssh`` is reconnected in place if the link drops."""
    with writing(raw):
        raw.mkdir(parents=True, exist_ok=True)
    window = list(host_window(start, end, offsets))
    pieces = [("pmset", lambda: _pmset(ssh, raw)),
              ("unified", lambda: _unified(ssh, lab, raw, window))]
    _check_statuses(mac.name, _with_retries(mac.name, ssh, pieces, raw, attempts, retry_wait_s))


def collect_gateway(lab: Lab, raw: Path, start: float, end: float, clock: Clock, offsets, *,
                    attempts: int = ATTEMPTS, retry_wait_s: float = RETRY_WAIT_S) -> None:
    if lab.gateway is None:
        return
    with writing(raw):
        raw.mkdir(parents=True, exist_ok=True)
    a, b = host_window(start, end, offsets)
    argv = gateway_argv(lab, a, b)

    def fetch() -> dict:
        res = gw.run(argv)
        atomic_write(raw / "gateway.log", res.out)
        return _record(res, [a, b], via="stdout")

    gw = SSHSession(lab.gateway.ssh, clock)
    try:
        meta = _with_retries(f"gateway {lab.gateway.name}", gw, [("gateway", fetch)], raw, attempts, retry_wait_s)
    finally:
        gw.close()
    _check_statuses(f"gateway {lab.gateway.name}", meta)
