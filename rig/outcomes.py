"""The outcome of a cycle: the whole failure taxonomy in one place (LAVA-style).

A cycle ends in exactly one outcome. ``pass``, ``fail`` and ``dut_hang`` count against the build
(a Mac that hangs after wake fails the night); ``rig_error`` and ``unknown`` say the cycle tells us
nothing about the build, and why.

**Scored**, the one rule every total, rate, percentile, gate and comparison uses
(:func:`is_scored`): a cycle is scored when its outcome counts against the build *and* its logs
could be scored (a ``scorable`` row of ``cycles.csv``). A hung Mac has no logs to score, so it
enters the verdict but no number; a cycle whose logs showed no sleep or no full wake is turned
into a ``rig_error`` when it is derived.
"""
from __future__ import annotations

import errno
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
    def counts_against_build(self) -> bool:
        """Whether a cycle ending so says something about the build (not the rig's fault)."""
        return self in (Outcome.PASS, Outcome.FAIL, Outcome.DUT_HANG)

    @property
    def scored(self) -> bool:
        """The same as :attr:`counts_against_build` (the name the journal's readers know)."""
        return self.counts_against_build


_HELP = {
    Outcome.PASS: "the cycle ran and the build met every per-cycle gate",
    Outcome.FAIL: "the cycle ran and the build missed a gate (the build's fault)",
    Outcome.DUT_HANG: "the Mac did not come back after wake, even after the recovery ladder",
    Outcome.RIG_ERROR: "actuator, SSH, gateway or log collection failed: the rig's fault, "
                       "retried, never scored against the build",
    Outcome.UNKNOWN: "the cycle never finished (controller killed, power loss); resume the run",
}


def is_scored(row: dict) -> bool:
    """Whether a row of ``cycles.csv`` (a dict, or read back from the CSV) enters the build's
    numbers: its outcome counts against the build and its logs were scorable (module docstring).
    """
    try:
        counts = Outcome(row.get("outcome")).counts_against_build
    except ValueError:
        return False
    return counts and _true(row.get("scorable"))


def _true(v) -> bool:
    """A flag as ``cycles.csv`` may hold it: a bool, or "True"/"true"/"1" read back as text."""
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1")
    return bool(v) and v == v  # NaN (a missing value read back by pandas) is not true


class RigError(Exception):
    """An infrastructure failure (actuator, SSH link, gateway, collection).

    Raised by drivers and the runner; a cycle that ends with one is ``rig_error``, never ``fail``.
    """


class DutHang(Exception):
    """The device under test stopped answering and the recovery ladder did not bring it back."""


#: OS errors that come from the controller's own disk, never from a link (a socket does not
#: fill up): met while fetching, they are the run folder's fault, not the Mac's or the link's.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO})


class RunFolderError(OSError):
    """The run folder cannot be written (a full disk, a quota, a read-only or failing disk).

    Not a cycle's outcome but the run's: no cycle can be remembered any more, so the run stops
    cleanly (every Mac the rig put to sleep is woken, every finished cycle is kept, the cycle
    under way stays ``unknown``) and ``rig run --resume`` finishes it once space is freed. It
    keeps the ``errno`` and the path it could not write."""

    @classmethod
    def from_os(cls, e: OSError, path=None) -> "RunFolderError":
        if isinstance(e, RunFolderError):
            return e
        return cls(e.errno, e.strerror or str(e), str(path if path is not None else e.filename or "?"))

    @property
    def disk_full(self) -> bool:
        return self.errno in (errno.ENOSPC, errno.EDQUOT)

    def __str__(self) -> str:
        what = "disk full" if self.disk_full else "the run folder cannot be written"
        return f"{what}: {self.filename}: {self.strerror}"


def is_disk_error(e: BaseException) -> bool:
    """An ``OSError`` that the controller's disk raised (see :data:`DISK_ERRNOS`)."""
    return isinstance(e, RunFolderError) or (isinstance(e, OSError) and e.errno in DISK_ERRNOS)


#: How ``rig run`` and ``rig score`` exit (README, "Exit codes"); 2 is a usage error (click).
EXIT_PASS, EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_RIG_ERROR, EXIT_INTERRUPTED = 0, 1, 3, 4, 130
EXIT_DISK = 5  # the run folder could not be written (disk full): stopped cleanly, resume later


def exit_code(scores: dict) -> int:
    """A failure seen stands (1); else cycles the rig could not measure make the run a rig error
    (4); else a run without the exposure its suite needs, or without any scored cycle, is
    inconclusive (3); else it passed (0)."""
    verdict = scores.get("verdict")
    if verdict == "fail":
        return EXIT_FAIL
    if (scores.get("outcomes") or {}).get(Outcome.RIG_ERROR.value):
        return EXIT_RIG_ERROR
    if verdict != "pass":
        return EXIT_INCONCLUSIVE
    return EXIT_PASS
