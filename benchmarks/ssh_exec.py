"""SSH exec round trip through the twin Mac's two doors, and a large log over SFTP vs stdout.

Starts a twin lab and a real OpenSSH sshd in front of one of its Macs (``tests/peers.py``:
``ForceCommand`` into the twin's door socket, a dedicated ``/bin/sh`` user), then measures with
the rig's own driver (``rig.drive.ssh.SSHSession``), on one open connection each:

- ``true`` through the embedded paramiko door (TCP_NODELAY, the driver's default);
- ``true`` through the OpenSSH door with TCP_NODELAY, and again with Nagle switched back on
  (the same driver and connection kind, one socket option apart);
- the door entry point alone: ``python3 -I -S shell_door.py`` against the socket, no sshd (its
  start-up is the floor of the OpenSSH door: it runs once per exec), and the same through the
  venv's ``python -m rig.twin shell`` (``site`` and the package imports on every exec);
- a ``--mb`` MB ndjson-like file: streamed through stdout (``cat``), versus the rig's way
  (``gzip -f`` on the Mac, SFTP ``fetch`` of the .gz, gunzip here), both through the OpenSSH door.

Prints median and p95 per exec and the ratios. Needs root (the door user, sshd), like CI.
Run: ``python benchmarks/ssh_exec.py [--execs N] [--mb M]``.
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from peers import OpenSSHDoor, door_python, door_script, shared_dir  # noqa: E402
from rig.lab.inventory import load_lab  # noqa: E402
from rig.drive.ssh import SSHSession  # noqa: E402
from rig.twin.launch import TwinProcess  # noqa: E402
from rig.twin.serve import TwinConfig  # noqa: E402

MAC = "mbp-01"


def _times(fn, n: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _line(name: str, ms: list[float], base: float | None = None) -> str:
    med = statistics.median(ms)
    p95 = sorted(ms)[max(0, int(len(ms) * 0.95) - 1)]
    ratio = f"  x{med / base:5.2f}" if base else ""
    return f"{name:<44} median {med:7.2f} ms   p95 {p95:7.2f} ms{ratio}"


def _ndjson(mb: int) -> bytes:
    rng = random.Random(1)
    lines, size = [], 0
    while size < mb * 1_000_000:
        rec = {"timestamp": "2026-07-26 18:11:22.%06d+1200" % rng.randrange(10**6), "subsystem": "com.example.twinproxy",
               "category": "tunnel", "machTimestamp": rng.randrange(10**15), "threadID": rng.randrange(10**6),
               "eventMessage": "Keepalive sent session=0101x%04d seq=%d" % (rng.randrange(10**4), rng.randrange(10**6))}
        line = json.dumps(rec).encode() + b"\n"
        lines.append(line)
        size += len(line)
    return b"".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--execs", type=int, default=200)
    ap.add_argument("--mb", type=int, default=32)
    a = ap.parse_args()
    base = shared_dir("rig-bench-")
    twin = TwinProcess(TwinConfig(), root=base / "twin")
    lab = load_lab(twin.start())
    door = OpenSSHDoor(base / "twin", MAC).start()
    try:
        target = dataclasses.replace(lab.macs[MAC].ssh, port=door.port, user=door.user,
                                     known_hosts=door.write_known_hosts())
        clock = lab.clock()
        print(f"{a.execs} execs of `true` per door, one open connection each, the rig's SSH driver")
        with SSHSession(lab.macs[MAC].ssh, clock).connect() as s:
            embedded = _times(lambda: s.run(["true"]).check(), a.execs)
        with SSHSession(target, clock).connect() as s:
            openssh = _times(lambda: s.run(["true"]).check(), a.execs)
            s.client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            nagle = _times(lambda: s.run(["true"]).check(), max(20, a.execs // 4))
        env = {"SSH_ORIGINAL_COMMAND": "true", "PATH": os.environ.get("PATH", "")}
        entry = [door_python(door.user), "-I", "-S", str(door_script(door.user, door.dir)),
                 "--socket", str(base / "twin" / "door.sock"), "--host", MAC]
        alone = _times(lambda: subprocess.run(entry, env=env, check=True), max(20, a.execs // 4))
        as_module = [sys.executable, "-m", "rig.twin", "shell"] + entry[4:]
        module = _times(lambda: subprocess.run(as_module, env=env, check=True, cwd=ROOT), max(20, a.execs // 4))
        e = statistics.median(embedded)
        print(_line("embedded paramiko door (TCP_NODELAY)", embedded))
        print(_line("OpenSSH door, ForceCommand (TCP_NODELAY)", openssh, e))
        print(_line("OpenSSH door, Nagle on", nagle, e))
        print(_line("door entry point alone (no sshd)", alone, e))
        print(_line("  the same as `python -m rig.twin shell`", module, e))
        print(f"OpenSSH door: Nagle costs x{statistics.median(nagle) / statistics.median(openssh):.2f}; "
              f"the entry point is {statistics.median(alone) / statistics.median(openssh):.0%} of its exec")

        data = _ndjson(a.mb)
        (base / "twin" / "fs" / MAC / "big.ndjson").write_bytes(data)
        with SSHSession(target, clock).connect() as s:
            t0 = time.perf_counter()
            streamed = s.run(["cat", "big.ndjson"]).check().out
            t_stdout = time.perf_counter() - t0
            t0 = time.perf_counter()
            s.run(["gzip", "-f", "big.ndjson"]).check()
            size = s.fetch("big.ndjson.gz", base / "big.ndjson.gz")
            got = gzip.decompress((base / "big.ndjson.gz").read_bytes())
            t_sftp = time.perf_counter() - t0
        assert streamed == data and got == data
        mb = len(data) / 1e6
        print(f"{mb:.0f} MB log through the OpenSSH door: stdout {t_stdout:.2f} s ({mb / t_stdout:.0f} MB/s); "
              f"gzip + SFTP + gunzip {t_sftp:.2f} s, {size / 1e6:.1f} MB on the wire "
              f"({len(data) / size:.1f}x smaller), x{t_sftp / t_stdout:.2f} the time")
    finally:
        door.stop()
        twin.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
