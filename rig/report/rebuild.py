"""``rig score RUN``: every derived file of a run folder, the scored ones and the pages.

The score stage writes what it computes (``events.parquet``, ``cycles.csv``, ``scores.json``)
and hands back the redacted data; this stage lays it out (``report.html``, ``summary.md``). The
one entry point every caller uses (``rig run`` at its end, ``rig score``, the pytest session,
compare and trend for a folder not yet derived), so no caller can get scores without pages.
"""
from __future__ import annotations

from rig.report import run_report
from rig.score.derive import score_run


def derive_run(run_dir) -> dict:
    """Re-derive a run folder from its raw logs, journal and ``run.json``; its scores."""
    s = score_run(run_dir)
    run_report.write(s.folder, s.meta, s.scores, s.cycles, s.analyses, s.provenance)
    return s.scores
