"""Dark wake: sleep every Mac of the lab, wake it, and hold the build to the suite's gates
(reconnects in sleep, false disconnect alerts, time-to-tunnel p95; see rig/suites.py).

Passes for a build that stays quiet through maintenance dark wakes (``twin:darkwake-aware``) and
fails for one that reconnects and alerts on every wake (``twin:naive``). The same suite is the
default of ``rig run``.
"""
import pytest

SUITE = "dark_wake"


@pytest.fixture
def night(drive):
    return drive()


def test_dark_wake(night):
    night.assert_gates()
