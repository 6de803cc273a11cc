"""The reference firmware, under real MicroPython and as the twin runs it: one suite, two boards.

Each test runs twice: against ``micropython firmware/main.py`` on MicroPython's unix port behind
a socat pty, and against the twin's firmware on a socat pty pair (``tests/actuator_boards.py``).
Both are driven through pyserial, by the rig's own ``rig-v1`` driver where the rig would talk
to them, and by raw lines where a test needs bytes no driver sends (line noise, retries in
the middle of a press). The two share ``rigfw.protocol``; this suite is what keeps their
behaviour from drifting apart too.
"""
from __future__ import annotations

import re
import time

import pytest
import serial

from actuator_boards import KINDS, driver, make
from rig.drive.actuator import ActuatorError, BoardRebooted
from rig.drive.actuator_protocol import Request, parse_reply

pytestmark = pytest.mark.peer


@pytest.fixture(params=KINDS)
def boards(request, tmp_path):
    """A factory: ``boards(brownout=(2,))`` plugs in a board of this test's kind."""
    made = []

    def start(brownout=()):
        folder = tmp_path / f"board{len(made)}"
        folder.mkdir()
        made.append(make(request.param, folder, brownout))
        return made[-1]
    yield start
    for b in made:
        b.unplug()


def lines_out(board, sent: list[bytes], want: int, timeout: float = 3.0) -> list[str]:
    """Write ``sent`` on the board's port as raw bytes; the first ``want`` lines it answers."""
    with serial.Serial(str(board.link), 115200, timeout=0.05) as port:
        port.write(b"".join(sent))
        out, buf, end = [], b"", time.monotonic() + timeout
        while len(out) < want and time.monotonic() < end:
            buf += port.read(256)
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                out.append(line.decode("ascii"))
    return out


# -- the verbs ------------------------------------------------------------------------------------

def test_ping_reports_protocol_1_the_version_the_channels_and_a_boot_id(boards):
    board = boards()
    with driver(board) as act:
        assert re.fullmatch(r"(sim|twin)-1\.0\.0", act.firmware)
        assert act.channels == 2 and re.fullmatch(r"[0-9a-f]{8}", act.boot)
    assert board.acts() == []  # asking acts on nothing


def test_every_verb_is_acted_on_once_and_status_shows_the_state(boards):
    board = boards()
    with driver(board) as act:
        assert act.status(1)["lid"] == "open" and act.status(1)["ac"] == "on"  # safe at boot
        close, ac_off = act.lid(1, close=True), act.ac(2, on=False)
        assert (act.status(1)["lid"], act.status(2)["ac"]) == ("closed", "off")
        act.lid(1, close=False)
        act.ac(2, on=True)
        act.power_press(2, 50)
        assert (act.status(1)["lid"], act.status(2)["ac"]) == ("open", "on")
    assert [w for _, w in board.acts()] == ["LID 1 CLOSE", "AC 2 OFF", "LID 1 OPEN", "AC 2 ON", "PWR 2 PRESS"]
    assert close.reply.fields["at"].isdigit() and int(ac_off.reply.fields["at"]) > int(close.reply.fields["at"])


def test_a_press_is_answered_when_the_button_is_released(boards):
    board = boards()
    with driver(board) as act:
        press = act.power_press(1, 300)
        quick = act.lid(1, close=True)
    assert press.received - press.sent >= 0.3  # held for its length, then answered
    assert quick.received - quick.sent < 0.1
    assert int(quick.reply.fields["at"]) - int(press.reply.fields["at"]) >= 300_000  # at= is when it went down


def test_the_boards_own_clock_is_mapped_onto_a_scaled_lab_clock(tmp_path):
    """The reference firmware stamps ``at=`` in its own wall microseconds (``clock = "rtt"``).
    On a lab clock running x200 (the twin's), an instant the driver did not calibrate on (a
    press never recalibrates) is mapped from the last quick exchange with the scale: it lands
    between the press's send and its reply, not 100 lab seconds early."""
    from rig.lab.clock import ScaledClock

    board = make("micropython", tmp_path)
    now = time.time()
    try:
        with driver(board, timeout=2.0, clock=ScaledClock(200.0, now, now)) as act:
            act.lid(1, close=True)      # a quick exchange: where the mapping is anchored
            time.sleep(0.5)             # 100 lab seconds on the board's 0.5 s
            press = act.power_press(2, 20)
    finally:
        board.unplug()
    # a lab second is 5 ms of wall time: room for the round trip's jitter, none for a lost scale
    assert press.sent - 1.0 <= press.at <= press.received + 1.0, (press.sent, press.at, press.received)


def test_other_requests_are_served_while_a_press_is_held_and_a_second_press_is_busy(boards):
    board = boards()
    got = lines_out(board, [b"1 PWR 1 PRESS 400\n", b"2 STATUS 2\n", b"3 PWR 1 PRESS 50\n",
                            b"4 PWR 2 PRESS 50\n"], want=4)
    assert [line.split()[0] for line in got] == ["2", "3", "4", "1"]  # the long press answers last
    assert got[1].startswith("3 ERR 3 channel 1 is still pressing")
    assert [w for _, w in board.acts()] == ["PWR 1 PRESS", "PWR 2 PRESS"]


def test_a_press_over_the_bound_and_an_empty_press_are_refused_and_nothing_is_pressed(boards):
    board = boards()
    with driver(board) as act:
        with pytest.raises(ActuatorError, match=r"ERR 1 \(bad request\) PWR: a press of 10001 ms is outside "
                                                r"1\.\.10000 ms"):
            act.power_press(1, 10001)
        with pytest.raises(ActuatorError, match="a press of 0 ms is outside"):
            act.power_press(1, 0)
    assert board.acts() == []


def test_an_unknown_channel_is_err_2(boards):
    board = boards()
    with driver(board) as act:
        with pytest.raises(ActuatorError, match=r"ERR 2 \(no such channel\) no channel 3"):
            act.lid(3, close=True)
    assert board.acts() == []


# -- ids ------------------------------------------------------------------------------------------

def test_a_retry_with_the_same_id_gets_the_same_answer_and_no_second_action(boards):
    board = boards()
    with driver(board) as act:
        first = act.request(Request("700", "PWR", 1, "PRESS", 50))
        again = act.request(Request("700", "PWR", 1, "PRESS", 50))
        lid = act.request(Request("701", "LID", 1, "CLOSE"))
        lid_again = act.request(Request("701", "LID", 1, "CLOSE"))
    assert again.reply == first.reply and lid_again.reply == lid.reply
    assert board.acts() == [("700", "PWR 1 PRESS"), ("701", "LID 1 CLOSE")]


def test_a_retry_while_the_press_is_held_is_answered_once_when_it_ends(boards):
    board = boards()
    got = lines_out(board, [b"9 PWR 1 PRESS 300\n", b"9 PWR 1 PRESS 300\n", b"10 STATUS 1\n"], want=3,
                    timeout=1.5)
    assert [line.split()[0] for line in got] == ["10", "9"]  # one answer to id 9, after the press
    assert board.acts() == [("9", "PWR 1 PRESS")]


def test_an_id_used_again_for_another_request_is_refused(boards):
    board = boards()
    got = lines_out(board, [b"5 LID 1 CLOSE\n", b"5 LID 1 OPEN\n", b"6 STATUS 1\n"], want=3)
    assert got[1] == "5 ERR 1 id 5 was already used for LID 1 CLOSE"
    assert parse_reply(got[2]).fields["lid"] == "closed"
    assert board.acts() == [("5", "LID 1 CLOSE")]


# -- garbage --------------------------------------------------------------------------------------

def test_garbage_lines_are_refused_one_by_one_and_the_board_keeps_answering(boards):
    board = boards()
    noise = [b"\xff\xfe\x00\x03junk\n", b"hello\n", b"x" * 300 + b"\n", b"12 FLY 1\n", b"13 lid 1 shut\n",
             b"\r\n", b"14 PWR 1 PRESS 1e3\n", b"15 ping\r"]
    got = lines_out(board, noise, want=7)
    assert got == ["? ERR 1 not protocol v1: control or non-ASCII bytes",
                   "hello ERR 1 expected '<id> <VERB> [args]'",
                   "? ERR 1 line over 96 bytes",
                   "12 ERR 1 unknown verb FLY",
                   "13 ERR 1 LID: bad arguments 1 shut",
                   "14 ERR 1 PWR: bad arguments 1 PRESS 1e3",
                   got[6]]
    assert got[6].startswith("15 OK fw=")  # a terminal's Enter (\r) ends a line too
    with driver(board) as act:
        assert act.status(1)["lid"] == "open"
    assert board.acts() == []


# -- reboots --------------------------------------------------------------------------------------

def test_a_brownout_after_a_press_is_found_out_and_the_press_never_resent(boards):
    board = boards(brownout=(2,))  # the second action: acts, then resets before answering
    with driver(board, timeout=0.3) as act:
        boot = act.boot
        act.lid(1, close=True)
        with pytest.raises(ActuatorError, match=r"rebooted \(boot id .* -> .*\) before answering "
                                                r"'\d+ PWR 2 PRESS 100'.*not resent"):
            act.power_press(2, 100)
        assert act.boot != boot and board.boots() == 2
        assert act.status(1)["lid"] == "open"  # the reset's safe state
    assert [w for _, w in board.acts()] == ["LID 1 CLOSE", "PWR 2 PRESS"]  # pressed once, ever


def test_a_brownout_after_a_lid_close_is_closed_again_under_a_new_id(boards):
    board = boards(brownout=(1,))
    with driver(board, timeout=0.3) as act:
        closed = act.lid(1, close=True)
        assert act.status(1)["lid"] == "closed"
    (first, _), (second, _) = board.acts()
    assert [w for _, w in board.acts()] == ["LID 1 CLOSE", "LID 1 CLOSE"] and first != second
    assert closed.reply.id == second
    assert any("rebooted" in n and "STATUS shows lid=open" in n for n in closed.notes)


def test_a_board_power_cycled_between_requests_is_found_out_before_it_acts(boards):
    board = boards()
    with driver(board, timeout=0.3) as act:
        act.lid(1, close=True)
        board.replug()  # a new boot on a new tty behind the same link
        with pytest.raises(BoardRebooted, match=r"rebooted since its last answer \(boot id \w+ -> \w+\), before "
                                                r"'\d+ PWR 1 PRESS 50' was sent"):
            act.power_press(1, 50)
        act.power_press(1, 50)  # the new boot id is known now
    assert [w for _, w in board.acts()] == ["LID 1 CLOSE", "PWR 1 PRESS"]
    assert board.boots() == 2
