"""Two builds on one lab, cycles interleaved: stop when better, worse or equivalent is settled.

``rig compare BASE CAND --until-settled`` runs a round (one cycle of each build on the same
Macs) at a time and asks, after each, the question a release engineer asks: is the candidate
worse than the base, better, or the same? Two kinds of evidence answer it, for each of the
suite's hypotheses (:mod:`rig.score.sequential`):

1. **Relative** (Sobel and Wald's three-decision test, as two SPRTs). Given a round's total
   events ``n`` (both builds, all Macs), the candidate's share is binomial with
   ``p(r) = r e_c / (e_b + r e_c)`` when the candidate's rate is ``r`` times the base's
   (``e``: each build's exposure that round). One SPRT weighs ``r = ratio`` against ``r = 1``
   (accepting ``ratio``: *worse*), the other ``r = 1/ratio`` against ``r = 1`` (*better*); both
   accepting ``r = 1`` is *equivalent* (no change as large as ``ratio``). Conditioning on ``n``
   removes the unknown common rate, so no rate has to be guessed; the likelihoods are scipy's
   ``binom.logpmf``. For per-cycle hypotheses (slow wakes) the same holds with the Poisson
   approximation of rare events.
2. **Absolute**: each build's own sequential test of the hypothesis (good rate against bad).
   Both settling good is *equivalent*: both within what the suite calls good. This is what
   ends a comparison of two clean builds, whose zero events give the relative test nothing to
   weigh. The absolute tests never decide *better* or *worse*: two builds of the same rate
   between the good and the bad one (where each test may settle either way) would be called
   different half the time; the relative test is the one that compares them.

A hypothesis' decision is taken once and stands. The comparison settles *worse* as soon as
one hypothesis is worse (a regression anywhere is a regression), and *better* or *equivalent*
when every hypothesis has decided (*better* if any is better). Each SPRT runs at
``alpha / (2 * hypotheses)`` (Bonferroni over the two tests of each hypothesis), beta as given.

Rounds alternate which build goes first (base-candidate, then candidate-base: an ABBA order), so
a drift of the lab over the night (a gateway that gets slower, a room that warms) falls on
both builds alike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from scipy import stats

from rig.score.sequential import ALPHA, BETA, Hypothesis, Sequential, as_float, boundaries, lab_hours

RATIO = 2.0   # the smallest change in a rate that counts as better or worse
BETTER, WORSE, EQUIVALENT, CONTINUE = "better", "worse", "equivalent", "continue"


@dataclass
class RatioTest:
    """One SPRT: rate ratio candidate/base ``ratio`` against 1, on each round's conditional split."""

    ratio: float
    lower: float
    upper: float
    llr: list[float] = field(default_factory=list)
    state: str = CONTINUE   # continue | null (no change) | alt (the change ``ratio``)

    def add(self, k_base: int, e_base: float, k_cand: int, e_cand: float) -> None:
        n, total = k_base + k_cand, (self.llr[-1] if self.llr else 0.0)
        if n and e_base > 0 and e_cand > 0:
            p1 = self.ratio * e_cand / (e_base + self.ratio * e_cand)
            p0 = e_cand / (e_base + e_cand)
            total += float(stats.binom.logpmf(k_cand, n, p1) - stats.binom.logpmf(k_cand, n, p0))
        self.llr.append(total)
        if self.state == CONTINUE:
            if total >= self.upper:
                self.state = "alt"
            elif total <= self.lower:
                self.state = "null"


@dataclass
class Contrast:
    """One hypothesis: the two ratio tests, both builds' own tests, and the decision."""

    hypothesis: Hypothesis
    worse: RatioTest
    better: RatioTest
    base: Sequential
    cand: Sequential
    events: dict = field(default_factory=lambda: {"base": [0, 0], "cand": [0, 0]})  # [events, exposure]
    decision: str = CONTINUE
    why: str = ""
    at: int = 0

    def add(self, rnd: int, base_rows: list[dict], cand_rows: list[dict]) -> None:
        kb, eb = _evidence(self.hypothesis, base_rows)
        kc, ec = _evidence(self.hypothesis, cand_rows)
        for side, k, e in (("base", kb, eb), ("cand", kc, ec)):
            self.events[side][0] += k
            self.events[side][1] += e
        self.worse.add(kb, eb, kc, ec)
        self.better.add(kb, eb, kc, ec)
        for r in base_rows:
            self.base.add(r)
        for r in cand_rows:
            self.cand.add(r)
        if self.decision == CONTINUE:
            self.decision, self.why = self._decide()
            self.at = rnd if self.decision != CONTINUE else 0

    def _decide(self) -> tuple[str, str]:
        r = f"x{self.worse.ratio:g}"
        if self.worse.state == "alt":
            return WORSE, f"the candidate's rate is {r} the base's or more"
        if self.better.state == "alt":
            return BETTER, f"the candidate's rate is 1/{self.better.ratio ** -1:g} the base's or less"
        if self.base.state == "pass" and self.cand.state == "pass":
            return EQUIVALENT, "both settled good"
        if self.worse.state == "null" and self.better.state == "null":
            return EQUIVALENT, f"no change as large as {r} either way"
        return CONTINUE, ""

    def summary(self) -> dict:
        h = self.hypothesis
        rate = {s: (k / e if e else math.nan) for s, (k, e) in self.events.items()}
        return {"hypothesis": h.name, "unit": h.unit, "decision": self.decision, "why": self.why,
                "settled_at": self.at, "base": {"events": self.events["base"][0], "exposure": self.events["base"][1],
                                                "rate": rate["base"], "own": self.base.state},
                "cand": {"events": self.events["cand"][0], "exposure": self.events["cand"][1],
                         "rate": rate["cand"], "own": self.cand.state},
                "paths": [{"hypothesis": f"worse (x{self.worse.ratio:g})", "llr": self.worse.llr,
                           "state": self.worse.state, "settled_at": 0},
                          {"hypothesis": f"better (x1/{1 / self.better.ratio:g})", "llr": self.better.llr,
                           "state": self.better.state, "settled_at": 0}]}


class Interleaved:
    """The comparison, fed one round at a time: :meth:`add` both builds' scored rows of a round."""

    def __init__(self, hypotheses: list[Hypothesis], macs: dict[str, list[str]], ratio: float = RATIO,
                 alpha: float = ALPHA, beta: float = BETA):
        if not hypotheses:
            raise ValueError("the suite declares no sequential hypotheses: it cannot be compared until settled")
        if not ratio > 1:
            raise ValueError(f"the ratio that counts as a change must be over 1, not {ratio:g}")
        self.ratio, self.alpha, self.beta = ratio, alpha, beta
        a = alpha / (2 * len(hypotheses))
        self.lower, self.upper = boundaries(a, beta)
        self.contrasts = [Contrast(h, RatioTest(ratio, self.lower, self.upper),
                                   RatioTest(1 / ratio, self.lower, self.upper),
                                   Sequential([h], macs, "tags", alpha / len(hypotheses), beta),
                                   Sequential([h], macs, "tags", alpha / len(hypotheses), beta))
                          for h in hypotheses]
        self.rounds = 0
        self.at = 0
        self.spans: list[tuple[float, float]] = []
        self.state = CONTINUE

    def add(self, base_rows: list[dict], cand_rows: list[dict]) -> str:
        """One round's scored cycle rows of each build -> the comparison's state after it."""
        self.rounds += 1
        for r in [*base_rows, *cand_rows]:
            t0, t1 = as_float(r.get("t_start")), as_float(r.get("t_end"))
            if not (math.isnan(t0) or math.isnan(t1)):
                self.spans.append((t0, t1))
        for c in self.contrasts:
            c.add(self.rounds, base_rows, cand_rows)
        if self.state == CONTINUE:
            decisions = [c.decision for c in self.contrasts]
            if WORSE in decisions:
                self.state = WORSE
            elif CONTINUE not in decisions:
                self.state = BETTER if BETTER in decisions else EQUIVALENT
            self.at = self.rounds if self.state != CONTINUE else 0
        return self.state

    def summary(self, max_rounds: int | None = None) -> dict:
        """What the candidate's ``run.json`` and the compare page carry as ``settled``."""
        state = self.state if self.state != CONTINUE else "inconclusive"
        out = {"state": state, "rounds": self.rounds, "settled_at": self.at, "max_rounds": max_rounds,
               "ratio": self.ratio, "alpha": self.alpha, "beta": self.beta,
               "boundaries": {"lower": self.lower, "upper": self.upper},
               "lab_hours": round(lab_hours(self.spans), 3),
               "hypotheses": [c.summary() for c in self.contrasts]}
        out["words"] = words(out)
        return out


def words(s: dict) -> str:
    """``settled WORSE after 2 rounds, 1.4 lab-hours: false alerts per wake (…)``."""
    n, h = s["settled_at"] or s["rounds"], s["lab_hours"]
    tail = f"after {n} round{'' if n == 1 else 's'}, {h:.1f} lab-hours"
    if s["state"] == "inconclusive":
        return f"not settled {tail}: inconclusive"
    why = "; ".join(f"{c['hypothesis']}: {c['decision']} ({c['why']})" for c in s["hypotheses"]
                    if c["decision"] in (s["state"], WORSE))
    return f"settled {s['state'].upper()} {tail}" + (f": {why}" if why else "")


def _evidence(h: Hypothesis, rows: list[dict]) -> tuple[int, int]:
    k = e = 0
    for r in rows:
        a, b = h.evidence(r)
        k, e = k + a, e + b
    return k, e

