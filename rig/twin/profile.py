"""A twin profile: the twin's random numbers as distributions fitted from a lab's own nights.

The twin's built-in numbers (a dark wake every 900 s +-15 % lasting 10-60 s, handshakes of
0.35-1.4 s, DPD teardown at 3 x 30 s) are guesses. ``rig twin calibrate`` writes a profile
(``profile.toml``) of what a lab really saw; ``rig twin simulate --profile`` and
``rig run --twin-profile`` make the twin draw from it, so a what-if is about *this* lab.

A profile holds, per group (a Mac model or tag set; ``all`` for every Mac), one
:class:`Parameter` per name in :data:`NAMES`, each a :class:`Dist` plus what it rests on: the
sample size, a 95 % interval of the mean, where it came from (``fit``, ``empirical`` when no
parametric family passed its goodness-of-fit test, ``default`` when there were too few
samples: the twin's built-in number, said so). Distributions are scipy's (``ppf`` of a uniform
draw from the twin's own seeded ``random.Random``), so a profile run repeats exactly per seed.
"""
from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scipy import stats

# what the twin draws, and what a Mac of the twin does with it
NAMES = {
    "dark_wake_interval_s": "seconds asleep before a maintenance dark wake",
    "dark_wake_duration_s": "seconds a dark wake lasts",
    "handshake_s": "seconds from a handshake's start to the tunnel up",
    "dpd_teardown_s": "seconds from a session's last keep-alive to the gateway's DPD teardown",
    "ssh_after_wake_s": "seconds from the rig's wake action to SSH answering",
    "network_change": "probability that a wake from sleep finds another network",
}
FAMILIES = ("gamma", "lognorm", "weibull_min")   # the parametric candidates, all with loc = 0


@dataclass(frozen=True)
class Dist:
    """``kind``: a scipy.stats family name (``params`` its shape(s), loc, scale), ``empirical``
    (``values``, drawn with equal weight), ``fixed`` (``params[0]``) or ``bernoulli`` (``params[0]``)."""

    kind: str
    params: tuple = ()
    values: tuple = ()

    def sample(self, rng) -> float:
        u = rng.random()
        if self.kind == "fixed":
            return float(self.params[0])
        if self.kind == "bernoulli":
            return float(u < self.params[0])
        if self.kind == "empirical":
            return float(self.values[min(int(u * len(self.values)), len(self.values) - 1)])
        return float(getattr(stats, self.kind).ppf(u, *self.params))

    def mean(self) -> float:
        if self.kind in ("fixed", "bernoulli"):
            return float(self.params[0])
        if self.kind == "empirical":
            return sum(self.values) / len(self.values)
        return float(getattr(stats, self.kind).mean(*self.params))


# the twin's built-in numbers, as distributions (what a parameter without data falls back to)
DEFAULTS = {
    "dark_wake_interval_s": Dist("uniform", (765.0, 270.0)),
    "dark_wake_duration_s": Dist("uniform", (10.0, 50.0)),
    "handshake_s": Dist("uniform", (0.35, 1.05)),
    "dpd_teardown_s": Dist("fixed", (90.0,)),
    "ssh_after_wake_s": Dist("uniform", (0.25, 0.45)),
    "network_change": Dist("bernoulli", (0.0,)),
}


@dataclass(frozen=True)
class Parameter:
    dist: Dist
    n: int = 0
    mean: float = math.nan
    ci95: tuple = (math.nan, math.nan)
    source: str = "default"      # fit | empirical | default
    note: str = ""               # the fit's test, or why it fell back
    detail: dict = field(default_factory=dict)   # e.g. the wake reasons seen and their counts


def default(name: str, why: str) -> Parameter:
    d = DEFAULTS[name]
    return Parameter(d, 0, d.mean(), (math.nan, math.nan), "default", why)


def builtin() -> "Profile":
    """The twin's built-in numbers as a profile (a what-if without a calibrated lab)."""
    return Profile({"all": {n: default(n, "the twin's built-in number") for n in NAMES}}, ["built-in"])


@dataclass
class Profile:
    groups: dict            # group -> {name: Parameter}
    sources: list = field(default_factory=list)

    def for_group(self, keys) -> dict:
        """The distributions of the first group of ``keys`` the profile has, else ``all``, else
        the first group: name -> :class:`Dist`. A parameter that fell back to the default is
        left out, so the twin draws its built-in number (and a Mac's own setting, e.g. its
        ``network_change``, is not overwritten by a default the profile only repeats)."""
        group = next((self.groups[k] for k in [*keys, "all"] if k in self.groups),
                     next(iter(self.groups.values()), {}))
        return {n: p.dist for n, p in group.items() if p.source != "default"}

    # -- the file ---------------------------------------------------------------------------------
    def to_toml(self) -> str:
        out = ["# a twin profile (rig twin calibrate): per group, each parameter's distribution,",
               "# sample size n, the mean's 95 % interval and where it came from",
               f"sources = {json.dumps([str(s) for s in self.sources])}", ""]
        for g, params in self.groups.items():
            for name, p in params.items():
                out.append(f"[groups.{json.dumps(g)}.{name}]")
                out.append(f"# {NAMES[name]}")
                out.append(f"kind = {json.dumps(p.dist.kind)}")
                out.append(f"params = {json.dumps([float(x) for x in p.dist.params])}")
                if p.dist.values:
                    out.append(f"values = {json.dumps([round(float(x), 6) for x in p.dist.values])}")
                out.append(f"n = {p.n}")
                out.append(f"mean = {_toml_float(p.mean)}")
                out.append(f"ci95 = [{_toml_float(p.ci95[0])}, {_toml_float(p.ci95[1])}]")
                out.append(f"source = {json.dumps(p.source)}")
                out.append(f"note = {json.dumps(p.note)}")
                if p.detail:
                    out.append("detail = { " + ", ".join(f"{json.dumps(str(k))} = {int(v)}" for k, v in p.detail.items()) + " }")
                out.append("")
        return "\n".join(out)

    def write(self, path) -> Path:
        path = Path(path)
        path.write_text(self.to_toml())
        return path


def record(path) -> dict:
    """What a run folder records of the profile it ran with: where, and which bytes (sha256)."""
    return {"path": str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


def load(path) -> Profile:
    """A profile file; a broken one is a ValueError naming the group and field."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: not a twin profile: {e}") from e
    groups = {}
    for g, params in (raw.get("groups") or {}).items():
        groups[g] = {}
        for name, p in params.items():
            where = f"{path.name}: groups.{g}.{name}"
            if name not in NAMES:
                raise ValueError(f"{where}: unknown parameter (known: {', '.join(NAMES)})")
            kind = p.get("kind")
            if kind not in (*FAMILIES, "uniform", "fixed", "bernoulli", "empirical"):
                raise ValueError(f"{where}.kind: {kind!r} is no distribution the twin draws from")
            if kind == "empirical" and not p.get("values"):
                raise ValueError(f"{where}.values: an empirical distribution needs its values")
            groups[g][name] = Parameter(Dist(kind, tuple(p.get("params", ())), tuple(p.get("values", ()))),
                                        int(p.get("n", 0)), _float(p.get("mean")),
                                        tuple(_float(x) for x in p.get("ci95", (math.nan, math.nan))),
                                        p.get("source", "fit"), p.get("note", ""), dict(p.get("detail", {})))
    if not groups:
        raise ValueError(f"{path}: no [groups.…] tables: not a twin profile")
    return Profile(groups, list(raw.get("sources", [])))


def as_dict(profile: Profile) -> dict:
    return {"sources": profile.sources,
            "groups": {g: {n: asdict(p) for n, p in ps.items()} for g, ps in profile.groups.items()}}


def _toml_float(x: float) -> str:
    return "nan" if x is None or math.isnan(x) else repr(float(x))


def _float(x) -> float:
    return math.nan if x is None else float(x)
