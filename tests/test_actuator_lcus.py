"""The LCUS relay backend against a twin relay board over a real pty pair (socat), with real pyserial."""
from __future__ import annotations

import time

import pytest

from rig.drive.actuator import ActuatorError, NotSupported
from rig.drive.actuators.lcus_relay import LcusRelay, decode_frame, frame
from rig.lab.clock import SystemClock
from rig.lab.inventory import Actuator
from rig.twin.relay import RelayBoard

pytestmark = pytest.mark.peer

CLOCK = SystemClock()
WIRING = {1: ("power", 1), 2: ("ac", 1), 3: ("power", 2)}


@pytest.fixture
def board(cable):
    b = RelayBoard(CLOCK, relays=4).attach(cable.device)
    yield b
    b.detach()


def relay(cable, reopen_s=2.0) -> LcusRelay:
    return LcusRelay(Actuator("relay-1", str(cable.rig), kind="lcus-relay", baud=9600, reopen_s=reopen_s,
                              wiring=WIRING), CLOCK)


def settle(board: RelayBoard, n: int, timeout=2.0) -> list:
    deadline = time.monotonic() + timeout
    while len(board.log) < n and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.02)  # and nothing more arrives
    return [(r, on) for _, r, on in board.log]


# -- frames (pure) ------------------------------------------------------------------------------

@pytest.mark.parametrize("relay_no, on, raw", [(1, True, "a00101a2"), (1, False, "a00100a1"),
                                                (4, True, "a00401a5"), (2, False, "a00200a2")])
def test_frames_are_header_relay_state_and_the_byte_sum(relay_no, on, raw):
    assert frame(relay_no, on).hex() == raw
    assert decode_frame(bytes.fromhex(raw)) == (relay_no, on)


@pytest.mark.parametrize("raw, why", [("a00101a3", "bad checksum"), ("a10101a3", "not 0xa0"),
                                      ("a00102a3", "neither"), ("a00101", "4 bytes")])
def test_a_malformed_frame_is_refused_naming_what_is_wrong(raw, why):
    with pytest.raises(ValueError, match=why):
        decode_frame(bytes.fromhex(raw))


# -- the board over a pty -----------------------------------------------------------------------

def test_the_board_rejects_a_bad_checksum_and_switches_nothing(cable, board):
    act = relay(cable).open()
    act.port.write(bytes.fromhex("a00101ff"))  # relay 1 on, corrupted checksum
    act.port.write(frame(2, True))  # a good frame right after is still understood
    act.close()
    assert settle(board, 1) == [(2, True)]
    assert board.state[1] is False
    assert [(raw.hex(), "bad checksum" in why) for raw, why in board.rejected] == [("a00101ff", True)]


def test_a_power_press_is_on_then_off_on_the_wired_relay(cable, board):
    with relay(cable) as act:
        action = act.power_press(2, 300)  # channel 2's power button is relay 3
    assert settle(board, 2) == [(3, True), (3, False)]
    (t_on, _, _), (t_off, _, _) = board.log
    jitter = 0.05  # the board stamps frames when socat delivers them; a busy machine delays either
    assert 0.3 - jitter <= t_off - t_on <= 0.3 + 4 * jitter
    assert abs(action.at - t_on) < 2 * jitter
    assert action.sent <= action.at <= action.received
    assert board.state == {1: False, 2: False, 3: False, 4: False}


def test_ac_off_energises_the_normally_closed_ac_relay(cable, board):
    with relay(cable) as act:
        act.ac(1, on=False)
        assert settle(board, 1) == [(2, True)]
        act.ac(1, on=True)
    assert settle(board, 2) == [(2, True), (2, False)]


def test_a_relay_board_cannot_move_a_lid_or_report_state(cable, board):
    with relay(cable) as act:
        with pytest.raises(NotSupported, match="cannot move a lid"):
            act.lid(1, close=True)
        with pytest.raises(NotSupported, match="reports no state"):
            act.status(1)
    assert board.log == [] and board.rejected == []


def test_a_channel_with_no_relay_wired_is_refused_naming_the_wiring(cable, board):
    with relay(cable) as act:
        with pytest.raises(NotSupported, match=r"no relay wired to ac for channel 2 \(wiring: 1 = power:1"):
            act.ac(2, on=False)
    assert board.log == []


def test_a_press_whose_write_fails_is_not_resent_and_leaves_the_button_released(cable, board):
    act = relay(cable, reopen_s=3.0).open()
    cable.unplug()  # the adapter vanished: the 'on' write fails
    board.detach()
    replugged = RelayBoard(CLOCK, relays=4)
    cable.plug()
    replugged.attach(cable.device)
    with pytest.raises(ActuatorError, match="not resent") as e:
        act.power_press(1, 300)
    act.close()
    assert "relay 1 set off after re-opening" in str(e.value)
    assert settle(replugged, 1) == [(1, False)]  # no 'on' ever reached a board: no press, none doubled
    assert board.log == []
