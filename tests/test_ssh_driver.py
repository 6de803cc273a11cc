"""The SSH driver's own promises, against the twin's embedded door and a real sshd.

Quoting of shell lines, SFTP confined to the Mac's files, and the timeouts: a command that is
merely silent is not taken for a dead link (the link is probed, and answers), while a command that
runs past its deadline is stopped with a clear error.
"""
from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peers import OpenSSHDoor, shared_dir
from rig.runner.collect import log_show_argv
from rig.lab.inventory import load_lab
from rig.drive.ssh import SSHError, SSHSession, Unreachable, shell_line
from rig.twin.launch import TwinProcess
from rig.twin.serve import TwinConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def twin():
    base = shared_dir()
    t = TwinProcess(TwinConfig(scale=200.0), root=base / "twin")
    t.start()
    yield base / "twin", load_lab(t.lab_path)
    t.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_shell_line_quotes_every_word_and_passes_only_known_operators():
    line = shell_line([["log", "show", "--predicate", 'a == "b"'], ">", ["my file;rm -rf ~"], "&&", ["gzip", "-f", "x"]])
    assert line == "log show --predicate 'a == \"b\"' > 'my file;rm -rf ~' && gzip -f x"
    with pytest.raises(ValueError, match="neither an argv list"):
        shell_line([["true"], "; rm -rf /"])


def test_a_log_written_on_the_mac_comes_back_over_embedded_sftp_and_is_removed(twin, tmp_path):
    root, lab = twin
    now = lab.clock().now()
    argv = log_show_argv(lab, now - 3600, now - 5)  # a past window: the same bytes twice
    with SSHSession(lab.macs["mbp-01"].ssh, lab.clock()).connect() as s:
        streamed = s.run(argv).check().out
        res = s.run_line([["mkdir", "-p", "logs"], "&&", argv, ">", ["logs/u.ndjson"], "&&", ["gzip", "-f", "logs/u.ndjson"]])
        assert res.status == 0, res.err
        size = s.fetch("logs/u.ndjson.gz", tmp_path / "u.gz")
        s.run(["rm", "-f", "logs/u.ndjson.gz"]).check()
    assert size == (tmp_path / "u.gz").stat().st_size
    assert gzip.decompress((tmp_path / "u.gz").read_bytes()) == streamed
    assert not (root / "fs" / "mbp-01" / "logs" / "u.ndjson.gz").exists()


def test_a_failing_step_stops_the_line_and_its_status_comes_back(twin):
    _, lab = twin
    with SSHSession(lab.macs["mbp-01"].ssh, lab.clock()).connect() as s:
        res = s.run_line([["log", "show", "--bogus"], ">", ["x.ndjson"], "&&", ["gzip", "-f", "x.ndjson"]])
        assert res.status == 64 and b"unknown option" in res.err
        assert s.run(["gzip", "-c", "x.ndjson.gz"]).status != 0  # gzip never ran


def test_a_link_gone_by_the_time_the_channel_closes_loses_neither_result_nor_cycle(twin, monkeypatch):
    """A Mac falling asleep after ``pmset sleepnow`` can drop the socket between the command's
    answer and the channel's close; paramiko then raises EOFError from close(). No real peer
    drops a link at that instant on demand, so the close is made to fail (mock: the only one)."""
    import paramiko

    _, lab = twin
    with SSHSession(lab.macs["mbp-01"].ssh, lab.clock()).connect() as s:
        def dropped(self):
            raise EOFError()

        monkeypatch.setattr(paramiko.Channel, "close", dropped)
        res = s.run(["hostname"]).check()
        assert res.out == b"mbp-01.local\n"
        with pytest.raises(SSHError):          # an error that ended a command still comes through
            s.run(["gzip", "-c", "no-such-file"]).check()
        monkeypatch.undo()


def test_sftp_cannot_reach_outside_the_macs_files(twin, tmp_path):
    root, lab = twin
    (root / "secret").write_text("not the Mac's")
    with SSHSession(lab.macs["mbp-01"].ssh, lab.clock()).connect() as s:
        with pytest.raises(SSHError):
            s.fetch("../../secret", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_the_twin_shell_refuses_expansions_it_cannot_do(twin):
    _, lab = twin
    with SSHSession(lab.macs["mbp-01"].ssh, lab.clock()).connect() as s:
        _, out, err = s.client.exec_command("echo $HOME", timeout=5)
        status = out.channel.recv_exit_status()
        assert status == 2 and b"not supported" in err.read()


@pytest.fixture(scope="module")
def slow_door(twin):
    """A real sshd whose every command first sits silent for 1.5 s (a slow ``log show``)."""
    root, lab = twin
    door = OpenSSHDoor(root, "mbp-01", gate="sleep 1.5;").start()
    yield dataclasses.replace(lab.macs["mbp-01"].ssh, port=door.port, user=door.user,
                              known_hosts=door.write_known_hosts())
    door.stop()


def test_a_silent_command_on_a_live_link_is_not_taken_for_a_dead_one(twin, slow_door):
    _, lab = twin
    with SSHSession(slow_door, lab.clock(), idle_s=0.3).connect() as s:
        res = s.run(["hostname"])  # ~4 probes while it is silent; each is answered
        assert (res.status, res.text) == (0, "mbp-01.local\n")
        assert s.connected


def test_a_command_past_its_deadline_is_stopped_with_a_clear_error(twin, slow_door):
    _, lab = twin
    with SSHSession(slow_door, lab.clock(), idle_s=0.3).connect() as s:
        with pytest.raises(SSHError, match="timed out after") as e:
            s.run(["hostname"], timeout=0.5)
        assert not isinstance(e.value, Unreachable)
        assert s.connected  # the link is fine; only that command was given up


def test_python_m_rig_twin_shell_is_the_same_door(twin):
    root, lab = twin
    env = {**os.environ, "SSH_ORIGINAL_COMMAND": "hostname"}
    res = subprocess.run([sys.executable, "-m", "rig.twin", "shell", "--socket", str(root / "door.sock"),
                          "--host", "mbp-01"], env=env, capture_output=True, cwd=ROOT)
    with SSHSession(lab.macs["mbp-01"].ssh, lab.clock()).connect() as s:
        embedded = s.run(["hostname"])
    assert (res.returncode, res.stdout, res.stderr) == (embedded.status, embedded.out, embedded.err)
