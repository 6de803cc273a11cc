"""Places through a real labgrid coordinator: two controllers on one twin Mac never interleave."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rig.cli.main import main
from rig.lab.coordinator import CoordinatorLeases
from rig.lab.lease import LeaseBusy
from rig.twin.launch import TwinProcess
from tests.labgrid_peers import Coordinator


@pytest.fixture
def coord(tmp_path):
    c = Coordinator(tmp_path / "coordinator")
    yield c
    c.stop()


@pytest.fixture
def twin_lab_path(tmp_path):
    t = TwinProcess(root=tmp_path / "twin")
    t.start()
    yield t.lab_path
    t.stop()


def _client(coord, who):
    return CoordinatorLeases(coord.address, who)


def test_a_place_is_refused_naming_its_holder_and_released_only_by_it_or_by_force(coord):
    a, b = _client(coord, "ctl-a/ci"), _client(coord, "ctl-b/ci")
    try:
        a.ensure_place("rig-mbp-01", {"rig": "mac", "mbp": "1"})
        t = time.perf_counter()
        a.acquire("rig-mbp-01")
        acquire_s = time.perf_counter() - t
        t0 = time.monotonic()
        with pytest.raises(LeaseBusy, match="acquired by ctl-a/ci"):
            b.acquire("rig-mbp-01", wait_s=0.6)
        assert time.monotonic() - t0 >= 0.6  # it waited before refusing
        assert not b.release("rig-mbp-01")  # not b's
        assert a.list_places() == [("rig-mbp-01", "ctl-a/ci", {"rig": "mac", "mbp": "1"})]
        assert a.acquire("rig-mbp-01").holder == "ctl-a/ci"  # resumed: ours already
        assert b.release("rig-mbp-01", force=True)
        assert b.acquire("rig-mbp-01").holder == "ctl-b/ci"
        print(f"acquire through the coordinator: {acquire_s * 1000:.1f} ms")
        assert acquire_s < 2.0
    finally:
        a.close()
        b.close()


def test_a_waiting_run_gets_the_place_when_the_holder_releases_it(coord):
    a, b = _client(coord, "ctl-a/ci"), _client(coord, "ctl-b/ci")
    try:
        a.ensure_place("rig-mini-01", {})
        a.acquire("rig-mini-01")
        import threading

        threading.Timer(0.5, a.release, args=("rig-mini-01",)).start()
        t0 = time.monotonic()
        assert b.acquire("rig-mini-01", wait_s=10).holder == "ctl-b/ci"
        assert 0.4 < time.monotonic() - t0 < 5
    finally:
        a.close()
        b.close()


def test_waiting_runs_queue_in_the_order_they_asked_and_a_newcomer_cannot_jump_it(coord):
    """Waiting is a labgrid reservation: the freed place goes to the oldest waiter, and a
    controller that only tries (no wait) is refused while it is allocated to that waiter."""
    import threading

    a, b, c, d = (_client(coord, f"ctl-{x}/ci") for x in "abcd")
    got: list[str] = []
    try:
        a.ensure_place("rig-mbp-01", {})
        a.acquire("rig-mbp-01")

        def wait_for(client, who):
            client.acquire("rig-mbp-01", wait_s=20)
            got.append(who)
            time.sleep(0.3)
            client.release("rig-mbp-01")

        tb = threading.Thread(target=wait_for, args=(b, "b"))
        tb.start()
        time.sleep(0.5)  # b asked first
        tc = threading.Thread(target=wait_for, args=(c, "c"))
        tc.start()
        time.sleep(0.5)
        assert [r.owner for r in a.reservations()] == ["ctl-b/ci", "ctl-c/ci"]
        a.release("rig-mbp-01")
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            with pytest.raises(LeaseBusy):   # allocated to b (or held by it): d cannot take it
                d.acquire("rig-mbp-01")
            time.sleep(0.05)
        tb.join(10)
        tc.join(10)
        assert got == ["b", "c"]
        assert a.reservations() == []   # each waiter cancelled its reservation once served
    finally:
        for x in (a, b, c, d):
            x.close()


def test_a_wait_that_runs_out_cancels_its_reservation(coord):
    a, b = _client(coord, "ctl-a/ci"), _client(coord, "ctl-b/ci")
    try:
        a.ensure_place("rig-mbp-01", {})
        a.acquire("rig-mbp-01")
        with pytest.raises(LeaseBusy, match="acquired by ctl-a/ci"):
            b.acquire("rig-mbp-01", wait_s=0.5)
        assert a.reservations() == []
        a.release("rig-mbp-01")
        assert b.acquire("rig-mbp-01").holder == "ctl-b/ci"   # nothing left allocated to a dead wait
    finally:
        a.close()
        b.close()


def _rig(args, who, **kw):
    env = {**os.environ, "LG_HOSTNAME": who, "LG_USERNAME": "ci"}
    return subprocess.Popen([sys.executable, "-m", "rig.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def _times(run_dir: Path) -> list[float]:
    rows = [json.loads(x) for x in (run_dir / "journal.jsonl").read_text().splitlines() if x.strip()]
    return [r["t"] for r in rows if "t" in r]


def _run_dir(out: str) -> Path:
    line = next(x for x in out.splitlines() if x.startswith("report: "))
    return Path(line.split(" ", 1)[1]).parent


def test_two_controllers_on_one_mac_run_one_after_the_other(coord, twin_lab_path, tmp_path):
    common = ["run", "--lab", str(twin_lab_path), "--macs", "mbp-01", "--dwell", "2m", "--cycles", "2", "-q",
              "--coordinator", coord.address, "--wait-lease", "120"]
    a = _rig([*common, "--reports", str(tmp_path / "ra")], "ctl-a")
    holder = _client(coord, "watch/ci")
    try:
        deadline = time.monotonic() + 30
        while holder.holder("rig-mbp-01") != "ctl-a/ci" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holder.holder("rig-mbp-01") == "ctl-a/ci"
        b = _rig([*common, "--reports", str(tmp_path / "rb")], "ctl-b")
        out_a, _ = a.communicate(timeout=300)
        out_b, _ = b.communicate(timeout=300)
        assert a.returncode in (0, 1) and "report: " in out_a, out_a  # 1: the naive build fails its gates
        assert b.returncode in (0, 1) and "report: " in out_b, out_b
        assert holder.holder("rig-mbp-01") is None  # both released at the end
    finally:
        holder.close()
    ja, jb = _times(_run_dir(out_a)), _times(_run_dir(out_b))
    assert len(ja) > 4 and len(jb) > 4
    # no interleaved cycles: on the one twin's clock, all of A's records come before any of B's
    assert max(ja) < min(jb)


def test_a_short_wait_is_refused_naming_the_holder(coord, twin_lab_path, tmp_path, monkeypatch):
    a = _client(coord, "nightly-rack-a/ci")
    try:
        a.ensure_place("rig-mbp-01", {})
        a.acquire("rig-mbp-01")
        monkeypatch.setenv("LG_HOSTNAME", "adhoc")
        res = CliRunner().invoke(main, ["run", "--lab", str(twin_lab_path), "--macs", "mbp-01", "--dwell", "1m",
                                        "--cycles", "1", "--reports", str(tmp_path / "r"), "-q",
                                        "--coordinator", coord.address, "--wait-lease", "0.5"])
        assert res.exit_code != 0
        assert "acquired by nightly-rack-a/ci" in res.output
        assert a.holder("rig-mbp-01") == "nightly-rack-a/ci"
    finally:
        a.close()


def test_a_killed_run_keeps_its_place_is_listed_and_resumes(coord, twin_lab_path, tmp_path):
    out = tmp_path / "r"
    args = ["run", "--lab", str(twin_lab_path), "--macs", "mbp-01", "--dwell", "2m", "--cycles", "3", "-q",
            "--coordinator", coord.address]
    p = _rig([*args, "--reports", str(out)], "ctl-k")
    deadline = time.monotonic() + 60
    journal = None
    while time.monotonic() < deadline:
        found = list(out.glob("*/journal.jsonl"))
        if found and found[0].stat().st_size > 0:
            journal = found[0]
            break
        time.sleep(0.05)
    assert journal is not None
    p.send_signal(signal.SIGKILL)
    p.wait()
    env = {**os.environ, "LG_HOSTNAME": "ctl-k", "LG_USERNAME": "ci"}
    listed = subprocess.run([sys.executable, "-m", "rig.cli", "lease", "list", "--lab", str(twin_lab_path),
                             "--coordinator", coord.address], env=env, capture_output=True, text=True)
    assert "rig-mbp-01" in listed.stdout and "ctl-k/ci" in listed.stdout, listed.stdout + listed.stderr
    # another controller cannot take it without --force
    other = subprocess.run([sys.executable, "-m", "rig.cli", "lease", "release", "--lab", str(twin_lab_path),
                            "--coordinator", coord.address, "mbp-01"],
                           env={**env, "LG_HOSTNAME": "other"}, capture_output=True, text=True)
    assert "held by ctl-k/ci" in other.stdout
    r = _rig(["run", "--lab", str(twin_lab_path), "--resume", str(journal.parent), "-q",
              "--coordinator", coord.address], "ctl-k")
    text, _ = r.communicate(timeout=300)
    assert r.returncode in (0, 1) and "report: " in text, text
    assert "resuming" in text
    c = _client(coord, "watch/ci")
    try:
        assert c.holder("rig-mbp-01") is None
    finally:
        c.close()


def test_ctrl_c_mid_run_releases_the_place(coord, twin_lab_path, tmp_path):
    out = tmp_path / "r"
    p = _rig(["run", "--lab", str(twin_lab_path), "--macs", "mbp-01", "--dwell", "2m", "--cycles", "20", "-q",
              "--coordinator", coord.address, "--reports", str(out)], "ctl-i")
    watch = _client(coord, "watch/ci")
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("*/journal.jsonl")) or watch.holder("rig-mbp-01") != "ctl-i/ci":
            assert time.monotonic() < deadline and p.poll() is None, p.stdout.read() if p.poll() is not None else ""
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)   # the first Ctrl-C: stop after the cycle in flight
        text, _ = p.communicate(timeout=120)
        assert p.returncode != 0, text
        assert watch.holder("rig-mbp-01") is None, text
    finally:
        watch.close()


def test_an_error_mid_run_releases_the_place(coord, twin_lab_path, tmp_path):
    from dataclasses import replace

    from rig.lab.inventory import load_lab
    from rig.runner.plan import Plan
    from rig.runner.run import drive, start_run

    lab = replace(load_lab(twin_lab_path), coordinator=coord.address)
    mac = lab.macs["mbp-01"]
    plan = Plan(build="twin:naive", cycles=3, dwell_s=120.0)
    folder = start_run(lab, plan, tmp_path / "reports", macs=[mac])

    def on_cycle(rec):
        raise RuntimeError("a bug in a caller's callback")

    watch = _client(coord, "watch/ci")
    try:
        with pytest.raises(RuntimeError, match="a bug"):
            drive(lab, folder, plan, [mac], on_cycle=on_cycle)
        assert watch.holder("rig-mbp-01") is None
    finally:
        watch.close()


def test_a_waiter_of_higher_priority_is_served_before_older_ones(coord):
    a, b, c = (_client(coord, f"ctl-{x}/ci") for x in "abc")
    got: list[str] = []
    try:
        a.ensure_place("rig-mbp-01", {})
        a.acquire("rig-mbp-01")

        def wait_for(client, who, prio):
            client.acquire("rig-mbp-01", wait_s=20, prio=prio)
            got.append(who)
            time.sleep(0.3)
            client.release("rig-mbp-01")

        tb = threading.Thread(target=wait_for, args=(b, "b", 0.0))
        tb.start()
        time.sleep(0.5)  # b asked first, at the default priority
        tc = threading.Thread(target=wait_for, args=(c, "c", 10.0))
        tc.start()
        time.sleep(0.5)
        assert sorted((r.owner, r.prio) for r in a.reservations()) == [("ctl-b/ci", 0.0), ("ctl-c/ci", 10.0)]
        a.release("rig-mbp-01")
        tb.join(15)
        tc.join(15)
        assert got == ["c", "b"]
    finally:
        for x in (a, b, c):
            x.close()


def test_a_priority_without_a_coordinator_is_refused_naming_the_option(tmp_path):
    from dataclasses import replace

    from lab_dicts import lab as lab_dict
    from rig.lab.inventory import LabError
    from rig.lab.lease_backend import Holding

    lab = lab_dict(tmp_path)
    with pytest.raises(LabError, match=r"--lease-priority.*keep no queue: name the coordinator"):
        Holding(replace(lab, lease_priority=5.0), list(lab.macs.values()), "run-1", 60.0)
    held = Holding(lab, list(lab.macs.values()), "run-1", 60.0)   # the default needs no queue
    held.release()


def test_rig_run_refuses_a_priority_without_a_coordinator_before_making_a_run_folder(tmp_path):
    res = CliRunner().invoke(main, ["run", "--cycles", "1", "--dwell", "90s", "--lease-priority", "5",
                                    "--reports", str(tmp_path / "reports")])
    assert res.exit_code == 1 and "--lease-priority" in res.output and "name the coordinator" in res.output, \
        res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)   # an error message, no traceback
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())
