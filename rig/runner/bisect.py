"""``rig bisect``: the first bad build in an ordered list, in as few runs as the list allows.

A release engineer with ten candidate builds cannot spend ten nights. The first build is known
good and the last known bad; each step installs the build halfway between the last good and the
first bad (``rig install``, through the same door as a person would) and runs the suite on it,
so ``n`` builds take ``ceil(log2(n - 1))`` runs, plus one run per end unless the ends are trusted
(``--trust-ends``, said in the summary). Every step is a run folder of its own; ``bisect.json``
and ``bisect.html`` link them. A step that is neither PASS nor FAIL (inconclusive, rig errors)
stops the search where it stands: a guess would send the engineer to the wrong build.

The search (:func:`search`) is pure: it asks a ``judge`` for a build's verdict and keeps the
steps; running a build (install, run, score) is the caller's.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass
class Step:
    build: str
    why: str                 # "known good (checked)", "midpoint of 1.4.0..1.4.7", ...
    verdict: str             # pass | fail | inconclusive | no data | rig error
    run: str = ""            # the step's run folder
    words: str = ""          # the sequential test's result, when the run had one


@dataclass
class Result:
    builds: list[str]
    steps: list[Step] = field(default_factory=list)
    first_bad: str | None = None
    stopped: str = ""        # why the search ended without an answer
    trusted_ends: bool = False

    def as_dict(self) -> dict:
        return {**asdict(self), "steps": [asdict(s) for s in self.steps],
                "max_midpoints": max_midpoints(len(self.builds))}

    @property
    def last_line(self) -> str:
        return f"first bad build: {self.first_bad}" if self.first_bad else f"no first bad build: {self.stopped}"


def max_midpoints(n: int) -> int:
    """Runs between the ends of ``n`` builds: one per halving of the ``n - 1`` gaps."""
    return math.ceil(math.log2(n - 1)) if n > 2 else 0


def search(builds: list[str], judge: Callable[[str, str], Step], trust_ends: bool = False) -> Result:
    """The first build whose verdict is FAIL, assuming every build after a bad one is bad."""
    if len(builds) < 2:
        raise ValueError("bisect needs at least two builds: the known good one first, the known bad one last")
    if len(set(builds)) != len(builds):
        raise ValueError("every build in the list must be a different one (label twin builds: twin:MODEL@LABEL)")
    res = Result(list(builds), trusted_ends=trust_ends)
    good, bad = 0, len(builds) - 1
    if not trust_ends:
        for i, want, role in ((good, "pass", "known good"), (bad, "fail", "known bad")):
            step = judge(builds[i], f"{role} (checked)")
            res.steps.append(step)
            if step.verdict != want:
                res.stopped = (f"{builds[i]} was given as {role} but its run says {step.verdict.upper()}: "
                               "nothing to bisect until the ends are right")
                return res
    while bad - good > 1:
        mid = (good + bad) // 2
        step = judge(builds[mid], f"midpoint of {builds[good]}..{builds[bad]}")
        res.steps.append(step)
        if step.verdict == "pass":
            good = mid
        elif step.verdict == "fail":
            bad = mid
        else:
            res.stopped = (f"{builds[mid]} is {step.verdict.upper()}: the first bad build is after {builds[good]} "
                           f"and no later than {builds[bad]}; run {builds[mid]} again with more cycles")
            return res
    res.first_bad = builds[bad]
    return res
