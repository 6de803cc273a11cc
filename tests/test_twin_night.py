"""A night on the twin, scored through the real doors, against the twin's ground truth."""
from __future__ import annotations

import threading

import pytest

from twin_runs import run_night, truth_cycles

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """naive and darkwake-aware, run side by side (each its own twin lab, 2 Macs, 2 cycles).

    Dark wakes every ~10 min and a 12-min dwell give one or two per cycle at clock x30: a low scale
    keeps an SSH round trip's jitter (wall time x scale) well inside the 50 ms time-to-tunnel budget.
    """
    out = {}
    # the folders are made here, before the threads: pytest's first mktemp of a session creates
    # (and with --basetemp first empties) the base folder, and two threads doing that at once
    # could each empty it under the other's run
    folders = {b: tmp_path_factory.mktemp(b) for b in ("naive", "darkwake-aware")}

    def go(build):
        out[build] = run_night(folders[build], build, cycles=2, dwell_s=12 * 60, scale=30.0,
                               dark_interval_s=600.0)

    threads = [threading.Thread(target=go, args=(b,)) for b in folders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(out) == {"naive", "darkwake-aware"}, "a twin night did not finish"
    return out


MACS = ["mbp-01", "mini-01"]


@pytest.mark.parametrize("mac", MACS)
def test_naive_reconnects_once_per_true_dark_wake(nights, mac):
    night = nights["naive"]
    truth = truth_cycles(night.truth, mac)
    rows = night.rows(mac)
    assert len(rows) == len(truth) == 2
    for row, tr in zip(rows, truth):
        assert tr["dark_wakes"] >= 1
        assert row["dark_wakes"] == tr["dark_wakes"]
        assert row["reconnects_in_sleep"] == tr["reconnects_in_sleep"] == tr["dark_wakes"]


@pytest.mark.parametrize("mac", MACS)
def test_naive_false_alerts_equal_the_truth(nights, mac):
    night = nights["naive"]
    for row, tr in zip(night.rows(mac), truth_cycles(night.truth, mac)):
        assert tr["false_alerts"] > 0
        assert row["false_alerts"] == tr["false_alerts"]


@pytest.mark.parametrize("mac", MACS)
def test_darkwake_aware_has_no_reconnects_and_no_false_alerts(nights, mac):
    night = nights["darkwake-aware"]
    rows = night.rows(mac)
    truth = truth_cycles(night.truth, mac)
    assert [r["reconnects_in_sleep"] for r in rows] == [t["reconnects_in_sleep"] for t in truth] == [0, 0]
    assert [r["false_alerts"] for r in rows] == [t["false_alerts"] for t in truth] == [0, 0]
    assert [r["dark_wakes"] for r in rows] == [t["dark_wakes"] for t in truth]
    assert all(t["dark_wakes"] >= 1 for t in truth)


@pytest.mark.parametrize("build", ["naive", "darkwake-aware"])
@pytest.mark.parametrize("mac", MACS)
def test_time_to_tunnel_matches_the_truth_within_50ms(nights, build, mac):
    night = nights[build]
    for row, tr in zip(night.rows(mac), truth_cycles(night.truth, mac)):
        assert row["ttt_anchor"] == "actuator"
        assert abs(row["ttt_s"] - tr["ttt_s"]) <= 0.050, (row["ttt_s"], tr["ttt_s"])


def test_verdicts_follow_the_gates(nights):
    import json

    naive = json.loads((nights["naive"].run_dir / "scores.json").read_text())
    aware = json.loads((nights["darkwake-aware"].run_dir / "scores.json").read_text())
    assert naive["verdict"] == "fail" and aware["verdict"] == "pass"
    assert {g["name"]: g["verdict"] for g in aware["gates"]} == {
        "reconnects in sleep": "pass", "false disconnect alerts": "pass", "time-to-tunnel p95": "pass"}


def test_run_folder_holds_every_file_of_the_design(nights):
    d = nights["naive"].run_dir
    for name in ("run.json", "journal.jsonl", "events.parquet", "cycles.csv", "scores.json", "report.html",
                 "summary.md"):
        assert (d / name).is_file(), name
    for mac in MACS:
        for k in (1, 2):
            cyc = d / "raw" / mac / f"{k:03d}"
            assert (cyc / "pmset.log").stat().st_size > 0
            assert (cyc / "unified.ndjson").stat().st_size > 0
            assert (cyc / "gateway.log").stat().st_size > 0
