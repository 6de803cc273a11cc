"""A real ``labgrid-coordinator`` on 127.0.0.1, started per test in its own folder (it writes
``places.yaml`` and ``resources.yaml`` in its working directory)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

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
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"labgrid-coordinator did not listen: {(self.workdir / 'coordinator.log').read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
