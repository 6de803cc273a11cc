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


def pytest_terminal_summary(terminalreporter):
    """The fuzz figures (``tests/test_fuzz.py``): lines fed per parser and what became of them."""
    # recorded at the fixture's teardown, so found on the teardown report (stats key "")
    rows = dict((r.nodeid.split("::")[-1], dict(r.user_properties)["fuzz"])
                for reports in terminalreporter.stats.values() for r in reports
                if getattr(r, "when", None) == "teardown" and "fuzz" in dict(r.user_properties)).items()
    if not rows:
        return
    cols = ["lines", "valid", "mutated", "garbage", "rejected", "garbage_rejected", "crashes"]
    terminalreporter.section("fuzz figures")
    terminalreporter.line(f"{'parser':<30}" + "".join(f"{c:>17}" for c in cols))
    for name, t in sorted(rows):
        terminalreporter.line(f"{name:<30}" + "".join(f"{t[c]:>17,}" for c in cols))
