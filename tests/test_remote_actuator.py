"""An actuator on another host, exported by a real ser2net over RFC 2217, speaks protocol v1
unchanged through pyserial's URL handler; a dropped link is re-opened and never doubles a press."""
from __future__ import annotations

import threading
import time

import pytest

from rig.drive.actuators.rig_v1 import RigV1Actuator
from rig.lab.clock import SystemClock
from rig.lab.inventory import Actuator
from rig.twin.board_door import MicroPythonBoard
from tests.ser2net_peer import Ser2Net


@pytest.fixture
def exported(tmp_path):
    board = MicroPythonBoard(tmp_path / "board").plug()
    s2n = Ser2Net(board.link, tmp_path / "ser2net")
    yield board, s2n
    s2n.stop()
    board.unplug()


def _driver(url):
    return RigV1Actuator(Actuator("act-1", url, timeout_s=1.0, reopen_s=8.0), SystemClock()).open()


def _acts(board, rid):
    return [x for x in board.lines if x.startswith("act ") and f"id={rid} " in x]


def test_the_firmware_answers_through_ser2net(exported):
    board, s2n = exported
    d = _driver(s2n.url)
    try:
        assert d.ask("PING").reply.fields["proto"] == "1"
        rt = []
        for _ in range(20):
            t = time.perf_counter()
            d.status(1)
            rt.append(time.perf_counter() - t)
        press = d.power_press(1, 100)
        assert press.reply.ok and len(_acts(board, press.reply.id)) == 1
        print(f"STATUS round trip through ser2net: {sorted(rt)[10] * 1000:.1f} ms median")
        assert sorted(rt)[10] < 0.5
    finally:
        d.close()


def test_a_link_dropped_mid_press_is_retried_and_the_board_presses_once(exported):
    board, s2n = exported
    d = _driver(s2n.url)
    try:
        d.ask("PING")

        def drop_and_return():
            time.sleep(0.05)
            s2n.drop()
            time.sleep(0.3)
            s2n.start()

        t = threading.Thread(target=drop_and_return)
        t.start()
        press = d.power_press(1, 400)
        t.join()
        assert press.reply.ok
        assert press.attempts >= 2 and any("re-opened" in n for n in press.notes), press
        assert len(_acts(board, press.reply.id)) == 1, board.lines[-8:]
    finally:
        d.close()
