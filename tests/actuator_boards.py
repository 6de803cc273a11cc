"""The two boards one suite runs against (tests/test_actuator_firmware.py), behind the same door.

- ``micropython``: the reference firmware, ``micropython firmware/main.py`` on MicroPython's unix
  port, behind a socat pty (``rig.twin.board_door``); what it did is read from its stderr.
- ``twin``: the twin's firmware (``rig/twin/firmware.py``, the same ``rigfw.protocol`` with
  the twin's pin layer) on a socat pty pair, as ``rig twin serve`` runs it.

Both are opened by the rig's ``rig-v1`` driver through pyserial at a stable link, both can be
power-cycled (``replug``: a new boot id and a new tty) and both can brown out after chosen
actions (acted, then reset before the reply).
"""
from __future__ import annotations

import time
from pathlib import Path

from rig.drive.actuators.rig_v1 import RigV1Actuator
from rig.lab.clock import SystemClock
from rig.lab.inventory import Actuator
from rig.twin.board_door import MicroPythonBoard
from rig.twin.firmware import Firmware
from rig.twin.mac import Mac
from rig.twin.world import World
from socat_pair import SocatPair

CLOCK = SystemClock()
KINDS = ("micropython", "twin")


class AfterActs:
    """The twin's ``actuator_reboot`` fault struck after chosen actions (1 = the first), as
    ``RIG_SIM_BROWNOUT`` does for the MicroPython board."""

    def __init__(self, after=()):
        self.after, self.n = set(after), 0

    def take(self, name: str) -> bool:
        self.n += 1  # the twin asks only when it has acted
        return self.n in self.after


class MicroPython:
    kind = "micropython"

    def __init__(self, folder: Path, brownout=()):
        self.link = Path(folder) / "usb-rig-actuator-MPY00001-if00"
        self.door = MicroPythonBoard(self.link, channels=2, brownout=brownout)

    def plug(self):
        self.door.plug()
        return self

    def unplug(self):
        self.door.unplug()

    def replug(self):
        self.door.replug()

    def acts(self) -> list[tuple[str, str]]:
        self._drained()
        return self.door.acts()

    def boots(self) -> int:
        self._drained()
        return len(self.door.boots())

    def _drained(self, still_s: float = 0.05, timeout_s: float = 2.0) -> None:
        """Wait until the board's stderr has been quiet for ``still_s``: its reply on the tty can
        reach the driver before its own account of the action is read from stderr."""
        seen, end = -1, time.monotonic() + timeout_s
        while time.monotonic() < end and len(self.door.lines) != seen:
            seen = len(self.door.lines)
            time.sleep(still_s)


class Twin:
    kind = "twin"

    def __init__(self, folder: Path, brownout=()):
        self.cable = SocatPair(folder)
        self.link = self.cable.rig
        world = World(start=CLOCK.now(), seed=1)
        macs = {1: Mac(world, "mbp-01", 1), 2: Mac(world, "mini-01", 2, kind="desktop")}
        self.fw = Firmware(world, CLOCK, macs, faults=AfterActs(brownout))

    def plug(self):
        self.cable.plug()
        self.fw.attach(self.cable.device)
        return self

    def unplug(self):
        self.cable.unplug()
        self.fw.detach()

    def replug(self):
        self.unplug()
        self.fw.reboot()  # the power went with the cable
        self.plug()

    def acts(self) -> list[tuple[str, str]]:
        return [(rid, what) for rid, what, _ in self.fw.actions]

    def boots(self) -> int:
        return self.fw.boots


def make(kind: str, folder: Path, brownout=()):
    return (MicroPython if kind == "micropython" else Twin)(folder, brownout).plug()


def driver(board, timeout: float = 0.5, retries: int = 2, clock=CLOCK) -> RigV1Actuator:
    return RigV1Actuator(Actuator("act-1", str(board.link), timeout_s=timeout, reopen_s=5.0), clock,
                         retries=retries)
