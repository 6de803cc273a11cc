"""``rig compare``: is one build better or worse than another? (thin: options, print, exit code)."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("compare")
@click.argument("base_run", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("cand_run", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where compare.html and compare.md go (default: the candidate's run folder)")
def compare(base_run, cand_run, out_dir) -> None:
    """Is CAND_RUN's build better or worse than BASE_RUN's? Each metric's change, 95 % interval,
    test, and words (better / worse / no evidence of change) in compare.html and compare.md."""
    from rig.report import compare

    from rig.outcomes import EXIT_INCONCLUSIVE

    try:
        c = compare.compare_runs(base_run, cand_run)
    except (FileNotFoundError, compare.SameRun) as e:
        raise click.ClickException(str(e))
    html_path, md_path = compare.write(c, out_dir or cand_run)
    click.echo(f"{c.cand.name} against {c.base.name}: {c.verdict.upper()}")
    for m in c.metrics:
        if m.words != compare.NO_EVIDENCE:
            click.echo(f"  {m.label}: {m.words} (adjusted p {compare.p_text(m.q)})")
    if c.warning:
        click.echo(f"warning: {c.warning}")
    click.echo(f"compare: {html_path}")
    click.echo(f"compare: {md_path}")
    if c.verdict == compare.NO_DATA:
        sys.exit(EXIT_INCONCLUSIVE)
