"""Dark vs full wakes: the power log's classification, and the build's own verdicts against it
(gates in rig/suites.py, ``wake_kinds``).

A wake is dark when its capability set lacks ``V`` (DESIGN.md); the build logs its own verdict
(``wake_classified``) and every verdict is matched to the wake it was made in. A build that logs
no verdict cannot show that it tells dark from full, and fails the suite.
"""
import pytest

from fixtures.recorder import RigCycleError

SUITE = "wake_kinds"


@pytest.fixture
def night(drive):
    cycles = drive()
    if cycles.scored and not any((r.get("dark_wakes") or 0) for r in cycles.scored):
        # Nothing to classify is the lab's state (maintenance wakes off), not the build's fault.
        raise RigCycleError(f"{cycles.mac}: no dark wake in any sleep: check Power Nap / pmset on the Mac")
    return cycles


def test_each_sleep_ends_in_one_full_wake_after_its_dark_wakes(night):
    for r in night.scored:
        assert r.get("full_wake") and r.get("sleep_s", 0) > 0, f"cycle {r['cycle']}: no full wake after the sleep"


def test_the_builds_wake_verdicts_match_the_power_log(night):
    night.assert_gates()
