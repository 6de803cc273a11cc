"""A fleet estimate: false alerts and reconnects per 1,000 Mac-days for a build, with an interval.

The number a vendor's support team can quote: "on Macs like these, asleep 14 h a day, build X
raises about N false alerts per 1,000 Mac-days (95 % interval A-B)". The twin, drawing from the
lab's profile, sleeps each simulated Mac once a day for the fleet's hours asleep (one cycle per
Mac-day, batch mode), the rig scores the run folder as a rack's, and the counts are checked
against the twin's truth. The interval is the exact Poisson (Garwood) interval of the count,
scipy's ``chi2`` quantiles, scaled to 1,000 Mac-days.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from rig.report.rebuild import derive_run
from rig.twin.serve import TwinConfig
from rig.twin.simulate import SimPlan, fleet, simulate

PER = 1000.0


@dataclass
class Rate:
    count: int
    per_1000: float
    ci95: tuple[float, float]


@dataclass
class Estimate:
    build: str
    mac_days: int
    hours_asleep: float
    false_alerts: Rate
    reconnects: Rate
    agrees: bool          # the rig's counts equal the twin's truth
    run: Path

    def text(self) -> str:
        def one(name: str, r: Rate) -> str:
            return f"{name} {r.per_1000:.0f} per 1,000 Mac-days (95 % interval {r.ci95[0]:.0f}-{r.ci95[1]:.0f}; {r.count} seen)"
        return (f"build {self.build}, {self.hours_asleep:g} h asleep a day, {self.mac_days} Mac-days simulated: "
                f"{one('false alerts', self.false_alerts)}; {one('reconnects in sleep', self.reconnects)}"
                + ("" if self.agrees else "; WARNING: the rig's counts differ from the twin's truth"))


def rate(count: int, days: int) -> Rate:
    """The exact (Garwood) 95 % Poisson interval of ``count`` events in ``days`` Mac-days, per 1,000."""
    lo = stats.chi2.ppf(0.025, 2 * count) / 2 if count else 0.0
    hi = stats.chi2.ppf(0.975, 2 * count + 2) / 2
    k = PER / days
    return Rate(count, count * k, (float(lo * k), float(hi * k)))


def estimate(profile: Path | None, build: str, hours_asleep: float, *, macs: int = 4, days: int = 25,
             seed: int = 1, out: Path) -> Estimate:
    if not 0 < hours_asleep < 24:
        raise ValueError(f"hours asleep a day must be between 0 and 24, not {hours_asleep:g}")
    cfg = TwinConfig(build=build, seed=seed, macs=fleet(macs), profile=str(profile or ""))
    sim = simulate(cfg, SimPlan(nights=days, cycles_per_night=1, dwell_s=hours_asleep * 3600.0), Path(out),
                   command=["rig", "twin", "fleet"])
    totals = derive_run(sim.run_dir)["totals"]
    true = (sum(c.get("false_alerts", 0) for c in sim.cycle_truth),
            sum(c.get("reconnects_in_sleep", 0) for c in sim.cycle_truth))
    n = sim.mac_nights
    return Estimate(build, n, hours_asleep, rate(int(totals["false_alerts"]), n),
                    rate(int(totals["reconnects_in_sleep"]), n),
                    (totals["false_alerts"], totals["reconnects_in_sleep"]) == true, sim.run_dir)
