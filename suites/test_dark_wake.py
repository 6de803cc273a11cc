"""Dark-wake churn: sleep every Mac of the lab, wake it, and hold the build to the suite's gates.

Passes for a build that stays quiet through maintenance dark wakes (``twin:darkwake-aware``) and
fails for one that reconnects and alerts on every wake (``twin:naive``).
"""
from rig.gates import judge_all
from rig.suites import SUITES

from fixtures.plugin import cycle_rows

GATES = SUITES["dark_wake"]["gates"]


def test_dark_wake(mac, run_recorder):
    run_recorder.run_mac(mac, set())
    rows = cycle_rows(run_recorder.run_dir, mac.name)
    errors = [r for r in rows if r["outcome"] in ("rig_error", "unknown", "dut_hang")]
    assert not errors, f"cycles the rig could not score: {[(r['cycle'], r['outcome'], r['reason']) for r in errors]}"
    verdicts = judge_all(GATES, rows)
    missed = [f"{g['name']}: {g['value']:g} (limit {g['op']} {g['limit']} {g['unit']})"
              for g in verdicts if g["verdict"] != "pass"]
    assert not missed, "gates missed: " + "; ".join(missed)
