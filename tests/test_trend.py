"""The nightly trend: a reports/ folder of run folders -> trend.parquet and trend.html."""
from __future__ import annotations

from markupsafe import escape as _escape
import json
import re
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from report_runs import simulated_run
from rig.report import trend
from rig.cli.main import main
from rig.report.rebuild import derive_run


def esc(s) -> str:
    """A string as the pages' templates escape it."""
    return str(_escape(s))

NIGHTS = 4


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Four nights each of naive and darkwake-aware (one simulated night per build, re-dated), a
    run whose scores.json is missing, a folder that is not a run, and a hostile build name."""
    root = tmp_path_factory.mktemp("reports")
    sims = {}
    for build in ("naive", "darkwake-aware"):
        run, _ = simulated_run(tmp_path_factory.mktemp(build), build, macs=1, cycles=2)
        derive_run(run)
        sims[build] = run
    for day in range(1, NIGHTS + 1):
        for build, src in sims.items():
            dst = root / f"2026-12-{day:02d}T2100-{build}"
            shutil.copytree(src, dst)
            meta = json.loads((dst / "run.json").read_text())
            meta.update(started=f"2026-12-{day:02d}T21:00:00+00:00", run_id=dst.name)
            (dst / "run.json").write_text(json.dumps(meta))
    (root / f"2026-12-0{NIGHTS}T2100-naive" / "scores.json").unlink()
    hostile = root / "2026-12-02T2200-hostile"
    shutil.copytree(sims["naive"], hostile)
    meta = json.loads((hostile / "run.json").read_text())
    meta.update(started="2026-12-02T22:00:00+00:00", run_id=hostile.name, build="<script>x()</script>")
    (hostile / "run.json").write_text(json.dumps(meta))
    (root / "notes").mkdir()
    (root / "README.md").write_text("run folders land here\n")
    return root


@pytest.fixture(scope="module")
def written(reports):
    res = CliRunner().invoke(main, ["trend", str(reports)])
    assert res.exit_code == 0, res.output
    return res.output, pd.read_parquet(reports / "trend.parquet"), (reports / "trend.html").read_text()


def test_every_run_folder_is_indexed_with_build_date_lab_and_metrics(written, reports):
    _, idx, _ = written
    assert len(idx) == 2 * NIGHTS + 1
    assert list(idx["started"]) == sorted(idx["started"])
    for r in idx.to_dict("records"):
        scores = json.loads((reports / r["path"] / "scores.json").read_text())
        assert r["lab"] == "twin" and r["verdict"] == scores["verdict"]
        assert r["reconnects_in_sleep_per_h"] == pytest.approx(scores["rates_per_sleep_hour"]["reconnects_in_sleep"])
        assert r["ttt_p95_s"] == pytest.approx(scores["ttt"]["p95"])
        assert [g["name"] for g in json.loads(r["gates_json"])] == [g["name"] for g in scores["gates"]]


def test_a_run_without_scores_json_is_re_derived_from_raw(written, reports):
    _, idx, _ = written
    assert (reports / f"2026-12-0{NIGHTS}T2100-naive" / "scores.json").exists()
    assert f"2026-12-0{NIGHTS}T2100-naive" in set(idx["run_id"])


def test_a_folder_that_is_not_a_run_is_listed_not_fatal(written):
    out, _, page = written
    assert "1 folders skipped" in out
    assert "notes: not a run folder (no run.json)" in page


def test_each_headline_metric_is_drawn_per_build_with_its_gate(written):
    _, _, page = written
    for _, title, _ in trend.HEADLINE_GATES:
        assert f"<h3>{esc(title)}</h3><svg" in page
    assert page.count('class="gate">gate') == len(trend.HEADLINE_GATES)
    assert page.count("<circle") >= 3 * (2 * NIGHTS + 1)
    assert "twin:naive" in page and "twin:darkwake-aware" in page


def test_the_trend_page_is_self_contained_and_escaped(written):
    _, _, page = written
    assert "default-src 'none'" in page
    assert "<script" not in page and esc("<script>x()</script>") in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page, re.I)
