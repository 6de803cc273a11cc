"""``rig twin calibrate``: fit a twin profile from a lab's own nights (run folders) or from bare
``pmset -g log`` dumps.

What is measured, and from which evidence (each within one clock, so no offset is needed):

- ``dark_wake_interval_s``: pmset, from ``Entering Sleep`` to the next ``DarkWake from …`` whose
  reason is not the network (a Wake-on-LAN packet, ours or another's) nor a person: the
  maintenance schedule. The reasons seen are counted in the parameter's ``detail``.
- ``dark_wake_duration_s``: pmset, from ``DarkWake from …`` to the next ``Entering Sleep``.
- ``handshake_s``: the extension's unified log, a session's handshake start to its tunnel up.
- ``dpd_teardown_s``: the gateway's log, the silence after which it tore a session down, as
  ocserv states it (``have not received TCP DPD for long (60 secs)``, the line before its
  ``connection timeout (DPD)``): ocserv logs no keep-alives, so this is the only way to see it.
- ``ssh_after_wake_s``: the journal, the rig's wake action to the step after SSH answered
  (an upper bound: it includes the rig's polling, some 0.1-0.5 s).
- ``network_change``: not in any log the rig reads for certain; always the default, said so.

Fitting (:func:`fit`): with fewer than :data:`MIN_N` samples the twin's built-in number stays and
the parameter says why. Otherwise scipy fits gamma, log-normal and Weibull (loc 0) by maximum
likelihood, keeps the one with the lowest AIC, and uses it if a Kolmogorov-Smirnov test does not
reject it at 5 % (lenient, as the parameters were estimated from the same sample); else the
empirical distribution (the samples themselves). The 95 % interval is Student's t for the mean.
"""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from rig.frame import to_frame
from rig.journal import read_journal
from rig.parse.pmset import parse_pmset, parse_power_message
from rig.twin.profile import FAMILIES, NAMES, Dist, Parameter, Profile, default

MIN_N = 5
_DPD_SILENCE = r"have not received (?:TCP |UDP )?DPD for long \((\d+(?:\.\d+)?) secs\)"
NOT_LOGGED = "network changes are not in any log the rig reads for certain: the built-in number"


def fit(name: str, values, min_n: int = MIN_N, detail: dict | None = None) -> Parameter:
    """One parameter from its samples (module docstring)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(x)
    if n < min_n:
        p = default(name, f"{n} sample{'' if n == 1 else 's'} (fewer than {min_n}): the twin's built-in number")
        return Parameter(p.dist, n, p.mean, p.ci95, p.source, p.note, detail or {})
    mean = float(x.mean())
    if np.ptp(x) == 0:
        return Parameter(Dist("fixed", (mean,)), n, mean, (mean, mean), "fit", "every sample equal", detail or {})
    lo, hi = stats.t.interval(0.95, n - 1, loc=mean, scale=stats.sem(x))
    ci = (float(lo), float(hi))
    if x.min() <= 0:
        return Parameter(Dist("empirical", values=tuple(sorted(x))), n, mean, ci, "empirical",
                         "samples of 0 seen: no positive family fits", detail or {})
    best = None
    for fam in FAMILIES:
        dist = getattr(stats, fam)
        params = dist.fit(x, floc=0)
        aic = 2 * (len(params) - 1) - 2 * float(np.sum(dist.logpdf(x, *params)))
        if math.isfinite(aic) and (best is None or aic < best[0]):
            best = (aic, fam, params)
    if best is None:
        return Parameter(Dist("empirical", values=tuple(sorted(x))), n, mean, ci, "empirical",
                         "no family could be fitted", detail or {})
    _, fam, params = best
    ks = stats.kstest(x, fam, args=params).pvalue
    if ks >= 0.05:
        return Parameter(Dist(fam, tuple(float(v) for v in params)), n, mean, ci, "fit",
                         f"{fam} (lowest AIC), Kolmogorov-Smirnov p = {ks:.2f}", detail or {})
    return Parameter(Dist("empirical", values=tuple(sorted(x))), n, mean, ci, "empirical",
                     f"best family {fam} rejected (Kolmogorov-Smirnov p = {ks:.3f})", detail or {})


# -- samples from the evidence ---------------------------------------------------------------------

def power_samples(power: pd.DataFrame, horizon=None) -> tuple[list[tuple], list[float], Counter]:
    """(intervals, durations, reasons) from one host's pmset power rows in time order.

    An interval is ``(seconds, seconds from its start to the horizon)``. In a cycle the horizon
    is the rig's full wake, which cuts the sleep it ends: an interval that began shortly before
    it was seen only if it was short, so :meth:`Samples.profile` keeps only the intervals that
    began at least the longest interval seen before their horizon (whether they completed cannot
    depend on their length: the pooled sample is not biased short). A bare dump has no known
    horizon (``None``): every interval is kept."""
    intervals, durations, reasons = [], [], Counter()
    rows = power.sort_values(["t", "line"]).to_dict("records")
    for prev, cur in zip(rows, rows[1:]):
        dt = (cur["t"] - prev["t"]).total_seconds()
        if prev["kind"] == "sleep" and cur["kind"] == "dark_wake":
            line = parse_power_message(cur["detail"])
            cause = line.cause.value if line is not None and line.cause is not None else "other"
            reasons[cause] += 1
            if cause not in ("network", "user"):
                room = math.inf if horizon is None else (horizon - prev["t"]).total_seconds()
                intervals.append((dt, room))
        elif prev["kind"] == "dark_wake" and cur["kind"] == "sleep":
            durations.append(dt)
    return intervals, durations, reasons


def session_samples(events: pd.DataFrame, start: str, end: str) -> list[float]:
    """Per session, from a ``start`` to the first ``end`` after it."""
    out = []
    ev = events[events["kind"].isin([start, end]) & (events["session"] != "")].sort_values("t")
    for _, g in ev.groupby("session"):
        begun = None
        for r in g.itertuples():
            if r.kind == start and begun is None:
                begun = r.t
            elif r.kind == end and begun is not None:
                out.append((r.t - begun).total_seconds())
                begun = None
    return out


def dpd_samples(gateway: pd.DataFrame) -> list[float]:
    """The silences ocserv says it waited before a DPD teardown (module docstring)."""
    said = gateway["detail"].str.extract(_DPD_SILENCE, expand=False).dropna()
    return [float(x) for x in said]


def ssh_samples(journal: list[dict]) -> list[float]:
    """The journal's wake action to the step that follows "wait for SSH", per cycle."""
    out, woke, waiting = [], {}, set()
    for r in journal:
        key = (r.get("mac"), r.get("cycle"))
        if r.get("type") == "action" and r.get("kind") in ("act_lid_open", "act_power_press"):
            woke.setdefault(key, r["t"])
        elif r.get("type") == "step" and r.get("step") == "wait for SSH":
            waiting.add(key)
        elif r.get("type") == "step" and key in waiting and key in woke:
            out.append(r["t"] - woke.pop(key))
            waiting.discard(key)
        elif r.get("type") == "cycle_start":
            woke.pop(key, None)
            waiting.discard(key)
    return out


def uncut(intervals: list[tuple]) -> list[float]:
    """The intervals whose completion could not depend on their length (:func:`power_samples`)."""
    longest = max((dt for dt, _ in intervals), default=0.0)
    return [dt for dt, room in intervals if room >= longest]


class Samples:
    """Every sample of every parameter, by group, as the sources are read."""

    def __init__(self):
        self.values: dict = {}
        self.reasons: dict = {}

    def add(self, group: str, name: str, values) -> None:
        self.values.setdefault(group, {}).setdefault(name, []).extend(values)

    def add_power(self, group: str, power: pd.DataFrame, horizon=None) -> None:
        intervals, durations, reasons = power_samples(power, horizon)
        self.add(group, "dark_wake_interval_s", intervals)
        self.add(group, "dark_wake_duration_s", durations)
        self.reasons.setdefault(group, Counter()).update(reasons)

    def profile(self, sources: list, min_n: int = MIN_N) -> Profile:
        groups = {}
        for group, by_name in sorted(self.values.items()):
            groups[group] = {}
            for name in NAMES:
                if name == "network_change":
                    groups[group][name] = default(name, NOT_LOGGED)
                    continue
                values = by_name.get(name, [])
                detail = None
                if name == "dark_wake_interval_s":
                    values = uncut(values)
                    detail = dict(self.reasons.get(group, {}))
                groups[group][name] = fit(name, values, min_n, detail)
        return Profile(groups, [str(s) for s in sources])


def from_run_folders(runs, min_n: int = MIN_N, samples: Samples | None = None) -> Samples:
    """Read run folders (``events.parquet``, derived from ``raw/`` when missing; the journal).
    A Mac's group is its tags joined (``laptop,m3``), as in ``run.json``; ``all`` pools every Mac."""
    from rig.run_folder import RunFolder
    from rig.score.derive import score_run

    s = samples or Samples()
    for run in runs:
        folder = RunFolder(Path(run))
        meta = folder.meta()
        if not folder.events.exists():
            score_run(folder.path)
        events = pd.read_parquet(folder.events)
        journal, _ = read_journal(folder.journal)
        groups = {m: ",".join(sorted(v.get("tags", []))) or "untagged" for m, v in meta.get("macs", {}).items()}
        for mac, ev in events.groupby("mac"):
            for group in (groups.get(mac, "untagged"), "all"):
                for _, cyc in ev.groupby("cycle"):
                    power = cyc[cyc["source"] == "pmset"]
                    woke = power[power["kind"].isin(["full_wake", "dark_to_full"])]["t"]
                    s.add_power(group, power, woke.max() if len(woke) else None)
                s.add(group, "handshake_s", session_samples(ev[ev["source"] == "unified"], "handshake_start", "tunnel_up"))
                s.add(group, "dpd_teardown_s", dpd_samples(ev[ev["source"] == "gateway"]))
                s.add(group, "ssh_after_wake_s", ssh_samples([r for r in journal if r.get("mac") == mac]))
    return s


def from_pmset_files(paths, min_n: int = MIN_N, samples: Samples | None = None) -> tuple[Samples, dict]:
    """Bare ``pmset -g log`` dumps (a colleague's Mac before the rack exists): the power side
    only, group ``all``. -> (samples, each file's rejected line count)."""
    s = samples or Samples()
    rejected = {}
    for path in paths:
        path = Path(path)
        res = parse_pmset(path.read_bytes().decode("utf-8", "replace"), path.stem)
        rejected[str(path)] = res.rejected
        frame = to_frame(res.rows)
        s.add_power("all", frame[frame["kind"].isin(["sleep", "dark_wake", "full_wake", "dark_to_full"])])
    return s, rejected
