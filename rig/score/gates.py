"""Gates: a limit on one metric with a unit, reported as value, limit, verdict (OpenHTF-style).

A gate aggregates a per-cycle metric over the cycles it judges (one cycle, or a whole build):

- ``max``, ``sum``, ``mean``, ``p50``, ``p95``: of the metric's values;
- ``count``: how many cycles have a true (non-zero) value, e.g. ``ttt_censored``;
- ``rate``: the metric's sum per sleep-hour (the cycles' ``sleep_s``), so a gate can hold a long
  night and a short one to the same standard.

A missing value (a censored time-to-tunnel: no tunnel within the timeout) counts as infinitely
bad, so it can never pass a gate by being absent. Suites declare their gates in
:mod:`rig.score.suites`; every gate is reported with its value, limit, unit and verdict.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

_OPS = {"<=": lambda v, lim: v <= lim, "==": lambda v, lim: v == lim, ">=": lambda v, lim: v >= lim,
        "<": lambda v, lim: v < lim}
_AGGS = ("max", "sum", "mean", "p50", "p95", "count", "rate")


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

    def value(self, values, sleep_s=None) -> float:
        """The aggregate of one metric's values (``sleep_s``: the same cycles' sleep, for ``rate``)."""
        values = list(values)
        if not values:
            return math.nan
        if self.agg == "count":
            return float(sum(1 for v in values if not _missing(v) and bool(v)))
        vals = [math.inf if _missing(v) else float(v) for v in values]
        if self.agg == "sum":
            return float(sum(vals))
        if self.agg == "rate":
            hours = sum(0.0 if _missing(s) else float(s) for s in (sleep_s or [])) / 3600
            return float(sum(vals) / hours) if hours > 0 else math.nan
        if self.agg == "mean":
            return float(np.mean(vals))
        if self.agg in ("p50", "p95"):
            return float(np.percentile(vals, 50 if self.agg == "p50" else 95, method="higher"))
        return float(max(vals))

    def judge(self, values, sleep_s=None) -> dict:
        v = self.value(values, sleep_s)
        ok = (not math.isnan(v)) and _OPS[self.op](v, self.limit)
        return {**asdict(self), "value": v, "verdict": "pass" if ok else "fail"}

    def judge_cycles(self, cycles: list[dict]) -> dict:
        return self.judge([c.get(self.metric) for c in cycles], [c.get("sleep_s") for c in cycles])

    @property
    def text(self) -> str:
        """``p95(ttt_s) <= 5 s``: the gate in one line for a table or a chat message."""
        return f"{self.agg}({self.metric}) {self.op} {self.limit:g} {self.unit}"

    @classmethod
    def from_dict(cls, d: dict) -> "Gate":
        return cls(**{k: d[k] for k in ("name", "metric", "op", "limit", "unit", "agg") if k in d})


def judge_all(gates: list[Gate], cycles: list[dict]) -> list[dict]:
    return [g.judge_cycles(cycles) for g in gates]
