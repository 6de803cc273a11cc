"""One step of ``rig bisect``: install a build on the lab's Macs, run the suite on it, score it.

The install goes through ``rig install``'s own code (SFTP, ``sudo -n installer``, the listing
checked), on real Macs with the build's ``.pkg`` and on the twin with a build manifest for
``twin:MODEL[@LABEL]`` (what a ``.pkg`` is to a twin Mac, written by the twin's own code:
:func:`rig.twin.builds.manifest`), so a bisect on the twin exercises the same door a lab's does.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rig.lab.inventory import Lab
from rig.outcomes import RigError
from rig.runner.bisect import Step
from rig.runner.install import expected_version, install
from rig.runner.plan import Plan
from rig.runner.run import drive, start_run


def real_package(build: str, folder: Path) -> tuple[Path, str]:
    """(the ``.pkg`` to install, the version the listing must then show) of a real build."""
    pkg = Path(build)
    if not pkg.is_file():
        raise RigError(f"{build}: no such package (give .pkg files, or twin:MODEL[@LABEL] on the twin)")
    return pkg, expected_version(pkg)


def install_build(lab: Lab, macs, build: str, scratch: Path, package_for=real_package) -> str:
    """Install ``build`` on every Mac of ``macs`` through ``rig install``'s code -> the name the
    run records (the version the listing showed; a twin build keeps its ``twin:`` name).
    Raises :class:`RigError` naming each Mac whose install failed."""
    try:
        pkg, version = package_for(build, scratch)
    except ValueError as e:
        raise RigError(str(e)) from e
    failed = [r for r in (install(lab, m, pkg, version) for m in macs) if not r.ok]
    if failed:
        raise RigError("; ".join(f"{r.mac}: install failed: {r.detail}" for r in failed))
    return build if build.startswith("twin:") else version


class BuildJudge:
    """``judge(build, why) -> Step`` for :func:`rig.runner.bisect.search`."""

    def __init__(self, lab: Lab, plan: Plan, macs, reports: Path, suite: str, scratch: Path,
                 command: list[str], on_step=None, package_for=real_package):
        self.lab, self.plan, self.macs, self.reports = lab, plan, list(macs), reports
        self.package_for = package_for   # the twin's command passes its manifest writer
        self.suite, self.scratch, self.command = suite, scratch, command
        self.on_step = on_step or (lambda step: None)

    def __call__(self, build: str, why: str) -> Step:
        try:
            name = install_build(self.lab, self.macs, build, self.scratch, self.package_for)
        except RigError as e:
            return self._done(Step(build, why, "rig error", words=str(e)))
        plan = replace(self.plan, build=name)
        folder = start_run(self.lab, plan, self.reports, suite=self.suite, command=self.command, macs=self.macs)
        scores = drive(self.lab, folder, plan, self.macs)
        verdict = scores["verdict"]
        if verdict == "pass" and (scores.get("outcomes") or {}).get("rig_error"):
            verdict = "rig error"    # a pass with unmeasured cycles is not evidence enough to move on
        return self._done(Step(build, why, verdict, str(folder.path), (scores.get("settled") or {}).get("words", "")))

    def _done(self, step: Step) -> Step:
        self.on_step(step)
        return step
