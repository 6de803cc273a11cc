"""A real ``ser2net`` (Debian) exporting a serial device over RFC 2217 on 127.0.0.1, as a
``labgrid-exporter`` has it do for a USBSerialPort on another host."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.peers import free_port


class Ser2Net:
    def __init__(self, device: Path, workdir: Path):
        if not shutil.which("ser2net"):
            raise RuntimeError("ser2net is not installed (./dev test installs it)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = self.workdir / "ser2net.yaml"
        self.config.write_text(
            "connection: &act\n"
            f"    accepter: telnet(rfc2217),tcp,127.0.0.1,{self.port}\n"
            f"    connector: serialdev,{device},115200n81,local\n"
            "    options:\n"
            "      kickolduser: true\n")
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        """pyserial's RFC 2217 URL; a pty has no modem lines, so the control option is not awaited."""
        return f"rfc2217://127.0.0.1:{self.port}?ign_set_control"

    def start(self) -> None:
        self.proc = subprocess.Popen(["ser2net", "-n", "-d", "-c", str(self.config),
                                      "-P", str(self.workdir / "ser2net.pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("ser2net did not listen")

    def drop(self) -> None:
        """The network link gone: ser2net killed, its TCP connections reset."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        self.drop()
