"""Actuator driver for protocol v1 (``rig-v1``): pyserial plus the protocol, nothing about Macs.

- Every request has an id; on a timeout the *same* request (same id) is sent again, so the
  firmware answers it without acting twice.
- ``PING`` at open checks the protocol version.
- The port is named by a stable path (``/dev/serial/by-id/…``); when the USB device re-enumerates
  the driver re-opens that path and repeats the request.
- An action's instant: the firmware's ``at=`` when the lab says its clock is the lab's
  (``clock = "lab"``), else the send time plus half the round trip (``clock = "rtt"``).
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import serial

from .actuator_protocol import PROTOCOL, Reply, Request, parse_reply
from .clock import Clock
from .lab import Actuator as ActuatorConfig
from .outcomes import RigError


class ActuatorError(RigError):
    pass


@dataclass(frozen=True)
class Action:
    request: str
    at: float  # controller-clock instant the actuator acted
    sent: float
    received: float
    attempts: int
    reply: Reply


class RigV1Actuator:
    def __init__(self, cfg: ActuatorConfig, clock: Clock, timeout: float = 2.0, retries: int = 2):
        self.cfg = cfg
        self.clock = clock
        self.timeout = timeout  # wall seconds per attempt (a serial read timeout)
        self.retries = retries
        self._ids = itertools.count(random.randrange(1, 1_000_000) * 1000)
        self.port: serial.Serial | None = None
        self.firmware = ""

    # -- port ---------------------------------------------------------------------------------
    def open(self) -> "RigV1Actuator":
        self._open_port()
        ping = self.request(Request(self._next_id(), "PING"))
        proto = ping.reply.fields.get("proto")
        if proto != str(PROTOCOL):
            raise ActuatorError(f"actuator {self.cfg.name}: firmware speaks protocol {proto!r}, rig needs {PROTOCOL}")
        self.firmware = ping.reply.fields.get("fw", "?")
        return self

    def _open_port(self) -> None:
        try:
            self.port = serial.Serial(self.cfg.port, self.cfg.baud, timeout=self.timeout, write_timeout=self.timeout)
        except (serial.SerialException, OSError) as e:
            raise ActuatorError(f"actuator {self.cfg.name}: cannot open {self.cfg.port}: {e} "
                                f"(unplugged? check the USB cable and `ls -l {self.cfg.port}`)") from None
        self.port.reset_input_buffer()

    def close(self) -> None:
        if self.port:
            self.port.close()
            self.port = None

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def _next_id(self) -> str:
        return str(next(self._ids))

    # -- requests -----------------------------------------------------------------------------
    def request(self, req: Request) -> Action:
        sent = self.clock.now()
        problems = []
        for attempt in range(1, self.retries + 2):
            try:
                if self.port is None:
                    self._open_port()
                sent = self.clock.now()
                self.port.write(req.line())
                reply = self._read_reply(req.id, problems)
            except (serial.SerialException, OSError) as e:
                problems.append(f"port: {e}")
                self.close()  # re-enumerated or unplugged: re-open the stable path next attempt
                continue
            if reply is None:
                problems.append("timeout")
                continue
            received = self.clock.now()
            if not reply.ok:
                raise ActuatorError(f"actuator {self.cfg.name}: {req.line().decode().strip()!r} refused: "
                                    f"ERR {reply.code} {reply.text}")
            return Action(req.line().decode().strip(), self._instant(reply, sent, received), sent, received,
                          attempt, reply)
        raise ActuatorError(f"actuator {self.cfg.name}: no valid reply to {req.line().decode().strip()!r} "
                            f"after {self.retries + 1} attempts ({'; '.join(problems[-4:])})")

    def _read_reply(self, rid: str, problems: list) -> Reply | None:
        while True:
            raw = self.port.readline()
            if not raw:
                return None
            if not raw.endswith(b"\n"):
                problems.append(f"partial line {raw[:40]!r}")
                return None
            try:
                reply = parse_reply(raw.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                problems.append(f"garbage {raw[:40]!r}")
                continue
            if reply.id == rid:
                return reply
            # a late reply to an earlier request: skip it

    def _instant(self, reply: Reply, sent: float, received: float) -> float:
        if self.cfg.clock == "lab" and "at" in reply.fields:
            return int(reply.fields["at"]) / 1_000_000
        return sent + (received - sent) / 2

    # -- verbs --------------------------------------------------------------------------------
    def lid(self, channel: int, close: bool) -> Action:
        return self.request(Request(self._next_id(), "LID", channel, "CLOSE" if close else "OPEN"))

    def power_press(self, channel: int, ms: int = 300) -> Action:
        return self.request(Request(self._next_id(), "PWR", channel, "PRESS", ms))

    def ac(self, channel: int, on: bool) -> Action:
        return self.request(Request(self._next_id(), "AC", channel, "ON" if on else "OFF"))

    def status(self, channel: int) -> dict:
        return dict(self.request(Request(self._next_id(), "STATUS", channel)).reply.fields)


BACKENDS = {"rig-v1": RigV1Actuator}


def open_actuator(cfg: ActuatorConfig, clock: Clock):
    try:
        backend = BACKENDS[cfg.kind]
    except KeyError:
        raise ActuatorError(f"actuator {cfg.name}: no backend for kind {cfg.kind!r} "
                            f"(available: {', '.join(sorted(BACKENDS))})") from None
    return backend(cfg, clock).open()
