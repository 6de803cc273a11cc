"""Test-wide settings for the rig's own tests.

Property tests judge correctness, not speed: CI and a developer's machine may be loaded (twin
labs, real peers), so hypothesis' per-example deadline is off. Speed is measured in benchmarks/.
"""
import pytest
from hypothesis import HealthCheck, settings

from socat_pair import SocatPair

settings.register_profile("rig", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("rig")


@pytest.fixture
def cable(tmp_path):
    """A real serial cable on this machine: a socat pty pair with stable by-id style links."""
    pair = SocatPair(tmp_path).plug()
    yield pair
    pair.unplug()
