"""A run interrupted at any point keeps every finished cycle and can be resumed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from polling import wait_for
from rig.journal import cycles_from_journal, read_journal
from rig.twin.launch import TwinProcess
from rig.twin.serve import TwinConfig
from rig.outcomes import exit_code

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _rig(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "rig.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def _journal(run: Path):
    return read_journal(run / "journal.jsonl")[0]


@pytest.fixture
def twin(tmp_path):
    t = TwinProcess(TwinConfig(build="darkwake-aware", scale=200.0), root=tmp_path / "twin")
    t.start()
    yield t
    t.stop()


def _started_run(reports: Path) -> Path:
    assert wait_for(lambda: any(reports.glob("*/journal.jsonl")), 30)
    return next(reports.glob("*/journal.jsonl")).parent


def test_sigkill_then_resume_keeps_finished_cycles_and_reruns_the_interrupted_one(tmp_path, twin):
    reports = tmp_path / "reports"
    p = _rig(["run", "--lab", str(twin.lab_path), "--build", "twin:darkwake-aware", "--cycles", "3",
              "--dwell", "5m", "--reports", str(reports)])
    run = _started_run(reports)

    def one_finished_and_next_started():
        recs = _journal(run)
        ends = [r for r in recs if r["type"] == "cycle_end"]
        return ends and any(r["type"] == "step" and r["step"] == "dwell" and r["cycle"] == 2 for r in recs)

    assert wait_for(one_finished_and_next_started, 60), p.communicate(timeout=5)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    at_kill = len(_journal(run))
    ends_before = [r for r in _journal(run) if r["type"] == "cycle_end"]
    before = cycles_from_journal(_journal(run))
    finished = {k: c for k, c in before.items() if c["outcome"] != "unknown"}
    interrupted = {k for k, c in before.items() if c["outcome"] == "unknown"}
    assert finished and interrupted

    q = _rig(["run", "--resume", str(run), "--lab", str(twin.lab_path)])
    out, err = q.communicate(timeout=120)
    assert q.returncode == exit_code(json.loads((run / "scores.json").read_text())), err
    records = _journal(run)
    after = cycles_from_journal(records)
    assert set(after) == {(m, k) for m in ("mbp-01", "mini-01") for k in (1, 2, 3)}
    assert all(c["outcome"] in ("pass", "fail") for c in after.values()), after
    ends_after = [r for r in records if r["type"] == "cycle_end"]
    assert ends_after[: len(ends_before)] == ends_before
    for key, c in finished.items():  # finished cycles are neither lost nor repeated
        new_ends = [r for r in ends_after[len(ends_before):] if (r["mac"], r["cycle"]) == key]
        assert not new_ends and after[key]["t_end"] == c["t_end"]
    resumed_starts = [(r["mac"], r["cycle"]) for r in records[at_kill:] if r["type"] == "cycle_start"]
    # the interrupted one ran again (counted after the kill: a rig_error retry is a run's own
    # business), and no finished one did
    assert all(key in resumed_starts for key in interrupted)
    assert not set(resumed_starts) & set(finished)


def test_ctrl_c_finishes_the_step_wakes_the_mac_and_marks_the_cycle_interrupted(tmp_path, twin):
    reports = tmp_path / "reports"
    p = _rig(["run", "--lab", str(twin.lab_path), "--build", "twin:darkwake-aware", "--cycles", "2",
              "--dwell", "30m", "--reports", str(reports), "--macs", "mbp-01"])
    run = _started_run(reports)
    assert wait_for(lambda: any(r["type"] == "step" and r["step"] == "dwell" for r in _journal(run)), 60)
    os.kill(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, (out, err)
    assert "resume with: rig run --resume" in out
    cyc = cycles_from_journal(_journal(run))
    assert list(cyc) == [("mbp-01", 1)]
    assert cyc[("mbp-01", 1)]["outcome"] == "unknown"
    assert "interrupted" in cyc[("mbp-01", 1)]["reason"]
    recs = _journal(run)
    woke = [r for r in recs if r.get("request", "").endswith("LID 1 OPEN")]
    assert woke and woke[-1]["t"] > next(r["t"] for r in recs if r.get("kind") == "act_lid_close")
    truth = twin.stop()
    assert truth["macs"]["mbp-01"]["phases"][-1][2] == "full"  # left awake
