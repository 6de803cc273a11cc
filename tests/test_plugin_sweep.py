"""The sleep-length sweep end to end: one test per length, and a report that shows where churn begins.

One Mac at clock x1000 (the sweep's 82 minutes of sleep in ~5 s): the counts compared here are
whole events (dark wakes, reconnects), which the scale does not blur.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rig.score.suites import SUITES
from twin_runs import truth_cycles

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_the_sweep_sleeps_each_length_once_and_the_report_shows_churn_by_length(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "suites" / "test_sleep_length_sweep.py"),
                        "-p", "no:cacheprovider", "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"),
                        "--build", "twin:naive", "--macs", "mini-01", "--twin-scale", "1000",
                        "--run-dir", str(tmp_path), "-q"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    lengths = SUITES["sleep_length_sweep"]["sweep_s"]
    assert p.returncode == 1, p.stdout[-3000:]  # naive: DPD ends the session in every sleep
    for s in lengths:
        assert re.search(rf"FAILED .*\[{s // 60}m-mini-01\]", p.stdout), p.stdout[-3000:]
    (run,) = [r.parent for r in tmp_path.glob("*/run.json")]
    cycles = pd.read_csv(run / "cycles.csv").sort_values("cycle")
    truth = truth_cycles(json.loads((run / "twin-truth.json").read_text()), "mini-01")
    assert len(cycles) == len(truth) == len(lengths)
    # each cycle slept its planned length, in the order of the lengths
    assert [min(lengths, key=lambda x: abs(x - s)) for s in cycles["sleep_s"]] == lengths
    assert list(cycles["dark_wakes"]) == [t["dark_wakes"] for t in truth]
    assert list(cycles["reconnects_in_sleep"]) == [t["reconnects_in_sleep"] for t in truth]
    # no dark wake yet in the short sleeps, so no reconnect while asleep: churn begins with the long ones
    assert sum(cycles["reconnects_in_sleep"][:3]) == 0 and cycles["reconnects_in_sleep"].iloc[-1] >= 2

    page = (run / "report.html").read_text()
    table = page[page.index("<h2>By sleep length</h2>"):]
    table = table[:table.index("</table>")]
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in table.split("<tr>")[2:]]
    assert [r[0] for r in rows] == [f"{s / 60:g} min" for s in lengths]
    assert [int(r[3]) for r in rows] == [t["reconnects_in_sleep"] for t in truth]
