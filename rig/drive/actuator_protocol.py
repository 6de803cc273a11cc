"""Actuator protocol v1: line-based ASCII over a serial port (115200 8N1).

Request ``<id> <VERB> [args]\\n``; reply ``<id> OK [k=v …]\\n`` or ``<id> ERR <code> <text>\\n``.

Verbs:
  ``PING``                      -> ``OK fw=… proto=1 channels=N``
  ``LID <ch> CLOSE|OPEN``       close or open the lid (a servo or solenoid on the lid)
  ``PWR <ch> PRESS <ms>``       press the power button for <ms> milliseconds
  ``AC <ch> ON|OFF``            switch the Mac's mains/USB-C power
  ``STATUS <ch>``               lid and AC state

The firmware remembers recent ids: a retried request with the same id is answered again but not
acted on twice (a doubled power press would put the Mac straight back to sleep). Action replies
carry ``at=<µs>``, the instant the firmware acted by its own clock.

Error codes (``ERR <code> <text>``; the text is for people, the code for programs):
  1 bad request (not protocol v1: unknown verb, bad arguments, a press out of bounds)
  2 no such channel
  3 busy (the channel is still pressing its button)
  4 hardware fault (the pin layer failed)

This is the controller's side: request lines out, replies in, as pure functions. The board's
side (parsing requests, remembering ids, formatting replies) is the reference firmware's own
module, ``rigfw.protocol`` (``firmware/rigfw/protocol.py``), which the twin runs too; the
protocol's constants come from there, so the two sides cannot disagree on them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rigfw.protocol import ERR_BAD, ERR_BUSY, ERR_CHANNEL, ERR_HARDWARE

ERR_CODES = {ERR_BAD: "bad request", ERR_CHANNEL: "no such channel", ERR_BUSY: "busy",
             ERR_HARDWARE: "hardware fault"}


@dataclass(frozen=True)
class Request:
    id: str
    verb: str
    channel: int = 0
    arg: str = ""
    ms: int = 0

    def line(self) -> bytes:
        parts = [self.id, self.verb]
        if self.verb != "PING":
            parts.append(str(self.channel))
        if self.verb in ("LID", "AC"):
            parts.append(self.arg)
        elif self.verb == "PWR":
            parts += ["PRESS", str(self.ms)]
        return (" ".join(parts) + "\n").encode("ascii")


@dataclass(frozen=True)
class Reply:
    id: str
    ok: bool
    fields: dict = field(default_factory=dict)
    code: int = 0
    text: str = ""


def parse_reply(line: str) -> Reply:
    """Parse one reply line; raises ValueError for anything that is not protocol v1."""
    if not line.strip().isprintable():
        raise ValueError(f"not a protocol-v1 reply (control bytes): {line.strip()!r}")
    parts = line.strip().split(" ")
    if len(parts) < 2 or not parts[0]:
        raise ValueError(f"not a protocol-v1 reply: {line.strip()!r}")
    rid, status = parts[0], parts[1]
    if status == "OK":
        fields = {}
        for kv in parts[2:]:
            if "=" not in kv:
                raise ValueError(f"bad field {kv!r} in reply {line.strip()!r}")
            k, v = kv.split("=", 1)
            fields[k] = v
        return Reply(rid, True, fields)
    if status == "ERR" and len(parts) >= 3 and parts[2].isdigit():
        return Reply(rid, False, {}, int(parts[2]), " ".join(parts[3:]))
    raise ValueError(f"not a protocol-v1 reply: {line.strip()!r}")


def find_reply(raw: bytes, rid: str) -> tuple[Reply | None, bytes]:
    """The reply in one received line, and the noise in front of it (never raises).

    A USB-serial adapter often emits a few junk bytes when it is plugged in or reset, and they
    land in front of the next reply on the same line. The reply to ``rid`` is still there at the
    end: it is returned with the junk, which the driver reports instead of losing the reply.
    A line that is a well-formed reply to another id is returned as is (the caller skips it).
    Returns ``(None, raw)`` when there is no reply in the line at all.
    """
    if not raw.endswith(b"\n"):
        return None, raw
    try:
        return parse_reply(raw.decode("ascii")), b""
    except (UnicodeDecodeError, ValueError):
        pass
    key = rid.encode("ascii")
    for marker in (key + b" OK", key + b" ERR"):
        p = raw.rfind(marker)
        if p > 0 and not raw[p - 1:p].isalnum():
            try:
                return parse_reply(raw[p:].decode("ascii")), raw[:p]
            except (UnicodeDecodeError, ValueError):
                pass
    return None, raw
