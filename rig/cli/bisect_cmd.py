"""``rig bisect``: the command line over :mod:`rig.runner.bisect` (thin: options, the lab, print)."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from rig.cli.options import DURATION


@click.command("bisect")
@click.option("--builds", required=True,
              help="comma-separated, oldest first: the first known good, the last known bad "
                   "(.pkg files, or twin:MODEL[@LABEL] on the twin)")
@click.option("--suite", default="dark_wake", show_default=True, help="the suite each step runs")
@click.option("--lab", "lab_path", type=click.Path(dir_okay=False, path_type=Path),
              help="lab.toml of a real rack (default: the embedded twin lab)")
@click.option("--macs", default="", help="comma-separated Mac names or tags (default: all)")
@click.option("--cycles", default=2, show_default=True, type=click.IntRange(1), help="cycles per step")
@click.option("--dwell", "dwell_s", type=DURATION, default="45m", show_default=True, help="sleep per cycle")
@click.option("--until-settled", is_flag=True, help="each step stops when its sequential test settles")
@click.option("--max-cycles", default=12, show_default=True, type=click.IntRange(1),
              help="with --until-settled: the most cycles a Mac runs per step")
@click.option("--trust-ends", is_flag=True, help="do not run the two ends: take them as good and bad")
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where the steps' run folders and the bisect summary land (default: ./reports)")
@click.option("--scale", default=200.0, show_default=True, help="twin only: virtual seconds per wall second")
@click.option("--seed", default=1, show_default=True, help="twin only: random seed of the simulated lab")
def bisect(builds, suite, lab_path, macs, cycles, dwell_s, until_settled, max_cycles, trust_ends, reports,
           scale, seed) -> None:
    """Find the first bad build in BUILDS: install and test midpoints, each step a run folder;
    the last line printed is "first bad build: Bk"."""
    from rig.cli.main import load_selected, start_twin
    from rig.outcomes import EXIT_INCONCLUSIVE
    from rig.redact import Redactor
    from rig.report import bisect_page
    from rig.runner.bisect import search
    from rig.runner.bisect_steps import BuildJudge
    from rig.runner.plan import Plan
    from rig.score.suites import SUITES
    from rig.timestamps import utc_seconds

    names = [b.strip() for b in builds.split(",") if b.strip()]
    if suite not in SUITES:
        raise click.BadParameter(f"unknown suite {suite!r} (known: {', '.join(SUITES)})", param_hint="--suite")
    twin = None
    if lab_path is None:
        if not all(n.startswith("twin:") for n in names):
            raise click.UsageError("without --lab the rig bisects on the twin: give twin:MODEL[@LABEL] builds")
        twin, lab_path = start_twin(names[0].split("@", 1)[0], scale, seed)
    if all(n.startswith("twin:") for n in names):
        from rig.twin.builds import manifest as package_for   # what a .pkg is to a twin Mac
    else:
        from rig.runner.bisect_steps import real_package as package_for
    try:
        lab, selected = load_selected(lab_path, macs)
        plan = Plan(build=names[0], cycles=max_cycles if until_settled else cycles, dwell_s=dwell_s,
                    gates=list(SUITES[suite]["gates"]), until_settled=until_settled)
        out = reports or (lab.reports if lab.path and not lab.is_virtual else Path("reports"))
        stamp = utc_seconds(lab.clock().now()).replace(":", "")[:15]
        folder = Path(out) / f"bisect-{stamp}"
        with tempfile.TemporaryDirectory(prefix="rig-bisect-") as scratch:
            judge = BuildJudge(lab, plan, selected, Path(out), suite, Path(scratch), ["rig", *sys.argv[1:]],
                               package_for=package_for, on_step=lambda s: click.echo(f"{s.build}: {s.verdict.upper()} ({s.why})"
                                                            + (f": {s.words}" if s.words else "")))
            try:
                res = search(names, judge, trust_ends=trust_ends)
            except ValueError as e:
                raise click.BadParameter(str(e), param_hint="--builds")
        bisect_page.write(folder, res.as_dict(), Redactor(lab.redact))
        click.echo(f"summary: {folder / 'bisect.html'}")
        click.echo(res.last_line)
    finally:
        if twin is not None:
            twin.stop()
            twin.cleanup()
    sys.exit(0 if res.first_bad else EXIT_INCONCLUSIVE)
