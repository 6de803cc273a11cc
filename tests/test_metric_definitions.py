"""One p95 everywhere (docs/design.md, "Scores"): on nights with censored wakes the headline of
``scores.json``, the gate and ``summary.md`` show the same time-to-tunnel p95, and it is the
percentile the registry defines, taken over the twin's true times with a censored wake counted
as +inf (``numpy.percentile(method="higher")``)."""
from __future__ import annotations

import math
import re

import pytest

from rig.metrics import percentile
from tests.batch_nights import batch_run


def _true_p95(truth: dict) -> float:
    """The definition applied to the truth: a wake whose tunnel never came back is +inf."""
    return percentile([math.inf if c.get("ttt_s") is None else c["ttt_s"] for c in truth["cycles"]], 95)


@pytest.mark.parametrize("macs,cycles,seed", [
    (2, 6, 3),     # 12 wakes, one censored: the p95 lands on it
    (4, 6, 3),     # 23 wakes, one censored: the p95 is the next one down, a number
])
def test_headline_gate_and_summary_show_the_one_p95(tmp_path, macs, cycles, seed):
    run = batch_run(tmp_path, "flaky-handshake", macs=macs, cycles_per_night=cycles, dwell_s=20 * 60, seed=seed)
    assert any(c.get("ttt_s") is None for c in run.truth["cycles"]), "the night must have a censored wake"
    truth = _true_p95(run.truth)
    ttt = run.scores["ttt"]
    gate = next(g for g in run.scores["gates"] if g["metric"] == "ttt_s" and g["agg"] == "p95")
    line = next(ln for ln in (run.run_dir / "summary.md").read_text().splitlines() if "time-to-tunnel p95" in ln)
    if math.isinf(truth):
        assert ttt["p95"] is None and ttt["p95_censored"] is True
        assert math.isinf(gate["value"])
        assert "censored" in line.split("(gate")[0]
    else:
        assert ttt["p95_censored"] is False
        assert ttt["p95"] == pytest.approx(truth, abs=0.01)      # the rig's times are within 10 ms
        assert gate["value"] == ttt["p95"]
        shown = float(re.search(r"p95: ([0-9.]+) s", line).group(1))
        assert shown == pytest.approx(ttt["p95"], abs=0.005)
    assert ttt["censored"] == sum(c.get("ttt_s") is None for c in run.truth["cycles"])
