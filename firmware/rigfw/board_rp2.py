"""The pin layer of a Raspberry Pi Pico (RP2040, MicroPython's rp2 port): GPIO and PWM only.

Everything the protocol decides lives in ``rigfw.protocol``; this module only turns "lid
closed on channel 2" into a servo pulse width or a coil current, and "press" into a relay, per
``rigfw.pinmap``. Constructing :class:`Pins` puts every output in its safe state *before* the
protocol code runs (relays off: button released, AC on through the normally-closed contact;
servos at ``open_us``), so a reset board never holds a button while it boots.

Re-flashing: the running firmware turns keyboard interrupts off (``rigfw.run``), so ``mpremote``
cannot break in. Tie ``MAINTENANCE_PIN`` (GP22) to GND and reset the board: :func:`prepare`
then returns without starting the firmware or the watchdog, and the REPL is free.
"""
import os
from binascii import hexlify

import machine
import micropython
import time

from rigfw import pinmap
from rigfw.uptime import Uptime

NAME = "rp2"


class Reset(Exception):
    """Never raised here: a real board resets in hardware (``machine.WDT``)."""


on_act = None


def prepare():
    """-> True to run the firmware; False with the maintenance jumper fitted."""
    jumper = machine.Pin(pinmap.MAINTENANCE_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
    time.sleep_ms(5)
    if jumper.value() == 0:
        print("rig actuator firmware: maintenance jumper on GP%d, not starting" % pinmap.MAINTENANCE_PIN)
        return False
    micropython.kbd_intr(-1)
    return True


def boot_id():
    return hexlify(os.urandom(4)).decode()


def booted(board):
    pass


def watchdog():
    return machine.WDT(timeout=pinmap.WATCHDOG_MS)


class Channel:
    def __init__(self, spec):
        self.spec = spec
        self.button = machine.Pin(spec["button_pin"], machine.Pin.OUT, value=0)
        self.ac = machine.Pin(spec["ac_pin"], machine.Pin.OUT, value=0)
        if spec["lid"] == "servo":
            self.servo = machine.PWM(machine.Pin(spec["lid_pin"]))
            self.servo.freq(pinmap.SERVO_HZ)
            self.coil = None
        else:
            self.servo = None
            self.coil = machine.Pin(spec["lid_pin"], machine.Pin.OUT, value=0)
        self.lid(False)

    def lid(self, closed):
        if self.servo is not None:
            self.servo.duty_ns(1000 * (self.spec["closed_us"] if closed else self.spec["open_us"]))
        else:
            self.coil.value(1 if closed else 0)


class Pins:
    def __init__(self):
        self.chans = [Channel(spec) for spec in pinmap.CHANNELS]
        self.channels = len(self.chans)
        self.clock = Uptime(time.ticks_us, time.ticks_diff)

    def now_us(self):
        return self.clock.now_us()

    def lid(self, ch, closed):
        self.chans[ch - 1].lid(closed)

    def press(self, ch, ms):
        self.chans[ch - 1].button.value(1)

    def release(self, ch):
        self.chans[ch - 1].button.value(0)

    def ac(self, ch, on):
        self.chans[ch - 1].ac.value(0 if on else 1)  # energised = the NC contact opens = AC off
