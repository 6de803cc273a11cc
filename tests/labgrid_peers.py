"""A real ``labgrid-coordinator`` on 127.0.0.1, started per test in its own folder (it writes
``places.yaml`` and ``resources.yaml`` in its working directory)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from tests.polling import wait_for
from tests.peers import free_port

BIN = Path(sys.executable).parent


class Coordinator:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = open(self.workdir / "coordinator.log", "wb")
        self.proc = subprocess.Popen([str(BIN / "labgrid-coordinator"), "-l", self.address],
                                     cwd=self.workdir, stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_for(lambda: _listens(self.port) or self.proc.poll() is not None, 20, 0.05) \
                or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"labgrid-coordinator did not listen: {(self.workdir / 'coordinator.log').read_text()}")

    def stop(self) -> None:
        _stop(self.proc)
        self.log.close()


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (an exporter stops the ser2net it started), then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


REAL_SER2NET = shutil.which("ser2net") or "/usr/sbin/ser2net"

#: labgrid-exporter starts ``ser2net`` with an accepter on every interface (``tcp,PORT``); here
#: servers bind to 127.0.0.1, so the exporter finds this first on its PATH, which adds the address
#: and runs the real ser2net (the exporter's own version check included).
_SER2NET_ON_LOOPBACK = '''#!{python}
import os, re, sys
args = [re.sub(r"\\btcp,(\\d+)$", r"tcp,127.0.0.1,\\1", a) for a in sys.argv[1:]]
os.execv({real!r}, ["ser2net", *args])
'''


class Exporter:
    """A real ``labgrid-exporter`` publishing serial ports (``RawSerialPort``: a pty is no USB
    device for udev to match) to ``coord``, its resources reachable at 127.0.0.1."""

    def __init__(self, coord: Coordinator, workdir: Path, ports: dict[str, str], name: str = "bench-host"):
        self.workdir, self.name = Path(workdir), name
        self.workdir.mkdir(parents=True, exist_ok=True)
        bindir = self.workdir / "bin"
        bindir.mkdir(exist_ok=True)
        shim = bindir / "ser2net"
        shim.write_text(_SER2NET_ON_LOOPBACK.format(python=sys.executable, real=REAL_SER2NET))
        shim.chmod(0o755)
        config = self.workdir / "exporter.yaml"
        config.write_text("".join(f"{group}:\n  RawSerialPort:\n    port: {dev}\n    speed: 115200\n"
                                  for group, dev in ports.items()))
        self.log = open(self.workdir / "exporter.log", "wb")
        env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}
        self.proc = subprocess.Popen([str(BIN / "labgrid-exporter"), "-c", coord.address, "--name", name,
                                      "--hostname", "127.0.0.1", str(config)],
                                     cwd=self.workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_for("connected to coordinator")

    def _wait_for(self, text: str, timeout: float = 20) -> None:
        def said() -> bool:
            return text in (self.workdir / "exporter.log").read_text(errors="replace")

        if wait_for(lambda: said() or self.proc.poll() is not None, timeout, 0.05) and said():
            return
        log = (self.workdir / "exporter.log").read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"labgrid-exporter: no {text!r}: {log}")

    def stop(self) -> None:
        _stop(self.proc)
        self.log.close()


def labgrid_client(coord: Coordinator, *args: str) -> str:
    """``labgrid-client -x ADDRESS ARGS…`` as a lab admin runs it; its output, or an error with it."""
    res = subprocess.run([str(BIN / "labgrid-client"), "-x", coord.address, *args],
                         capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise RuntimeError(f"labgrid-client {' '.join(args)}: {res.stdout}{res.stderr}")
    return res.stdout
