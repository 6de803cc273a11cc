"""The doors of a twin lab are real protocols: SSH with host keys, a serial device with protocol v1."""
from __future__ import annotations

import dataclasses

import pytest

from rig.drive.actuator import ActuatorError
from rig.drive.actuators.rig_v1 import RigV1Actuator
from rig.drive.actuator_protocol import Request
from rig.lab.inventory import load_lab
from rig.drive.ssh import HostKeyError, SSHSession, Unreachable
from rig.twin.keys import known_hosts_line, new_key
from rig.twin.launch import TwinProcess


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    t = TwinProcess(root=tmp_path_factory.mktemp("twin"))
    t.start()
    yield load_lab(t.lab_path)
    t.stop()


def test_commands_run_over_ssh_with_the_labs_host_keys(twin):
    with SSHSession(twin.macs["mbp-01"].ssh, twin.clock()).connect() as s:
        res = s.run(["sw_vers"]).check()
    assert "ProductVersion" in res.text


def test_remote_arguments_are_quoted_not_interpreted(twin):
    with SSHSession(twin.macs["mbp-01"].ssh, twin.clock()).connect() as s:
        res = s.run(["hostname;", "rm", "-rf", "/"])
    assert res.status == 127  # one word "hostname;" that does not exist, nothing else ran


def test_wrong_host_key_is_refused_with_a_fix(twin, tmp_path):
    target = twin.macs["mbp-01"].ssh
    impostor = new_key(tmp_path / "impostor")
    kh = tmp_path / "known_hosts"
    kh.write_text(known_hosts_line(target.host, target.port, impostor) + "\n")
    with pytest.raises(HostKeyError, match="does not match") as e:
        SSHSession(dataclasses.replace(target, known_hosts=kh), twin.clock()).connect()
    assert "ssh-keygen -R" in str(e.value)


def test_unknown_host_is_refused_never_auto_accepted(twin, tmp_path):
    target = twin.macs["mbp-01"].ssh
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    with pytest.raises(HostKeyError, match="not in"):
        SSHSession(dataclasses.replace(target, known_hosts=kh), twin.clock()).connect()


def test_nothing_listening_is_unreachable(twin):
    target = dataclasses.replace(twin.macs["mbp-01"].ssh, port=1)
    with pytest.raises(Unreachable):
        SSHSession(target, twin.clock(), connect_timeout=1).connect()


def test_actuator_answers_ping_with_protocol_1(twin):
    with RigV1Actuator(twin.actuators["act-1"], twin.clock()) as act:
        assert act.firmware.startswith("twin-")
        status = act.status(1)
    assert status["lid"] == "open"


def test_actuator_unknown_channel_is_a_clear_error(twin):
    with RigV1Actuator(twin.actuators["act-1"], twin.clock()) as act:
        with pytest.raises(ActuatorError, match="ERR 2"):
            act.status(9)


def test_a_retried_request_is_answered_but_not_acted_on_twice(twin):
    with RigV1Actuator(twin.actuators["act-1"], twin.clock()) as act:
        req = Request(act._next_id(), "AC", 2, "OFF")
        first = act.request(req)
        act.ac(2, on=True)
        again = act.request(req)  # the same id: the firmware must not switch AC off again
        assert again.reply.fields["at"] == first.reply.fields["at"]
        assert act.status(2)["ac"] == "on"
