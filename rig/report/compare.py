"""Comparing two builds: is the candidate better, worse, or is there no evidence of a change?

A release manager asks one question of two runs, a *base* (last release) and a *candidate*.
A bare delta cannot answer it: dark wakes come every ~15 minutes with jitter, handshakes take a
variable time, so two nights of the same build never give the same numbers. Each metric is
therefore reported as a change with a 95 % confidence interval and a test, and then in words:

- **counts** (reconnects in sleep, false and true alerts, DPD terminations, handshakes in sleep)
  are events in time: rates per sleep-hour. Under "no change" the candidate's share of all the
  events is binomial with p = its share of the sleep-hours, given the total (the exact
  conditional test of two Poisson rates, ``scipy.stats.binomtest``); its exact (Clopper-Pearson)
  interval for p turns into the interval of the rate ratio. ``ttt_censored`` (a wake after
  which the tunnel did not come back) is the same test per cycle instead of per sleep-hour.
- **times** (time-to-tunnel, zombie time) are skewed and full of ties: the Mann-Whitney U test
  (``scipy.stats.mannwhitneyu``) and a bootstrap interval of the difference of the medians
  (``scipy.stats.bootstrap``, percentile method, a fixed seed so a report is reproducible). A
  censored time-to-tunnel counts as the timeout: it ranks above every real one (it is a
  failure, not a missing value).

Many metrics tested at once would find a "significant" change somewhere in one run out of a
few by chance alone. The p-values are therefore adjusted together (Benjamini-Hochberg,
``scipy.stats.false_discovery_control``) and a metric is called **better** or **worse** only when
its adjusted p-value is below 0.05; otherwise **no evidence of change** (which is not proof of no
change: the interval says how large a change the data still allows). The verdict of the whole
comparison is *worse* if any metric is worse, *better* if some are better and none worse.

Only scored cycles count (``pass``/``fail``; rig errors, unknown and hung cycles never do).
Nothing here reads anything but the two run folders' ``cycles.csv`` and ``run.json``.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from rig.outcomes import Outcome
from rig.redact import masked_meta
from rig.run_folder import atomic_write
from rig.report import sequential_view
from rig.report.templating import El, Span, h, md_code, p, page, svg, table

ALPHA = 0.05
BETTER, WORSE, NO_EVIDENCE = "better", "worse", "no evidence of change"
NO_DATA = "no data"   # a side without one scored cycle: nothing is compared

#: (metric, label, exposure): counts compared as rates per sleep-hour (or per cycle).
COUNTS = [
    ("reconnects_in_sleep", "reconnects in sleep", "sleep-hour"),
    ("false_alerts", "false disconnect alerts", "sleep-hour"),
    ("true_alerts", "true disconnect alerts", "sleep-hour"),
    ("dpd_terminations", "DPD terminations", "sleep-hour"),
    ("handshakes_in_sleep", "handshakes started in sleep", "sleep-hour"),
    ("ttt_censored", "wakes with no tunnel within the timeout", "cycle"),
]
#: (metric, label, unit): times compared by rank.
TIMES = [
    ("ttt_s", "time-to-tunnel", "s"),
    ("zombie_s", "zombie time", "s"),
]


@dataclass
class Side:
    """One run's scored cycles."""

    run: Path
    meta: dict
    cycles: pd.DataFrame
    sleep_hours: float = 0.0
    timeout_s: float = 60.0

    @property
    def name(self) -> str:
        return f"{self.meta.get('build', '?')} ({self.meta.get('run_id', self.run.name)})"


@dataclass
class MetricChange:
    metric: str
    label: str
    kind: str               # "rate" or "time"
    unit: str
    base: float | None      # rate per unit, or median
    cand: float | None
    base_n: int             # events (rate) or values (time)
    cand_n: int
    change: float | None    # rate ratio cand/base, or median difference cand - base
    ci: tuple               # 95 % interval of ``change``
    test: str
    p: float
    q: float = 1.0          # adjusted p-value
    words: str = NO_EVIDENCE
    direction: int = 0      # +1 the candidate is higher, -1 lower, 0 no difference in the data
    note: str = ""


@dataclass
class Comparison:
    base: Side
    cand: Side
    metrics: list = field(default_factory=list)
    verdict: str = NO_EVIDENCE
    warning: str = ""     # said first on every page: why this comparison says nothing
    sequential: dict | None = None   # rig compare --until-settled: the interleaved test's summary


class SameRun(ValueError):
    """A run compared with itself: it would say "no evidence of change" about nothing."""


def load_side(run_dir) -> Side:
    """A run folder's scored cycles (re-derived from raw/ when cycles.csv is missing)."""
    from rig.run_folder import RunFolder

    folder = RunFolder(Path(run_dir))
    _, meta = masked_meta(folder.meta())
    if not folder.cycles_csv.exists():
        from rig.report.rebuild import derive_run

        derive_run(folder.path)
    cycles = pd.read_csv(folder.cycles_csv)
    scored_outcomes = {Outcome.PASS.value, Outcome.FAIL.value}
    if "scorable" in cycles.columns:
        keep = cycles["outcome"].isin(scored_outcomes) & cycles["scorable"].astype(str).isin(["True", "true", "1"])
    else:
        keep = cycles["outcome"].isin(scored_outcomes)
    cycles = cycles[keep].reset_index(drop=True)
    hours = float(pd.to_numeric(cycles.get("sleep_s", pd.Series(dtype=float)), errors="coerce").fillna(0).sum()) / 3600
    timeout = float((meta.get("plan") or {}).get("tunnel_timeout_s", 60.0))
    return Side(folder.path, meta, cycles, hours, timeout)


def compare_runs(base_dir, cand_dir) -> Comparison:
    """Load both run folders and compare them; :class:`SameRun` when both are one run."""
    base, cand = load_side(base_dir), load_side(cand_dir)
    if Path(base_dir).resolve() == Path(cand_dir).resolve() or _same_journal(base.run, cand.run):
        raise SameRun(f"{base_dir} and {cand_dir} are the same run ({base.meta.get('run_id')}): "
                      f"compare a build with another run, e.g. last night's")
    return compare(base, cand)


def _same_journal(a: Path, b: Path) -> bool:
    """Two folders holding one run (a copy): byte-identical journals (run ids alone repeat
    across labs: a twin batch always starts at the same instant)."""
    ja, jb = Path(a) / "journal.jsonl", Path(b) / "journal.jsonl"
    return ja.exists() and jb.exists() and ja.stat().st_size == jb.stat().st_size and ja.read_bytes() == jb.read_bytes()


def compare(base: Side, cand: Side) -> Comparison:
    out = Comparison(base, cand)
    empty = [name for name, side in (("base", base), ("candidate", cand)) if not len(side.cycles)]
    if empty:
        out.verdict = NO_DATA
        out.warning = (f"the {' and the '.join(empty)} run has no scored cycle: nothing can be said "
                       f"about a change (not 'no evidence of change')")
        return out
    for metric, label, per in COUNTS:
        exp_b = base.sleep_hours if per == "sleep-hour" else len(base.cycles)
        exp_c = cand.sleep_hours if per == "sleep-hour" else len(cand.cycles)
        out.metrics.append(rate_change(metric, label, per, _count(base.cycles, metric), exp_b,
                                       _count(cand.cycles, metric), exp_c))
    for metric, label, unit in TIMES:
        out.metrics.append(time_change(metric, label, unit, _times(base, metric), _times(cand, metric)))
    tested = [m for m in out.metrics if not math.isnan(m.p)]
    if tested:
        qs = stats.false_discovery_control([m.p for m in tested], method="bh")
        for m, q in zip(tested, qs):
            m.q = float(q)
    for m in out.metrics:
        if math.isnan(m.p):
            m.q = math.nan
            continue
        if m.q < ALPHA and m.direction:
            m.words = WORSE if m.direction > 0 else BETTER  # every metric here: lower is better
    words = {m.words for m in out.metrics}
    out.verdict = WORSE if WORSE in words else BETTER if BETTER in words else NO_EVIDENCE
    return out


def _which(c: Comparison, words: str) -> str:
    return ", ".join(m.label for m in c.metrics if m.words == words)


def _count(cycles: pd.DataFrame, metric: str) -> int:
    if metric not in cycles.columns:
        return 0
    col = cycles[metric]
    if col.dtype == object:
        col = col.astype(str).isin(["True", "true", "1"])
    return int(pd.to_numeric(col, errors="coerce").fillna(0).sum())


def _times(side: Side, metric: str) -> np.ndarray:
    if metric not in side.cycles.columns:
        return np.zeros(0)
    v = pd.to_numeric(side.cycles[metric], errors="coerce").to_numpy(dtype=float)
    if metric == "ttt_s" and "ttt_censored" in side.cycles.columns:
        cens = side.cycles["ttt_censored"].astype(str).isin(["True", "true", "1"]).to_numpy()
        # a failure: at least the timeout, so it ranks above every real time (which is below it)
        v = np.where(cens, side.timeout_s, v)
    return v[~np.isnan(v)]


def rate_change(metric: str, label: str, per: str, k_base: int, exp_base: float, k_cand: int,
                exp_cand: float) -> MetricChange:
    """Two Poisson counts with their exposures: rate ratio, exact interval, exact test."""
    rb = k_base / exp_base if exp_base > 0 else None
    rc = k_cand / exp_cand if exp_cand > 0 else None
    n = k_base + k_cand
    m = MetricChange(metric, label, "rate", f"per {per}", rb, rc, k_base, k_cand, None, (None, None),
                     "exact conditional binomial (Poisson rates)", math.nan)
    if exp_base <= 0 or exp_cand <= 0:
        m.note = "no exposure on one side"
        return m
    if n == 0:
        m.p, m.change, m.ci = 1.0, None, (None, None)
        m.note = "no events on either side"
        return m
    share = exp_cand / (exp_base + exp_cand)
    res = stats.binomtest(k_cand, n, share)
    lo, hi = res.proportion_ci(confidence_level=0.95, method="exact")
    odds = exp_base / exp_cand

    def ratio(p: float) -> float:
        return math.inf if p >= 1 else p / (1 - p) * odds

    m.p = float(res.pvalue)
    m.change = (rc / rb) if rb else math.inf
    m.ci = (ratio(lo), ratio(hi))
    m.direction = (rc > rb) - (rc < rb)
    return m


def time_change(metric: str, label: str, unit: str, base: np.ndarray, cand: np.ndarray) -> MetricChange:
    """Rank test and a bootstrap interval of the difference of medians."""
    mb = float(np.median(base)) if len(base) else None
    mc = float(np.median(cand)) if len(cand) else None
    m = MetricChange(metric, label, "time", unit, mb, mc, len(base), len(cand), None, (None, None),
                     "Mann-Whitney U; bootstrap of the median difference", math.nan)
    if len(base) < 2 or len(cand) < 2:
        m.note = "fewer than two values on one side"
        return m
    if np.all(base == base[0]) and np.all(cand == base[0]):
        m.p, m.change, m.ci = 1.0, 0.0, (0.0, 0.0)
        m.note = "every value identical"
        return m
    res = stats.mannwhitneyu(cand, base, alternative="two-sided")
    m.p = float(res.pvalue)
    auc = float(res.statistic) / (len(cand) * len(base))   # P(cand > base) + ties/2
    m.direction = (auc > 0.5) - (auc < 0.5)
    m.change = _median_diff(cand, base)
    rng = np.random.default_rng(zlib.crc32(metric.encode()))
    boot = stats.bootstrap((cand, base), _median_diff_axis, vectorized=True, paired=False, n_resamples=2000,
                           confidence_level=0.95, method="percentile", rng=rng)
    ci = boot.confidence_interval
    m.ci = (float(ci.low), float(ci.high))
    return m


def _median_diff(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.median(x)) - float(np.median(y))


def _median_diff_axis(x, y, axis=-1):
    return np.median(x, axis=axis) - np.median(y, axis=axis)


# ---- writing ----------------------------------------------------------------------------------

def _num(v, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if isinstance(v, float):
        s = f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    else:
        s = str(v)
    return f"{s} {unit}".strip()


def p_text(p: float) -> str:
    if p is None or math.isnan(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _change_text(m: MetricChange) -> str:
    if m.change is None:
        return "n/a"
    lo, hi = m.ci
    if m.kind == "rate":
        return f"x{_num(m.change)} [{_num(lo)}, {_num(hi)}]"
    sign = "+" if m.change > 0 else ""
    return f"{sign}{_num(m.change, m.unit)} [{_num(lo)}, {_num(hi)}]"


def _value_text(m: MetricChange, which: str) -> str:
    v, n = (m.base, m.base_n) if which == "base" else (m.cand, m.cand_n)
    if m.kind == "rate":
        return f"{_num(v)} {m.unit} ({n} events)"
    return f"median {_num(v, m.unit)} (n={n})"


def render_md(c: Comparison) -> str:
    lines = [f"# {md_code(c.cand.name)} against {md_code(c.base.name)}: **{c.verdict.upper()}**", "",
             *([f"**Warning: {c.warning}.**", ""] if c.warning else []),
             *([f"Sequential comparison: {c.sequential['words']}.", ""] if c.sequential else []),
             f"Worse: {_which(c, WORSE) or 'nothing'}. Better: {_which(c, BETTER) or 'nothing'}.", "",
             f"Base: {len(c.base.cycles)} scored cycles, {c.base.sleep_hours:.2f} sleep-hours. "
             f"Candidate: {len(c.cand.cycles)} scored cycles, {c.cand.sleep_hours:.2f} sleep-hours. "
             f"Changes with 95 % intervals; words from p-values adjusted for {len(c.metrics)} metrics "
             f"(Benjamini-Hochberg, alpha {ALPHA}).", "",
             "| metric | base | candidate | change [95 % CI] | test | p | adjusted p | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for m in c.metrics:
        lines.append(f"| {m.label} | {_value_text(m, 'base')} | {_value_text(m, 'cand')} | {_change_text(m)} | "
                     f"{m.test} | {p_text(m.p)} | {p_text(m.q)} | **{m.words}**{' (' + m.note + ')' if m.note else ''} |")
    return "\n".join(lines) + "\n"


def _forest(m: MetricChange):
    """A small interval picture: the estimate and its CI against 'no change' (x1 or +0)."""
    w, h = 180, 18
    lo, hi = m.ci
    if m.change is None or lo is None or hi is None:
        return ""
    if m.kind == "rate":
        tr = lambda v: math.log10(min(max(v, 1e-3), 1e3))  # noqa: E731 - x0 and x∞ drawn at the edges
        vals = (tr(lo), tr(m.change), tr(hi))
        cap = max(0.3, *(abs(v) for v in vals)) * 1.1
        span = (-cap, cap)
    else:
        cap = max(1e-6, *(abs(v) for v in (lo, hi, m.change) if math.isfinite(v)))
        tr = lambda v: max(-cap, min(cap, v))  # noqa: E731
        span = (-cap * 1.1, cap * 1.1)
        vals = (tr(lo), tr(m.change), tr(hi))
    x = lambda v: 6 + (v - span[0]) / (span[1] - span[0]) * (w - 12)  # noqa: E731
    col = {BETTER: "#1a7f37", WORSE: "#c62828"}.get(m.words, "#555")
    return svg([El("line", {"x1": float(x(0.0)), "y1": 1, "x2": float(x(0.0)), "y2": h - 1, "stroke": "#999",
                            "stroke-dasharray": "2 2"}),
                El("line", {"x1": float(x(vals[0])), "y1": h / 2, "x2": float(x(vals[2])), "y2": h / 2,
                            "stroke": col, "stroke-width": "2"}),
                El("circle", {"cx": float(x(vals[1])), "cy": h / 2, "r": "3.5", "fill": col})],
               width=w, height=h, viewbox=f"0 0 {w} {h}")


_CLASS = {BETTER: "better", WORSE: "worse"}


def _row(m: MetricChange) -> list:
    verdict = [Span(m.words, _CLASS.get(m.words, "none"))] + ([" ", Span(m.note, "muted")] if m.note else [])
    return [m.label, _value_text(m, "base"), _value_text(m, "cand"), _change_text(m), _forest(m), m.test,
            p_text(m.p), p_text(m.q), verdict]


def render_html(c: Comparison) -> str:
    def side(s: Side) -> str:
        return f"{len(s.cycles)} scored cycles, {s.sleep_hours:.2f} sleep-hours, lab {(s.meta.get('lab') or {}).get('name')}"

    blocks = [
        h(1, [f"{c.cand.name} against {c.base.name}: ", Span(c.verdict.upper(), _CLASS.get(c.verdict, "none"))]),
        *([p(f"Warning: {c.warning}.", "worse")] if c.warning else []),
        p(["Worse: ", Span(_which(c, WORSE) or "nothing", "worse"), ". Better: ",
           Span(_which(c, BETTER) or "nothing", "better"), "."]),
        p(f"Base: {side(c.base)}. Candidate: {side(c.cand)}."),
        p("Rates: ratio candidate/base with an exact interval (dashed line: x1, log scale). Times: median "
          "difference candidate − base with a bootstrap interval (dashed line: 0). A metric is better or worse "
          f"only when its p-value, adjusted for the {len(c.metrics)} metrics tested together (Benjamini-Hochberg), "
          f"is below {ALPHA}. Lower is better for every metric.", "muted"),
        table(["metric", "base", "candidate", "change [95 % CI]", "", "test", "p", "adjusted p", "verdict"],
              [_row(m) for m in c.metrics]),
        *sequential_view.compare_blocks(c.sequential),
    ]
    return page(f"compare {c.cand.name} against {c.base.name}", "compare.css", blocks)


def write(c: Comparison, out_dir) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    h, md = out / "compare.html", out / "compare.md"
    atomic_write(h, render_html(c))
    atomic_write(md, render_md(c))
    return h, md
