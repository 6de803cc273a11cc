"""The metric registry: every number the rig reports, declared once (OpenHTF's measurements).

A metric is a column of ``cycles.csv`` (one value per scored cycle) with a name people read, a
unit, and the rule that turns a build's cycles into one number. Scores, gates, the report,
``summary.md``, ``rig compare``, ``rig trend`` and the command line all take names, labels,
units and aggregation from here, so "time-to-tunnel p95" means the same thing on every page.

How a build's number is made from its cycles (:attr:`Metric.build`):

- ``sum``: counts (reconnects, alerts, DPD ends ...) are summed over the scored cycles and also
  given per sleep-hour (:func:`rate`), so a long night and a short one compare fairly.
- ``time``: durations (time-to-tunnel, zombie time) are summarised by percentiles with
  :func:`percentile`: **the one p95 of the rig**.
- ``flag``: a true/false per cycle (``ttt_censored``), counted.

**Censored values.** A wake after which no tunnel came back within the timeout has no
time-to-tunnel; it is *censored*: a failure, never a missing row. Every percentile of a time
metric counts censored cycles as +infinity (:attr:`Metric.censored_by` names the flag column),
so a build cannot improve its p95 by never reconnecting. The percentile is the rank statistic
``numpy.percentile(..., method="higher")`` over all the build's wakes: never interpolated, so a
p95 is a wake that happened. When it lands on a censored wake the p95 is infinite, reported as
"censored" (``null`` in JSON, with ``p95_censored: true``), never as a number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np


@dataclass(frozen=True)
class Metric:
    """One per-cycle metric: ``name`` is its ``cycles.csv`` column."""

    name: str
    label: str              # what a person reads ("reconnects in sleep")
    unit: str               # of one cycle's value ("reconnects", "s", "alerts", "cycles")
    build: str = "sum"      # how a build aggregates it: sum | time | flag | max | none
    headline: bool = False  # one of the three numbers a reader looks at first
    censored_by: str = ""   # the flag column whose true value makes this cycle's value +inf
    compare: str = ""       # how `rig compare` tests a change: rate | time | "" (not compared)
    short: str = ""         # column header in a table; the label when empty

    @property
    def header(self) -> str:
        return self.short or self.label


_M = Metric
#: Every metric, in report order. Add a metric here and every page shows it the same way.
METRICS: tuple[Metric, ...] = (
    # -- churn in sleep --------------------------------------------------------------------------
    _M("reconnects_in_sleep", "reconnects in sleep", "reconnects", headline=True, compare="rate"),
    _M("handshakes_in_sleep", "handshakes started in sleep", "handshakes", compare="rate",
       short="handshakes in sleep"),
    _M("handshakes_cut_by_sleep", "handshakes cut off by sleep", "handshakes", short="cut off by sleep"),
    _M("gw_sessions_in_sleep", "gateway sessions created in sleep", "sessions"),
    _M("gw_sessions_created", "gateway sessions created", "sessions", short="gateway sessions"),
    _M("dpd_terminations", "DPD terminations", "sessions", compare="rate", short="DPD ends"),
    _M("dpd_in_sleep", "DPD terminations in sleep", "sessions"),
    # -- alerts ----------------------------------------------------------------------------------
    _M("false_alerts", "false disconnect alerts", "alerts", headline=True, compare="rate"),
    _M("true_alerts", "true disconnect alerts", "alerts", compare="rate", short="true alerts"),
    _M("alerts_ext_false", "false alerts raised by the extension", "alerts", short="false alerts ext"),
    _M("alerts_ext_false_asleep", "false extension alerts while asleep", "alerts"),
    _M("alerts_ext_false_dark", "false extension alerts in a dark wake", "alerts"),
    _M("alerts_ext_false_recovered", "false extension alerts recovered within the grace", "alerts"),
    _M("alerts_gw_false", "false alerts from the gateway (DPD)", "alerts", short="false alerts gw"),
    _M("alerts_gw_false_asleep", "false gateway alerts while asleep", "alerts"),
    _M("alerts_gw_false_dark", "false gateway alerts in a dark wake", "alerts"),
    _M("alerts_gw_false_recovered", "false gateway alerts recovered within the grace", "alerts"),
    _M("true_alerts_ext", "true alerts raised by the extension", "alerts"),
    _M("true_alerts_gw", "true alerts from the gateway", "alerts"),
    # -- time-to-tunnel and zombie time ----------------------------------------------------------
    _M("ttt_s", "time-to-tunnel", "s", build="time", headline=True, censored_by="ttt_censored",
       compare="time", short="TTT s"),
    _M("ttt_censored", "wakes with no tunnel within the timeout", "cycles", build="flag", compare="rate",
       short="TTT censored"),
    _M("zombie_s", "zombie time", "s", build="time", compare="time", short="zombie s"),
    # -- exposure and callbacks ------------------------------------------------------------------
    _M("sleep_s", "time asleep", "s", build="none", short="sleep s"),
    _M("dark_wakes", "dark wakes", "dark wakes"),
    _M("dark_wake_wake_callbacks", "wake() callbacks in dark wakes", "callbacks"),
    _M("dark_wake_sleep_callbacks", "sleep() callbacks in dark wakes", "callbacks"),
    _M("keepalive_gap_max_s", "longest keep-alive gap", "s", build="max", short="longest keep-alive gap s"),
    # -- the build's own wake verdicts -----------------------------------------------------------
    _M("verdicts", "wake verdicts logged", "verdicts"),
    _M("verdict_errors", "wrong wake verdicts", "verdicts"),
    _M("verdicts_unmatched", "wake verdicts matching no wake", "verdicts"),
    # -- on-demand dark wakes (--dark-wake-every; rig.score.on_demand) -----------------------------
    _M("wol_sent", "wake packets sent", "packets", short="WoL sent"),
    _M("wol_dark_wakes", "dark wakes with a network reason", "dark wakes", short="WoL dark wakes"),
    _M("wol_full_wakes", "full wakes after a wake packet", "full wakes", short="WoL full wakes"),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
HEADLINE: tuple[Metric, ...] = tuple(m for m in METRICS if m.headline)
#: Metrics summed per build (totals, and rates per sleep-hour).
COUNTS: tuple[str, ...] = tuple(m.name for m in METRICS if m.build == "sum")


def metric(name: str) -> Metric:
    """The registry entry of ``name``; an unknown name is a clear error (a gate's typo)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r} (known: {', '.join(BY_NAME)})") from None


def label(name: str) -> str:
    """The words for a metric (a column that is not a metric keeps its own name)."""
    m = BY_NAME.get(name)
    return m.label if m else name.replace("_", " ")


def _missing(v) -> bool:
    if v is None:
        return True
    try:
        return math.isnan(float(v))
    except (TypeError, ValueError):
        return True


def _flag(f) -> bool:
    """A censored flag as a row may hold it: a bool, or "True"/"1" read back from ``cycles.csv``."""
    if isinstance(f, str):
        return f.strip().lower() in ("true", "1")
    return not _missing(f) and bool(f)


def with_censored(values: Iterable, censored: Iterable | None = None) -> list[float]:
    """A time metric's per-cycle values as floats, a censored cycle (or a missing value) +inf.

    ``censored``, when given, is the same cycles' flag (e.g. ``ttt_censored``): a true flag
    makes that cycle's value +inf whatever the value column holds.
    """
    vals = list(values)
    flags = list(censored) if censored is not None else [False] * len(vals)
    return [math.inf if _flag(f) or _missing(v) else float(v) for v, f in zip(vals, flags)]


def times(rows: Iterable[dict], name: str) -> list[float]:
    """A time metric's values over some cycle rows, each censored cycle +inf (by the metric's
    :attr:`Metric.censored_by` flag): what every percentile of that metric is taken over."""
    rows = list(rows)
    m = metric(name)
    flags = [r.get(m.censored_by) for r in rows] if m.censored_by else None
    return with_censored([r.get(name) for r in rows], flags)


def percentile(values: Iterable[float], q: float) -> float:
    """The rig's percentile: ``numpy.percentile(method="higher")``, +inf values included.

    ``values`` come from :func:`with_censored`. Empty input is NaN (no evidence), never 0.
    """
    vals = list(values)
    if not vals:
        return math.nan
    return float(np.percentile(np.asarray(vals, dtype=float), q, method="higher"))


#: The statistics a build reports of a time metric, each a :func:`percentile` (max is q=100).
TIME_STATS: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p95", 95.0), ("max", 100.0))


def time_summary(values: Iterable[float]) -> dict:
    """p50, p95 and max of :func:`with_censored` values, as ``scores.json`` reports them.

    A statistic that lands on a censored wake is +inf: reported as ``None`` with
    ``<stat>_censored: True`` (JSON has no infinity, and a number there would be a lie).
    No values at all: every statistic ``None``, none censored (no evidence).
    """
    vals = list(values)
    out: dict = {}
    for key, q in TIME_STATS:
        v = percentile(vals, q)
        out[key] = v if math.isfinite(v) else None
        out[f"{key}_censored"] = math.isinf(v)
    return out


def rate(total: float, sleep_hours: float) -> float | None:
    """A count per sleep-hour; ``None`` when nothing slept (no exposure: no rate, not 0)."""
    return total / sleep_hours if sleep_hours > 0 else None
