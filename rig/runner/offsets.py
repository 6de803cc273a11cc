"""Clock offsets between the controller and a host, from SSH round trips (NTP's idea, simplified).

Each sample sends the perl time one-liner (macOS ``date`` has no sub-second format) and notes the
controller time when it was sent (t0) and when the answer's first byte arrived (t1). The host's
reading lies somewhere in [t0, t1], so ``offset = host - (t0 + t1) / 2`` with error <= RTT/2. The
sample with the smallest round trip is kept. ``offset`` is host clock minus controller clock:
corrected time = host time - offset.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

PERL_TIME = ["perl", "-MTime::HiRes=time", "-e", 'printf "%.6f\\n", time']


@dataclass(frozen=True)
class Offset:
    host: str
    t: float  # controller time of the kept sample
    offset: float  # host clock - controller clock, seconds
    rtt: float

    @property
    def error(self) -> float:
        return self.rtt / 2

    def as_dict(self) -> dict:
        return asdict(self)


def measure_offset(session, host: str, samples: int = 9) -> Offset:
    best: Offset | None = None
    for _ in range(samples):
        res = session.run(PERL_TIME, timeout=10).check()
        remote = float(res.text.strip().splitlines()[-1])
        rtt = res.t1 - res.t0
        cand = Offset(host, (res.t0 + res.t1) / 2, remote - (res.t0 + res.t1) / 2, rtt)
        if best is None or cand.rtt < best.rtt:
            best = cand
    return best
