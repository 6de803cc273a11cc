"""The twin's extension build models, each against its definition (rig/twin/builds.py).

Every behaviour is checked twice: in the twin's ground truth (did the model do what its definition
says?) and through the scores the rig derives from the simulated run folder (does the rig see it
the way it happened?). Runs are batch-mode nights: no SSH, scored by ``derive_run`` unchanged.
"""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from batch_nights import batch_run
from rig.twin.builds import FlakyHandshake, KeepaliveOffload, Lazy, Zombie
from rig.twin.serve import TwinConfig
from rig.twin.simulate import SimPlan, fleet, simulate

WAKE_DELIVERY_S = 0.08  # wake() reaches the extension this long after the power transition
HANDSHAKE_MAX_S = 1.4


def _phases(truth: dict, mac: str, phase: str) -> list[tuple[float, float]]:
    return [(a, b) for a, b, p in truth["macs"][mac]["phases"] if p == phase and b is not None]


def _ttt_close(row, true_row, tol=0.05) -> bool:
    return abs(row["ttt_s"] - true_row["ttt_s"]) <= tol


# -- keepalive-offload --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def offload(tmp_path_factory):
    return batch_run(tmp_path_factory.mktemp("offload"), "keepalive-offload", cycles_per_night=3)


def test_keepalive_offload_has_no_dpd_and_no_reconnects(offload):
    pairs = offload.pairs()
    assert pairs and all(t["dark_wakes"] >= 1 for _, t in pairs)  # there were dark wakes to survive
    for row, t in pairs:
        assert row["dpd_terminations"] == t["dpd_in_cycle"] == 0
        assert row["reconnects_in_sleep"] == t["reconnects_in_sleep"] == 0
        assert row["false_alerts"] == t["false_alerts"] == 0
        assert row["dark_wakes"] == t["dark_wakes"]


def test_keepalive_offload_gateway_receives_keepalives_during_sleep(offload):
    truth = offload.truth
    sessions = [s for s in truth["gateway"]["sessions"] if s["mac"] == "mbp-01"]
    assert len(sessions) == 1 and sessions[0]["end"] is None  # one session, alive all night
    asleep_s = sum(b - a for a, b in _phases(truth, "mbp-01", "sleep"))
    # the kernel sends one every keep-alive period while the Mac sleeps
    assert truth["macs"]["mbp-01"]["offload_keepalives"] >= asleep_s / KeepaliveOffload.keepalive_s * 0.9


def test_keepalive_offload_dies_when_the_mac_wakes_on_another_network(tmp_path):
    run = batch_run(tmp_path, "keepalive-offload", cycles_per_night=2, network_change=1.0)
    pairs = run.pairs()
    assert sum(t["network_changes"] for _, t in pairs) >= 2
    assert sum(t["dpd_in_cycle"] for _, t in pairs) >= 1  # the old session dies by DPD
    for row, t in pairs:
        assert row["reconnects_in_sleep"] == t["reconnects_in_sleep"]
        assert row["dpd_terminations"] == t["dpd_in_sleep"] + t["dpd_recovered"]


# -- lazy ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lazy(tmp_path_factory):
    return batch_run(tmp_path_factory.mktemp("lazy"), "lazy", cycles_per_night=4)


def test_lazy_reconnects_at_the_first_keepalive_tick_after_a_full_wake(lazy):
    m = lazy.truth["macs"]["mbp-01"]
    checked = 0
    ended = {b: (a, p) for a, b, p in m["phases"]}  # phase that ended at an instant
    for fw in m["full_wakes"]:
        if fw["survived"]:
            continue
        # wake() came with this wake, or with the dark wake it promoted (no second wake() then)
        start, before = ended[fw["wake"]]
        resumed = start if before == "dark" else fw["wake"]
        tick = resumed + WAKE_DELIVERY_S + Lazy.keepalive_s
        first = min(h["t"] for h in m["handshakes"] if h["t"] > fw["wake"])
        assert first == pytest.approx(tick, abs=1e-6)
        assert tick < fw["tunnel_up"] <= tick + HANDSHAKE_MAX_S
        checked += 1
    assert checked >= 1
    for row, t in lazy.pairs():
        assert _ttt_close(row, t)


def test_lazy_sleeps_through_dark_wakes_shorter_than_its_timer(lazy):
    m = lazy.truth["macs"]["mbp-01"]
    hs = [h["t"] for h in m["handshakes"]]
    short = long_ = 0
    for a, b in _phases(lazy.truth, "mbp-01", "dark"):
        tick = a + WAKE_DELIVERY_S + Lazy.keepalive_s
        in_wake = [t for t in hs if a <= t < b]
        if b < tick:
            assert in_wake == []
            short += 1
        else:
            assert in_wake and in_wake[0] == pytest.approx(tick, abs=1e-6)
            long_ += 1
    assert short and long_  # the night had both kinds
    for row, t in lazy.pairs():
        assert row["reconnects_in_sleep"] == t["reconnects_in_sleep"]
        assert row["false_alerts"] == t["false_alerts"]


# -- flaky-handshake ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flaky(tmp_path_factory):
    return batch_run(tmp_path_factory.mktemp("flaky"), "flaky-handshake", cycles_per_night=4)


def test_flaky_handshake_failures_are_visible_in_both_logs(flaky):
    ev = flaky.events()
    other = ev[ev["kind"] == "other"]
    for row, t in flaky.pairs():
        cyc = other[other["cycle"] == t["cycle"]]
        ext = cyc[(cyc["source"] == "unified") & cyc["detail"].str.startswith("Handshake failed")]
        gw = cyc[(cyc["source"] == "gateway") & cyc["detail"].str.contains("error in TLS handshake")]
        assert len(ext) == len(gw) == t["failed_handshakes"]
        assert row["handshakes_in_sleep"] == t["handshakes_in_sleep"]
        assert row["reconnects_in_sleep"] == t["reconnects_in_sleep"]
    assert sum(t["failed_handshakes"] for _, t in flaky.pairs()) >= 2


def test_flaky_handshake_backs_off_by_doubling(flaky):
    m = flaky.truth["macs"]["mbp-01"]
    changes = [a for a, _, _ in m["phases"]]
    checked = 0
    for f in m["failed_handshakes"]:
        delay = FlakyHandshake.backoff_s[min(f["attempt"], len(FlakyHandshake.backoff_s)) - 1]
        if any(f["t"] < c <= f["t"] + delay for c in changes):
            continue  # the Mac slept (or woke) first: the retry timer died with the process
        nxt = min(h["t"] for h in m["handshakes"] if h["t"] > f["t"])
        assert nxt == pytest.approx(f["t"] + delay, abs=1e-6)
        checked += 1
    assert checked >= 1


def _failures(out, seed):
    sim = simulate(TwinConfig(build="flaky-handshake", seed=seed, macs=fleet(1)),
                   SimPlan(cycles_per_night=2, dwell_s=1800), out)
    return [(f["t"], f["attempt"]) for f in json.loads(sim.truth_path.read_text())["macs"]["mbp-01"]["failed_handshakes"]]


def test_flaky_handshake_failures_replay_exactly_per_seed(tmp_path):
    a, b = _failures(tmp_path / "a", 3), _failures(tmp_path / "b", 3)
    other = _failures(tmp_path / "c", 4)
    assert a and a == b
    assert other != a


# -- zombie -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def zombie_long(tmp_path_factory):
    assert 45 * 60 > Zombie.zombie_after_s
    return batch_run(tmp_path_factory.mktemp("zombie"), "zombie", cycles_per_night=2, nights=2,
                     dwell_s=45 * 60)


def test_zombie_after_a_long_sleep_shows_connected_while_the_gateway_has_no_session(zombie_long):
    ev = zombie_long.events()
    pairs = zombie_long.pairs()
    assert all(t["zombie"] for _, t in pairs)
    for row, t in pairs:
        assert t["ttt_s"] is None  # the tunnel never really came back
        assert not row["ttt_censored"] and row["ttt_s"] < 2.0  # but the extension said it did
        anchor = pd.Timestamp(row["anchor"])
        cyc = ev[(ev["cycle"] == t["cycle"]) & (ev["mac"] == t["mac"])]
        assert not ((cyc["kind"] == "gw_session_start") & (cyc["t"] > anchor)).any()


def test_zombie_intervals_run_until_the_extension_restarts(zombie_long):
    truth = zombie_long.truth
    zs = truth["macs"]["mbp-01"]["zombie"]
    assert len(zs) == len(truth["nights"])  # one per night: a fresh process each night
    for z, night in zip(zs, truth["nights"]):
        assert night["start"] < z["start"] < z["end"] == night["end"]


def test_zombie_time_scored_where_the_gateway_shows_the_session_dead(zombie_long):
    scored = [(row, t) for row, t in zombie_long.pairs() if row["zombie_evidence"] == "gateway"]
    # the night's first zombie cycle holds the gateway's DPD of the session in its window
    assert len(scored) >= len(zombie_long.truth["nights"])
    for row, t in scored:
        assert row["zombie_s"] == pytest.approx(t["zombie_full_s"], abs=0.1)


def test_zombie_after_a_short_sleep_reconnects(tmp_path):
    run = batch_run(tmp_path, "zombie", cycles_per_night=2, dwell_s=20 * 60)
    assert run.truth["macs"]["mbp-01"]["zombie"] == []
    for row, t in run.pairs():
        assert t["ttt_s"] is not None and not t["survived"]
        assert _ttt_close(row, t)
        # the rig sees no zombie time (NaN: no evidence), or only the instant before wake()
        # reached the extension, which had not looked at its session yet
        assert math.isnan(row["zombie_s"]) or abs(row["zombie_s"] - t["zombie_full_s"]) <= WAKE_DELIVERY_S + 0.01


# -- network change during sleep ----------------------------------------------------------------

def test_a_mac_that_wakes_on_another_network_reconnects_from_its_new_address(tmp_path):
    run = batch_run(tmp_path, "naive", cycles_per_night=2, dwell_s=30 * 60, network_change=0.5)
    changes = run.truth["macs"]["mbp-01"]["network_changes"]
    assert len(changes) >= 2
    ev = run.events()
    notes = ev[(ev["source"] == "unified") & ev["detail"].str.startswith("Path changed")]
    starts = ev[ev["kind"] == "gw_session_start"]
    for c in changes:
        iface, addr = c["to"].split()
        assert (notes["detail"] == f"Path changed: satisfied via {iface} {addr}").sum() == 1
        assert starts["session"].str.startswith(f"{addr}:").any()  # the gateway sees the new address
    for row, t in run.pairs():
        assert row["reconnects_in_sleep"] == t["reconnects_in_sleep"]
        assert row["false_alerts"] == t["false_alerts"]
