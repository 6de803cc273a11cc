"""One history across controllers: run folders from several controllers in one reports tree,
indexed by rack, controller, Mac model and macOS, and updated incrementally."""
from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from rig.cli.main import main
from rig.report import trend_index
from rig.report.rebuild import derive_run
from rig.twin.serve import MacSpec, TwinConfig
from rig.twin.simulate import SimPlan, simulate

LAPTOP = MacSpec("mbp-01", "laptop", skew=2.75, utc_offset_min=-480, tags=["laptop"], macos="15.3")
DESKTOP = MacSpec("mini-01", "desktop", skew=-1.3, utc_offset_min=330, tags=["desktop"], macos="14.7.2",
                  hw_model="Mac16,10")


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    """One simulated night per fleet: both Macs, and the laptop alone."""
    out = {}
    for name, macs in (("both", [LAPTOP, DESKTOP]), ("laptop", [LAPTOP])):
        sim = simulate(TwinConfig(build="naive", seed=3, macs=macs), SimPlan(nights=1, cycles_per_night=1,
                                                                              dwell_s=30 * 60),
                       tmp_path_factory.mktemp(name))
        derive_run(sim.run_dir)
        out[name] = sim.run_dir
    return out


def _place(src, dst, *, rack: str, controller: str, day: int):
    shutil.copytree(src, dst)
    meta = json.loads((dst / "run.json").read_text())
    meta["lab"]["rack"] = rack
    meta.update(controller=controller, run_id=dst.name, started=f"2026-11-{day:02d}T21:00:00+00:00")
    (dst / "run.json").write_text(json.dumps(meta))


@pytest.fixture
def tree(tmp_path, sims):
    """Two controllers copied their runs in under their own folders, a third straight into the root."""
    root = tmp_path / "reports"
    root.mkdir()
    _place(sims["both"], root / "ci-a" / "2026-11-01T2100-naive", rack="rack-1", controller="ci-a/ci", day=1)
    _place(sims["laptop"], root / "ci-a" / "2026-11-02T2100-naive", rack="rack-1", controller="ci-a/ci", day=2)
    _place(sims["laptop"], root / "ci-b" / "2026-11-03T2100-naive", rack="rack-2", controller="ci-b/ci", day=3)
    _place(sims["both"], root / "2026-11-04T2100-naive", rack="rack-2", controller="alice-mbp/alice", day=4)
    (root / "ci-b" / "scratch").mkdir()
    (root / "empty").mkdir()
    return root


def test_the_twin_macs_say_their_model_and_macos_and_the_scores_keep_them(sims):
    hw = json.loads((sims["both"] / "scores.json").read_text())["hardware"]
    assert hw == {"mbp-01": {"model": "Mac15,3", "macos": "15.3"},       # a laptop's default model
                  "mini-01": {"model": "Mac16,10", "macos": "14.7.2"}}   # as its spec says
    meta = json.loads((sims["both"] / "run.json").read_text())
    assert meta["lab"]["rack"] == meta["lab"]["name"] and "/" in meta["controller"]


def test_runs_from_several_controllers_are_indexed_by_rack_controller_model_and_macos(tree):
    idx = trend_index.update(tree, tree / "trend.parquet")
    runs = idx.runs
    assert list(runs["path"]) == ["ci-a/2026-11-01T2100-naive", "ci-a/2026-11-02T2100-naive",
                                  "ci-b/2026-11-03T2100-naive", "2026-11-04T2100-naive"]
    assert list(runs["rack"]) == ["rack-1", "rack-1", "rack-2", "rack-2"]
    assert list(runs["controller"]) == ["ci-a/ci", "ci-a/ci", "ci-b/ci", "alice-mbp/alice"]
    assert [list(m) for m in runs["models"]] == [["Mac15,3", "Mac16,10"], ["Mac15,3"], ["Mac15,3"],
                                                 ["Mac15,3", "Mac16,10"]]
    assert idx.skipped == [("empty", "not a run folder (no run.json)")]
    pick = trend_index.select
    assert list(pick(runs, model="Mac16,10")["path"]) == ["ci-a/2026-11-01T2100-naive", "2026-11-04T2100-naive"]
    assert list(pick(runs, macos="14.7.2", rack="rack-2")["path"]) == ["2026-11-04T2100-naive"]
    assert list(pick(runs, controller="ci-b/ci")["path"]) == ["ci-b/2026-11-03T2100-naive"]
    assert len(pick(runs, model="Mac99,1")) == 0
    with pytest.raises(ValueError, match="no trend filter 'colour'"):
        pick(runs, colour="red")


def test_an_update_reads_only_new_or_changed_folders_and_drops_gone_ones(tree):
    pq = tree / "trend.parquet"
    first = trend_index.update(tree, pq)
    first.runs.to_parquet(pq, index=False)
    assert first.read == 4
    again = trend_index.update(tree, pq)
    assert again.read == 0
    pd.testing.assert_frame_equal(again.runs, first.runs)
    # a re-scored run (its scores.json rewritten with another verdict) is read again
    p = tree / "ci-a" / "2026-11-02T2100-naive" / "scores.json"
    s = json.loads(p.read_text())
    s["verdict"] = "inconclusive"
    p.write_text(json.dumps(s))
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 1_000_000))
    shutil.rmtree(tree / "ci-b" / "2026-11-03T2100-naive")
    shutil.copytree(tree / "2026-11-04T2100-naive", tree / "ci-b" / "2026-11-05T2100-naive")
    upd = trend_index.update(tree, pq)
    assert upd.read == 2
    assert list(upd.runs["path"]) == ["ci-a/2026-11-01T2100-naive", "ci-a/2026-11-02T2100-naive",
                                      "2026-11-04T2100-naive", "ci-b/2026-11-05T2100-naive"]
    assert upd.runs.loc[1, "verdict"] == "inconclusive"
    # the incremental index is exactly what a rebuild from scratch reads
    scratch = trend_index.update(tree, tree / "none.parquet")
    assert scratch.read == 4
    pd.testing.assert_frame_equal(upd.runs, scratch.runs)


def test_an_index_of_another_version_is_rebuilt_not_trusted(tree):
    pq = tree / "trend.parquet"
    idx = trend_index.update(tree, pq)
    idx.runs.assign(index_version=1).to_parquet(pq, index=False)
    assert trend_index.update(tree, pq).read == 4


def test_rig_trend_filters_the_page_and_says_what_it_read(tree):
    res = CliRunner().invoke(main, ["trend", str(tree), "--model", "Mac16,10"])
    assert res.exit_code == 0, res.output
    assert "indexed 4 runs (1 builds; 4 read, 0 unchanged)" in res.output
    assert "shown: 2 runs matching model=Mac16,10" in res.output
    page = (tree / "trend.html").read_text()
    assert "Nightly trend: 2 runs" in page and "only runs with model = Mac16,10" in page
    assert "Where the runs came from" in page and "alice-mbp/alice" in page
    res = CliRunner().invoke(main, ["trend", str(tree)])
    assert "(1 builds; 0 read, 4 unchanged)" in res.output
    assert len(pd.read_parquet(tree / "trend.parquet")) == 4
