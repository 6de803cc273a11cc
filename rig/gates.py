"""Gates: a limit on one metric with a unit, reported as value, limit, verdict (OpenHTF-style).

A gate aggregates a per-cycle metric over the cycles it judges (one cycle, or a whole build):
``max``, ``sum`` or ``p95``. A missing value (a censored time-to-tunnel: no tunnel within the
timeout) counts as infinitely bad, so it can never pass a gate by being absent.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

_OPS = {"<=": lambda v, lim: v <= lim, "==": lambda v, lim: v == lim, ">=": lambda v, lim: v >= lim}
_AGGS = ("max", "sum", "p95")


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

    def value(self, values) -> float:
        vals = [math.inf if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v) for v in values]
        if not vals:
            return math.nan
        if self.agg == "sum":
            return float(sum(vals))
        if self.agg == "p95":
            return float(np.percentile(vals, 95, method="higher"))
        return float(max(vals))

    def judge(self, values) -> dict:
        v = self.value(values)
        ok = (not math.isnan(v)) and _OPS[self.op](v, self.limit)
        return {**asdict(self), "value": v, "verdict": "pass" if ok else "fail"}

    @classmethod
    def from_dict(cls, d: dict) -> "Gate":
        return cls(**{k: d[k] for k in ("name", "metric", "op", "limit", "unit", "agg") if k in d})


def judge_all(gates: list[Gate], cycles: list[dict]) -> list[dict]:
    return [g.judge([c.get(g.metric) for c in cycles]) for g in gates]
