"""HTML from templates with autoescaping: a hostile string reaches every page escaped, by
construction, and the report modules build no markup of their own."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
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
