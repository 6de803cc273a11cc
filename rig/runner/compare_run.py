"""``rig compare BASE CAND --until-settled``: two builds on the same Macs, a cycle of each per
round, until :mod:`rig.score.sequential_compare` says better, worse or equivalent.

Each build keeps one run folder of its own, grown by a cycle per round through the runner's
resume (``drive`` runs the cycles a folder has not finished), so at the end both are ordinary
runs: ``rig score``, ``rig report`` and the fixed ``rig compare BASE_RUN CAND_RUN`` read them
as any other. Before each cycle the build is installed on the Macs with ``rig install``'s code
(the twin installs a build manifest through the same door), because the Macs carry one build at
a time. Rounds alternate which build goes first (ABBA), so a drift over the night falls on both.

A round in which a build scored no cycle (every Mac a rig error) adds nothing to the test and
is said so in the round's line; the comparison goes on until settled or ``max_rounds``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from rig.lab.inventory import Lab
from rig.outcomes import RigError, is_scored
from rig.run_folder import RunFolder
from rig.runner.bisect_steps import install_build, real_package
from rig.runner.plan import Plan
from rig.runner.run import drive, start_run
from rig.score.derive import score_run
from rig.score.sequential_compare import CONTINUE, Interleaved
from rig.score.suites import hypotheses as suite_hypotheses
from rig.timestamps import utc_seconds


@dataclass
class Round:
    """What one round did, for the command's progress line."""

    number: int
    order: tuple[str, str]
    scored: dict          # build -> scored cycles this round
    state: str
    error: str = ""


@dataclass
class Compared:
    base: RunFolder
    cand: RunFolder
    settled: dict
    rounds: list


def run_interleaved(lab: Lab, plan: Plan, macs, reports: Path, base: str, cand: str, *, suite: str,
                    max_rounds: int, scratch: Path, ratio: float, command: list[str],
                    package_for=real_package, on_round: Callable[[Round], None] | None = None,
                    stop: threading.Event | None = None) -> Compared:
    """Rounds of one cycle per build until the comparison settles (module docstring)."""
    selected = list(macs)
    test = Interleaved(suite_hypotheses(suite), {m.name: list(m.tags) for m in selected}, ratio=ratio)
    fixed = replace(plan, cycles=max_rounds, until_settled=False)
    folders: dict[str, RunFolder] = {}
    names: dict[str, str] = {}
    for role, build in (("base", base), ("cand", cand)):
        names[role] = build if build.startswith("twin:") else Path(build).stem
        folders[role] = start_run(lab, replace(fixed, build=names[role]), reports, suite=suite, command=command,
                                  macs=selected, extra={"compare": {"role": role, "base": base, "candidate": cand}})
    rounds: list[Round] = []
    for n in range(1, max_rounds + 1):
        order = ("base", "cand") if n % 2 else ("cand", "base")
        rows: dict[str, list[dict]] = {}
        error = ""
        for role in order:
            build = base if role == "base" else cand
            try:
                names[role] = install_build(lab, selected, build, scratch, package_for)
            except RigError as e:
                error = f"{role} {build}: {e}"
                rows[role] = []
                continue
            drive(lab, folders[role], replace(fixed, build=names[role], cycles=n), selected, stop=stop)
            if stop is not None and stop.is_set():
                break   # an interrupted round is not evidence: both builds must have had their cycle
            rows[role] = [r for r in score_run(folders[role].path).cycles.to_dict("records")
                          if int(r["cycle"]) == n and is_scored(r)]
        if stop is not None and stop.is_set():
            break
        state = test.add(rows.get("base", []), rows.get("cand", []))
        rnd = Round(n, order, {k: len(v) for k, v in rows.items()}, state, error)
        rounds.append(rnd)
        if on_round:
            on_round(rnd)
        if state != CONTINUE:
            break
    settled = test.summary(max_rounds)
    finished = utc_seconds(lab.clock().now())
    for role, folder in folders.items():
        folder.update_meta(plan={**folder.meta()["plan"], "cycles": len(rounds)}, finished=finished,
                           compare={**folder.meta()["compare"], "with": folders["cand" if role == "base" else "base"].path.name,
                                    "settled": {k: settled[k] for k in ("state", "rounds", "lab_hours", "words")}})
    return Compared(folders["base"], folders["cand"], settled, rounds)
