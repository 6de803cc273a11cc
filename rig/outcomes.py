"""The outcome of a cycle: the whole failure taxonomy in one place (LAVA-style).

A cycle ends in exactly one outcome. Only ``pass`` and ``fail`` are scored against the build;
the rest say the cycle tells us nothing about the build, and why.
"""
from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    DUT_HANG = "dut_hang"
    RIG_ERROR = "rig_error"
    UNKNOWN = "unknown"

    @property
    def help(self) -> str:
        return _HELP[self]

    @property
    def scored(self) -> bool:
        """Whether the cycle counts towards the build's scores and gates."""
        return self in (Outcome.PASS, Outcome.FAIL, Outcome.DUT_HANG)


_HELP = {
    Outcome.PASS: "the cycle ran and the build met every per-cycle gate",
    Outcome.FAIL: "the cycle ran and the build missed a gate (the build's fault)",
    Outcome.DUT_HANG: "the Mac did not come back after wake, even after the recovery ladder",
    Outcome.RIG_ERROR: "actuator, SSH, gateway or log collection failed: the rig's fault, "
                       "retried, never scored against the build",
    Outcome.UNKNOWN: "the cycle never finished (controller killed, power loss); resume the run",
}


class RigError(Exception):
    """An infrastructure failure (actuator, SSH link, gateway, collection).

    Raised by drivers and the runner; a cycle that ends with one is ``rig_error``, never ``fail``.
    """


class DutHang(Exception):
    """The device under test stopped answering and the recovery ladder did not bring it back."""
