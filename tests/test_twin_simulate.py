"""Batch mode (``rig twin simulate``): Mac-nights on virtual time written as a run folder that the
rig scores unchanged, with the ground truth next to it."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_nights import batch_run
from rig.cli.main import main
from rig.runner.plan import Plan
from rig.journal import read_journal
from rig.lab.inventory import parse_lab
from rig.runner.run import start_run
from rig.twin.serve import TwinConfig
from rig.twin.simulate import SIGNATURES, SimPlan, fleet, simulate

TTT_TOLERANCE_S = 0.05


@pytest.fixture(scope="module")
def naive(tmp_path_factory):
    """Two Macs (a laptop on the lid, a desktop on pmset/power button), two nights of 2 cycles."""
    return batch_run(tmp_path_factory.mktemp("naive"), "naive", macs=2, nights=2, cycles_per_night=2,
                     dwell_s=40 * 60)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- the run folder is the rig's -------------------------------------------------------------------

def test_run_json_has_every_key_start_run_writes(naive, tmp_path):
    (tmp_path / "known_hosts").write_text("")
    ssh = {"host": "127.0.0.1", "user": "rig", "known_hosts": str(tmp_path / "known_hosts")}
    lab = parse_lab({
        "extension": {"name": "TwinProxy", "subsystem": "com.example.twinproxy", "signatures": str(SIGNATURES)},
        "gateway": {"name": "gw-twin", **ssh, "format": "ocserv", "clients": {"mbp-01": "rig-mbp-01"},
                    "log_command": "journalctl --since @{start} --until @{end}"},
        "actuator": [{"name": "act-1", "port": "/dev/null"}],
        "mac": [{"name": "mbp-01", **ssh, "actuator": "act-1", "channel": 1}],
    }, tmp_path / "lab.toml")
    real = json.loads(start_run(lab, Plan(build="twin:naive"), tmp_path / "reports").run_json.read_text())
    batch = json.loads((naive.run_dir / "run.json").read_text())
    assert set(real) <= set(batch)
    for key in ("gateway", "plan", "lab", "extension"):
        assert set(real[key]) == set(batch[key]), key
    assert set(real["macs"]["mbp-01"]) == set(batch["macs"]["mbp-01"])
    assert batch["gateway"]["users"] == {"rig-mbp-01": "mbp-01", "rig-mini-01": "mini-01"}  # user -> Mac


def test_every_cycle_is_journaled_like_the_cycle_runner_does(naive):
    records, torn = read_journal(naive.run_dir / "journal.jsonl")
    assert torn == 0
    for mac, sleep_kind, wake_kind in (("mbp-01", "act_lid_close", "act_lid_open"),
                                       ("mini-01", "cmd_sleepnow", "act_power_press")):
        for k in range(1, 5):
            mine = [r for r in records if r.get("mac") == mac and r.get("cycle") == k]
            types = [r["type"] for r in mine]
            assert types[0] == "cycle_start" and types[-1] == "cycle_end"
            assert [r["kind"] for r in mine if r["type"] == "action"] == [sleep_kind, wake_kind]
            hosts = [r["host"] for r in mine if r["type"] == "offset"]
            assert hosts.count(mac) == 3 and hosts.count("gw-twin") == 1
            assert mine[-1]["collected"] is True
            assert (naive.run_dir / "raw" / mac / f"{k:03d}" / "unified.ndjson").stat().st_size > 0


def test_offsets_are_measurements_within_half_a_round_trip(naive):
    records, _ = read_journal(naive.run_dir / "journal.jsonl")
    skew = {m: naive.truth["macs"][m]["skew"] for m in ("mbp-01", "mini-01")}
    skew["gw-twin"] = naive.truth["gateway"]["skew"]
    assert all(abs(s) >= 0.5 for s in skew.values())  # clocks seconds apart: correction matters
    offs = [r for r in records if r["type"] == "offset"]
    assert offs
    for r in offs:
        assert 0.002 <= r["rtt"] <= 0.020
        assert abs(r["offset"] - skew[r["host"]]) <= r["rtt"] / 2
    assert all(r["offset"] != skew[r["host"]] for r in offs)  # measured, never the truth copied


def test_the_rig_scores_every_cycle_with_no_rejected_line(naive):
    s = naive.scores
    assert s["cycles_scored"] == s["cycles"] == 8
    assert s["rig_errors"] == []
    for cycle, sources in s["bad_lines"].items():
        for source, counts in sources.items():
            assert counts["rejected"] == 0, (cycle, source, counts["rejected_lines"])


def test_scores_match_the_truth_cycle_by_cycle(naive):
    pairs = naive.pairs()
    assert len(pairs) == 8
    for row, t in pairs:
        assert t["dark_wakes"] >= 1
        for metric in ("dark_wakes", "reconnects_in_sleep", "handshakes_in_sleep", "false_alerts"):
            assert row[metric] == t[metric], (t["mac"], t["cycle"], metric)
        assert row["dpd_terminations"] == t["dpd_in_sleep"] + t["dpd_recovered"]
        assert abs(row["ttt_s"] - t["ttt_s"]) <= TTT_TOLERANCE_S
        assert abs(row["sleep_s"] - t["sleep_s"]) <= 1.0


def test_darkwake_aware_scores_match_the_truth(tmp_path):
    run = batch_run(tmp_path, "darkwake-aware", cycles_per_night=2, dwell_s=40 * 60)
    for row, t in run.pairs():
        assert row["reconnects_in_sleep"] == t["reconnects_in_sleep"] == 0
        assert row["false_alerts"] == t["false_alerts"] == 0
        assert row["dark_wakes"] == t["dark_wakes"] >= 1
        assert abs(row["ttt_s"] - t["ttt_s"]) <= TTT_TOLERANCE_S
    assert run.scores["verdict"] == "pass"


# -- determinism --------------------------------------------------------------------------------------

def _small(out: Path, seed: int):
    specs = fleet(2)
    for m in specs:
        m.network_change = 0.3
    return simulate(TwinConfig(build="flaky-handshake", seed=seed, macs=specs),
                    SimPlan(nights=2, cycles_per_night=2, dwell_s=1800), out)


def test_same_seed_writes_the_same_bytes(tmp_path):
    a, b = _small(tmp_path / "a", 5), _small(tmp_path / "b", 5)
    fa, fb = _files(a.out), _files(b.out)
    assert len(fa) > 10 and fa == fb


def test_another_seed_writes_another_night(tmp_path):
    a, b = _small(tmp_path / "a", 5), _small(tmp_path / "b", 6)
    assert _files(a.out)["truth.json"] != _files(b.out)["truth.json"]


# -- knobs --------------------------------------------------------------------------------------------

def test_dpd_timeout_sets_the_gateways_teardown(tmp_path):
    run = batch_run(tmp_path, "naive", cycles_per_night=1, dwell_s=30 * 60, dpd_s=45)
    logs = "".join(p.read_text() for p in run.run_dir.glob("raw/*/*/gateway.log"))
    assert "suggesting DPD of 45 secs" in logs and "suggesting DPD of 30 secs" not in logs
    assert "have not received TCP DPD for long (135 secs)" in logs  # 3 x dpd of silence
    assert run.scores["totals"]["dpd_terminations"] == sum(t["dpd_in_sleep"] + t["dpd_recovered"]
                                                           for _, t in run.pairs()) > 0


def test_dark_wake_interval_sets_the_spacing_of_maintenance_wakes(tmp_path):
    interval = 5 * 60.0
    run = batch_run(tmp_path, "darkwake-aware", cycles_per_night=1, dwell_s=40 * 60, dark_interval_s=interval)
    m = run.truth["macs"]["mbp-01"]
    sleeps = [s["t"] for s in m["sleeps"]]
    gaps = [w["t"] - max(s for s in sleeps if s < w["t"]) for w in m["wakes"] if w["kind"] == "dark"]
    assert len(gaps) >= 5
    assert all(0.85 * interval - 1e-6 <= g <= 1.15 * interval + 1e-6 for g in gaps)
    assert statistics.mean(gaps) == pytest.approx(interval, rel=0.1)
    row, t = run.pairs()[0]
    assert row["dark_wakes"] == t["dark_wakes"] == len(gaps)


def test_a_mac_that_never_wakes_is_a_dut_hang_not_a_crash(tmp_path):
    specs = fleet(2)
    specs[1].fault = "never_wakes"
    sim = simulate(TwinConfig(build="naive", macs=specs), SimPlan(cycles_per_night=2, dwell_s=1200), tmp_path)
    from rig.report.rebuild import derive_run

    scores = derive_run(sim.run_dir)
    assert scores["outcomes"].get("dut_hang") == 2  # the hang, then the night's remaining cycle
    assert scores["cycles_scored"] == 2  # the healthy Mac's cycles
    records, _ = read_journal(sim.run_dir / "journal.jsonl")
    steps = [r["step"] for r in records if r["type"] == "recovery" and r["mac"] == "mini-01"]
    assert steps == ["power press", "long press then press", "AC off and on"]


# -- the command line -----------------------------------------------------------------------------------

def test_cli_simulate_writes_a_run_folder_and_the_truth_next_to_it(tmp_path):
    out = tmp_path / "sim"
    res = CliRunner().invoke(main, ["twin", "simulate", "--build", "twin:keepalive-offload", "--nights", "1",
                                    "--cycles-per-night", "1", "--dwell", "20m", "--dpd-timeout", "20",
                                    "--dark-wake-interval", "10m", "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    truth = json.loads((out / "truth.json").read_text())
    run_dir = out / truth["run_id"]
    assert (run_dir / "scores.json").is_file()  # scored right away
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["build"] == "twin:keepalive-offload"
    assert truth["config"]["twin"]["dpd_s"] == 20 and truth["config"]["twin"]["dark_interval_s"] == 600
    assert meta["command"][0] == "rig"
    assert "truth.json" not in {p.name for p in run_dir.rglob("*")}  # the rig never sees the truth


def test_cli_simulate_refuses_to_overwrite_a_simulation(tmp_path):
    args = ["twin", "simulate", "--cycles-per-night", "1", "--dwell", "20m", "--no-score", "--out", str(tmp_path)]
    assert CliRunner().invoke(main, args).exit_code == 0
    before = _files(tmp_path)
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0 and "already holds a simulation" in res.output
    assert _files(tmp_path) == before


def test_cli_simulate_names_the_known_models_for_an_unknown_one(tmp_path):
    res = CliRunner().invoke(main, ["twin", "simulate", "--build", "hopeful", "--out", str(tmp_path / "x")])
    assert res.exit_code != 0
    assert "unknown twin build model 'hopeful'" in res.output and "zombie" in res.output
    assert not (tmp_path / "x").exists()
