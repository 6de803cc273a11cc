"""Stop when the verdict is settled: Wald's sequential probability ratio test, per suite.

Lab time is the scarce resource of a HIL rig. A clearly broken build shows itself in one
cycle; a good one needs enough wakes to bound its false-alert rate. So a suite declares
*hypotheses* (:class:`Hypothesis`): a rate of events per unit of exposure that a good build
stays at or under (``good``) and one a bad build reaches (``bad``), for example false alerts per
wake ``<= 0.01`` against ``>= 0.10``. After each scored cycle the log-likelihood ratio of "bad"
against "good" grows by that cycle's evidence; it is compared with Wald's boundaries
``log((1-beta)/alpha)`` (settled FAIL) and ``log(beta/(1-alpha))`` (settled PASS).

Why Wald's SPRT and scipy: the hypotheses are simple (two rates), for which the SPRT is the
test with the smallest expected sample size at both (Wald and Wolfowitz); the likelihoods are
scipy's ``poisson``/``binom`` ``logpmf``, not formulas of our own. Anytime-valid confidence
sequences (``confseq``, ``savvi``) answer a broader question (any rate, estimated) at the price of
more samples; a verdict against fixed limits is what a gate needs.

- ``per = "wakes"`` (Poisson): events counted against the cycle's wakes, its dark wakes plus
  its full wake (every cycle has one, so no cycle has zero exposure). Used for false alerts and
  reconnects in sleep.
- ``per = "cycles"`` (binomial): one trial per cycle, the event being "time-to-tunnel over the
  suite's limit, or censored". So "TTT p95 against its gate" becomes "at most ``good`` of the
  wakes are slow", the same question a p95 gate asks, in a form that settles.

Several hypotheses: the run settles FAIL as soon as one settles bad and PASS when all have
settled good. Each is tested at ``alpha / n`` (Bonferroni), so a good build is failed by one
of them with probability at most ``alpha``; a bad build passes only if its bad hypothesis
settled good, with probability at most ``beta``.

Pools: evidence is pooled across the Macs the suite calls alike (``pool = "tags"``: the same
tags), otherwise each Mac is its own pool. The run settles when every pool has (FAIL at the
first pool that settles FAIL). The decision is taken at the first crossing and stands: cycles
that end after it (another Mac's cycle under way when the run stopped) are reported as overrun
and never change it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from scipy import stats

from rig.metrics import metric

ALPHA = 0.05
BETA = 0.05


@dataclass(frozen=True)
class Hypothesis:
    """Good and bad rates of one kind of event, per ``per`` (``wakes`` or ``cycles``)."""

    name: str          # what a reader sees: "false alerts per wake"
    metric: str        # the cycles.csv column counted (for ``cycles``: a time, compared with ``over``)
    per: str           # wakes (Poisson) | cycles (binomial)
    good: float
    bad: float
    unit: str
    over: float = math.inf   # per = cycles: the event is "metric > over, or censored"

    def __post_init__(self):
        if self.per not in ("wakes", "cycles"):
            raise ValueError(f"hypothesis {self.name!r}: per must be wakes or cycles, not {self.per!r}")
        if not 0 < self.good < self.bad:
            raise ValueError(f"hypothesis {self.name!r}: needs 0 < good < bad")
        if self.per == "cycles" and self.bad >= 1:
            raise ValueError(f"hypothesis {self.name!r}: a per-cycle probability must be below 1")

    def evidence(self, row: dict) -> tuple[int, int]:
        """(events, exposure) of one scored cycle row."""
        if self.per == "cycles":
            flag = metric(self.metric).censored_by
            v = as_float(row.get(self.metric))
            return int(bool(flag and row.get(flag)) or math.isnan(v) or v > self.over), 1
        return int(as_float(row.get(self.metric), 0.0)), int(as_float(row.get("dark_wakes"), 0.0)) + 1

    def llr(self, events: int, exposure: int) -> float:
        """log P(evidence | bad) - log P(evidence | good)."""
        if self.per == "cycles":
            return float(stats.binom.logpmf(events, exposure, self.bad)
                         - stats.binom.logpmf(events, exposure, self.good))
        return float(stats.poisson.logpmf(events, exposure * self.bad)
                     - stats.poisson.logpmf(events, exposure * self.good))

    @property
    def text(self) -> str:
        return f"{self.name}: good <= {self.good:g}, bad >= {self.bad:g} {self.unit}"


def boundaries(alpha: float, beta: float) -> tuple[float, float]:
    """Wald's (lower, upper): below the lower the good hypothesis is accepted, above the upper the bad."""
    return math.log(beta / (1 - alpha)), math.log((1 - beta) / alpha)


@dataclass
class Path:
    """One hypothesis in one pool: the log-likelihood ratio after each cycle, and where it settled."""

    hypothesis: Hypothesis
    lower: float
    upper: float
    llr: list[float] = field(default_factory=list)
    state: str = "continue"       # continue | pass | fail
    at: int = 0                   # cycles of the pool when it settled

    def add(self, row: dict) -> None:
        total = (self.llr[-1] if self.llr else 0.0) + self.hypothesis.llr(*self.hypothesis.evidence(row))
        self.llr.append(total)
        if self.state == "continue":
            if total >= self.upper:
                self.state, self.at = "fail", len(self.llr)
            elif total <= self.lower:
                self.state, self.at = "pass", len(self.llr)


@dataclass
class Pool:
    """The Macs whose evidence is pooled, and each hypothesis' path over their cycles."""

    key: str
    paths: list[Path]
    cycles: list[dict] = field(default_factory=list)
    state: str = "continue"
    at: int = 0

    def add(self, row: dict) -> None:
        if self.state != "continue":
            self.cycles.append({**_brief(row), "overrun": True})
            return
        self.cycles.append(_brief(row))
        for p in self.paths:
            p.add(row)
        states = [p.state for p in self.paths]
        if "fail" in states:
            self.state = "fail"
        elif all(s == "pass" for s in states):
            self.state = "pass"
        if self.state != "continue":
            self.at = len(self.cycles)


class Sequential:
    """The suite's sequential test over a run's scored cycles, fed one cycle at a time (the
    runner, as cycles end) or all at once in end order (:func:`settle`, for ``rig score``):
    the same cycles in the same order give the same decision."""

    def __init__(self, hypotheses: list[Hypothesis], macs: dict[str, list[str]], pool: str = "tags",
                 alpha: float = ALPHA, beta: float = BETA):
        if not hypotheses:
            raise ValueError("the suite declares no sequential hypotheses")
        self.hypotheses, self.alpha, self.beta = list(hypotheses), alpha, beta
        self.lower, self.upper = boundaries(alpha / len(hypotheses), beta)
        self.pool_of = {m: (",".join(sorted(tags)) or "untagged") if pool == "tags" else m
                        for m, tags in macs.items()}
        self.pools: dict[str, Pool] = {}
        self.spans: list[tuple[float, float, bool]] = []   # each cycle's (start, end, before the decision)

    def _pool(self, mac: str) -> Pool:
        key = self.pool_of.get(mac, mac)
        if key not in self.pools:
            self.pools[key] = Pool(key, [Path(h, self.lower, self.upper) for h in self.hypotheses])
        return self.pools[key]

    def add(self, row: dict) -> None:
        """One scored cycle row (outcome pass or fail; the caller leaves rig errors out)."""
        t0, t1 = as_float(row.get("t_start")), as_float(row.get("t_end"))
        if not (math.isnan(t0) or math.isnan(t1)):
            self.spans.append((t0, t1, self.state == "continue"))
        self._pool(row["mac"]).add(row)

    def settled_for(self, mac: str) -> bool:
        """Whether ``mac`` need run no more cycles: its pool settled, or the run settled FAIL."""
        return self.state == "fail" or self._pool(mac).state != "continue"

    @property
    def state(self) -> str:
        states = [p.state for p in self.pools.values()]
        if "fail" in states:
            return "fail"
        if states and len(self.pools) == len(set(self.pool_of.values())) and all(s == "pass" for s in states):
            return "pass"
        return "continue"

    def summary(self) -> dict:
        """What scores.json and run.json carry as ``settled``, and the report draws."""
        counted = [c for p in self.pools.values() for c in p.cycles[: p.at or len(p.cycles)]]
        state = {"fail": "settled fail", "pass": "settled pass"}.get(self.state, "not settled")
        out = {
            "state": state,
            "cycles": len(counted),
            "dark_wakes": int(sum(c["dark_wakes"] for c in counted)),
            "lab_hours": round(lab_hours([(a, b) for a, b, before in self.spans if before]), 3),
            "lab_hours_run": round(lab_hours([(a, b) for a, b, _ in self.spans]), 3),
            "overrun_cycles": sum(1 for p in self.pools.values() for c in p.cycles if c.get("overrun")),
            "alpha": self.alpha, "beta": self.beta,
            "boundaries": {"lower": self.lower, "upper": self.upper},
            "hypotheses": [asdict(h) for h in self.hypotheses],
            "pools": {k: {"state": p.state, "cycles": len(p.cycles), "settled_at": p.at,
                          "macs": sorted({c["mac"] for c in p.cycles}),
                          "paths": [{"hypothesis": x.hypothesis.name, "llr": x.llr, "state": x.state,
                                     "settled_at": x.at} for x in p.paths]}
                      for k, p in sorted(self.pools.items())},
        }
        out["words"] = words(out)
        return out


def lab_hours(spans: list[tuple[float, float]]) -> float:
    """Hours during which at least one Mac was in a cycle (the union of the cycles' spans): the
    rack's time, not the sum over Macs, and no idle time between nights."""
    total, end = 0.0, -math.inf
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total / 3600


def words(s: dict) -> str:
    """``settled FAIL after 2 cycles, 1.4 lab-hours``: the result as a sentence."""
    n, h = s["cycles"], s["lab_hours"]
    said = {"settled fail": "settled FAIL", "settled pass": "settled PASS"}.get(s["state"])
    tail = f"after {n} cycle{'' if n == 1 else 's'}, {h:.1f} lab-hours"
    return f"{said} {tail}" if said else f"not settled {tail}: inconclusive"


def settle(hypotheses: list[Hypothesis], rows: list[dict], macs: dict[str, list[str]], pool: str = "tags",
           alpha: float = ALPHA, beta: float = BETA) -> dict:
    """The sequential test over scored cycle rows, in the order their cycles ended."""
    seq = Sequential(hypotheses, macs, pool, alpha, beta)
    for r in sorted(rows, key=lambda r: (as_float(r.get("t_end"), math.inf), r["mac"], r["cycle"])):
        seq.add(r)
    return seq.summary()


def _brief(row: dict) -> dict:
    return {"mac": row["mac"], "cycle": int(row["cycle"]), "dark_wakes": int(as_float(row.get("dark_wakes"), 0.0))}


def as_float(v, default: float = math.nan) -> float:
    """A number from a cycles.csv cell (NaN, or ``default``, for blanks and text)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(x) else x
