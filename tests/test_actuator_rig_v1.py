"""The protocol-v1 driver against the twin firmware over a real pty pair (socat), with real pyserial.

The firmware runs on one end of a socat pair, the driver opens the other through a stable link;
unplugging is killing socat, replugging is a new pair under the same links. Faults a real board
cannot produce on demand (a late reply, line noise, a hung MCU) are switched on in the firmware.
"""
from __future__ import annotations

import os
import threading
import time

import pytest

from polling import wait_for
from rig.drive.actuator import ActuatorError, BoardRebooted
from rig.drive.actuators.rig_v1 import RigV1Actuator
from rig.lab.clock import SystemClock
from rig.lab.inventory import Actuator
from rig.twin.firmware import Firmware
from rig.twin.mac import Mac
from rig.twin.world import World
from socat_pair import SocatPair

pytestmark = pytest.mark.peer

CLOCK = SystemClock()


@pytest.fixture
def firmware(cable):
    world = World(start=CLOCK.now(), seed=1)
    macs = {1: Mac(world, "mbp-01", 1), 2: Mac(world, "mini-01", 2, kind="desktop")}
    fw = Firmware(world, CLOCK, macs).attach(cable.device)
    yield fw
    fw.detach()


def driver(cable, timeout=0.4, retries=2, reopen_s=3.0) -> RigV1Actuator:
    cfg = Actuator("act-1", str(cable.rig), timeout_s=timeout, reopen_s=reopen_s)
    return RigV1Actuator(cfg, CLOCK, retries=retries)


# -- open ---------------------------------------------------------------------------------------

def test_open_pings_and_records_the_firmware(cable, firmware):
    with driver(cable) as act:
        assert act.firmware == firmware.version
        assert act.channels == 2
    assert firmware.received[0].split()[1] == "PING"


def test_a_firmware_speaking_protocol_2_is_refused_at_open(cable, firmware):
    firmware.proto = 2
    act = driver(cable)
    with pytest.raises(ActuatorError, match=r"protocol '2', the rig speaks 1"):
        act.open()
    assert not act.port.is_open


def test_a_firmware_too_old_to_remember_ids_is_refused_at_open(cable, firmware):
    firmware.version = "twin-0.9.4"
    with pytest.raises(ActuatorError, match="older than 1.0, which does not remember request ids"):
        driver(cable).open()


def test_a_firmware_without_a_version_is_refused_at_open(cable, firmware):
    firmware.version = "prototype"
    with pytest.raises(ActuatorError, match="no firmware version"):
        driver(cable).open()


# -- replies ------------------------------------------------------------------------------------

def test_an_err_reply_names_the_code_and_is_not_retried(cable, firmware):
    with driver(cable) as act:
        with pytest.raises(ActuatorError, match=r"ERR 2 \(no such channel\) no channel 9"):
            act.status(9)
    assert sum(" STATUS 9" in line for line in firmware.received) == 1


def test_noise_before_a_reply_is_skipped_and_reported(cable, firmware):
    with driver(cable) as act:
        firmware.preamble = b"\x00\xfe~@"
        action = act.lid(1, close=True)
    assert action.attempts == 1
    assert action.reply.ok and action.reply.id == action.request.split()[0]
    assert any("4 bytes of noise" in n and "\\xfe" in n for n in action.notes)
    assert [a[1] for a in firmware.actions] == ["LID 1 CLOSE"]


def test_a_line_of_pure_noise_is_skipped_and_the_reply_after_it_is_used(cable, firmware):
    with driver(cable) as act:
        firmware.preamble = b"\xff\xfe garbage\n"
        status = act.status(1)
    assert status["lid"] == "open"


def test_replies_that_are_only_noise_fail_naming_the_noise_and_the_baud_rate(cable, firmware):
    with driver(cable, timeout=0.2, retries=1) as act:
        firmware.garble = True
        with pytest.raises(ActuatorError) as e:
            act.status(1)
    msg = str(e.value)
    for k in (1, 2):
        assert f"attempt {k}: no reply within 0.2 s, only noise (" in msg
    assert "wrong baud rate? the lab says 115200" in msg


def test_a_late_reply_is_retried_with_the_same_id_and_acted_on_once(cable, firmware):
    firmware.boot = ""  # a firmware without a boot id: the driver resends at once
    with driver(cable, timeout=0.3) as act:
        firmware.reply_delay_s = 0.45  # longer than one attempt: the driver must resend
        action = act.power_press(2, 10)
    rid = action.request.split()[0]
    sent = [line for line in firmware.received if line.startswith(rid + " ")]
    assert len(sent) >= 2 and len(set(sent)) == 1  # resent, and the very same line each time
    assert action.attempts == len(sent)
    assert [a[0] for a in firmware.actions].count(rid) == 1


def test_a_late_reply_met_while_the_boot_id_is_checked_is_taken_and_acted_on_once(cable, firmware):
    with driver(cable, timeout=0.3) as act:
        firmware.reply_delay_s = 0.45
        action = act.power_press(2, 10)
    rid = action.request.split()[0]
    assert [line for line in firmware.received if line.startswith(rid + " ")] == [action.request]
    assert any(line.endswith(" PING") for line in firmware.received[-2:])  # asked before a resend
    assert [a[0] for a in firmware.actions].count(rid) == 1 and action.reply.id == rid


@pytest.mark.parametrize("boot", ["", "with boot id"])
def test_a_retried_action_keeps_the_instant_the_firmware_acted(cable, firmware, boot):
    if not boot:
        firmware.boot = ""
    with driver(cable, timeout=0.3) as act:
        firmware.reply_delay_s = 0.45
        action = act.lid(1, close=True)
    acted = firmware.actions[-1][2]
    # rtt mapping through the offset of the last quick exchange, not the retry's send time
    assert abs(action.at - acted) < 0.1  # a naive midpoint of the retry would be ~0.37 s late
    assert action.received - action.at > 0.3


def test_a_board_that_rebooted_is_never_pressed_twice_and_a_lid_is_checked_by_status(cable, firmware):
    from rig.twin.faults import Faults

    with driver(cable, timeout=0.3) as act:
        boot = act.boot
        act.lid(1, close=True)
        firmware.faults = Faults({"actuator_reboot": 3})  # acts, resets before answering
        with pytest.raises(ActuatorError, match=r"rebooted \(boot id .* -> .*\).*not resent"):
            act.power_press(2, 10)
        assert [a[1] for a in firmware.actions].count("PWR 2 PRESS") == 1
        opened = act.lid(1, close=False)  # acted, reset (whose safe state is open too): kept
        closed = act.lid(1, close=True)   # acted, reset (which opened it again): closed anew
        assert act.boot != boot and firmware.boots == 4
    assert [a[1] for a in firmware.actions] == ["LID 1 CLOSE", "PWR 2 PRESS", "LID 1 OPEN", "LID 1 CLOSE",
                                                "LID 1 CLOSE"]
    assert any("acted on the first send" in n for n in opened.notes)
    assert any("STATUS shows lid=open" in n and "sent again with a new id" in n for n in closed.notes)


def test_a_board_that_rebooted_between_requests_is_found_out_before_acting(cable, firmware):
    with driver(cable, timeout=0.3) as act:
        act.lid(1, close=True)
        firmware.reboot()  # e.g. a brown-out in the dwell: its safe state opened the lid
        with pytest.raises(BoardRebooted, match=r"rebooted since its last answer .*before '\d+ LID 1 OPEN' "
                                                r"was sent.*safe state"):
            act.lid(1, close=False)
        act.lid(1, close=False)  # the new boot id is known now: the next request goes through
    assert [a[1] for a in firmware.actions] == ["LID 1 CLOSE", "LID 1 OPEN"]


def test_a_hung_firmware_fails_with_every_attempt_in_the_error(cable, firmware):
    with driver(cable, timeout=0.2, retries=2) as act:
        firmware.silent = True
        with pytest.raises(ActuatorError) as e:
            act.lid(1, close=True)
    msg = str(e.value)
    assert "after 3 attempt(s)" in msg
    for k in (1, 2, 3):
        assert f"attempt {k}: no reply within 0.2 s" in msg
    assert firmware.actions == []


# -- unplug and replug --------------------------------------------------------------------------

def replug_elsewhere(cable: SocatPair, firmware: Firmware) -> None:
    """A new pair under the same links, on other /dev/pts numbers (as a re-enumerated USB device)."""
    held = [os.openpty() for _ in range(2)]  # take the pts numbers the old pair freed
    try:
        cable.plug()
    finally:
        for fds in held:
            for fd in fds:
                os.close(fd)
    firmware.attach(cable.device)


def test_unplug_mid_command_then_replug_completes_and_presses_once(cable, firmware):
    act = driver(cable, timeout=0.5, reopen_s=5.0).open()
    firmware.reply_delay_s = 0.6  # the press is acted on, its reply is still in the firmware
    result: dict = {}

    def press():
        try:
            result["action"] = act.power_press(2, 300)
        except ActuatorError as e:
            result["error"] = e

    t = threading.Thread(target=press)
    t.start()
    assert wait_for(lambda: any(" PWR " in line for line in firmware.received), 3.0, 0.005), \
        "condition never held"
    old_tty = cable.tty()
    cable.unplug()  # the request is in flight
    firmware.detach()
    time.sleep(0.2)
    firmware.reply_delay_s = 0.0
    replug_elsewhere(cable, firmware)  # the MCU kept running: its memory of ids survives
    t.join(timeout=10)
    act.close()
    presses = [a for a in firmware.actions if a[1].startswith("PWR")]
    assert len(presses) == 1  # never twice, whatever happened
    assert "error" not in result, result.get("error")
    action = result["action"]
    assert action.attempts == 2
    assert action.request.split()[0] == presses[0][0]
    assert any("re-opened" in n for n in action.notes)
    assert act.port.device != old_tty and act.port.path == str(cable.rig)


def test_a_replugged_device_is_found_again_through_the_stable_link(cable, firmware):
    act = driver(cable, reopen_s=5.0).open()
    old_tty = cable.tty()
    cable.unplug()
    firmware.detach()
    threading.Timer(0.3, replug_elsewhere, args=(cable, firmware)).start()
    action = act.lid(1, close=True)  # the write fails on the dead tty, then the link is re-opened
    act.close()
    assert act.port.device != old_tty
    assert action.attempts == 2
    assert act.port.opens == 2
    assert [a[1] for a in firmware.actions] == ["LID 1 CLOSE"]


def test_a_device_that_never_comes_back_fails_within_the_deadline_naming_each_problem(cable, firmware):
    act = driver(cable, reopen_s=0.5).open()
    cable.unplug()
    t0 = time.monotonic()
    with pytest.raises(ActuatorError) as e:
        act.ac(1, on=False)
    took = time.monotonic() - t0
    msg = str(e.value)
    assert took < 0.5 + 1.0
    assert "attempt 1: port failed" in msg
    assert f"attempt 2: cannot open {cable.rig} within 0.5 s" in msg
    assert "No such file or directory" in msg
    assert firmware.actions == []

