"""What the cycle runner asks of an actuator, and how a backend is found by its ``kind``.

An actuator is the rig's hand on the Mac: it closes and opens the lid, presses the power button,
switches AC. The cycle runner depends on that small interface, never on a board (labgrid's
*protocol* idea): every backend is one module in ``rig/actuators/`` named after its lab-file
``kind`` (``rig-v1`` -> ``rig/actuators/rig_v1.py``) and exposes ``BACKEND``, a class with

    open() -> self        claim the port (and check the device, if it can answer)
    close()
    lid(channel, close)   -> Action
    power_press(channel, ms) -> Action
    ac(channel, on)       -> Action
    status(channel)       -> dict

A verb the hardware cannot do raises ``NotSupported`` (an ``ActuatorError``) naming the backend,
so a misconfigured lab fails loudly; the lab loader already refuses the obvious cases (a relay
board cannot move a lid). Every failure is an ``ActuatorError``, a ``RigError``: the cycle ends
``rig_error`` (the rig's fault, never scored against the build), never a crash.

Adding a backend: one module in ``rig/actuators/`` with ``BACKEND`` and a config example in its
docstring, plus its kind in ``rig.lab.inventory.ACTUATOR_KINDS``; ``tests/test_actuator_backends.py``
checks that every kind loads and implements the interface.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from rig.drive.actuator_protocol import Reply
from rig.lab.clock import Clock
from rig.lab.inventory import ACTUATOR_KINDS
from rig.lab.inventory import Actuator as ActuatorConfig
from rig.outcomes import RigError

#: The verbs every backend implements (or refuses with NotSupported).
INTERFACE = ("open", "close", "lid", "power_press", "ac", "status")


class ActuatorError(RigError):
    """The actuator failed or could not be reached; the message says what was tried."""


class BoardRebooted(ActuatorError):
    """The board reset since its last answer (a new boot id) before a request was sent: its
    safe states at boot (lid open, AC on) may have disturbed the Mac, so the request is not sent."""


class NotSupported(ActuatorError):
    """This kind of actuator cannot do that (e.g. a relay board asked to close a lid)."""


@dataclass(frozen=True)
class Action:
    """One thing the actuator did, with the instant it did it on the controller's clock.

    ``at`` anchors time-to-tunnel; ``sent``/``received`` bound it; ``attempts`` > 1 means the
    request was retried (same id) or the port re-opened; ``notes`` keeps what was skipped on the
    way (line noise, late replies), so a journal can show why an action was slow.
    """

    request: str
    at: float
    sent: float
    received: float
    attempts: int
    reply: Reply
    notes: tuple = field(default=())


class Backend:
    """What every backend shares: a ``port`` (a StablePort) and the context-manager protocol."""

    port = None

    def open(self):
        raise NotImplementedError

    def close(self) -> None:
        self.port.close()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()


def backend_module(kind: str) -> str:
    return f"rig.drive.actuators.{kind.replace('-', '_')}"


def load_backend(kind: str) -> type:
    """The backend class for a lab-file ``kind``, imported by name."""
    try:
        module = importlib.import_module(backend_module(kind))
    except ModuleNotFoundError as e:
        if e.name != backend_module(kind):
            raise
        raise ActuatorError(f"no actuator backend for kind {kind!r} (available: {', '.join(ACTUATOR_KINDS)})") \
            from None
    return module.BACKEND


def open_actuator(cfg: ActuatorConfig, clock: Clock):
    """Open the actuator a lab file describes; raises ActuatorError if it cannot be used."""
    return load_backend(cfg.kind)(cfg, clock).open()

