"""Specification of the timeline (rig.score.timeline): one clock for every host, one power series.

Clock tests build synthetic frames from a known truth: each event happens at a true controller
instant; the host stamps it with its own clock (skew, drift, a step at the wake) in its own UTC
offset; offsets are "measured" with the worst error the method allows (RTT/2, alternating
sign). Corrected times must land within RTT/2 of the truth.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import orjson
import pandas as pd
import pytest

from rig.events import Kind, row
from rig.frame import to_frame
from rig.parse.pmset import parse_pmset
from rig.score.timeline import correct, match_seconds, offsets_frame, phases, power_events
from rig.parse.unified_log import parse_unified

T0 = 1_795_000_000.0          # a controller instant (2026-11-17), epoch seconds
RTT = 0.010                   # round trip of every offset measurement
ERR = RTT / 2                 # what the measurement can promise
EPS = 2e-6                    # µs rounding of the stamps


# ---- a synthetic host clock ----------------------------------------------------------------------

class HostClock:
    """host time = true time + skew + drift * (true - T0) + step (from the wake on)."""

    def __init__(self, skew=0.0, drift=0.0, step=0.0, wake=None):
        self.skew, self.drift, self.step, self.wake = skew, drift, step, wake

    def offset(self, true_t: float) -> float:
        o = self.skew + self.drift * (true_t - T0)
        if self.wake is not None and true_t >= self.wake:
            o += self.step
        return o

    def stamp(self, true_t: float) -> float:
        return true_t + self.offset(true_t)


def iso(epoch: float, utc_offset_min: int = 0, seconds_only: bool = False) -> str:
    tz = timezone(timedelta(minutes=utc_offset_min))
    dt = datetime.fromtimestamp(int(epoch) if seconds_only else epoch, tz)
    return dt.isoformat(timespec="seconds" if seconds_only else "microseconds")


def ev(clock: HostClock, true_t: float, kind: Kind, host="mbp-01", source="unified", utc_offset_min=0,
       line=0) -> dict:
    """A row stamped by ``clock``; a pmset row is truncated to its second, in local time."""
    h = clock.stamp(true_t)
    pm = source == "pmset"
    return row(iso(h, utc_offset_min, seconds_only=pm), f"true={true_t!r}", host, source, kind, line=line)


def measured(clock: HostClock, ts, host="mbp-01") -> pd.DataFrame:
    """Offset records at controller instants ``ts``, each off by the worst allowed error."""
    recs = [{"type": "offset", "host": host, "t": t, "offset": clock.offset(t) + (ERR if i % 2 else -ERR),
             "rtt": RTT} for i, t in enumerate(ts)]
    return offsets_frame(recs)


def truth_of(df: pd.DataFrame) -> np.ndarray:
    return np.array([float(x.split("=", 1)[1]) for x in df["t_raw"]])


def corrected_error(out: pd.DataFrame) -> np.ndarray:
    got = out["t"].astype("int64").to_numpy() / 1e9
    return np.abs(got - truth_of(out))


# ---- one clock: skew and drift -------------------------------------------------------------------

@pytest.mark.parametrize("skew", [5.0, -5.0])
def test_a_constant_skew_of_5s_either_way_is_removed_within_the_offset_error(skew):
    clock = HostClock(skew=skew)
    rows = [ev(clock, T0 + k * 37.123456, Kind.TUNNEL_UP, utc_offset_min=330) for k in range(20)]
    out = correct(to_frame(rows), measured(clock, [T0 - 10, T0 + 400, T0 + 900]))
    assert corrected_error(out).max() <= ERR + EPS


def test_a_drifting_clock_is_followed_between_measurements():
    # 200 ppm: a constant offset would be wrong by up to 120 ms between two measurements 10 min apart
    clock = HostClock(skew=5.0, drift=200e-6)
    ms = [T0 + 600 * k for k in range(5)]
    rows = [ev(clock, T0 + 13.7 + 47.3 * k, Kind.KEEPALIVE, utc_offset_min=-480) for k in range(50)]
    assert T0 + 13.7 + 47.3 * 49 < ms[-1]
    out = correct(to_frame(rows), measured(clock, ms))
    assert corrected_error(out).max() <= ERR + 1e-4  # + drift x skew: interpolated on the host's clock


def test_rows_before_the_first_and_after_the_last_measurement_take_the_nearest_one():
    clock = HostClock(skew=-5.0)
    rows = [ev(clock, T0 - 300, Kind.TUNNEL_UP), ev(clock, T0 + 5000, Kind.TUNNEL_DOWN)]
    out = correct(to_frame(rows), measured(clock, [T0, T0 + 60]))
    assert corrected_error(out).max() <= ERR + EPS


def test_a_host_without_a_measurement_keeps_its_own_time():
    clock = HostClock(skew=5.0)
    rows = [ev(clock, T0 + 1, Kind.TUNNEL_UP, host="mbp-01"),
            row(iso(T0 + 2), "controller", "controller", "controller", Kind.ACT_LID_OPEN)]
    out = correct(to_frame(rows), measured(clock, [T0]))
    ctrl = out[out["host"] == "controller"]
    assert ctrl["t"].iloc[0] == pd.Timestamp(iso(T0 + 2))
    assert corrected_error(out[out["host"] == "mbp-01"]).max() <= ERR + EPS


def test_each_host_is_corrected_with_its_own_offsets():
    mac, gw = HostClock(skew=5.0), HostClock(skew=-3.5, drift=-50e-6)
    rows = [ev(mac, T0 + 100, Kind.TUNNEL_UP, host="mbp-01"),
            ev(gw, T0 + 100.2, Kind.GW_SESSION_START, host="gw", source="gateway")]
    offs = pd.concat([measured(mac, [T0, T0 + 300], host="mbp-01"), measured(gw, [T0, T0 + 300], host="gw")])
    out = correct(to_frame(rows), offs)
    assert corrected_error(out).max() <= ERR + EPS
    assert list(out["host"]) == ["mbp-01", "gw"]  # sorted by corrected time


# ---- one clock: a step at the wake ---------------------------------------------------------------

def night(step: float, drift: float = 0.0):
    """A cycle: measurement, sleep, two dark wakes, a full wake where the clock steps by ``step``,
    measurements after the wake. Power rows come from pmset (-0800) and powerd (UTC)."""
    sleep_t, wake_t = T0 + 30.25, T0 + 45 * 60 + 0.73
    clock = HostClock(skew=-5.0, drift=drift, step=step, wake=wake_t)
    inside = [ev(clock, t, k) for t, k in ((T0 + 900.4, Kind.DARK_WAKE), (T0 + 900.6, Kind.EXT_WAKE),
                                          (T0 + 901.9, Kind.TUNNEL_UP), (T0 + 930.1, Kind.SLEEP),
                                          (T0 + 1800.2, Kind.DARK_WAKE), (T0 + 1801.5, Kind.TUNNEL_UP),
                                          (T0 + 1840.8, Kind.SLEEP), (wake_t - 60, Kind.KEEPALIVE))]
    inside += [ev(clock, t, k, source="pmset", utc_offset_min=-480)
               for t, k in ((T0 + 900.4, Kind.DARK_WAKE), (T0 + 930.1, Kind.SLEEP),
                            (T0 + 1800.2, Kind.DARK_WAKE), (T0 + 1840.8, Kind.SLEEP))]
    before = [ev(clock, T0 + 5, Kind.TUNNEL_UP), ev(clock, sleep_t, Kind.SLEEP),
              ev(clock, sleep_t, Kind.SLEEP, source="pmset", utc_offset_min=-480)]
    after = [ev(clock, wake_t, Kind.FULL_WAKE), ev(clock, wake_t, Kind.FULL_WAKE, source="pmset", utc_offset_min=-480),
             ev(clock, wake_t + 0.08, Kind.EXT_WAKE), ev(clock, wake_t + 1.31, Kind.TUNNEL_UP),
             ev(clock, wake_t + 50, Kind.KEEPALIVE)]
    # measured before the sleep, then (SSH answers again) 6 s after the wake, then after collecting
    offs = measured(clock, [T0 - 2.0, wake_t + 6.0, wake_t + 40.0])
    out = correct(to_frame(before + inside + after), offs)
    return out, {"before": before, "inside": inside, "after": after}


def _part(out, rows):
    keys = {r["t_raw"] for r in rows}
    part = out[out["t_raw"].isin(keys) & (out["source"] != "pmset")]
    assert len(part) == sum(r["source"] != "pmset" for r in rows)
    return part


@pytest.mark.parametrize("step", [3.0, -2.0, 5.0])
def test_after_a_clock_step_at_the_wake_rows_from_the_wake_on_use_the_measurement_after_it(step):
    out, parts = night(step)
    # the tunnel came up 1.3 s after the wake, before the first measurement after it (at +6 s)
    assert corrected_error(_part(out, parts["after"])).max() <= ERR + EPS


@pytest.mark.parametrize("step", [3.0, -2.0, 5.0])
def test_rows_inside_the_sleep_use_the_measurement_before_the_sleep_despite_the_step(step):
    out, parts = night(step)
    assert corrected_error(_part(out, parts["inside"])).max() <= ERR + EPS
    assert corrected_error(_part(out, parts["before"])).max() <= ERR + EPS


def test_pmset_rows_around_a_step_land_within_their_second_of_the_truth():
    out, parts = night(4.0)
    pm = out[out["source"] == "pmset"]
    err = (pm["t"].astype("int64").to_numpy() / 1e9) - truth_of(pm)
    assert len(pm) == 6
    assert (err <= ERR + EPS).all() and (err >= -1 - ERR - EPS).all()   # truncated to the second


def test_a_wake_without_a_later_measurement_keeps_the_last_offset_before_it():
    wake_t = T0 + 1200.5
    clock = HostClock(skew=5.0, step=0.0, wake=wake_t)
    rows = [ev(clock, T0 + 600, Kind.SLEEP), ev(clock, wake_t, Kind.FULL_WAKE), ev(clock, wake_t + 3, Kind.TUNNEL_UP)]
    out = correct(to_frame(rows), measured(clock, [T0 - 60, T0 + 10]))
    assert corrected_error(out).max() <= ERR + EPS


# ---- one power series ------------------------------------------------------------------------------

def pm(t_local: str, kind: Kind, line: int, host="mbp-01") -> dict:
    return row(t_local, t_local, host, "pmset", kind, detail=f"pmset {kind.value}", line=line)


def pd_(t_utc: str, kind: Kind, line: int, host="mbp-01") -> dict:
    return row(t_utc, t_utc, host, "unified", kind, detail=f"powerd {kind.value}", line=line)


def test_a_powerd_line_refines_the_pmset_second_of_the_same_transition():
    # pmset prints local time with its offset: 08:45:10 -0800 is 16:45:10 UTC
    p = power_events(to_frame([pm("2026-11-25T08:45:10-08:00", Kind.DARK_WAKE, 7),
                               pd_("2026-11-25T16:45:10.734512+00:00", Kind.DARK_WAKE, 3)]))
    assert len(p) == 1
    r = p.iloc[0]
    assert r["t"] == pd.Timestamp("2026-11-25T16:45:10.734512Z")
    assert bool(r["refined"]) and r["t_pmset"] == pd.Timestamp("2026-11-25T16:45:10Z")
    assert (r["source"], r["line"], r["detail"]) == ("pmset", 7, "pmset dark_wake")


def test_a_pmset_transition_without_a_powerd_line_keeps_its_second():
    p = power_events(to_frame([pm("2026-11-25T08:45:10-08:00", Kind.DARK_WAKE, 7),
                               pm("2026-11-25T08:46:00-08:00", Kind.SLEEP, 8),
                               pd_("2026-11-25T16:45:10.5+00:00", Kind.DARK_WAKE, 3)]))
    sleep = p[p["kind"] == "sleep"].iloc[0]
    assert not sleep["refined"] and sleep["t"] == pd.Timestamp("2026-11-25T16:46:00Z")
    assert list(p["kind"]) == ["dark_wake", "sleep"]


def test_a_powerd_line_of_another_kind_in_the_same_second_does_not_refine():
    p = power_events(to_frame([pm("2026-11-25T08:45:10-08:00", Kind.SLEEP, 7),
                               pd_("2026-11-25T16:45:10.5+00:00", Kind.DARK_WAKE, 3)]))
    assert sorted(zip(p["kind"], p["source"], p["refined"])) == [("dark_wake", "unified", True),
                                                                ("sleep", "pmset", False)]


def test_a_powerd_line_far_from_any_pmset_second_stays_a_transition_of_its_own():
    p = power_events(to_frame([pm("2026-11-25T08:45:10-08:00", Kind.DARK_WAKE, 7),
                               pd_("2026-11-25T16:45:14.5+00:00", Kind.DARK_WAKE, 3)]))
    assert len(p) == 2 and list(p["refined"]) == [False, True]
    assert pd.isna(p["t_pmset"].iloc[1])


def test_each_powerd_line_refines_at_most_one_pmset_line_the_nearest():
    p = power_events(to_frame([pm("2026-11-25T16:45:10+00:00", Kind.DARK_WAKE, 7),
                               pm("2026-11-25T16:45:11+00:00", Kind.DARK_WAKE, 9),
                               pd_("2026-11-25T16:45:11.2+00:00", Kind.DARK_WAKE, 3)]))
    assert list(zip(p["line"], p["refined"])) == [(7, False), (9, True)]
    assert p["t"].iloc[1] == pd.Timestamp("2026-11-25T16:45:11.2Z")


def test_powerd_lines_alone_make_the_power_series():
    p = power_events(to_frame([pd_("2026-11-25T16:45:10.5+00:00", Kind.DARK_WAKE, 3),
                               pd_("2026-11-25T16:45:40.5+00:00", Kind.SLEEP, 4)]))
    assert list(p["kind"]) == ["dark_wake", "sleep"] and p["refined"].all()


def test_power_series_of_each_host_is_matched_separately():
    p = power_events(to_frame([pm("2026-11-25T16:45:10+00:00", Kind.DARK_WAKE, 7, host="a"),
                               pd_("2026-11-25T16:45:10.5+00:00", Kind.DARK_WAKE, 3, host="b")]))
    assert len(p) == 2 and list(p["refined"]) == [False, True]


def test_match_seconds_accepts_the_truncated_second_widened_by_the_tolerance():
    s = 1_000_000_000
    coarse = np.array([100 * s])
    assert match_seconds(coarse, np.array([100 * s + s - 1])) == [(0, 0)]
    assert match_seconds(coarse, np.array([99 * s])) == [(0, 0)]
    assert match_seconds(coarse, np.array([98 * s])) == []
    assert match_seconds(coarse, np.array([102 * s])) == []


def test_phases_follow_the_refined_power_series():
    p = power_events(to_frame([pm("2026-11-25T16:00:00+00:00", Kind.SLEEP, 1),
                               pd_("2026-11-25T16:00:00.4+00:00", Kind.SLEEP, 1),
                               pm("2026-11-25T16:15:00+00:00", Kind.DARK_WAKE, 2),
                               pm("2026-11-25T16:15:30+00:00", Kind.SLEEP, 3),
                               pd_("2026-11-25T16:40:00.9+00:00", Kind.FULL_WAKE, 2)]))
    start, end = pd.Timestamp("2026-11-25T15:59Z"), pd.Timestamp("2026-11-25T16:41Z")
    got = phases(p, start, end)
    assert [ph for _, _, ph in got] == ["full", "sleep", "dark", "sleep", "full"]
    assert got[1][0] == pd.Timestamp("2026-11-25T16:00:00.4Z")


# ---- the twin: its truth, through its real-format logs ---------------------------------------------

def test_a_twin_macs_logs_give_its_true_power_transitions_to_the_microsecond():
    """A twin Mac (skewed clock, -0800) sleeps through dark wakes; its pmset log and powerd lines,
    parsed, refined and corrected with its measured offset, give the twin's own instants."""
    from rig.twin.gateway import Gateway
    from rig.twin.mac import POWERD, Mac
    from rig.twin.world import World

    world = World(start=T0, seed=5)
    world.gateway = Gateway(world, users={"mbp-01": "rig-mbp-01"}, dpd_s=2)
    skew = -4.75
    mac = Mac(world, "mbp-01", 1, skew=skew, utc_offset_min=-480, build="naive")
    world.macs["mbp-01"] = mac
    with world.lock:
        mac.ext.start()
        world.advance(T0 + 10)
        mac.lid(True)
        world.advance(T0 + 40 * 60)
        mac.lid(False)
        world.advance(T0 + 41 * 60)
    ndjson = b"\n".join(orjson.dumps(r) for r in mac.log_show({POWERD}, None, None))
    rows = parse_pmset(mac.pmset_log(), "mbp-01").rows + parse_unified(ndjson, "mbp-01", None).rows
    offs = offsets_frame([{"type": "offset", "host": "mbp-01", "t": T0 + 5, "offset": skew, "rtt": 0.0}])
    p = power_events(correct(to_frame(rows), offs))

    truth = sorted([(s["t"], "sleep") for s in mac.truth["sleeps"]]
                   + [(w["t"], {"dark": "dark_wake", "full": "full_wake", "dark_to_full": "dark_to_full"}[w["kind"]])
                      for w in mac.truth["wakes"]])
    assert len(truth) >= 4 and any(k == "dark_wake" for _, k in truth)
    assert list(p["kind"]) == [k for _, k in truth]
    assert p["refined"].all() and p["t_pmset"].notna().all()   # every pmset line found its powerd line
    got = p["t"].astype("int64").to_numpy() / 1e9
    assert np.abs(got - np.array([t for t, _ in truth])).max() <= EPS
