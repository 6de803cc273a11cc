"""One cycle, two clocks: the threaded runner (live twin, real SSH and a pty) and the batch twin
execute the same script (rig.runner.script), so their journals hold the same records in the same
order, the batch walks the whole recovery ladder, and a step added to the script appears in
``rig twin simulate`` with no second edit."""
from __future__ import annotations

from rig.journal import read_journal
from rig.runner import script
from rig.twin.serve import DEFAULT_MACS, MacSpec, TwinConfig
from rig.twin.simulate import SimPlan, simulate
from tests.twin_runs import run_night


def _shape(records: list[dict], mac: str) -> list[tuple]:
    """What the Mac's first cycle did, without instants: record types with their step or kind
    (the build record carries no cycle number)."""
    return [(r["type"], r.get("step") or r.get("kind") or "") for r in records
            if r.get("mac") == mac and r.get("cycle", 1) == 1]


def _batch(tmp_path, macs=None, cycles=1, **twin):
    cfg = TwinConfig(build="darkwake-aware", seed=3, **twin)
    if macs is not None:
        cfg.macs = macs
    sim = simulate(cfg, SimPlan(nights=1, cycles_per_night=cycles, dwell_s=10 * 60), tmp_path / "batch")
    return read_journal(sim.run_dir / "journal.jsonl")[0]


def test_the_threaded_runner_and_the_batch_write_the_same_cycle(tmp_path):
    live = run_night(tmp_path / "live", "darkwake-aware", cycles=1, dwell_s=10 * 60, scale=200.0, seed=3)
    threaded = read_journal(live.run_dir / "journal.jsonl")[0]
    batch = _batch(tmp_path)
    for mac in ("mbp-01", "mini-01"):     # a lid-driven laptop and a sleepnow/power desktop
        a, b = _shape(threaded, mac), _shape(batch, mac)
        assert a == b, (mac, a, b)
        assert ("action", "act_lid_close" if mac == "mbp-01" else "cmd_sleepnow") in a
        assert [s for t, s in a if t == "step"] == ["precondition", "sleep", "dwell", "wake", "wait for SSH",
                                                    "wait for tunnel", "collect"]


def test_the_batch_walks_the_whole_recovery_ladder_then_skips_the_night(tmp_path):
    hung = MacSpec(**{**DEFAULT_MACS[0].__dict__, "fault": "never_wakes"})
    recs = _batch(tmp_path, macs=[hung], cycles=3)
    rungs = [r["step"] for r in recs if r["type"] == "recovery" and "error" not in r and "result" not in r]
    assert rungs == [name for name, _ in script.ladder(script.Plan(build="x"))]
    moves = [r["request"].split(" ", 1)[1] for r in recs if r["type"] == "recovery_action"]
    assert moves == ["PWR 1 PRESS 300", "PWR 1 PRESS 6000", "PWR 1 PRESS 300", "AC 1 OFF", "AC 1 ON",
                     "PWR 1 PRESS 300"]
    ends = [r for r in recs if r["type"] == "cycle_end"]
    assert [e["outcome"] for e in ends] == ["dut_hang"] * 3
    assert "recovery ladder exhausted" in ends[0]["reason"]
    assert all(e["reason"].startswith("skipped") for e in ends[1:])


def test_a_step_added_to_the_script_appears_in_the_batch(tmp_path, monkeypatch):
    plain = script._check_build

    def with_a_new_step(s):
        yield from plain(s)
        t = yield script.Now()
        yield script.Note({"type": "inventory", "mac": s.name, "t": t})

    monkeypatch.setattr(script, "_check_build", with_a_new_step)
    recs = _batch(tmp_path)
    assert sorted(r["mac"] for r in recs if r["type"] == "inventory") == ["mbp-01", "mini-01"]
