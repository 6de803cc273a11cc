"""report.html in a real headless Chromium (started by the test): what a reader sees, and what an
attacker's log line cannot do.

The run is a scored twin night whose logs carry ``<script>`` and ``<img onerror=…>`` payloads
(see ``report_runs.py``); each payload would set ``window.__xss`` or the page title if it ran.
"""
from __future__ import annotations

import struct
import zlib

import pytest

from headless_chromium import CHROMIUM, open_page
from report_runs import SCRIPT, hostile_run
from rig.report.rebuild import derive_run

pytestmark = [pytest.mark.peer]

EXPRESSIONS = [
    "typeof window.__xss",
    "document.title",
    "document.querySelectorAll('script').length",
    "document.querySelectorAll('img').length",
    "document.querySelectorAll('svg.tl').length",
    "Array.from(document.querySelectorAll('svg.tl')).filter(s => s.getBoundingClientRect().width > 600"
    " && s.getBoundingClientRect().height > 50).length",
    "Array.from(document.querySelectorAll('svg.tl title')).some(t => t.textContent.includes("
    + repr(SCRIPT) + "))",
    "document.body.innerText.length",
]


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    run = hostile_run(tmp_path_factory.mktemp("browser"))
    derive_run(run)
    out = open_page(run / "report.html", EXPRESSIONS)
    (run / "screenshot.png").write_bytes(out.screenshot)
    return run, out


def png_pixels(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and the raw (filtered) scanlines of a PNG, stdlib only."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", data[:8])
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    return w, h, zlib.decompress(idat)


def test_chromium_is_the_debian_package():
    assert CHROMIUM.endswith("chromium")


def test_the_page_is_not_blank(shown):
    _, page = shown
    w, h, raw = png_pixels(page.screenshot)
    assert w == 1200 and h > 1500
    assert len(set(raw[:: 97])) > 20                      # many distinct byte values: text and pictures
    assert page.values["document.body.innerText.length"] > 2000


def test_every_timeline_picture_is_present_and_drawn_at_full_size(shown):
    _, page = shown
    n = page.values["document.querySelectorAll('svg.tl').length"]
    assert n == 6
    assert page.values[EXPRESSIONS[5]] == n


def test_no_console_error_and_no_exception(shown):
    _, page = shown
    assert page.errors == []


def test_no_request_leaves_the_file(shown):
    run, page = shown
    assert page.requests == [(run / "report.html").resolve().as_uri()]


def test_a_log_line_with_script_and_img_onerror_is_shown_and_never_runs(shown):
    _, page = shown
    assert page.values["typeof window.__xss"] == "undefined"
    assert page.values["document.title"] != "pwned" and page.values["document.title"].startswith("rig report")
    assert page.values["document.querySelectorAll('script').length"] == 0
    assert page.values["document.querySelectorAll('img').length"] == 0
    assert page.values[EXPRESSIONS[6]] is True             # the payload is there, as text
