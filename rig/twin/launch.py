"""Start and stop a twin lab in its own process: the one door through which the rig starts it.

A separate process keeps the twin's threads off the controller's GIL (their jitter would become
virtual-time error) and makes the controller reach it only through SSH, a tty and a lab file.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from rig.twin.serve import TwinConfig


class TwinProcess:
    def __init__(self, cfg: TwinConfig | None = None, root: Path | None = None):
        self.cfg = cfg or TwinConfig()
        self._tmp = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="rig-twin-")
            root = Path(self._tmp.name)
        self.root = Path(root)
        self.proc: subprocess.Popen | None = None
        self.lab_path: Path | None = None

    def start(self, timeout: float = 30.0) -> Path:
        conf = json.dumps(asdict(self.cfg))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rig.twin", "serve", "--dir", str(self.root), "--config", conf],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            start_new_session=True)  # a Ctrl-C at the terminal is for the controller, not the lab
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"twin did not start (said {line!r})")
        self.lab_path = Path(line.split(" ", 1)[1].strip())
        return self.lab_path

    def stop(self) -> dict:
        """Stop the twin; return its ground truth."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        truth_path = self.root / "truth.json"
        return json.loads(truth_path.read_text()) if truth_path.exists() else {}

    def __enter__(self) -> "TwinProcess":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def cleanup(self) -> None:
        if self._tmp:
            self._tmp.cleanup()
