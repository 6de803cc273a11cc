"""run.json and every derived file are written whole or not at all: a failed write (a full disk)
leaves the previous file as it was and no temporary file behind."""
from __future__ import annotations

import errno
import os

import pytest

from rig import run_folder
from rig.run_folder import RunFolder, atomic, atomic_write


def _full(*_):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_during_run_json_leaves_the_old_one_and_no_leftover(tmp_path, monkeypatch):
    folder = RunFolder(tmp_path)
    folder.write_meta({"run_id": "r1", "build": "b"})
    before = folder.run_json.read_bytes()
    monkeypatch.setattr(run_folder.os, "fsync", _full)
    with pytest.raises(OSError) as e:
        folder.update_meta(finished="2026-12-06T00:00:00+00:00")
    assert e.value.errno == errno.ENOSPC
    assert folder.run_json.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_a_writer_that_fails_half_way_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "events.parquet"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic(target) as tmp:
            tmp.write_bytes(b"half of the new")
            raise RuntimeError("the writer died")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["events.parquet"]
    atomic_write(target, "new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["events.parquet"]
