"""Time-to-tunnel after a full wake, by lid and by power press (gates in rig/suites.py,
``time_to_tunnel``: p95 and the number of censored wakes, those after which the tunnel did not
come back within the timeout).

The clock starts at the actuator's action (its own instant, not the send time): a lid open puts
a laptop straight into full wake; a power press wakes a Mac put to sleep with ``pmset
sleepnow`` (on a laptop, the button is under a closed lid, so that Mac sleeps lid open).
"""
import pytest

SUITE = "time_to_tunnel"


@pytest.fixture
def lid_wakes(drive):
    return drive(sleep_by="lid", wake_by="lid")


@pytest.fixture
def power_wakes(actuator, drive):
    return drive(sleep_by="sleepnow", wake_by="power")


@pytest.mark.lid
def test_tunnel_is_back_quickly_after_lid_open(lid_wakes):
    lid_wakes.assert_gates()


def test_tunnel_is_back_quickly_after_power_press(power_wakes):
    power_wakes.assert_gates()
