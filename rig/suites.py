"""Named suites: the plan defaults and the gates that score a build (one place; run.json and the
report read the gates from here via the run folder, the pytest suites import them)."""
from __future__ import annotations

from .gates import Gate

DARK_WAKE_GATES = [
    Gate("reconnects in sleep", "reconnects_in_sleep", "<=", 0, "per cycle", "max"),
    Gate("false disconnect alerts", "false_alerts", "==", 0, "alerts", "sum"),
    Gate("time-to-tunnel p95", "ttt_s", "<=", 5.0, "s", "p95"),
]

SUITES = {
    "dark_wake": {"gates": DARK_WAKE_GATES, "dwell_s": 45 * 60, "cycles": 2},
}
