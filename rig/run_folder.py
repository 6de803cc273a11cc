"""The run folder (``reports/<run-id>/``): where a run's raw truth and everything derived lives.

``run.json`` (build, lab, Macs, plan, gates, rig version, times), ``journal.jsonl`` (append-only),
``raw/<mac>/<cycle>/…`` (exactly what came back), ``signatures.toml`` (a copy: scoring must not
depend on a file that may change later), and the derived files ``events.parquet``, ``cycles.csv``,
``scores.json``, ``report.html``, ``summary.md``, which ``rig score`` / ``rig report`` rebuild.
"""
from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from rig.names import inside
from rig.outcomes import RunFolderError


def atomic_write(path: Path, data) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, fsynced, renamed over it.
    A failure (a full disk) removes the temporary file and leaves the old ``path`` as it was."""
    with atomic(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())


@contextmanager
def atomic(path: Path):
    """A temporary path to write ``path``'s new content to (by any writer: pandas, pyarrow);
    renamed over ``path`` when the block ends, removed when it fails."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with writing(path):
            yield tmp
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def writing(path: Path):
    """Any OS error while the block writes ``path`` (inside the run folder) is the run folder's:
    it becomes :class:`~rig.outcomes.RunFolderError`, which stops the run instead of being
    mistaken for a link that dropped or a cycle that failed."""
    try:
        yield
    except OSError as e:
        raise RunFolderError.from_os(e, path) from e


DERIVED = ("events.parquet", "cycles.csv", "scores.json", "report.html", "summary.md")


class RunFolder:
    def __init__(self, path: Path):
        self.path = Path(path)

    run_json = property(lambda self: self.path / "run.json")
    journal = property(lambda self: self.path / "journal.jsonl")
    raw = property(lambda self: self.path / "raw")
    signatures = property(lambda self: self.path / "signatures.toml")
    events = property(lambda self: self.path / "events.parquet")
    cycles_csv = property(lambda self: self.path / "cycles.csv")
    scores_json = property(lambda self: self.path / "scores.json")
    report_html = property(lambda self: self.path / "report.html")
    summary_md = property(lambda self: self.path / "summary.md")

    def cycle_dir(self, mac: str, k: int) -> Path:
        """``raw/<mac>/<cycle>/``, checked to stay inside the run folder whatever the name."""
        return inside(self.path, self.raw / mac / f"{k:03d}")

    @classmethod
    def create(cls, reports: Path, build: str, now: float) -> "RunFolder":
        stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H%M")
        slug = re.sub(r"[^A-Za-z0-9.]+", "-", build.split(":", 1)[-1]).strip("-") or "build"
        base = Path(reports) / f"{stamp}-{slug}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = Path(f"{base}-{n}")
        path.mkdir(parents=True)
        (path / "raw").mkdir()
        return cls(path)

    def meta(self) -> dict:
        if not self.run_json.exists():
            raise FileNotFoundError(f"{self.path}: not a run folder (no run.json)")
        return json.loads(self.run_json.read_text())

    def write_meta(self, meta: dict) -> None:
        atomic_write(self.run_json, json.dumps(meta, indent=1, sort_keys=True, default=str))

    def update_meta(self, **fields) -> None:
        m = self.meta()
        m.update(fields)
        self.write_meta(m)
