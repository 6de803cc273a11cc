"""The rig's SSH driver against a real OpenSSH sshd in front of a twin Mac (ForceCommand door).

The same twin Mac answers through its embedded paramiko server and through Debian's sshd; the rig
must not be able to tell them apart, must refuse a wrong or unknown host key from the real daemon,
must fetch large logs over the real daemon's SFTP, and must run a whole cycle through it.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import shutil

import pandas as pd
import pytest

from peers import OpenSSHDoor, lab_with_mac_at, shared_dir
from rig.drive.actuators.rig_v1 import RigV1Actuator
from rig.runner.collect import REMOTE_UNIFIED, log_show_argv, unified_to_file_line
from rig.journal import cycles_from_journal, read_journal
from rig.lab.inventory import load_lab
from rig.parse.pmset import parse_pmset
from rig.parse.signatures import load_signatures
from rig.drive.ssh import HostKeyError, SSHError, SSHSession, Unreachable
from rig.twin.keys import known_hosts_line, new_key
from rig.twin.launch import TwinProcess
from rig.twin.serve import MacSpec, TwinConfig
from rig.parse.unified_log import parse_unified
from twin_runs import run_night

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def lab_and_door():
    """A twin lab (two Macs) and an OpenSSH sshd in front of each of its Macs."""
    base = shared_dir()
    twin = TwinProcess(TwinConfig(scale=200.0), root=base / "twin")
    lab_path = twin.start()
    doors = {}
    try:
        for name in ("mbp-01", "mini-01"):
            doors[name] = OpenSSHDoor(base / "twin", name).start()
        yield load_lab(lab_path), doors
    finally:
        for d in doors.values():
            d.stop()
        twin.stop()
        shutil.rmtree(base, ignore_errors=True)


def _via_openssh(lab, door: OpenSSHDoor, known_hosts=None):
    kh = known_hosts or door.write_known_hosts()
    return dataclasses.replace(lab.macs[door.host].ssh, host=door.listen, port=door.port, user=door.user,
                               known_hosts=kh)


def test_both_doors_give_the_same_answers(lab_and_door):
    lab, doors = lab_and_door
    argv = ["systemextensionsctl", "list"]
    with SSHSession(_via_openssh(lab, doors["mbp-01"]), lab.clock()).connect() as real:
        a = real.run(argv)
    with SSHSession(lab.macs["mbp-01"].ssh, lab.clock()).connect() as embedded:
        b = embedded.run(argv)
    assert (a.status, a.out, a.err) == (b.status, b.out, b.err)
    assert b"com.example.twinproxy.extension" in a.out


def test_remote_words_stay_quoted_through_a_real_sshd(lab_and_door):
    lab, doors = lab_and_door
    with SSHSession(_via_openssh(lab, doors["mbp-01"]), lab.clock()).connect() as s:
        res = s.run(["hostname;", "rm", "-rf", "/"])
        assert res.status == 127  # one word "hostname;" that does not exist; nothing else ran
        assert s.run(["hostname"]).text == "mbp-01.local\n"


def test_wrong_host_key_from_the_real_sshd_is_refused_with_a_fix(lab_and_door, tmp_path):
    lab, doors = lab_and_door
    door = doors["mbp-01"]
    kh = tmp_path / "known_hosts"
    kh.write_text(known_hosts_line(door.listen, door.port, new_key(tmp_path / "impostor")) + "\n")
    with pytest.raises(HostKeyError, match="does not match") as e:
        SSHSession(_via_openssh(lab, door, kh), lab.clock()).connect()
    assert "ssh-keygen -R" in str(e.value)


def test_unknown_real_sshd_is_refused_never_auto_accepted(lab_and_door, tmp_path):
    lab, doors = lab_and_door
    kh = tmp_path / "known_hosts"
    shutil.copy(lab.macs["mbp-01"].ssh.known_hosts, kh)  # the lab's keys, but not this daemon's
    with pytest.raises(HostKeyError, match="not in") as e:
        SSHSession(_via_openssh(lab, doors["mbp-01"], kh), lab.clock()).connect()
    assert "ssh-keyscan" in str(e.value)
    assert kh.read_text() == lab.macs["mbp-01"].ssh.known_hosts.read_text()  # nothing was added


def test_a_log_written_on_the_mac_comes_back_over_the_real_sftp_whole(lab_and_door, tmp_path):
    lab, doors = lab_and_door
    now = lab.clock().now()
    argv = log_show_argv(lab, now - 3600, now - 5)  # a past window: the same bytes twice
    with SSHSession(_via_openssh(lab, doors["mbp-01"]), lab.clock()).connect() as s:
        streamed = s.run(argv).check().out
        s.run_line(unified_to_file_line(argv)).check()
        size = s.fetch(REMOTE_UNIFIED + ".gz", tmp_path / "u.gz")
        s.run(["rm", "-f", REMOTE_UNIFIED + ".gz"]).check()
        with s.sftp() as sftp:
            left = sftp.listdir(".")
    assert size == (tmp_path / "u.gz").stat().st_size
    assert gzip.decompress((tmp_path / "u.gz").read_bytes()) == streamed
    assert REMOTE_UNIFIED + ".gz" not in left


def test_fetching_a_missing_file_says_so(lab_and_door, tmp_path):
    lab, doors = lab_and_door
    with SSHSession(_via_openssh(lab, doors["mbp-01"]), lab.clock()).connect() as s:
        with pytest.raises(SSHError, match="no such file"):
            s.fetch("nothing-here.gz", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_mac_that_fell_asleep_drops_the_real_sshd_session(lab_and_door):
    lab, doors = lab_and_door
    with SSHSession(lab.macs["mini-01"].ssh, lab.clock()).connect() as embedded:
        embedded.run(["pmset", "sleepnow"]).check()
    lab.clock().sleep(5.0)  # the desktop is asleep 0.3 s (lab) after sleepnow
    try:
        s = SSHSession(_via_openssh(lab, doors["mini-01"]), lab.clock()).connect()  # sshd itself answers
        with pytest.raises(Unreachable):
            s.run(["hostname"])
        assert not s.connected
    finally:
        with RigV1Actuator(lab.actuators["act-1"], lab.clock()) as act:
            act.power_press(lab.macs["mini-01"].channel, 300)


# -- a whole cycle through the real sshd ----------------------------------------------------------

@pytest.fixture
def cycle_through_openssh(tmp_path):
    """One cycle of one laptop reached only through OpenSSH sshd; returns (run dir, truth, door log)."""
    base = shared_dir()
    doors = []

    def behind_openssh(lab_path):
        door = OpenSSHDoor(base / "twin", "mbp-01").start()
        doors.append(door)
        return load_lab(lab_with_mac_at(lab_path, "mbp-01", host=door.listen, port=door.port, user=door.user,
                                        known_hosts=door.write_known_hosts()))

    try:
        night = run_night(tmp_path, "naive", dwell_s=20 * 60, twin_root=base / "twin", lab_for=behind_openssh,
                          twin=TwinConfig(scale=200.0, macs=[MacSpec("mbp-01", "laptop", skew=2.75,
                                                                      utc_offset_min=-480)]),
                          plan_overrides={"rig_retries": 0})
        log = doors[0].log()
    finally:
        for door in doors:
            door.stop()
        shutil.rmtree(base, ignore_errors=True)
    return night.run_dir, night.truth, log


def test_a_full_cycle_runs_through_the_real_sshd(cycle_through_openssh):
    run, truth, sshd_log = cycle_through_openssh
    cycles = cycles_from_journal(read_journal(run / "journal.jsonl")[0])
    assert cycles[("mbp-01", 1)]["outcome"] in ("pass", "fail"), cycles[("mbp-01", 1)].get("reason")
    assert len(pd.read_csv(run / "cycles.csv")) == 1  # scored
    # The lab file knows the Mac only at that door: the rig logged in there, ran its commands
    # through ForceCommand, and fetched the unified log over that connection's SFTP.
    assert "Accepted publickey for rigmac" in sshd_log
    assert "Starting session: forced-command" in sshd_log
    raw = run / "raw" / "mbp-01" / "001"
    info = json.loads((raw / "collect.json").read_text())
    assert info["unified"]["via"] == "sftp" and info["unified"]["status"] == 0
    # What came through is whole: every dark wake and every tunnel-up the twin really logged.
    mac = truth["macs"]["mbp-01"]
    pm = parse_pmset((raw / "pmset.log").read_text(), "mbp-01").rows
    assert sum(r["kind"] == "dark_wake" for r in pm) == sum(w["kind"] == "dark" for w in mac["wakes"]) >= 1
    a, b = info["unified"]["window"]  # on the Mac's clock
    ups = [r for r in parse_unified((raw / "unified.ndjson").read_bytes(), "mbp-01",
                                    load_signatures(run / "signatures.toml")).rows if r["kind"] == "tunnel_up"]
    assert len(ups) == sum(a <= u["t"] + mac["skew"] <= b for u in mac["tunnel_ups"]) >= 1
