"""HTML from templates with autoescaping: a hostile string reaches every page escaped, by
construction, and the report modules build no markup of their own."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import pandas as pd
from markupsafe import Markup, escape

from rig.report import compare, svg_timeline
from rig.report.templating import ENV, El, Span, page, svg

HOSTILE = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>"
REPORT = Path(__file__).resolve().parents[1] / "rig" / "report"


def test_the_environment_escapes_every_template_and_string():
    assert ENV.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert ENV.autoescape("anything.j2") and ENV.autoescape("page.html") and ENV.autoescape(None)
    html = page(HOSTILE, "report.css", [{"kind": "p", "text": [HOSTILE, Span(HOSTILE, "x")], "cls": ""}])
    assert "<script>" not in html and "<img" not in html and html.count(str(escape(HOSTILE))) == 3


def test_svg_attributes_titles_and_text_are_escaped():
    pic = svg([El("text", {"x": 1.25, "class": 'a" onload="x'}, title=HOSTILE, text=HOSTILE)], width=10, height=10)
    assert isinstance(pic, Markup)
    assert "<script>" not in pic and 'onload="x"' not in pic and str(escape(HOSTILE)) in pic
    assert 'x="1.2"' in pic or 'x="1.3"' in pic


def _side(build: str, seed: int) -> compare.Side:
    rng = np.random.default_rng(seed)
    cycles = pd.DataFrame({"mac": "m", "cycle": np.arange(1, 9), "outcome": "pass", "sleep_s": 3600.0,
                           "reconnects_in_sleep": rng.poisson(1, 8), "false_alerts": 0, "true_alerts": 0,
                           "dpd_terminations": 0, "handshakes_in_sleep": 0, "ttt_censored": False,
                           "ttt_s": 1 + rng.uniform(0, 0.3, 8), "zombie_s": 0.0})
    meta = {"build": build, "run_id": build, "lab": {"name": HOSTILE}}
    return compare.Side(Path(build), meta, cycles, 8.0, 60.0)


def test_a_hostile_build_and_lab_name_reach_compare_html_escaped():
    c = compare.compare(_side("base" + HOSTILE, 1), _side("cand", 2))
    html = compare.render_html(c)
    assert "<script>" not in html and "<img" not in html
    assert str(escape("base" + HOSTILE)) in html and str(escape(HOSTILE)) in html


def test_the_report_modules_write_no_markup_by_hand():
    """Tags live in templates/: no module of rig/report escapes by hand or builds an HTML tag in a
    string (an SVG's element names are data for svg.j2, not markup)."""
    offenders = []
    for p in sorted(REPORT.glob("*.py")):
        text = p.read_text()
        if "html.escape" in text or re.search(r"^import html$", text, re.M):
            offenders.append(f"{p.name}: escapes by hand")
        if re.search(r"""["']<(/?)(html|body|table|tr|td|th|p|h[1-6]|span|div|svg|rect|line|text|title|path)\b""", text):
            offenders.append(f"{p.name}: builds a tag in a string")
    assert offenders == []
    assert svg_timeline.legend()["kind"] == "legend"


# ---- a hostile run folder, end to end -------------------------------------------------------------

SCRIPT_P = "<script>alert(1)</script>"
IMG_P = '"><img src=x onerror=alert(1)>'
TOKEN = "token=SECRET123"
MD_P = "`](http://evil.example) **bold** <img src=y> ``"   # leaves a one-backtick code span


def _hostile_folder(out: Path) -> Path:
    """A short twin night whose inputs carry the payloads and a token: unified-log messages (a
    reason, a session id, a whole message), a rig error's reason and a recovery error in the
    journal, run.json's command line and its build (Mac names are checked names: no payload)."""
    import json

    from report_runs import edit_messages, simulated_run
    from rig.journal import Journal

    run, _ = simulated_run(out, macs=1, cycles=2)
    edit_messages(run / "raw" / "mbp-01" / "001" / "unified.ndjson", [
        ("alert", lambda m, done: m.startswith("ALERT Session Disconnected"),
         lambda m: m.rsplit("reason=", 1)[0] + "reason=" + SCRIPT_P + TOKEN),
        ("session", lambda m, done: m.startswith("Handshake started") and "alert" in done,
         lambda m: f"Handshake started session={TOKEN} gateway=gw-twin"),
        ("other", lambda m, done: m.startswith("Keepalive sent"),
         lambda m: f"unmatched {IMG_P} {TOKEN} {SCRIPT_P}"),      # no rule: detail is the message
    ])
    meta = json.loads((run / "run.json").read_text())
    assert any(re.fullmatch(p, TOKEN) for p in meta["redact"])       # the lab masks (?i)token=\S+
    meta["build"] = "b" + SCRIPT_P + IMG_P + MD_P + " " + TOKEN
    meta["command"] = ["rig", "run", f"--{TOKEN}", SCRIPT_P]
    (run / "run.json").write_text(json.dumps(meta))
    j = Journal(run / "journal.jsonl")
    t = json.loads((run / "journal.jsonl").read_text().splitlines()[-1])["t"] + 10.0
    j.append({"type": "recovery", "mac": "mbp-01", "cycle": 2, "step": "reboot", "error": f"{IMG_P} {TOKEN}"})
    j.append({"type": "cycle_start", "mac": "mbp-01", "cycle": 99, "t": t, "outcome": "unknown", "build": meta["build"]})
    j.append({"type": "cycle_end", "mac": "mbp-01", "cycle": 99, "t": t + 5, "outcome": "rig_error",
              "collected": False, "reason": f"collect: {SCRIPT_P} {IMG_P} gateway said {TOKEN}"})
    j.close()
    return run


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Every output of the hostile folder: its derived files, compare and trend pages over it."""
    import shutil

    from report_runs import simulated_run
    from rig.report import trend
    from rig.report.rebuild import derive_run

    root = tmp_path_factory.mktemp("escaping")
    run = _hostile_folder(root / "sim")
    derive_run(run)
    other, _ = simulated_run(root / "other", "darkwake-aware", macs=1, cycles=2, seed=9)   # another night
    derive_run(other)
    cmp_dir = root / "cmp"
    compare.write(compare.compare_runs(other, run), cmp_dir)
    reports = root / "reports"
    reports.mkdir()
    shutil.copytree(run, reports / run.name)
    trend.write(reports, root / "trend")
    return run, {"report.html": run / "report.html", "summary.md": run / "summary.md",
                 "scores.json": run / "scores.json", "cycles.csv": run / "cycles.csv",
                 "events.parquet": run / "events.parquet", "compare.html": cmp_dir / "compare.html",
                 "compare.md": cmp_dir / "compare.md", "trend.html": root / "trend" / "trend.html",
                 "trend.parquet": root / "trend" / "trend.parquet"}


def test_no_payload_reaches_any_page_as_markup_and_each_is_shown_escaped(outputs):
    _, files = outputs
    pages = {n: p.read_text() for n, p in files.items() if n.endswith(".html")}
    for name, text in pages.items():
        low = text.lower()
        assert "<script" not in low and "<img" not in low, name
        assert "onerror=" not in text.replace(str(escape(IMG_P)), ""), name
    report = pages["report.html"]
    assert report.count('<svg class="tl"') >= 2                      # the timelines were drawn ...
    tips = " ".join(re.findall(r"<title>(.*?)</title>", report, re.S))
    assert str(escape(SCRIPT_P)) in tips and str(escape(IMG_P)) in tips  # ... with the payloads as text
    for name in ("report.html", "compare.html", "trend.html"):       # the build name, escaped, not dropped
        assert str(escape("b" + SCRIPT_P + IMG_P + MD_P + " [REDACTED]")) in pages[name], name
    section = report[report.index("Rig errors and unscored cycles"):]
    assert str(escape(f"collect: {SCRIPT_P} {IMG_P} gateway said [REDACTED]")) in section


def test_a_hostile_build_stays_inside_its_code_span_in_the_markdown_files(outputs):
    """Rendered by a real CommonMark parser (raw HTML on, as chat tools allow), the build name of
    summary.md and compare.md is one <code> element's text: no link, emphasis or tag escapes it."""
    from html import unescape

    from markdown_it import MarkdownIt

    _, files = outputs
    build = "b" + SCRIPT_P + IMG_P + MD_P + " [REDACTED]"
    for name in ("summary.md", "compare.md"):
        html = MarkdownIt("commonmark", {"html": True}).render(files[name].read_text())
        assert "evil.example\"" not in html and "<img" not in html and "<script" not in html, name
        assert "<strong>bold" not in html, name
        codes = [unescape(c) for c in re.findall(r"<code>(.*?)</code>", html, re.S)]
        assert any(build in c for c in codes), name


def test_the_token_is_in_no_output_file_and_its_mask_is(outputs):
    run, files = outputs
    assert TOKEN in (run / "raw" / "mbp-01" / "001" / "unified.ndjson").read_text()   # it was in the inputs
    for name, p in files.items():
        assert b"SECRET123" not in p.read_bytes(), name
    for name in ("events.parquet", "trend.parquet"):
        df = pd.read_parquet(files[name])
        for c in df.columns:
            if df[c].dtype == object or pd.api.types.is_string_dtype(df[c]):
                assert not df[c].astype(str).str.contains("SECRET123").any(), (name, c)
    ev = pd.read_parquet(files["events.parquet"])
    assert ev["session"].eq("[REDACTED]").any() and ev["detail"].str.contains("[REDACTED]", regex=False).any()
    for name in ("report.html", "scores.json", "cycles.csv"):        # summary.md shows no reason
        assert "[REDACTED]" in files[name].read_text(), name


@pytest.mark.parametrize("text", ["plain", "a`b", "`lead", "trail`", "``double`` and `single`",
                                  "line\nbreak # heading", "tab\tand\x00nul", "[x](http://e.example)"])
def test_md_code_is_one_code_span_holding_the_text(text):
    from html import unescape

    from markdown_it import MarkdownIt
    from rig.report.templating import md_code

    html = MarkdownIt("commonmark", {"html": True}).render("build " + md_code(text) + " end")
    spans = re.findall(r"<code>(.*?)</code>", html, re.S)
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    assert html.count("<p>") == 1 and len(spans) == 1 and unescape(spans[0]) == shown
