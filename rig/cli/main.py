"""The ``rig`` command line (click): run, score, report, parse.

``rig run`` with no ``--lab`` starts the embedded twin lab (simulated Macs, actuator, gateway)
and runs on it; with ``--lab FILE`` it drives the rack the file describes.
"""
from __future__ import annotations

import gc
import signal
import sys
import threading
from pathlib import Path

import click

from rig import __version__
from rig.cli.lazy import LazyGroup
from rig.cli.options import DURATION, dark_wake_every


def _fmt_cycle(rec: dict, total: int) -> str:
    if rec.get("outcome") in ("rig_error", "dut_hang", "unknown") and "sleep_s" not in rec:
        return f"{rec['mac']:<8}  cycle {rec['cycle']}/{total}  {rec['outcome'].upper()}: {rec.get('reason', '')}"
    ttt = rec.get("ttt_s")
    ttt_txt = "censored" if rec.get("ttt_censored") else (f"{ttt:.2f} s" if ttt is not None else "n/a")
    mins = (rec.get("sleep_s") or 0) / 60
    return (f"{rec['mac']:<8}  cycle {rec['cycle']}/{total}  sleep {mins:.0f}m ({rec.get('dark_wakes', 0)} dark wakes)"
            f"  reconnects {rec.get('reconnects_in_sleep', 0)}  false alerts {rec.get('false_alerts', 0)}"
            f"  TTT {ttt_txt}  {str(rec.get('outcome', '')).upper()}")


@click.group(cls=LazyGroup, lazy={
    "actuator": "rig.cli.actuator_cmd:actuator", "bisect": "rig.cli.bisect_cmd:bisect",
    "compare": "rig.cli.compare_cmd:compare", "lease": "rig.cli.lease_cmd:lease"})
@click.version_option(__version__, prog_name="rig")
def main() -> None:
    """Sleep/wake test rig for macOS network extensions."""


@main.command()
@click.option("--lab", "lab_path", type=click.Path(dir_okay=False, path_type=Path),
              help="lab.toml of a real rack (default: start the embedded twin lab)")
@click.option("--build", default="twin:naive", show_default=True,
              help="build under test; on the twin, twin:MODEL picks the extension model")
@click.option("--cycles", default=2, show_default=True, type=click.IntRange(1))
@click.option("--dwell", "dwell_s", type=DURATION, default="45m", show_default=True, help="sleep per cycle (45m, 2h, 90s)")
@dark_wake_every
@click.option("--macs", default="", help="comma-separated Mac names or tags (default: all)")
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where run folders land (default: the lab's, else ./reports)")
@click.option("--resume", "resume", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="continue an interrupted run folder")
@click.option("--scale", default=200.0, show_default=True, help="twin only: virtual seconds per wall second")
@click.option("--seed", default=1, show_default=True, help="twin only: random seed of the simulated lab")
@click.option("--hang-limit", default=2, show_default=True, type=click.IntRange(1),
              help="hangs after which a Mac is marked unhealthy and skipped for the rest of the run")
@click.option("--retries", default=1, show_default=True, type=click.IntRange(0),
              help="times a cycle that ended rig_error (the rig's fault) is run again")
@click.option("--until-settled", is_flag=True,
              help="stop each Mac once the suite's sequential test settles PASS or FAIL")
@click.option("--max-cycles", default=12, show_default=True, type=click.IntRange(1),
              help="with --until-settled: the most cycles a Mac runs; unsettled by then is inconclusive")
@click.option("--twin-profile", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="twin only: a profile from `rig twin calibrate` (the twin draws this lab's numbers)")
@click.option("-q", "--quiet", is_flag=True, help="no progress (cycle results and the report path only)")
@click.option("--coordinator", default=None, metavar="HOST:PORT", help="labgrid coordinator: Macs are its places")
@click.option("--wait-lease", default=0.0, show_default=True, help="seconds to wait for a Mac another run holds")
@click.option("--lease-priority", default=0.0, show_default=True,
              help="with a coordinator: rank among runs waiting for a Mac (higher goes first)")
def run(lab_path, build, cycles, dwell_s, dark_wake_every_s, macs, reports, resume, scale, seed, hang_limit, retries, until_settled,
        max_cycles, twin_profile, quiet, coordinator, wait_lease, lease_priority) -> None:
    """Run sleep/wake cycles and write a run folder with a report."""
    from rig.runner.plan import Plan
    from rig.score.gates import Gate
    from rig.runner.run import start_run
    from rig.run_folder import RunFolder
    from rig.score.suites import SUITES

    from rig.outcomes import EXIT_DISK, EXIT_INTERRUPTED, RunFolderError, exit_code

    meta = None
    folder_error = None
    if resume:
        try:
            meta = RunFolder(resume).meta()
        except FileNotFoundError as e:
            raise click.ClickException(str(e))
        build, cycles = meta["build"], meta["plan"]["cycles"]
        if lab_path is None and not meta["lab"].get("virtual"):
            raise click.UsageError(f"{resume} ran on lab {meta['lab']['name']!r}: give its lab file with --lab")
    twin = None
    if lab_path is None:
        twin, lab_path = start_twin(build, scale, seed, twin_profile)
    elif twin_profile:
        raise click.UsageError("--twin-profile is for the twin: a lab file's Macs are real")
    folder = None
    try:
        lab, selected = _lab_for_run(lab_path, list(meta["macs"]) if meta else [m for m in macs.split(",") if m],
                                     coordinator, wait_lease, lease_priority)
        if meta:
            plan = Plan(**meta["plan"], gates=[Gate.from_dict(g) for g in meta["gates"]])
            folder = RunFolder(resume)
            click.echo(f"resuming {folder.path.name}: {plan.cycles} cycles per Mac, finished cycles kept")
        else:
            plan = Plan(build=build, cycles=max_cycles if until_settled else cycles, dwell_s=dwell_s,
                        dark_wake_every_s=dark_wake_every_s,
                        gates=list(SUITES["dark_wake"]["gates"]), hang_limit=hang_limit, rig_retries=retries,
                        until_settled=until_settled)
        stop = stop_on_ctrl_c()
        try:
            if folder is None:
                out = reports or (lab.reports if lab.path and not lab.is_virtual else Path("reports"))
                folder = start_run(lab, plan, out, command=["rig", *sys.argv[1:]], macs=selected,
                                   extra=_twin_profile_meta(twin_profile))
            scores = _drive_with_progress(lab, folder, plan, selected, stop, quiet)
        except RunFolderError as e:
            folder_error = e
            then = (f"free space, then resume with: rig run --resume {folder.path}" if folder is not None
                    else "free space and run again")
            click.echo(f"stopped: {e}. Every finished cycle is kept and every Mac was left awake; {then}")
            return
        _echo_verdict(scores)
        if stop.is_set():
            click.echo(f"interrupted: every Mac finished its step and was left awake; "
                       f"resume with: rig run --resume {folder.path}")
        click.echo(f"report: {folder.report_html}")
    finally:
        if twin is not None:
            truth = twin.stop()
            if truth and folder is not None and folder_error is None:
                import json

                (folder.path / "twin-truth.json").write_text(json.dumps(truth))
            twin.cleanup()
        if folder_error is not None:
            sys.exit(EXIT_DISK)
    sys.exit(EXIT_INTERRUPTED if stop.is_set() else exit_code(scores))


def _lab_for_run(lab_path: Path, wanted: list[str], coordinator: str | None, wait_s: float, prio: float):
    """The lab a run drives, with its lease options, and the Macs it selected (:func:`load_selected`):
    a lab that cannot be held as asked is an error now, before a run folder is made that would
    stay empty."""
    from dataclasses import replace

    from rig.lab.lease_backend import why_not_holdable

    lab, selected = load_selected(lab_path, ",".join(wanted))
    lab = replace(lab, coordinator=coordinator or lab.coordinator, lease_wait_s=wait_s, lease_priority=prio)
    unholdable = why_not_holdable(lab, selected)
    if unholdable:
        raise click.ClickException(unholdable)
    return lab, selected


def start_twin(build: str, scale: float, seed: int, profile: Path | None = None):
    """Start the embedded twin lab (the one place ``rig run`` starts it): (process, lab file);
    ``profile``: a twin profile (``rig twin calibrate``) the twin draws its numbers from."""
    if not build.startswith("twin:"):
        raise click.UsageError("without --lab the rig runs on the twin: use --build twin:MODEL")
    from rig.lab.inventory import load_lab
    from rig.twin.launch import TwinProcess  # the code that starts the twin
    from rig.twin.serve import TwinConfig

    try:
        cfg = TwinConfig(build=build.split(":", 1)[1], scale=scale, seed=seed, profile=str(profile or ""))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--twin-profile")
    twin = TwinProcess(cfg)
    try:
        lab_path = twin.start()
    except (RuntimeError, ValueError) as e:
        raise click.ClickException(f"twin lab did not start: {e}")
    click.echo(f"twin lab: {len(load_lab(lab_path).macs)} Macs, clock x{scale:g}, build {build}")
    return twin, lab_path


def _twin_profile_meta(path) -> dict | None:
    """run.json's record of the twin profile a twin run drew from (None: none)."""
    if not path:
        return None
    from rig.twin.profile import record

    return {"twin": {"profile": record(path)}}


def load_selected(lab_path, macs: str):
    """The lab file and the Macs named (or tagged) in ``macs`` (all when empty); a broken lab
    file or an unknown name is the command's error, naming the field."""
    from rig.lab.inventory import LabError, load_lab

    try:
        lab = load_lab(lab_path)
        return lab, lab.select([m for m in macs.split(",") if m])
    except LabError as e:
        raise click.ClickException(str(e))


def stop_on_ctrl_c() -> threading.Event:
    """First Ctrl-C: finish the current step, wake what was put to sleep, journal the cycle as
    interrupted. A second one is the default KeyboardInterrupt."""
    stop = threading.Event()

    def on_sigint(*_):
        stop.set()
        click.echo("stopping: finishing the current step of every Mac (Ctrl-C again to abort)", err=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, on_sigint)
    return stop


def _drive_with_progress(lab, folder, plan, selected, stop: threading.Event, quiet: bool) -> dict:
    """Drive the run with progress on stderr (redrawn lines on a terminal, timestamped lines in
    CI) and each cycle's result on stdout, printed around the redrawn block."""
    from rig.lab.coordinator import CoordinatorError
    from rig.lab.lease import LeaseBusy
    from rig.runner.progress import Progress
    from rig.runner.run import drive

    progress = Progress(quiet=quiet, refresh_s=1.0)
    wall_per_cycle = (plan.dwell_s + plan.grace_s + 120) / lab.clock().scale
    for m in selected:
        progress.plan(m.name, plan.cycles, wall_per_cycle)

    def cycle_done(rec: dict) -> None:
        progress.on_cycle(rec)
        progress.pause()
        click.echo(_fmt_cycle(rec, plan.cycles))
        progress.resume()

    try:
        return drive(lab, folder, plan, selected, stop=stop, on_cycle=cycle_done, on_step=progress.on_step)
    except (LeaseBusy, CoordinatorError) as e:
        raise click.ClickException(str(e))
    finally:
        progress.close()


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
def score(run_dir) -> None:
    """Re-derive events, cycles, scores and reports of RUN_DIR from raw/ and the journal."""
    from rig.report.rebuild import derive_run

    from rig.outcomes import exit_code

    s = derive_run(run_dir)
    _echo_verdict(s, f"  ({s['cycles_scored']}/{s['cycles']} cycles scored)")
    sys.exit(exit_code(s))


def _echo_verdict(scores: dict, tail: str = "") -> None:
    """The verdict line, the sequential test's result in words, and each exposure shortfall."""
    click.echo(f"verdict: {scores['verdict'].upper()}{tail}")
    if scores.get("settled"):
        click.echo(f"sequential: {scores['settled']['words']}")
    for why in (scores.get("exposure") or {}).get("short", []):
        click.echo(f"exposure: {why}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
def report(run_dir) -> None:
    """Rebuild report.html and summary.md of RUN_DIR (re-deriving what they need)."""
    from rig.report.rebuild import derive_run

    derive_run(run_dir)
    click.echo(f"report: {Path(run_dir) / 'report.html'}")



@main.command()
@click.option("--lab", "lab_path", type=click.Path(dir_okay=False, path_type=Path),
              help="lab.toml of a real rack (default: start the embedded twin lab)")
@click.option("--macs", default="", help="comma-separated Mac names or tags (default: all)")
@click.option("--build", default=None, help="also check the extension is at this build")
@click.option("--fix", is_flag=True, help="apply the safe fixes (pmset settings, log persistence)")
def doctor(lab_path, macs, build, fix) -> None:
    """Check every entry of a lab (SSH, host keys, actuators, gateway, extension, clocks, settings)."""
    from rig.runner.doctor import run_doctor, table

    twin = None
    if lab_path is None:
        from rig.twin.launch import TwinProcess  # the code that starts the twin

        twin = TwinProcess()
        lab_path = twin.start()
    try:
        lab, selected = load_selected(lab_path, macs)
        findings = run_doctor(lab, selected, build, fix)
        click.echo(table(findings))
        bad = [x for x in findings if x.status == "fail"]
    finally:
        if twin is not None:
            twin.stop()
            twin.cleanup()
    sys.exit(1 if bad else 0)


@main.command("parse")
@click.option("--source", required=True, metavar="pmset|unified|gateway[:FORMAT]",
              help="what the files are; a gateway's FORMAT is ocserv (default), strongswan or jsonl")
@click.argument("files", nargs=-1, required=True)
@click.option("--signatures", default=None, metavar="FILE",
              help="unified only: the product's signature file (maps its records to event kinds)")
@click.option("--format", "out_format", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--host", default=None, help="the host column (default: each file's name without suffix)")
@click.option("--clients", default="", metavar="USER=MAC,...", help="gateway only: gateway user -> Mac")
@click.option("--other", "with_other", is_flag=True, help="also print rows of kind other")
def parse(source, files, signatures, out_format, host, clients, with_other) -> None:
    """Print the canonical events of log FILES (times in UTC); on stderr, what became of every line."""
    # a one-shot command that makes no reference cycles: the cycle collector would only walk
    # the rows again and again as they pile up (~10 % of the command's time on a night's log)
    gc.disable()
    from rig.cli.parse import BadOption, CannotRead, run as run_parse  # lean: no pandas on this path

    try:
        code = run_parse(source, list(files), signatures=signatures, out_format=out_format, host=host,
                         clients=clients, with_other=with_other, stdout=sys.stdout, stderr=sys.stderr)
    except BadOption as e:
        raise click.UsageError(str(e))
    except CannotRead as e:
        raise click.ClickException(str(e))
    sys.exit(code)


@main.group(cls=LazyGroup, lazy={
    "calibrate": "rig.cli.twin_cmd:calibrate", "fleet": "rig.cli.twin_cmd:fleet",
    "whatif": "rig.cli.twin_cmd:whatif"})
def twin() -> None:
    """The simulated lab on its own (no hardware, no SSH)."""


@twin.command("simulate")
@click.option("--build", "model", default="naive", show_default=True,
              help="extension build model (naive, darkwake-aware, lazy, flaky-handshake, keepalive-offload, "
                   "zombie); twin:MODEL also accepted")
@click.option("--nights", default=1, show_default=True, type=click.IntRange(1), help="nights per Mac")
@click.option("--macs", "n_macs", default=1, show_default=True, type=click.IntRange(1), help="Macs in the lab")
@click.option("--cycles-per-night", default=8, show_default=True, type=click.IntRange(1))
@click.option("--dwell", "dwell_s", type=DURATION, default="1h", show_default=True, help="sleep per cycle (45m, 1h, 90s)")
@dark_wake_every
@click.option("--dpd-timeout", default=30, show_default=True, type=click.IntRange(1),
              help="the gateway's DPD setting in seconds (a silent session is torn down after 3x this)")
@click.option("--dark-wake-interval", "interval_s", type=DURATION, default="15m", show_default=True,
              help="mean time between maintenance dark wakes (15m, 900s)")
@click.option("--network-change", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="chance that a wake from sleep finds the Mac on another network")
@click.option("--seed", default=1, show_default=True, help="random seed (same seed, same bytes)")
@click.option("--profile", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="a twin profile (rig twin calibrate): draw this lab's numbers (--dpd-timeout, if given, wins)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where the run folder and truth.json go (default: reports/sim-MODEL-seedN)")
@click.option("--score/--no-score", default=True, show_default=True, help="score the run folder afterwards")
@click.option("--until-settled", is_flag=True,
              help="stop each Mac once the suite's sequential test settles (nights x cycles are the most)")
@click.option("--max-cycles", default=0, type=click.IntRange(0),
              help="the most cycles per Mac (default: nights x cycles per night)")
def twin_simulate(model, nights, n_macs, cycles_per_night, dwell_s, dark_wake_every_s, dpd_timeout, interval_s, network_change,
                  seed, profile, out, score, until_settled, max_cycles) -> None:
    """Run Mac-nights on virtual time, as fast as the CPU allows; write a run folder the rig
    scores unchanged (rig score RUN), and the twin's ground truth next to it."""
    import time

    from rig.twin.serve import TwinConfig
    from rig.twin.simulate import SimPlan, fleet, simulate

    model = model.split(":", 1)[1] if model.startswith("twin:") else model
    macs = fleet(n_macs)
    for m in macs:
        m.network_change = network_change
    try:
        cfg = TwinConfig(build=model, seed=seed, macs=macs, dpd_s=dpd_timeout, dark_interval_s=interval_s,
                         profile=str(profile or ""))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--profile")
    if profile and click.get_current_context().get_parameter_source("dpd_timeout").name == "COMMANDLINE":
        cfg.dpd_s = dpd_timeout
    if max_cycles:   # enough nights for the cycles asked for
        nights = max(nights, -(-max_cycles // cycles_per_night))
    plan = SimPlan(nights=nights, cycles_per_night=cycles_per_night, dwell_s=dwell_s,
                   dark_wake_every_s=dark_wake_every_s, until_settled=until_settled, max_cycles=max_cycles)
    out = out or Path("reports") / f"sim-{model}-seed{seed}"
    t0 = time.perf_counter()
    try:
        sim = simulate(cfg, plan, out, command=["rig", *sys.argv[1:]])
    except (ValueError, FileExistsError) as e:
        raise click.ClickException(str(e))
    wall = time.perf_counter() - t0
    click.echo(f"simulated {sim.mac_nights} Mac-nights ({sim.cycles} cycles, {sim.virtual_s / 3600:.1f} Mac-hours) "
               f"in {wall:.2f} s: x{sim.virtual_s / wall:,.0f} real time")
    click.echo(f"run: {sim.run_dir}")
    click.echo(f"truth: {sim.truth_path}")
    if score:
        from rig.report.rebuild import derive_run

        s = derive_run(sim.run_dir)
        _echo_verdict(s, f"  ({s['cycles_scored']}/{s['cycles']} cycles scored)")



@main.command("trend")
@click.argument("reports_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where trend.parquet and trend.html go (default: REPORTS_DIR)")
@click.option("--rack", default=None, help="only runs of this rack ([lab] rack, default the lab's name)")
@click.option("--controller", default=None, metavar="HOST/USER", help="only runs of this controller")
@click.option("--model", default=None, help="only runs with a Mac of this model (sysctl hw.model, e.g. Mac15,3)")
@click.option("--macos", default=None, help="only runs with a Mac on this macOS version (e.g. 15.3)")
@click.option("--build", default=None, help="only runs of this build")
def trend_cmd(reports_dir, out_dir, rack, controller, model, macos, build) -> None:
    """Index every run folder in REPORTS_DIR (or REPORTS_DIR/<group>/<run>) into trend.parquet,
    reading only new or changed folders, and draw each headline metric over time per build, with
    its gate (trend.html), for all runs or those matching the filters."""
    from rig.report import trend
    from rig.report.trend_index import select

    filters = dict(rack=rack, controller=controller, model=model, macos=macos, build=build)
    pq, page, idx = trend.write(reports_dir, out_dir, **filters)
    shown = len(select(idx.runs, **filters)) if any(filters.values()) else len(idx.runs)
    click.echo(f"indexed {len(idx.runs)} runs ({len(set(idx.runs['build'])) if len(idx.runs) else 0} builds; "
               f"{idx.read} read, {len(idx.runs) - idx.read} unchanged)"
               + (f", {len(idx.skipped)} folders skipped (listed in the page)" if idx.skipped else ""))
    if any(filters.values()):
        click.echo(f"shown: {shown} runs matching " + ", ".join(f"{k}={v}" for k, v in filters.items() if v))
    click.echo(f"index: {pq}")
    click.echo(f"trend: {page}")


@main.command()
@click.option("--lab", "lab_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--build", "pkg", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="the package to install (a .pkg; on the twin, a build manifest from its pkgs/ folder)")
@click.option("--expect", default=None, help="version systemextensionsctl must show (default: from the file name)")
@click.option("--macs", default="", help="comma-separated Mac names or tags (default: all)")
def install(lab_path, pkg, expect, macs) -> None:
    """Install a build of the extension on Macs over SFTP and verify the running version."""
    from rig.runner.install import expected_version, install as do_install
    from rig.lab.inventory import LabError, load_lab
    from rig.outcomes import RigError

    try:
        lab = load_lab(lab_path)
        selected = lab.select([m for m in macs.split(",") if m])
        want = expect or expected_version(pkg)
    except (LabError, RigError) as e:
        raise click.ClickException(str(e))
    results = [do_install(lab, m, pkg, want) for m in selected]
    for r in results:
        click.echo(f"{r.mac:<10} {'OK' if r.ok else 'FAILED':<7} {r.installed or r.detail}")
    sys.exit(0 if all(r.ok for r in results) else 1)


if __name__ == "__main__":
    main()
