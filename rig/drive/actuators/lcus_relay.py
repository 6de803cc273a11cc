"""An off-the-shelf USB relay board (``kind = "lcus-relay"``): CH340 "LCUS-1/2/4" type.

For a lab without the rig's own actuator: a relay's contact wired across a Mac's power button,
or into its AC line. The board understands 4-byte frames at 9600 baud::

    A0 <relay> <state> <sum>     relay 1-based, state 00 off / 01 on, sum = (A0 + relay + state) & FF

Config example (``lab.toml``)::

    [[actuator]]
    name = "relay-1"
    kind = "lcus-relay"
    port = "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0"
    wiring = { 1 = "power", 2 = "ac" }   # relay -> role[:Mac channel]; here both for channel 1
    # a 4-relay board for two Macs: { 1 = "power:1", 2 = "ac:1", 3 = "power:2", 4 = "ac:2" }

    [[mac]]
    name = "mini-01"
    actuator = "relay-1"
    channel = 1
    sleep_by = "sleepnow"   # a relay cannot move a lid: the lab loader refuses "lid"
    wake_by = "power"

What it can and cannot do, and why:

- **No lid, no status.** ``lid()`` and ``status()`` raise ``NotSupported``: a relay closes a
  contact, and the board reports nothing back.
- **A power press** is relay on, ``ms`` on the lab's clock, relay off (the lab's clock so that a
  twin lab on a scaled clock sees the press it was asked for; on a rack it is wall time).
- **AC** is wired through the relay's normally-*closed* contact, so a board that loses USB power
  or a controller that dies leaves the Mac powered: ``ac(ch, on=False)`` energises the relay.
- **No ids, no replies.** The board cannot tell a new frame from a repeated one, so *a retried
  press could double it* (and a doubled press puts the Mac straight back to sleep). A press is
  therefore never resent: if writing the "on" frame fails, the driver re-opens the port, sends
  "off" (safe to repeat: it sets a state) so no button is left held, and reports the press as not
  done. State frames ("off", AC) are idempotent and are resent once after a re-open.
- **The instant** of an action is the send time plus half the write's duration (there is no
  ``at=``), taken after ``tcdrain`` so the frame has left the adapter.
"""
from __future__ import annotations

import serial

from rig.drive.actuator import Action, ActuatorError, Backend, NotSupported
from rig.drive.actuator_protocol import Reply
from rig.lab.clock import Clock
from rig.lab.inventory import Actuator as ActuatorConfig
from rig.drive.actuators.stable_port import StablePort

HEADER = 0xA0


def frame(relay: int, on: bool) -> bytes:
    """The 4-byte frame that switches ``relay`` (1-based) on or off."""
    if not 1 <= relay <= 255:
        raise ValueError(f"relay {relay} out of range 1-255")
    state = 1 if on else 0
    return bytes((HEADER, relay, state, (HEADER + relay + state) & 0xFF))


def decode_frame(data: bytes) -> tuple[int, bool]:
    """``(relay, on)`` from a 4-byte frame; ValueError naming what is wrong (what a board checks)."""
    if len(data) != 4:
        raise ValueError(f"frame must be 4 bytes, got {len(data)}")
    head, relay, state, total = data
    if head != HEADER:
        raise ValueError(f"frame starts with {head:#04x}, not {HEADER:#04x}")
    if state not in (0, 1):
        raise ValueError(f"state {state:#04x} is neither 0x00 (off) nor 0x01 (on)")
    if total != (head + relay + state) & 0xFF:
        raise ValueError(f"bad checksum {total:#04x} (expected {(head + relay + state) & 0xFF:#04x})")
    return relay, bool(state)


class LcusRelay(Backend):
    def __init__(self, cfg: ActuatorConfig, clock: Clock, reopen_s: float | None = None):
        self.cfg = cfg
        self.clock = clock
        self.name = f'actuator "{cfg.name}"'
        self.port = StablePort(cfg.port, cfg.baud, self.name, cfg.reopen_s if reopen_s is None else reopen_s,
                               write_timeout=cfg.timeout_s, locate=cfg.locate)
        self.relays = {wired: relay for relay, wired in cfg.wiring.items()}  # (role, channel) -> relay

    def open(self) -> "LcusRelay":
        self.port.open()  # nothing to ask: the board never answers
        return self

    # -- verbs --------------------------------------------------------------------------------
    def lid(self, channel: int, close: bool) -> Action:
        raise NotSupported(f"{self.name}: an lcus-relay board cannot move a lid (power button and AC only)")

    def status(self, channel: int) -> dict:
        raise NotSupported(f"{self.name}: an lcus-relay board reports no state")

    def power_press(self, channel: int, ms: int = 300) -> Action:
        relay = self._relay("power", channel)
        what = f"relay {relay} press {ms} ms (power, channel {channel})"
        try:
            sent, at, _ = self._send(relay, True)
        except (serial.SerialException, OSError) as e:
            self.port.close()
            safe = self._make_sure_off(relay)
            raise ActuatorError(f"{self.name}: {what} not done: writing 'on' failed ({e}); not resent "
                                f"(the board has no ids: a resent press could double it); {safe}") from None
        try:
            self.clock.sleep(ms / 1000 - (self.clock.now() - at))
        finally:
            attempts, _, _, done = self._set(relay, False, what + ", releasing the button")
        return Action(what, at, sent, done, attempts, Reply("", True, {"relay": str(relay), "ms": str(ms)}))

    def ac(self, channel: int, on: bool) -> Action:
        relay = self._relay("ac", channel)
        what = f"relay {relay} {'off' if on else 'on'} (AC {'on' if on else 'off'}, channel {channel})"
        # normally-closed contact: an energised relay cuts the AC
        attempts, sent, at, done = self._set(relay, not on, what)
        return Action(what, at, sent, done, attempts, Reply("", True, {"relay": str(relay), "ac": "on" if on else "off"}))

    # -- frames -------------------------------------------------------------------------------
    def _relay(self, role: str, channel: int) -> int:
        try:
            return self.relays[(role, channel)]
        except KeyError:
            wired = ", ".join(f"{r} = {w[0]}:{w[1]}" for r, w in sorted(self.cfg.wiring.items())) or "nothing"
            raise NotSupported(f"{self.name}: no relay wired to {role} for channel {channel} "
                               f"(wiring: {wired})") from None

    def _send(self, relay: int, on: bool) -> tuple[float, float, float]:
        """Write one frame; (sent, instant, done) on the lab clock. Port errors propagate."""
        self.port.ensure_open()
        sent = self.clock.now()
        self.port.write(frame(relay, on))
        self.port.drain()
        done = self.clock.now()
        return sent, sent + (done - sent) / 2, done

    def _set(self, relay: int, on: bool, what: str) -> tuple[int, float, float, float]:
        """Set a relay's state, resending once after a re-open (a state frame is idempotent).

        Returns (attempts, sent, instant, done).
        """
        try:
            return (1, *self._send(relay, on))
        except (serial.SerialException, OSError) as first:
            self.port.close()
            try:
                return (2, *self._send(relay, on))
            except (serial.SerialException, OSError, ActuatorError) as e:
                self.port.close()
                raise ActuatorError(f"{self.name}: {what}: writing {'on' if on else 'off'} failed ({first}), "
                                    f"and again after re-opening {self.port.path} ({e}); check the board: "
                                    f"relay {relay} may be left {'off' if on else 'on'}") from None

    def _make_sure_off(self, relay: int) -> str:
        try:
            self._set(relay, False, f"relay {relay} off")
            return f"relay {relay} set off after re-opening {self.port.path}"
        except ActuatorError as e:
            return f"could not make sure relay {relay} is off ({e})"


BACKEND = LcusRelay
