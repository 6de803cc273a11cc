"""``rig compare``: is one build better or worse than another? (thin: options, print, exit code).

Two forms. ``rig compare BASE_RUN CAND_RUN`` compares two finished run folders (each metric's
change, interval and test). ``rig compare BASE CAND --until-settled`` takes two *builds* and
runs them on the same Macs, a cycle of each per round, until the sequential comparison settles
better, worse or equivalent (:mod:`rig.runner.compare_run`); it then writes the same pages,
with the sequential test on them, in the candidate's run folder.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from rig.cli.options import DURATION, dark_wake_every

@click.command("compare")
@click.argument("base")
@click.argument("cand")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where compare.html and compare.md go (default: the candidate's run folder)")
@click.option("--until-settled", is_flag=True,
              help="BASE and CAND are builds: run them interleaved until better / worse / equivalent is settled")
@click.option("--max-rounds", default=8, show_default=True, type=click.IntRange(1),
              help="with --until-settled: the most rounds (a cycle of each build); unsettled by then is inconclusive")
@click.option("--ratio", default=2.0, show_default=True, type=click.FloatRange(min=1.0, min_open=True),
              help="with --until-settled: the smallest change in a rate that counts as better or worse")
@click.option("--suite", default="dark_wake", show_default=True, help="with --until-settled: whose hypotheses")
@click.option("--lab", "lab_path", type=click.Path(dir_okay=False, path_type=Path),
              help="with --until-settled: lab.toml of a real rack (default: the embedded twin lab)")
@click.option("--macs", default="", help="with --until-settled: Mac names or tags (default: all)")
@click.option("--dwell", "dwell_s", type=DURATION, default="45m", show_default=True,
              help="with --until-settled: sleep per cycle")
@dark_wake_every
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="with --until-settled: where the two run folders land (default: the lab's, else ./reports)")
@click.option("--scale", default=200.0, show_default=True, help="twin only: virtual seconds per wall second")
@click.option("--seed", default=1, show_default=True, help="twin only: random seed of the simulated lab")
def compare(base, cand, out_dir, until_settled, max_rounds, ratio, suite, lab_path, macs, dwell_s, dark_wake_every_s,
            reports, scale, seed) -> None:
    """Is CAND better or worse than BASE? Two run folders, or with --until-settled two builds
    run interleaved on the same Macs. Each metric's change, 95 % interval, test and words
    (better / worse / no evidence of change) in compare.html and compare.md."""
    from rig.outcomes import EXIT_INCONCLUSIVE, EXIT_INTERRUPTED

    settled, interrupted = None, False
    if until_settled:
        base_run, cand_run, settled, interrupted = _interleave(base, cand, max_rounds, ratio, suite, lab_path, macs,
                                                               dwell_s, dark_wake_every_s, reports, scale, seed)
    else:
        base_run, cand_run = (_run_dir(v, n) for v, n in ((base, "BASE"), (cand, "CAND")))
    c = _write_pages(base_run, cand_run, out_dir, settled)
    if settled is not None:
        click.echo(f"sequential: {settled['words']}")
        if interrupted:
            click.echo("interrupted: the round under way is not counted; every Mac was left awake")
            sys.exit(EXIT_INTERRUPTED)
        sys.exit({"worse": 1, "better": 0, "equivalent": 0}.get(settled["state"], EXIT_INCONCLUSIVE))
    if c.verdict == "no data":
        sys.exit(EXIT_INCONCLUSIVE)


def _run_dir(value: str, name: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise click.BadParameter(f"{value}: no such run folder (to compare builds by running them, add "
                                 f"--until-settled)", param_hint=name)
    return path


def _write_pages(base_run: Path, cand_run: Path, out_dir, settled):
    from rig.report import compare as pages

    try:
        c = pages.compare_runs(base_run, cand_run)
    except (FileNotFoundError, pages.SameRun) as e:
        raise click.ClickException(str(e))
    c.sequential = settled
    html_path, md_path = pages.write(c, out_dir or cand_run)
    click.echo(f"{c.cand.name} against {c.base.name}: {c.verdict.upper()}")
    for m in c.metrics:
        if m.words != pages.NO_EVIDENCE:
            click.echo(f"  {m.label}: {m.words} (adjusted p {pages.p_text(m.q)})")
    if c.warning:
        click.echo(f"warning: {c.warning}")
    click.echo(f"compare: {html_path}")
    click.echo(f"compare: {md_path}")
    return c


def _interleave(base, cand, max_rounds, ratio, suite, lab_path, macs, dwell_s, dark_wake_every_s, reports, scale,
                seed):
    """Run both builds, a cycle of each per round, until settled
    -> (base run, candidate run, the test's summary, interrupted?)."""
    from rig.cli.main import load_selected, start_twin, stop_on_ctrl_c
    from rig.runner.compare_run import run_interleaved
    from rig.runner.plan import Plan
    from rig.score.suites import SUITES, hypotheses

    if base == cand:
        raise click.UsageError(f"BASE and CAND are the same build ({base}): nothing to compare")
    if suite not in SUITES or not hypotheses(suite):
        known = ", ".join(s for s in SUITES if hypotheses(s))
        raise click.BadParameter(f"suite {suite!r} has no sequential hypotheses (those that do: {known})",
                                 param_hint="--suite")
    twin_builds = base.startswith("twin:") and cand.startswith("twin:")
    twin, res = None, None
    if lab_path is None:
        if not twin_builds:
            raise click.UsageError("without --lab the rig compares on the twin: give twin:MODEL[@LABEL] builds")
        twin, lab_path = start_twin(base.split("@", 1)[0], scale, seed)
    if twin_builds:
        from rig.twin.builds import manifest as package_for   # what a .pkg is to a twin Mac
    else:
        from rig.runner.bisect_steps import real_package as package_for
    try:
        lab, selected = load_selected(lab_path, macs)
        plan = Plan(build=base, cycles=max_rounds, dwell_s=dwell_s, dark_wake_every_s=dark_wake_every_s,
                    gates=list(SUITES[suite]["gates"]))
        out = reports or (lab.reports if lab.path and not lab.is_virtual else Path("reports"))
        stop = stop_on_ctrl_c()

        def say(r) -> None:
            took = ", ".join(f"{role} {r.scored.get(role, 0)} scored" for role in r.order)
            click.echo(f"round {r.number}: {took}: {r.state}" + (f" ({r.error})" if r.error else ""))

        with tempfile.TemporaryDirectory(prefix="rig-compare-") as scratch:
            res = run_interleaved(lab, plan, selected, Path(out), base, cand, suite=suite, max_rounds=max_rounds,
                                  scratch=Path(scratch), ratio=ratio, command=["rig", *sys.argv[1:]],
                                  package_for=package_for, on_round=say, stop=stop)
    finally:
        if twin is not None:
            truth = twin.stop()
            if truth and res is not None:   # the session's truth, both builds' cycles: for tests
                import json

                for folder in (res.base, res.cand):
                    (folder.path / "twin-truth.json").write_text(json.dumps(truth))
            twin.cleanup()
    return res.base.path, res.cand.path, res.settled, stop.is_set()
