"""The operations a cycle script yields, and the loop that carries a script out.

A script (:mod:`rig.runner.script`) touches nothing itself: it yields these, and an executor
answers each on its own clock (the threaded runner with SSH and the actuator, the twin's batch on
virtual time), or throws the failure in. Answers are what the drivers return (``CommandResult``,
``Offset``, ``Action``), so one script reads both executors' answers the same way.
"""
from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path

GATEWAY = "gateway"    # the host name of the lab's gateway in operations


# -- operations: what the script asks of an executor -------------------------------------------

@dataclass(frozen=True)
class Now:
    """-> the executor's clock (controller seconds)."""


@dataclass(frozen=True)
class Note:
    """Append ``record`` to the journal; a ``cycle_end`` comes with the cycle's ``scores``."""
    record: dict
    scores: dict | None = None


@dataclass(frozen=True)
class Step:
    """A step begins: -> its instant. Throws :class:`Interrupted` when a stop was asked for and
    the step may be skipped (between steps is where a stop takes effect)."""
    mac: str
    cycle: int
    name: str
    may_stop: bool = True


@dataclass(frozen=True)
class Reach:
    """Open a session to ``host`` (a Mac's name or :data:`GATEWAY`) within ``timeout_s``;
    throws ``Unreachable``."""
    host: str
    timeout_s: float


@dataclass(frozen=True)
class Hangup:
    """Close the session to ``host`` (an open session can hold off sleep)."""
    host: str


@dataclass(frozen=True)
class Run:
    """Run ``argv`` on ``host`` -> ``CommandResult``; ``line`` sends the words as one shell line."""
    host: str
    argv: tuple
    line: bool = False


@dataclass(frozen=True)
class Measure:
    """-> the clock offset of ``host`` (an ``Offset``), over its open session."""
    host: str


@dataclass(frozen=True)
class Act:
    """Have the Mac's actuator do ``verb`` (``lid``: close=value, ``press``: ms, ``ac``: on=value)
    -> an ``Action`` (``at`` is when it acted); throws ``RigError``."""
    mac: str
    verb: str
    value: object


@dataclass(frozen=True)
class Wait:
    """Let ``seconds`` of lab time pass (a stop request ends the wait early)."""
    seconds: float


@dataclass(frozen=True)
class WakePacket:
    """Send a Wake-on-LAN magic packet to ``target`` (the Mac's ``wake_on_lan``) -> the instant
    it left; throws ``OSError`` when the controller's network refuses it. What it did to the Mac
    is read from the Mac's logs later, never answered here."""
    mac: str
    target: object


@dataclass(frozen=True)
class Collect:
    """Fetch ``host``'s logs of the window into ``raw`` (``collect.json`` says how); throws
    ``RigError`` with what was kept."""
    host: str
    raw: Path
    start: float
    end: float
    offsets: tuple


@dataclass(frozen=True)
class Score:
    """-> the collected cycle's scores (``{}`` when the executor scores the run at its end)."""
    mac: str
    cycle: int


class Interrupted(Exception):
    """The operator asked to stop (Ctrl-C): the current step was finished, the Mac left awake."""


# -- carrying a script out --------------------------------------------------------------------

def carry_out(gen, perform):
    """Run a script to its end (the generator's return value): each operation's answer,
    ``perform(op)``, is sent back, its failure thrown in (the script classifies every failure).

    An executor on an event clock (the batch) returns a generator from ``perform``: its yields
    (instants) pass through and its return value is the answer, so this is a generator too.
    """
    reply, error = None, None
    while True:
        try:
            op = gen.throw(error) if error is not None else gen.send(reply)
        except StopIteration as end:
            return end.value
        reply, error = None, None
        try:
            reply = perform(op)
            if isinstance(reply, types.GeneratorType):
                reply = yield from reply
        except Exception as e:  # noqa: BLE001 - thrown into the script, which decides
            error = e


def run_to_end(gen, perform):
    """:func:`carry_out` for an executor whose operations take real time (they return answers)."""
    steps = carry_out(gen, perform)
    try:
        next(steps)
    except StopIteration as end:
        return end.value
    raise RuntimeError("an operation yielded an instant to an executor that keeps real time")
