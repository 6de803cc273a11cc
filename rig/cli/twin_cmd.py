"""``rig twin calibrate | whatif | fleet``: a twin calibrated from a lab's own nights, and the
answers it gives (thin: options, print; the work is in ``rig.twin.calibrate``, ``whatif``,
``fleet_rates``)."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from rig.cli.options import DURATION


@click.command("calibrate")
@click.argument("runs", nargs=-1, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--pmset", "pmset_files", multiple=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="a bare `pmset -g log` dump (repeatable): the power side only")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="the profile to write")
@click.option("--min-samples", default=5, show_default=True, type=click.IntRange(2),
              help="fewer samples than this: the parameter keeps the twin's built-in number, and says so")
def calibrate(runs, pmset_files, out, min_samples) -> None:
    """Fit a twin profile from run folders (RUNS) and/or pmset dumps: per Mac group, each
    parameter's distribution, sample size and 95 % interval of its mean."""
    from rig.twin.calibrate import Samples, from_pmset_files, from_run_folders

    if not runs and not pmset_files:
        raise click.UsageError("give run folders, or --pmset FILE for bare pmset dumps")
    t0 = time.perf_counter()
    samples = Samples()
    try:
        from_run_folders(runs, min_samples, samples)
    except (FileNotFoundError, KeyError) as e:
        raise click.ClickException(f"not a run folder: {e}")
    _, rejected = from_pmset_files(pmset_files, min_samples, samples)
    prof = samples.profile([*runs, *pmset_files], min_samples)
    prof.write(out)
    for group, params in prof.groups.items():
        click.echo(f"{group}:")
        for name, p in params.items():
            ci = "" if p.n < 2 else f" [{p.ci95[0]:.3g}, {p.ci95[1]:.3g}]"
            click.echo(f"  {name:22} n={p.n:<5} mean {p.mean:.4g}{ci}  {p.source}: {p.note}")
    for f, n in rejected.items():
        if n:
            click.echo(f"warning: {f}: {n} lines rejected (not pmset's format)")
    click.echo(f"calibrated from {len(runs)} run folders and {len(pmset_files)} pmset files in "
               f"{time.perf_counter() - t0:.2f} s")
    click.echo(f"profile: {out}")


@click.command("whatif")
@click.option("--profile", "profile_path", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--vary", "varies", multiple=True, required=True,
              help="NAME=V1,V2,… (dpd-timeout, dark-wake-interval; durations), once or twice")
@click.option("--build", default="naive", show_default=True, help="the twin build model")
@click.option("--macs", default=2, show_default=True, type=click.IntRange(1))
@click.option("--nights", default=2, show_default=True, type=click.IntRange(1))
@click.option("--cycles-per-night", default=8, show_default=True, type=click.IntRange(1))
@click.option("--dwell", "dwell_s", type=DURATION, default="1h", show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports/whatif"),
              show_default=True, help="where whatif.html, whatif.md and the cells' run folders go")
def whatif(profile_path, varies, build, macs, nights, cycles_per_night, dwell_s, seed, out) -> None:
    """What a change to the gateway or the Macs would do, on this lab's profile: a table and a
    chart per Mac-night, every cell scored by the rig and checked against the twin's truth."""
    from rig.twin import profile, whatif as w

    try:
        specs = [w.parse_vary(v) for v in varies]
        prof = profile.load(profile_path)
    except ValueError as e:
        raise click.BadParameter(str(e))
    if len(specs) > 2:
        raise click.BadParameter("vary at most two variables (a table has two sides)", param_hint="--vary")
    build = build.split(":", 1)[1] if build.startswith("twin:") else build
    try:
        cells = w.grid(profile_path, prof, specs, build=build, macs=macs, nights=nights, cycles=cycles_per_night,
                       dwell_s=dwell_s, seed=seed, out=out / "cells")
    except ValueError as e:
        raise click.ClickException(str(e))
    html_path, md_path = w.write(cells, specs, build, profile_path, out)
    click.echo(md_path.read_text())
    click.echo(f"whatif: {html_path}")


@click.command("fleet")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="a twin profile (default: the twin's built-in numbers)")
@click.option("--build", default="naive", show_default=True, help="the twin build model")
@click.option("--hours-asleep", default=14.0, show_default=True, help="hours a fleet Mac sleeps a day")
@click.option("--macs", default=4, show_default=True, type=click.IntRange(1))
@click.option("--days", default=25, show_default=True, type=click.IntRange(1), help="days per simulated Mac")
@click.option("--seed", default=1, show_default=True)
def fleet(profile_path, build, hours_asleep, macs, days, seed) -> None:
    """Expected false alerts and reconnects per 1,000 Mac-days for a build, with a 95 % interval."""
    from rig.twin.fleet_rates import estimate

    build = build.split(":", 1)[1] if build.startswith("twin:") else build
    with tempfile.TemporaryDirectory(prefix="rig-fleet-") as tmp:
        try:
            est = estimate(profile_path, build, hours_asleep, macs=macs, days=days, seed=seed, out=Path(tmp))
        except ValueError as e:
            raise click.BadParameter(str(e))
    click.echo(est.text())

