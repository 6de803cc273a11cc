"""A multi-hour sleep, then a full wake (gates in rig/suites.py, ``long_sleep``): the tunnel must
come back, quickly, without an alert, and really carry traffic (a build that says Connected
while nothing passes after a long sleep fails on zombie time).

On a real Mac hours of sleep reach standby / deep idle (the power log says ``Standby`` or
``Deep Idle``); the twin models only normal sleep, so the check that the sleep got there is a
hardware test.
"""
import pytest

from rig.score.run_data import RunData, cycle_events
from rig.events import POWER_KINDS

SUITE = "long_sleep"
pytestmark = pytest.mark.slow
_POWER = [k.value for k in POWER_KINDS]


@pytest.fixture
def long_night(drive):
    return drive()


def test_tunnel_comes_back_after_a_multi_hour_sleep(long_night):
    long_night.assert_gates()


@pytest.mark.hardware
def test_a_multi_hour_sleep_reaches_standby_or_deep_idle(long_night, run_recorder):
    data = RunData(run_recorder.run_dir)
    for r in long_night.scored:
        ev, _ = cycle_events(data, long_night.mac, r["cycle"])
        lines = ev.loc[ev["kind"].isin(_POWER), "detail"].astype(str)
        assert lines.str.contains("Standby|Deep Idle").any(), (
            f"{long_night.mac} cycle {r['cycle']}: {r.get('sleep_s', 0) / 3600:.1f} h of sleep never reached "
            f"standby or deep idle (check pmset standby/standbydelay on the Mac)")
