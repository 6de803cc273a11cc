"""Simulated pins for MicroPython's unix port: the firmware with no board under it.

``micropython firmware/main.py`` runs the real firmware (``rigfw.run`` and ``rigfw.protocol``,
under real MicroPython) on stdin/stdout; this layer stands in for ``board_rp2``. Every pin change
is written to **stderr** as one line, so a person at a terminal, or a test reading stderr, sees
what the board would have done::

    boot boot=1f2e3d4c channels=2
    pin t=10233 ch=1 lid=closed
    pin t=51873 ch=2 button=down ms=300
    pin t=352110 ch=2 button=up

Settings (environment variables, read once when the simulator starts):

- ``RIG_SIM_CHANNELS``: how many channels the board has (default 2).
- ``RIG_SIM_BROWNOUT``: comma-separated action numbers (1 = the first LID/PWR/AC acted on since
  the simulator started) after which the board browns out: it has acted, then resets before it
  answers, as a board does when a relay coil's inrush pulls its supply down. A reset is a new
  boot: a new boot id, every remembered id gone, every channel back to its safe state.

The watchdog is a stand-in with ``feed()`` only: a stalled loop here is a bug to see in a
test's traceback, not a reset to hide it.
"""
import os
import sys
import time
from binascii import hexlify

import micropython

from rigfw.uptime import Uptime

NAME = "sim"


class Reset(Exception):
    """The simulated board resets (a brown-out): :func:`rigfw.run.main` boots it again."""


def _numbers(text):
    return [int(x) for x in text.split(",") if x.strip().isdigit()]


CHANNELS = int(os.getenv("RIG_SIM_CHANNELS") or "2")
BROWNOUT_AFTER = _numbers(os.getenv("RIG_SIM_BROWNOUT") or "")
_acts = [0]  # actions since the simulator started: outside the MCU, so a reset keeps it


def say(line):
    sys.stderr.write(line + "\n")


def prepare():
    micropython.kbd_intr(-1)  # as on the board: a 0x03 from the host is data
    return True


def boot_id():
    return hexlify(os.urandom(4)).decode()


def booted(board):
    say("boot boot=%s channels=%d fw=%s" % (board.boot, board.channels, board.fw))


def on_act(rid, what, at):
    _acts[0] += 1
    say("act n=%d id=%s %s at=%d" % (_acts[0], rid, what.replace(" ", "_"), at))
    if _acts[0] in BROWNOUT_AFTER:
        say("brownout after act n=%d: reset before the reply" % _acts[0])
        raise Reset()


class Dog:
    def feed(self):
        pass


def watchdog():
    return Dog()


class Pins:
    def __init__(self, channels=None):
        self.channels = channels or CHANNELS
        self.clock = Uptime(time.ticks_us, time.ticks_diff)

    def now_us(self):
        return self.clock.now_us()

    def _say(self, ch, what):
        if not 1 <= ch <= self.channels:
            raise ValueError("no pin for channel %d" % ch)
        say("pin t=%d ch=%d %s" % (self.clock.now_us(), ch, what))

    def lid(self, ch, closed):
        self._say(ch, "lid=closed" if closed else "lid=open")

    def press(self, ch, ms):
        self._say(ch, "button=down ms=%d" % ms)

    def release(self, ch):
        self._say(ch, "button=up")

    def ac(self, ch, on):
        self._say(ch, "ac=on" if on else "ac=off")
