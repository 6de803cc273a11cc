"""Named suites: the plan defaults and the gates that score a build (one place; run.json and the
report read the gates from here via the run folder, the pytest suites import them)."""
from __future__ import annotations

from rig.score.gates import Gate
from rig.score.sequential import Hypothesis

# Gates several suites share, declared once.
RECONNECTS = Gate("reconnects in sleep", "reconnects_in_sleep", "<=", 0, "per cycle", "max")
FALSE_ALERTS = Gate("false disconnect alerts", "false_alerts", "==", 0, "alerts", "sum")
TTT_P95 = Gate("time-to-tunnel p95", "ttt_s", "<=", 5.0, "s", "p95")
CENSORED = Gate("censored time-to-tunnel", "ttt_censored", "==", 0, "cycles", "count")

DARK_WAKE_GATES = [
    RECONNECTS,
    FALSE_ALERTS,
    TTT_P95,
]

# Churn: sleep long enough for at least three maintenance dark wakes (~15 min apart, jittered
# by up to 15 %, so 60 minutes), and hold the build to zero reconnects, zero false alerts and no
# session ended by the gateway's dead-peer detection while the Mac slept.
DARK_WAKE_CHURN_GATES = [
    RECONNECTS,
    FALSE_ALERTS,
    Gate("DPD terminations", "dpd_terminations", "<=", 0, "per cycle", "max"),
]

# Time-to-tunnel after a full wake (by lid, by power press): fast, and never censored (a censored
# value is a wake after which the tunnel did not come back within the timeout).
TIME_TO_TUNNEL_GATES = [
    TTT_P95,
    CENSORED,
]

# A multi-hour sleep: the tunnel must come back, quickly, and really carry traffic (a build that
# shows Connected while nothing passes after a long sleep is the "zombie" failure).
LONG_SLEEP_GATES = [
    Gate("time-to-tunnel after a long sleep", "ttt_s", "<=", 10.0, "s", "max"),
    CENSORED,
    Gate("zombie time", "zombie_s", "<=", 10.0, "s", "max"),  # says Connected, nothing passes
    FALSE_ALERTS,
]

# The build's own dark/full verdicts (``wake_classified``) against the power log's truth.
WAKE_KINDS_GATES = [
    Gate("wake verdicts logged", "verdicts", ">=", 1, "per cycle", "mean"),
    Gate("wrong wake verdicts", "verdict_errors", "==", 0, "verdicts", "sum"),
    Gate("verdicts matching no wake", "verdicts_unmatched", "==", 0, "verdicts", "sum"),
]

# The same build slept for each length in turn: where do churn and slow reconnects begin?
# (Users report failures only after >= 10 min of sleep, once the gateway's DPD has fired.)
SLEEP_LENGTH_SWEEP_GATES = list(DARK_WAKE_GATES)

# The Mac wakes on another network (new interface or address): the tunnel must come back by
# itself, within the timeout, without an alert the user would see.
NETWORK_CHANGE_GATES = [
    CENSORED,
    TTT_P95,
    Gate("true disconnect alerts", "true_alerts", "==", 0, "alerts", "sum"),
]

# Hypotheses of the sequential test (``rig run --until-settled``, rig.score.sequential): the rate
# a good build stays at or under and the rate a bad one reaches. "Per wake" counts the cycle's
# dark wakes plus its full wake. A build that alerts at one wake in ten is bad; one in a hundred
# is what a good build is allowed by chance (a real network hiccup in a dark wake).
FALSE_ALERTS_PER_WAKE = Hypothesis("false alerts per wake", "false_alerts", "wakes", 0.01, 0.10, "alerts per wake")
RECONNECTS_PER_WAKE = Hypothesis("reconnects in sleep per wake", "reconnects_in_sleep", "wakes", 0.01, 0.10,
                                 "reconnects per wake")
# TTT p95 <= 5 s as a sequential question: at most 5 % of wakes slower than 5 s (or censored) is
# good, half of them is bad.
SLOW_WAKES = Hypothesis("wakes slower than the TTT gate", "ttt_s", "cycles", 0.05, 0.50, "of wakes", over=5.0)
SLOW_WAKES_LONG = Hypothesis("wakes slower than 10 s after a long sleep", "ttt_s", "cycles", 0.05, 0.50,
                             "of wakes", over=10.0)

# ``exposure``: what a run must have seen (over its scored cycles) for a PASS to mean anything;
# below it the run is inconclusive (rig.score.summary). Keys: dark_wakes, sleep_hours, cycles.
SUITES = {
    "dark_wake": {"gates": DARK_WAKE_GATES, "dwell_s": 45 * 60, "cycles": 2,
                  "exposure": {"dark_wakes": 1},
                  "sequential": [FALSE_ALERTS_PER_WAKE, RECONNECTS_PER_WAKE, SLOW_WAKES]},
    "dark_wake_churn": {"gates": DARK_WAKE_CHURN_GATES, "dwell_s": 60 * 60, "cycles": 2, "min_dark_wakes": 3,
                        "exposure": {"dark_wakes": 3},
                        "sequential": [FALSE_ALERTS_PER_WAKE, RECONNECTS_PER_WAKE]},
    "time_to_tunnel": {"gates": TIME_TO_TUNNEL_GATES, "dwell_s": 20 * 60, "cycles": 3,
                       "exposure": {"cycles": 1}, "sequential": [SLOW_WAKES]},
    "long_sleep": {"gates": LONG_SLEEP_GATES, "dwell_s": 3 * 3600, "cycles": 1,
                   "exposure": {"sleep_hours": 2.0}, "sequential": [SLOW_WAKES_LONG, FALSE_ALERTS_PER_WAKE]},
    "wake_kinds": {"gates": WAKE_KINDS_GATES, "dwell_s": 45 * 60, "cycles": 2,
                   "exposure": {"dark_wakes": 1}},
    "sleep_length_sweep": {"gates": SLEEP_LENGTH_SWEEP_GATES, "dwell_s": 45 * 60, "cycles": 1,
                           "sweep_s": [2 * 60, 5 * 60, 10 * 60, 20 * 60, 45 * 60],
                           "exposure": {"dark_wakes": 1},
                           # a 2-minute sleep sees no dark wake by design: each test needs its cycle
                           "test_exposure": {"cycles": 1}},
    "network_change": {"gates": NETWORK_CHANGE_GATES, "dwell_s": 20 * 60, "cycles": 2,
                       "exposure": {"cycles": 1}, "sequential": [SLOW_WAKES]},
}


def hypotheses(suite: str) -> list[Hypothesis]:
    """The suite's sequential hypotheses (a suite without any cannot run ``--until-settled``:
    a sweep runs every length by design). Macs are pooled by their tags."""
    return list(SUITES.get(suite, {}).get("sequential", []))


def exposure(suite: str) -> dict:
    """The exposure a suite needs (an unknown suite needs none)."""
    return dict(SUITES.get(suite, {}).get("exposure", {}))


def per_test_exposure(suite: str) -> dict:
    """The exposure one test of a suite (one Mac's drive) needs: the run's, unless the suite
    says otherwise (a sweep's short sleeps see no dark wake by design)."""
    spec = SUITES.get(suite, {})
    return dict(spec.get("test_exposure", spec.get("exposure", {})))


def shortfall(needed: dict, seen: dict) -> list[str]:
    """Each need ``seen`` falls short of, in words (one definition for runs and tests)."""
    return [f"{seen.get(k, 0):g} {k.replace('_', ' ')} seen, the suite needs at least {v:g}"
            for k, v in sorted(needed.items()) if seen.get(k, 0) < v]
