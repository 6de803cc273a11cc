"""Gates: a limit on one metric with a unit, reported as value, limit, verdict (OpenHTF-style).

A gate aggregates a registered per-cycle metric (:mod:`rig.metrics`) over the cycles it judges
(one cycle, or a whole build):

- ``max``, ``sum``, ``mean``, ``p50``, ``p95``: of the metric's values; the percentiles are the
  registry's :func:`rig.metrics.percentile`, so a gate on ``p95(ttt_s)`` judges exactly the p95
  that ``scores.json``, the report and ``summary.md`` show;
- ``count``: how many cycles have a true (non-zero) value, e.g. ``ttt_censored``;
- ``rate``: the metric's sum per sleep-hour (the cycles' ``sleep_s``, :func:`rig.metrics.rate`),
  so a gate can hold a long night and a short one to the same standard.

A censored value (the metric's :attr:`~rig.metrics.Metric.censored_by` flag is true: no tunnel
within the timeout) and a missing one count as infinitely bad
(:func:`rig.metrics.with_censored`), so no cycle can pass a gate by being absent. Suites declare
their gates in :mod:`rig.score.suites`; every gate is reported with its value, limit, unit and
verdict.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from rig.metrics import BY_NAME, metric, percentile, rate, with_censored

_OPS = {"<=": lambda v, lim: v <= lim, "==": lambda v, lim: v == lim, ">=": lambda v, lim: v >= lim,
        "<": lambda v, lim: v < lim}
_AGGS = ("max", "sum", "mean", "p50", "p95", "count", "rate")
_PERCENTILE = {"p50": 50.0, "p95": 95.0, "max": 100.0}


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


@dataclass(frozen=True)
class Gate:
    name: str
    metric: str
    op: str
    limit: float
    unit: str
    agg: str = "max"

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"gate {self.name!r}: op {self.op!r} is not one of {', '.join(_OPS)}")
        if self.agg not in _AGGS:
            raise ValueError(f"gate {self.name!r}: agg {self.agg!r} is not one of {', '.join(_AGGS)}")
        if self.metric not in BY_NAME:
            raise ValueError(f"gate {self.name!r}: metric {self.metric!r} is not in the registry "
                             f"(rig/metrics.py; known: {', '.join(BY_NAME)})")

    def value(self, values, sleep_s=None, censored=None) -> float:
        """The aggregate of one metric's values over some cycles.

        ``sleep_s``: the same cycles' sleep (for ``rate``); ``censored``: their censored flags
        (the metric's ``censored_by`` column), each true one making that value +inf.
        """
        values = list(values)
        if not values:
            return math.nan
        if self.agg == "count":
            return float(sum(1 for v in values if not _missing(v) and bool(v)))
        vals = with_censored(values, censored)
        if self.agg == "sum":
            return float(sum(vals))
        if self.agg == "rate":
            hours = sum(0.0 if _missing(s) else float(s) for s in (sleep_s or [])) / 3600
            r = rate(float(sum(vals)), hours)
            return math.nan if r is None else float(r)
        if self.agg == "mean":
            return float(np.mean(vals))
        return percentile(vals, _PERCENTILE[self.agg])

    def judge(self, values, sleep_s=None, censored=None) -> dict:
        v = self.value(values, sleep_s, censored)
        ok = (not math.isnan(v)) and _OPS[self.op](v, self.limit)
        return {**asdict(self), "value": v, "verdict": "pass" if ok else "fail"}

    def judge_cycles(self, cycles: list[dict]) -> dict:
        """Judge the gate over cycle rows (rows of ``cycles.csv``), censoring by the registry."""
        flag = metric(self.metric).censored_by
        return self.judge([c.get(self.metric) for c in cycles], [c.get("sleep_s") for c in cycles],
                          [c.get(flag) for c in cycles] if flag else None)

    @property
    def text(self) -> str:
        """``p95(ttt_s) <= 5 s``: the gate in one line for a table or a chat message."""
        return f"{self.agg}({self.metric}) {self.op} {self.limit:g} {self.unit}"

    @classmethod
    def from_dict(cls, d: dict) -> "Gate":
        return cls(**{k: d[k] for k in ("name", "metric", "op", "limit", "unit", "agg") if k in d})


def judge_all(gates: list[Gate], cycles: list[dict]) -> list[dict]:
    return [g.judge_cycles(cycles) for g in gates]
