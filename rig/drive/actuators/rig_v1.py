"""The rig's own actuator (``kind = "rig-v1"``): protocol v1 over pyserial (DESIGN.md).

Config example (``lab.toml``)::

    [[actuator]]
    name = "act-1"
    kind = "rig-v1"
    port = "/dev/serial/by-id/usb-rig-actuator-E66138935F4B-if00"  # the stable name, never /dev/ttyACM0
    timeout_s = 2.0     # wall seconds per attempt; a power press adds its own duration
    reopen_s = 10.0     # wall seconds to find the device again after it re-enumerates

    [[mac]]
    name = "mbp-01"
    actuator = "act-1"
    channel = 1          # the actuator channel wired to this Mac's lid and power button
    sleep_by = "lid"
    wake_by = "lid"

What it guarantees, and why:

- **Retries never double an action.** Every request carries an id. With no reply within the
  timeout the *same* line (same id) is sent again; the firmware answers a repeated id from its
  memory without acting again. A doubled power press would put the Mac straight back to sleep.
- **The device is checked at open.** ``PING`` must report protocol 1 and firmware 1.0 or later
  (the first that remembers ids: with an older one a retry *could* double a press).
- **A rebooted board is detected, never double-acted.** A firmware that reports a ``boot=`` id
  in its PING reply forgets remembered ids when it resets, and puts every channel in its safe
  state (lid open, AC on, button released). So before an action is first sent the driver PINGs:
  a new boot id means the board reset since its last answer, and its safe states may have
  woken a sleeping Mac; the action is not sent and fails with :class:`BoardRebooted` (the cycle
  is a rig error, journaled, and retried). Before a request is *resent* it PINGs too: a new
  boot id means the first send may or may not have acted. A lid or AC request is checked with
  STATUS (in the wanted state: the first send's instant is kept; else it is sent again with a
  new id); a power press is never resent: the request fails naming the reboot, and the cycle is
  a rig error instead of a doubled press.
- **Unplugged is not fatal.** If the port fails (USB unplugged, the adapter re-enumerated), the
  driver closes it, re-opens the stable path (waiting up to ``reopen_s``) and resends the same
  id. The MCU kept running, so its id memory survives and the action happens at most once. If the
  device does not come back, the ``ActuatorError`` lists every attempt's problem.
- **An ``ERR`` reply is an answer**, not a transient: raised at once, naming the code.
- **Noise is skipped and reported**: junk bytes before a reply (an adapter glitching at plug-in),
  or a late reply to an earlier id, land in ``Action.notes`` instead of failing the request.
- **Instants.** The firmware's ``at=`` is its own clock; with ``clock = "lab"`` (the twin) it is
  the lab's. Otherwise it is mapped from the last quick exchange (no retry, no press duration:
  send time + half the round trip against ``at=``), the firmware's seconds being wall seconds
  (``clock.scale`` lab seconds each: 1 on a real rack, more on a scaled twin), so even a retried
  request gets the instant the firmware really acted, not the retry's send time.
"""
from __future__ import annotations

import itertools
import random
import re
import time

import serial

from rig.drive.actuator import Action, ActuatorError, Backend, BoardRebooted
from rig.drive.actuator_protocol import ERR_CODES, Reply, Request, find_reply
from rigfw.protocol import PROTOCOL
from rig.lab.clock import Clock
from rig.lab.inventory import Actuator as ActuatorConfig
from rig.drive.actuators.stable_port import StablePort

MIN_FIRMWARE = (1, 0)  # the first firmware that remembers request ids
ACTIONS = ("LID", "PWR", "AC")  # what changes the Mac; PING and STATUS only ask
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.\d+)*$")


class RigV1Actuator(Backend):
    def __init__(self, cfg: ActuatorConfig, clock: Clock, timeout: float | None = None, retries: int = 2,
                 reopen_s: float | None = None):
        self.cfg = cfg
        self.clock = clock
        self.name = f'actuator "{cfg.name}"'
        self.timeout = cfg.timeout_s if timeout is None else timeout  # wall seconds per attempt
        self.retries = retries
        self.port = StablePort(cfg.port, cfg.baud, self.name, cfg.reopen_s if reopen_s is None else reopen_s,
                               write_timeout=self.timeout, locate=cfg.locate)
        # A random start keeps a restarted controller from reusing ids the firmware remembers.
        self._ids = itertools.count(random.randrange(1, 1_000_000) * 1000)
        # (controller instant, firmware instant) of the last quick exchange: the mapping's anchor
        self._anchor: tuple[float, float] | None = None
        self.firmware = ""
        self.channels = 0
        self.boot = ""  # the board's boot id (PING ``boot=``), if its firmware reports one

    # -- port ---------------------------------------------------------------------------------
    def open(self) -> "RigV1Actuator":
        self.port.open()
        try:
            self._check(self.request(Request(self._next_id(), "PING")).reply)
        except ActuatorError:
            self.close()
            raise
        return self

    def _check(self, ping: Reply) -> None:
        proto, fw = ping.fields.get("proto"), ping.fields.get("fw", "")
        if proto != str(PROTOCOL):
            raise ActuatorError(f"{self.name}: firmware {fw or '?'} speaks protocol {proto!r}, the rig speaks "
                                f"{PROTOCOL}; flash a protocol-{PROTOCOL} firmware or update the rig")
        m = _VERSION.search(fw)
        if not m:
            raise ActuatorError(f"{self.name}: PING gave no firmware version (fw={fw!r}, "
                                f"expected NAME-MAJOR.MINOR[.PATCH])")
        if (int(m[1]), int(m[2])) < MIN_FIRMWARE:
            raise ActuatorError(f"{self.name}: firmware {fw} is older than {'.'.join(map(str, MIN_FIRMWARE))}, "
                                f"which does not remember request ids (a retry could double a press); "
                                f"update the firmware")
        self.firmware = fw
        self.channels = int(ping.fields.get("channels", "0") or 0)
        self.boot = ping.fields.get("boot", "")

    def _next_id(self) -> str:
        return str(next(self._ids))

    # -- requests -----------------------------------------------------------------------------
    def request(self, req: Request) -> Action:
        """Send ``req`` until it is answered (same id every time) or the attempts run out."""
        text = req.line().decode().strip()
        wait = self.timeout + (req.ms / 1000 if req.verb == "PWR" else 0.0)
        problems: list[str] = []
        notes: list[str] = []
        attempt = sends = 0
        first_sent = sent = self.clock.now()
        while attempt <= self.retries:
            attempt += 1
            try:
                if self.port.ensure_open() and attempt > 1:
                    now = f" (now {self.port.device})" if self.port.device != self.port.path else ""
                    notes.append(f"re-opened {self.port.path}{now}")
            except ActuatorError as e:
                problems.append(f"attempt {attempt}: {str(e).removeprefix(self.name + ': ')}")
                break  # the re-open deadline has passed: nothing left to try
            if req.verb in ACTIONS and self.boot and not sends:
                try:
                    self._check_boot(req, notes)
                except (serial.SerialException, OSError) as e:
                    problems.append(f"attempt {attempt}: port failed ({e})")
                    self.port.close()
                    continue
            elif req.verb in ACTIONS and self.boot:
                checked = self._after_reboot(req, first_sent, attempt, notes)
                if isinstance(checked, Reply):  # the late answer came in while the board was asked
                    return self._answered(req, checked, sent, self.clock.now(), attempt - 1, notes, clean=False)
                if isinstance(checked, Action):
                    return checked
                req, text = checked, checked.line().decode().strip()
            seen = len(notes)
            sent = self.clock.now()
            first_sent = sent if not sends else first_sent
            sends += 1
            try:
                self.port.write(req.line())
                reply = self._read_reply(req.id, time.monotonic() + wait, notes)
            except (serial.SerialException, OSError) as e:
                problems.append(f"attempt {attempt}: port failed ({e})")
                self.port.close()  # unplugged or re-enumerated: re-open the stable path next
                continue
            received = self.clock.now()
            if reply is None:
                noise = [n for n in notes[seen:] if "noise" in n]
                hint = (f", only noise ({noise[-1].removeprefix('skipped ')}; wrong baud rate? the lab says "
                        f"{self.port.baud})") if noise else ""
                problems.append(f"attempt {attempt}: no reply within {wait:g} s{hint}")
                continue
            return self._answered(req, reply, sent, received, attempt, notes, clean=attempt == sends == 1)
        raise ActuatorError(f"{self.name}: no valid reply to {text!r} after {attempt} attempt(s): "
                            f"{'; '.join(problems)}")

    def _answered(self, req: Request, reply: Reply, sent: float, received: float, attempt: int,
                  notes: list, clean: bool) -> Action:
        """The action a reply reports; only a quick, first-try exchange (``clean``) recalibrates
        the clock offset."""
        text = req.line().decode().strip()
        if not reply.ok:
            meaning = ERR_CODES.get(reply.code, "unknown code")
            raise ActuatorError(f"{self.name}: {text!r} refused: ERR {reply.code} ({meaning}) {reply.text}")
        at = self._instant(req, reply, sent, received, clean=clean)
        return Action(text, at, sent, received, attempt, reply, tuple(notes))

    def _check_boot(self, req: Request, notes: list) -> None:
        """Before ``req`` is first sent: raise :class:`BoardRebooted` if the board reset since
        its last answer. No answer to the PING says nothing: ``req``'s own attempts report that."""
        ping = Request(self._next_id(), "PING")
        self.port.write(ping.line())
        reply = self._read_reply(ping.id, time.monotonic() + self.timeout, notes)
        boot = reply.fields.get("boot", "") if reply is not None and reply.ok else ""
        if boot and boot != self.boot:
            was, self.boot = self.boot, boot
            raise BoardRebooted(f"{self.name}: the actuator rebooted since its last answer (boot id {was} -> "
                                f"{boot}), before {req.line().decode().strip()!r} was sent; at boot it puts every "
                                f"channel in its safe state (lid open, AC on), which may have woken the Mac, so "
                                f"nothing is sent and the cycle is a rig error")

    def _after_reboot(self, req: Request, first_sent: float, attempt: int, notes: list):
        """Before resending ``req``: did the board reset since it was sent? (class docstring).

        -> the request to send (``req``, or a new id after a reset), the :class:`Action` when
        the board's STATUS shows the first send already took effect (its instant: that send), or
        the late :class:`Reply` to ``req`` itself if it arrives while the board is asked."""
        boot = self._ping_boot(req, notes)
        if isinstance(boot, Reply):
            return boot
        if not boot or boot == self.boot:
            return req
        was, self.boot = self.boot, boot
        what = f"the actuator rebooted (boot id {was} -> {boot}) before answering {req.line().decode().strip()!r}"
        if req.verb == "PWR":
            raise ActuatorError(f"{self.name}: {what}; it may have pressed already, so the press is not "
                                f"resent (a doubled press would put the Mac back to sleep)")
        want = {"LID": ("lid", {"CLOSE": "closed", "OPEN": "open"}), "AC": ("ac", {"ON": "on", "OFF": "off"})}
        key, states = want[req.verb]
        status = self.request(Request(self._next_id(), "STATUS", req.channel)).reply
        if status.fields.get(key) == states[req.arg]:
            notes.append(f"{what}; STATUS shows it acted on the first send, whose instant is kept")
            return Action(req.line().decode().strip(), first_sent, first_sent, self.clock.now(), attempt, status,
                          tuple(notes))
        notes.append(f"{what}; STATUS shows {key}={status.fields.get(key)}: it had not acted, or the reset's "
                     f"safe state undid it; sent again with a new id")
        return Request(self._next_id(), req.verb, req.channel, req.arg, req.ms)

    def _ping_boot(self, req: Request, notes: list):
        """The board's boot id now (``""`` if unknown), or the late reply to ``req`` if it comes first."""
        ping = Request(self._next_id(), "PING")
        try:
            self.port.write(ping.line())
            reply = self._read_reply((ping.id, req.id), time.monotonic() + self.timeout, notes)
        except (serial.SerialException, OSError):
            return ""  # the resend meets the same port trouble and reports it
        if reply is not None and reply.id == req.id:
            return reply
        return reply.fields.get("boot", "") if reply is not None and reply.ok else ""

    def _read_reply(self, rids, deadline: float, notes: list) -> Reply | None:
        """The first reply to one of ``rids`` (an id, or a tuple of ids) before ``deadline``."""
        rids = (rids,) if isinstance(rids, str) else tuple(rids)
        while True:
            raw = self.port.read_line(deadline)
            if raw is None:
                return None
            for rid in rids:
                reply, junk = find_reply(raw, rid)
                if reply is not None:
                    break
            if junk:
                notes.append(f"skipped {len(junk)} bytes of noise {junk[:16]!r}")
            if reply is None:
                continue
            if reply.id in rids:
                return reply
            notes.append(f"skipped a late reply to id {reply.id}")

    def _instant(self, req: Request, reply: Reply, sent: float, received: float, clean: bool) -> float:
        mid = sent + (received - sent) / 2
        at = reply.fields.get("at", "")
        if not at.isdigit():
            return mid
        fw = int(at) / 1_000_000
        if self.cfg.clock == "lab":
            return fw
        if clean and req.verb != "PWR":
            self._anchor = (mid, fw)
        if self._anchor is None:
            return mid
        # the firmware counts wall seconds (its crystal); the lab's clock runs ``scale`` lab
        # seconds per wall second (1 on a real rack, where this is a plain offset)
        ctl, fw0 = self._anchor
        return ctl + (fw - fw0) * self.clock.scale

    # -- verbs --------------------------------------------------------------------------------
    def ask(self, verb: str, channel: int = 0, arg: str = "", ms: int = 0) -> Action:
        """Any one request under a fresh id (``rig actuator`` on the bench), e.g. ``ask("PING")``."""
        return self.request(Request(self._next_id(), verb, channel, arg, ms))

    def lid(self, channel: int, close: bool) -> Action:
        return self.request(Request(self._next_id(), "LID", channel, "CLOSE" if close else "OPEN"))

    def power_press(self, channel: int, ms: int = 300) -> Action:
        return self.request(Request(self._next_id(), "PWR", channel, "PRESS", ms))

    def ac(self, channel: int, on: bool) -> Action:
        return self.request(Request(self._next_id(), "AC", channel, "ON" if on else "OFF"))

    def status(self, channel: int) -> dict:
        return dict(self.request(Request(self._next_id(), "STATUS", channel)).reply.fields)


BACKEND = RigV1Actuator
