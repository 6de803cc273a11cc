"""The same build slept 2, 5, 10, 20 and 45 minutes: where do churn and slow reconnects begin?

Users report failures only after >= 10 min of sleep, once the gateway's dead-peer detection has
ended the session and the first maintenance dark wake has come. One test per Mac and sleep
length, judged by the suite's gates (rig/suites.py, ``sleep_length_sweep``), so the JUnit and the
report's per-cycle table show, per length, which gates held. ``--dwell`` does not apply here:
the lengths are the suite.
"""
import pytest

from rig.score.suites import SUITES

SUITE = "sleep_length_sweep"
LENGTHS_S = SUITES[SUITE]["sweep_s"]
pytestmark = pytest.mark.slow


@pytest.fixture(params=LENGTHS_S, ids=[f"{int(s // 60)}m" for s in LENGTHS_S])
def slept(request, drive):
    return drive(dwell_s=request.param)


def test_sleep_of_this_length_brings_no_churn_and_no_slow_reconnect(slept):
    slept.assert_gates()
