"""What a run does to each Mac: the plan both executors of the cycle follow (lab seconds)."""
from __future__ import annotations

from dataclasses import dataclass, field

from rig.drive.extension import version


@dataclass
class Plan:
    """What a run does to each Mac; lab seconds throughout."""

    build: str
    cycles: int = 2
    dwell_s: float = 45 * 60
    grace_s: float = 30.0
    wake_timeout_s: float = 180.0
    tunnel_timeout_s: float = 60.0
    precondition_timeout_s: float = 120.0
    power_press_ms: int = 300
    hang_limit: int = 2  # hangs after which a Mac is skipped for the rest of the run
    rig_retries: int = 1  # a cycle that ends rig_error is run again this many times
    # on-demand dark wakes: a Wake-on-LAN packet every this many seconds of the dwell to each
    # Mac that has wake_on_lan (0: none; the Mac's own ~15-min maintenance wakes only)
    dark_wake_every_s: float = 0.0
    # stop each Mac once the suite's sequential test settles (rig.score.sequential); ``cycles``
    # is then the most a Mac runs, after which an unsettled run is inconclusive
    until_settled: bool = False
    gates: list = field(default_factory=list)

    @property
    def expected_version(self) -> str:
        return version(self.build)
