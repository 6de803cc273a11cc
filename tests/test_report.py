"""report.html, summary.md and scores.json of a scored twin night with hostile log lines:
self-contained, escaped, masked, complete, short where it must be, and re-derivable byte for byte."""
from __future__ import annotations

from markupsafe import escape as _escape
import json
import re
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from report_runs import IMG, RIG_ERROR_REASON, SCRIPT, SECRET, hostile_run
from rig.cli.main import main
from rig.report.rebuild import derive_run
from rig.run_folder import DERIVED
from rig.outcomes import exit_code


def esc(s) -> str:
    """A string as the pages' templates escape it."""
    return str(_escape(s))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = hostile_run(tmp_path_factory.mktemp("hostile"))
    scores = derive_run(d)
    return d, scores


def page(run) -> str:
    return (run[0] / "report.html").read_text()


def test_the_hostile_strings_really_are_in_the_raw_logs_and_the_journal(run):
    raw = (run[0] / "raw" / "mbp-01" / "001" / "unified.ndjson").read_text()
    assert SCRIPT in raw and IMG in raw and SECRET in raw
    assert RIG_ERROR_REASON in (run[0] / "journal.jsonl").read_text()


def test_log_strings_reach_the_report_escaped_never_as_markup(run):
    h = page(run)
    assert esc(SCRIPT) in h            # shown (in the timeline's tooltips) ...
    assert esc(IMG) in h
    assert "<script" not in h.lower()          # ... and never as markup
    assert "<img" not in h.lower()
    assert "onerror=" not in h.replace(esc(IMG), "")


def test_secrets_matching_the_labs_redaction_patterns_are_masked_everywhere(run):
    d = run[0]
    for name in ("report.html", "summary.md", "scores.json", "cycles.csv"):
        assert "SECRET-9f8e7d" not in (d / name).read_text(), name
    details = pd.read_parquet(d / "events.parquet")["detail"]
    assert not details.str.contains("SECRET-9f8e7d").any()
    assert details.str.contains("[REDACTED]", regex=False).any()


def test_the_report_is_self_contained(run):
    h = page(run)
    assert "Content-Security-Policy" in h and "default-src 'none'" in h
    assert not re.search(r"""(src|href|xlink:href)\s*=\s*["']?(https?:|//|file:)""", h, re.I)
    assert "@import" not in h and "url(" not in h


def test_the_top_of_the_report_says_verdict_build_lab_macs_and_gates_before_anything_else(run):
    h = page(run)
    top = h[: h.index("<h2>Headline</h2>")]
    scores = run[1]
    assert f"{scores['verdict'].upper()}" in top and "twin:naive" in top and "mbp-01, mini-01" in top
    for g in scores["gates"] + scores["rules"]:
        assert esc(g["name"]) in top


def test_every_collected_cycle_has_a_timeline_picture(run):
    h = page(run)
    cycles = pd.read_csv(run[0] / "cycles.csv")
    collected = int(cycles["scorable"].astype(str).eq("True").sum())
    assert collected == 6
    assert h.count('<svg class="tl"') == collected


def test_false_and_true_alerts_are_drawn_differently(run):
    h = page(run)
    assert 'fill="#fff" stroke="#e67e00"' in h          # false alerts: hollow
    assert "false, dark" in h or "false, asleep" in h


def test_rig_errors_are_shown_apart_and_never_scored(run):
    d, scores = run
    assert scores["cycles"] == 7 and scores["cycles_scored"] == 6
    assert scores["unscored"]["rig_error"] == 1
    assert [(e["mac"], e["cycle"]) for e in scores["rig_errors"]] == [("mini-01", 99)]
    assert scores["totals"]["dark_wakes"] == int(pd.read_csv(d / "cycles.csv")["dark_wakes"].sum())
    h = page(run)
    section = h[h.index("<h2>Rig errors and unscored cycles</h2>"):]
    assert esc("<script>window.__xss=3</script>") in section and "[REDACTED]" in section


def test_bad_line_counts_and_the_exact_commands_are_in_the_report(run):
    h = page(run)
    assert "<h2>Log lines</h2>" in h
    collect = json.loads((run[0] / "raw" / "mbp-01" / "001" / "collect.json").read_text())
    assert esc(collect["unified"]["command"]) in h
    assert esc(collect["gateway"]["command"]) in h


def test_summary_is_ten_lines_at_most_with_the_headline_gates_worst_mac_and_link(run):
    text = (run[0] / "summary.md").read_text()
    lines = text.strip().splitlines()
    assert len(lines) <= 10
    assert lines[0].startswith(f"**{run[1]['verdict'].upper()}**")
    for label in ("reconnects in sleep", "false disconnect alerts", "time-to-tunnel p95"):
        assert any(line.startswith(f"- {label}:") and "gate" in line for line in lines), label
    assert any(line.startswith(f"- worst Mac: {run[1]['worst_mac']}") for line in lines)
    assert "[report.html](report.html)" in text


def test_scores_json_has_rates_percentiles_and_outcome_counts(run):
    s = run[1]
    assert s["sleep_hours"] > 0
    assert s["rates_per_sleep_hour"]["reconnects_in_sleep"] == pytest.approx(
        s["totals"]["reconnects_in_sleep"] / s["sleep_hours"])
    assert s["ttt"]["p50"] <= s["ttt"]["p95"] <= s["ttt"]["max"]
    assert sum(s["outcomes"].values()) == s["cycles"]


def test_rig_score_and_rig_report_rebuild_every_derived_file_identically(run, tmp_path):
    src = run[0]
    d = tmp_path / src.name
    shutil.copytree(src, d)
    before = {name: (d / name).read_bytes() for name in DERIVED}
    for name in DERIVED:
        (d / name).unlink()
    res = CliRunner().invoke(main, ["score", str(d)])
    assert res.exit_code == exit_code(json.loads((d / "scores.json").read_text())), res.output
    assert {name: (d / name).read_bytes() for name in DERIVED} == before
    for name in DERIVED:
        (d / name).unlink()
    res = CliRunner().invoke(main, ["report", str(d)])
    assert res.exit_code == 0, res.output
    assert {name: (d / name).read_bytes() for name in DERIVED} == before
