"""Test-wide settings for the rig's own tests.

Property tests judge correctness, not speed: CI and a developer's machine may be loaded (twin
labs, real peers), so hypothesis' per-example deadline is off. Speed is measured in benchmarks/.
"""
from hypothesis import HealthCheck, settings

settings.register_profile("rig", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("rig")
