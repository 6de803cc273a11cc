"""Collection: fetch a cycle's window of logs into ``raw/<mac>/<cycle>/`` exactly as they came back.

Windows are computed on the controller's clock and translated into each host's clock with the
offsets measured this cycle, padded by a margin (padding is harmless: scoring filters by
corrected time, and overlapping windows are de-duplicated). Only the predicates the signatures
need are asked of ``log show``: the extension's subsystems and powerd's sleep/wake lines.

Files: ``pmset.log``, ``unified.ndjson``, ``gateway.log`` and ``collect.json`` (the exact commands,
exit statuses, stderr and windows), so a report can say how every byte was obtained.
"""
from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone
from pathlib import Path

from .clock import Clock
from .events import Kind
from .lab import Lab, Mac
from .outcomes import RigError
from .signatures import load_signatures
from .ssh import CommandResult, SSHSession
from .unified_log import POWERD_SUBSYSTEM, parse_unified

MARGIN_S = 60.0


def log_time(epoch: float) -> str:
    """``log show --start`` form with an explicit offset, so the Mac's time zone never matters."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S+0000")


def predicate(lab: Lab) -> str:
    subs = list(load_signatures(lab.extension.signatures).subsystems) or [lab.extension.subsystem]
    subs.append(POWERD_SUBSYSTEM)
    return " OR ".join(f'subsystem == "{s}"' for s in dict.fromkeys(subs))


def host_window(start: float, end: float, offsets) -> tuple[float, float]:
    offs = [o.offset for o in offsets] or [0.0]
    return start + min(offs) - MARGIN_S, end + max(offs) + MARGIN_S


def log_show_argv(lab: Lab, start: float, end: float) -> list[str]:
    return ["log", "show", "--style", "ndjson", "--info", "--debug", "--predicate", predicate(lab),
            "--start", log_time(start), "--end", log_time(end)]


def _record(meta: dict, name: str, res: CommandResult, window=None) -> None:
    meta[name] = {"command": shlex.join(res.argv), "status": res.status, "bytes": len(res.out),
                  "stderr": res.err.decode("utf-8", "replace")[-2000:], "window": window}


def _save(raw: Path, meta: dict) -> None:
    path = raw / "collect.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(meta)
    path.write_text(json.dumps(old, indent=1))


def collect_mac(ssh: SSHSession, lab: Lab, mac: Mac, raw: Path, start: float, end: float, offsets) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    meta: dict = {}
    try:
        res = ssh.run(["pmset", "-g", "log"])
        (raw / "pmset.log").write_bytes(res.out)
        _record(meta, "pmset", res)
        a, b = host_window(start, end, offsets)
        res2 = ssh.run(log_show_argv(lab, a, b))
        (raw / "unified.ndjson").write_bytes(res2.out)
        _record(meta, "unified", res2, [a, b])
    finally:
        _save(raw, meta)  # whatever was collected is kept, even if a later step fails
    for name, info in meta.items():
        if info["status"] != 0:
            raise RigError(f"{mac.name}: collecting {name} failed: {info['command']} exited "
                           f"{info['status']}: {info['stderr'].strip()[:200]}")


def collect_gateway(lab: Lab, raw: Path, start: float, end: float, clock: Clock, offsets) -> None:
    if lab.gateway is None:
        return
    raw.mkdir(parents=True, exist_ok=True)
    a, b = host_window(start, end, offsets)
    argv = shlex.split(lab.gateway.log_command.format(start=int(a), end=int(b) + 1))
    with SSHSession(lab.gateway.ssh, clock).connect() as gw:
        res = gw.run(argv)
    (raw / "gateway.log").write_bytes(res.out)
    meta: dict = {}
    _record(meta, "gateway", res, [a, b])
    _save(raw, meta)
    if res.status != 0:
        raise RigError(f"gateway {lab.gateway.name}: {shlex.join(argv)} exited {res.status}: "
                       f"{res.err.decode('utf-8', 'replace').strip()[:200]}")


def wait_for_tunnel(ssh: SSHSession, lab: Lab, host: str, anchor: float, offset: float, clock: Clock,
                    timeout_s: float, poll_s: float = 5.0) -> float | None:
    """Poll the extension's log until it shows the tunnel carrying traffic after the wake.

    Evidence is a ``tunnel_up`` or a ``keepalive`` logged after the anchor (translated onto the
    Mac's clock with ``offset``). Returns the controller time it was seen, or ``None`` at the
    timeout: a missing tunnel is scored (censored time-to-tunnel), not raised.
    """
    sigs = load_signatures(lab.extension.signatures)
    evidence = {Kind.TUNNEL_UP.value, Kind.KEEPALIVE.value}
    anchor_host = anchor + offset
    while True:
        res = ssh.run(log_show_argv(lab, anchor_host - 1.0, clock.now() + offset + MARGIN_S)).check()
        rows = parse_unified(res.out, host, sigs).rows
        if any(r["kind"] in evidence and datetime.fromisoformat(r["t"]).timestamp() > anchor_host for r in rows):
            return clock.now()
        if clock.now() >= anchor + timeout_s:
            return None
        clock.sleep(poll_s)
