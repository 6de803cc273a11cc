"""Evidence before scores: a cycle whose logs did not all come back is never scored as zeros; it
is a rig error that says what is missing, and a gateway that logged nothing is told apart from a
gateway log that was never fetched."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from rig.report.rebuild import derive_run
from rig.score import evidence
from tests.batch_nights import batch_run


@pytest.fixture
def night(tmp_path):
    return batch_run(tmp_path, "naive", macs=1, cycles_per_night=4, dwell_s=20 * 60, seed=2)


def _rescore(run):
    scores = derive_run(run.run_dir)
    rows = pd.read_csv(run.run_dir / "cycles.csv").set_index("cycle")
    return scores, rows


@pytest.mark.parametrize("damage,why", [
    (lambda raw: (raw / "pmset.log").unlink(), "pmset.log missing (never fetched)"),
    (lambda raw: (raw / "unified.ndjson").write_bytes(b""), "unified.ndjson empty"),
    (lambda raw: (raw / "unified.ndjson").write_bytes(b"garbage\n" * 50), "unified.ndjson holds no readable record"),
    (lambda raw: (raw / "gateway.log").unlink(), "gateway.log missing (never fetched)"),
])
def test_a_cycle_missing_evidence_is_a_rig_error_naming_it(night, damage, why):
    before = night.scores
    mac = night.cycles["mac"].iloc[0]
    damage(night.run_dir / "raw" / mac / "002")
    scores, rows = _rescore(night)
    assert rows.loc[2, "outcome"] == "rig_error"
    assert rows.loc[2, "reason"].startswith("incomplete evidence: ") and why in rows.loc[2, "reason"]
    assert scores["cycles_scored"] == before["cycles_scored"] - 1
    others = [k for k in rows.index if k != 2]
    assert (rows.loc[others, "outcome"] != "rig_error").all()
    assert "rig_error 1" in (night.run_dir / "summary.md").read_text()
    assert why in (night.run_dir / "report.html").read_text()


def test_an_empty_gateway_log_that_was_fetched_is_evidence_of_nothing_logged(night):
    mac = night.cycles["mac"].iloc[0]
    raw = night.run_dir / "raw" / mac / "003"
    (raw / "gateway.log").write_bytes(b"")
    _, rows = _rescore(night)
    assert rows.loc[3, "outcome"] in ("pass", "fail")
    meta = json.loads((raw / "collect.json").read_text())
    meta.pop("gateway")
    (raw / "collect.json").write_text(json.dumps(meta))
    _, rows = _rescore(night)
    assert rows.loc[3, "outcome"] == "rig_error"
    assert "gateway.log empty and not recorded as fetched" in rows.loc[3, "reason"]


def test_every_scored_cycle_names_the_evidence_it_rests_on(night):
    for row in night.cycles.to_dict("records"):
        assert "pmset.log" in row["evidence"] and "unified.ndjson" in row["evidence"]
        assert "gateway.log" in row["evidence"]


def test_the_rule_on_counts_alone():
    ok = {"read": 10, "parsed": 3, "other": 7}
    assert evidence.missing({"pmset": ok, "unified": ok}, None, has_gateway=False) == []
    assert evidence.missing({"pmset": {"read": 5, "parsed": 0, "other": 5}, "unified": ok}, None, False) == \
        ["pmset.log has no power line (5 lines)"]
    assert evidence.missing({"pmset": ok, "unified": ok, "gateway": {"read": 0}},
                            {"gateway": {"status": 0}}, has_gateway=True) == []
