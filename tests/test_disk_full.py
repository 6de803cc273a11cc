"""A run folder that cannot be written is the run's own outcome: the run stops cleanly, every Mac
the rig put to sleep is woken, every finished cycle is kept, and ``--resume`` finishes the run
once space is freed.

Both faults are real kernel errors: a small tmpfs filled to the last block (``mount`` needs
root, which the rig's CI has), and ``/dev/full`` put under the journal's file descriptor at the
instant the Mac is asleep (a disk cannot be filled at a chosen step any other way).
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from polling import wait_for
from rig.journal import Rec, cycles_from_journal, read_journal
from rig.lab.inventory import load_lab
from rig.outcomes import EXIT_DISK, RunFolderError, exit_code
from rig.runner.plan import Plan
from rig.runner.run import drive, start_run
from rig.score.suites import SUITES
from rig.twin.launch import TwinProcess
from rig.twin.serve import TwinConfig

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs of its own: filling it fills nothing else."""
    where = tmp_path / "disk"
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail(f"this test needs a tmpfs of its own (root, mount): {res.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> Path:
    """Write a ballast file until the kernel says the disk is full."""
    ballast = disk / "ballast"
    chunk = b"\0" * (1 << 16)
    with open(ballast, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    with open(ballast, "ab", buffering=0) as f:  # the last partial block too
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass
    return ballast


def _rig(args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "rig.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _records(run: Path) -> list[dict]:
    return read_journal(run / "journal.jsonl")[0]


@pytest.fixture
def twin(tmp_path):
    t = TwinProcess(TwinConfig(build="darkwake-aware", scale=200.0, macs=[TwinConfig().macs[0]]),
                    root=tmp_path / "twin")
    t.start()
    yield t
    t.stop()


def test_a_disk_that_fills_stops_the_run_keeps_the_finished_cycle_and_resume_finishes(small_disk, twin):
    reports = small_disk / "reports"
    p = _rig(["run", "--lab", str(twin.lab_path), "--build", "twin:darkwake-aware", "--cycles", "3",
              "--dwell", "5m", "--reports", str(reports), "--quiet"])
    assert wait_for(lambda: any(reports.glob("*/journal.jsonl")), 30), p.communicate(timeout=5)
    run = next(reports.glob("*/journal.jsonl")).parent
    in_second_dwell = lambda: any(r["type"] == Rec.STEP.value and r["step"] == "dwell" and r["cycle"] == 2
                                  for r in _records(run))  # noqa: E731
    assert wait_for(in_second_dwell, 90), p.communicate(timeout=5)
    ballast = _fill(small_disk)
    out, err = p.communicate(timeout=120)

    assert p.returncode == EXIT_DISK, (out, err)
    assert "disk full: " + str(run) in out and "No space left on device" in out, out
    assert f"rig run --resume {run}" in out
    assert "Traceback" not in err and "link down" not in out + err
    first = cycles_from_journal(_records(run))
    assert first[("mbp-01", 1)]["outcome"] in ("pass", "fail")  # the finished cycle is kept
    assert first.get(("mbp-01", 2), {}).get("outcome", "unknown") == "unknown"  # not scored as anything
    assert not [q for q in run.rglob("*") if q.name.endswith((".tmp", ".part"))]  # no half files

    ballast.unlink()
    q = _rig(["run", "--resume", str(run), "--lab", str(twin.lab_path), "--quiet"])
    out2, err2 = q.communicate(timeout=180)
    assert q.returncode == exit_code(json.loads((run / "scores.json").read_text())), (out2, err2)
    after = cycles_from_journal(_records(run))
    assert sorted(after) == [("mbp-01", k) for k in (1, 2, 3)]
    assert all(c["outcome"] in ("pass", "fail") for c in after.values()), after
    assert after[("mbp-01", 1)]["t_end"] == first[("mbp-01", 1)]["t_end"]  # not run again


def _journal_fd(journal: Path) -> int:
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(journal):
                return int(fd)
        except OSError:
            continue
    raise AssertionError(f"{journal} is not open")


def test_a_journal_that_fails_while_the_mac_sleeps_wakes_it_and_resume_finishes(tmp_path, twin):
    lab = load_lab(twin.lab_path)
    mac = lab.macs["mbp-01"]
    plan = Plan(build="twin:darkwake-aware", cycles=2, dwell_s=300.0, gates=list(SUITES["dark_wake"]["gates"]))
    folder = start_run(lab, plan, tmp_path / "reports", macs=[mac])
    full = os.open("/dev/full", os.O_WRONLY)

    def on_step(name: str, k: int, step: str) -> None:
        if k == 2 and step == "dwell":  # asleep: the lid was closed by the rig a moment ago
            os.dup2(full, _journal_fd(folder.journal))

    with pytest.raises(RunFolderError) as e:
        drive(lab, folder, plan, [mac], on_step=on_step)
    os.close(full)
    assert e.value.disk_full and str(folder.journal) in str(e.value)
    recs = _records(folder.path)
    cyc = cycles_from_journal(recs)
    assert cyc[("mbp-01", 1)]["outcome"] in ("pass", "fail") and cyc[("mbp-01", 2)]["outcome"] == "unknown"
    assert "finished" not in folder.meta()  # nothing was written after the disk gave out

    scores = drive(lab, folder, plan, [mac])  # space is back: the journal is reopened
    cyc = cycles_from_journal(_records(folder.path))
    assert [c["outcome"] in ("pass", "fail") for c in cyc.values()] == [True, True]
    assert scores["cycles"] == 2
    truth = twin.stop()["macs"]["mbp-01"]
    # the rig closed the lid in cycle 2 and opened it right after the journal failed, before the
    # resumed cycle 2: the Mac was never left asleep, so the resume found it awake (no preflight)
    opens = [r for r in truth["wake_requests"] if r["cause"] == "lid"]
    assert len(opens) == 3, opens
    assert not [r for r in _records(folder.path) if r["type"] == Rec.RECOVERY.value
                and r.get("step") == "preflight wake"]
