"""How parallel workers share one run folder: per-Mac journal parts, merged once; and how a
resumed session reads finished cycles back instead of running them again."""
from __future__ import annotations

import json

import pytest

from fixtures.recorder import RunRecorder, SharedActuatorBank, open_run, suite_plan
from rig.journal import Journal, cycles_from_journal, merge_parts, part_path, read_run_journal
from rig.lab.inventory import load_lab
from rig.twin.launch import TwinProcess
from rig.twin.serve import MacSpec, TwinConfig
from twin_runs import truth_cycles


def cycle(mac: str, k: int, outcome: str = "pass") -> list[dict]:
    return [{"type": "cycle_start", "mac": mac, "cycle": k, "t": 100.0 + k, "outcome": "unknown"},
            {"type": "cycle_end", "mac": mac, "cycle": k, "t": 200.0 + k, "outcome": outcome}]


def write(journal: Journal, records: list[dict]) -> None:
    for r in records:
        journal.append(r)
    journal.close()


def outcomes(run) -> dict:
    return {key: c["outcome"] for key, c in cycles_from_journal(read_run_journal(run)[0]).items()}


def test_each_macs_part_is_read_with_the_journal_before_any_merge(tmp_path):
    write(Journal(tmp_path / "journal.jsonl"), cycle("mbp-01", 1))
    write(Journal(part_path(tmp_path, "mbp-01")), cycle("mbp-01", 2, "fail"))
    write(Journal(part_path(tmp_path, "mini-01")), cycle("mini-01", 1))
    assert outcomes(tmp_path) == {("mbp-01", 1): "pass", ("mbp-01", 2): "fail", ("mini-01", 1): "pass"}


def test_merging_moves_every_part_into_the_journal_exactly_once(tmp_path):
    write(Journal(part_path(tmp_path, "mbp-01")), cycle("mbp-01", 1))
    write(Journal(part_path(tmp_path, "mini-01")), cycle("mini-01", 1, "fail"))
    before = outcomes(tmp_path)
    assert merge_parts(tmp_path) == 4
    assert not (tmp_path / "journal.d").exists()
    assert merge_parts(tmp_path) == 0
    lines = (tmp_path / "journal.jsonl").read_text().splitlines()
    assert len(lines) == 4 and outcomes(tmp_path) == before


def test_a_merge_stopped_before_removing_the_parts_never_reopens_a_finished_cycle(tmp_path):
    write(Journal(part_path(tmp_path, "mbp-01")), cycle("mbp-01", 1))
    # the merge appended the part to the journal, then the controller died
    (tmp_path / "journal.jsonl").write_bytes(part_path(tmp_path, "mbp-01").read_bytes())
    records, _ = read_run_journal(tmp_path)
    assert len(records) == 2 and outcomes(tmp_path) == {("mbp-01", 1): "pass"}
    merge_parts(tmp_path)
    assert len((tmp_path / "journal.jsonl").read_text().splitlines()) == 2


def test_a_torn_last_journal_line_stays_one_bad_line_after_a_merge(tmp_path):
    (tmp_path / "journal.jsonl").write_bytes(b'{"type": "cycle_start", "mac": "mbp-01", "cyc')
    write(Journal(part_path(tmp_path, "mini-01")), cycle("mini-01", 1))
    merge_parts(tmp_path)
    records, torn = read_run_journal(tmp_path)
    assert torn == 1 and outcomes(tmp_path) == {("mini-01", 1): "pass"}


def test_two_workers_opening_one_suite_folder_get_the_same_folder_and_one_run_json(tmp_path):
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    (lab_dir / "sig.toml").write_text("")
    (lab_dir / "known_hosts").write_text("")
    (lab_dir / "lab.toml").write_text(
        '[lab]\nname = "rack-a"\n[extension]\nname = "X"\nsubsystem = "com.example.x"\nsignatures = "sig.toml"\n'
        '[[actuator]]\nname = "act-1"\nport = "/dev/serial/by-id/usb-rig-actuator-0-if00"\n'
        '[[mac]]\nname = "mini-01"\nhost = "mini-01.lab"\nuser = "rig"\nknown_hosts = "known_hosts"\n'
        'actuator = "act-1"\nchannel = 1\nsleep_by = "sleepnow"\nwake_by = "power"\n')
    lab = load_lab(lab_dir / "lab.toml")
    plan = suite_plan("dark_wake_churn", "1.4.2", None, None)
    path = tmp_path / "reports" / "2026-11-25T0848-1.4.2-dark_wake_churn"
    a = open_run(lab, plan, path, "dark_wake_churn", list(lab.macs.values()), ["pytest", "suites/"])
    run_json = a.run_json.read_bytes()
    b = open_run(lab, plan, path, "dark_wake_churn", list(lab.macs.values()), ["pytest", "suites/"])
    assert a.path == b.path and b.run_json.read_bytes() == run_json
    meta = json.loads(run_json)
    assert meta["suite"] == "dark_wake_churn" and meta["plan"]["dwell_s"] == 3600
    assert [g["metric"] for g in meta["gates"]] == ["reconnects_in_sleep", "false_alerts", "dpd_terminations"]


@pytest.mark.slow
def test_a_resumed_session_reads_finished_cycles_back_and_runs_only_new_ones(tmp_path):
    twin = TwinProcess(TwinConfig(build="naive", scale=200.0, macs=[MacSpec("mbp-01", "laptop", tags=["laptop"])]),
                       root=tmp_path / "twin")
    try:
        lab = load_lab(twin.start())
        mac = lab.macs["mbp-01"]
        plan = suite_plan("dark_wake", "twin:naive", 1, 17 * 60)
        folder = open_run(lab, plan, tmp_path / "reports" / "s-dark_wake", "dark_wake", [mac], ["pytest"])
        bank = SharedActuatorBank(lab, lab.clock())

        first = RunRecorder(lab, "dark_wake", folder, plan, holder="s", bank=bank).drive(mac)
        starts = sum(1 for r in read_run_journal(folder.path)[0] if r["type"] == "cycle_start")

        again = RunRecorder(lab, "dark_wake", folder, plan, holder="s2", bank=bank)
        replay = again.drive(mac)  # cycle 1 is finished: read back
        assert sum(1 for r in read_run_journal(folder.path)[0] if r["type"] == "cycle_start") == starts
        assert [(r["cycle"], r["outcome"], r["dark_wakes"], r["reconnects_in_sleep"]) for r in replay.rows] == \
               [(r["cycle"], r["outcome"], r["dark_wakes"], r["reconnects_in_sleep"]) for r in first.rows]

        new = again.drive(mac, dwell_s=60)  # the test after it asks for cycle 2: that one runs
        assert [r["cycle"] for r in new.rows] == [2]
        bank.close_all()
    finally:
        truth = twin.stop()
    want = truth_cycles(truth, "mbp-01")[0]
    assert first.rows[0]["dark_wakes"] == want["dark_wakes"] >= 1
    assert first.rows[0]["reconnects_in_sleep"] == want["reconnects_in_sleep"]
