"""The Mac wakes on another network (a new interface or address): the tunnel must come back by
itself, within the timeout, with no alert the user would see (gates in rig/suites.py,
``network_change``).

Only a lab can move a Mac between networks while it sleeps (a USB-Ethernet dock on a relay, a
switch port changing VLAN). A Mac the lab moves is tagged ``roams`` in lab.toml; the other Macs
are skipped, with the reason. On the twin, ``--twin-network-change 1`` makes every wake from
sleep land on another network and tags the Macs ``roams``.
"""
import pytest

SUITE = "network_change"


@pytest.fixture
def roaming_night(mac, drive):
    if "roams" not in mac.tags:
        pytest.skip(f"{mac.name} is not tagged 'roams': this lab does not move it to another network while "
                    f"it sleeps (on a rack, tag the Macs the lab moves; on the twin, --twin-network-change 1)")
    return drive()


def test_tunnel_comes_back_by_itself_on_the_new_network(roaming_night):
    roaming_night.assert_gates()
