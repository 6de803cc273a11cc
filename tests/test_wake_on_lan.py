"""Dark wakes on demand (issue 13, section 2): Wake-on-LAN packets in the dwell, counted from the
Mac's own pmset and powerd lines, never assumed; checked against the twin's ground truth."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from click.testing import CliRunner

from rig.cli.main import main
from rig.drive.wol import PACKET_LEN, magic_packet, send_magic_packet, wakes
from rig.events import Kind, WakeCause
from rig.journal import Rec, read_journal
from rig.lab.inventory import LabError, WakeOnLan, load_lab, parse_lab
from rig.parse.pmset import parse_pmset
from rig.report.rebuild import derive_run
from rig.runner import script
from rig.runner.operations import Note, Now, Wait, WakePacket, run_to_end
from rig.runner.doctor import run_doctor
from rig.runner.plan import Plan
from rig.twin.gateway import Gateway
from rig.twin.launch import TwinProcess
from rig.twin.serve import DEFAULT_MACS, MacSpec, TwinConfig
from rig.twin.simulate import SimPlan, fleet, simulate
from rig.twin.wake_door import WakeDoor
from rig.twin.world import World

HW = "aa:bb:cc:dd:ee:ff"


# -- the packet -------------------------------------------------------------------------------------

def test_a_magic_packet_is_six_ff_then_the_address_sixteen_times():
    pkt = magic_packet("AA-BB-CC-DD-EE-FF")
    assert pkt == bytes.fromhex("ff" * 6 + "aabbccddeeff" * 16)
    assert len(pkt) == PACKET_LEN == 102
    assert wakes(pkt, HW) and wakes(b"\x00\x01\xff" + pkt + b"secureon", HW)  # anywhere in the datagram
    assert not wakes(pkt, "aa:bb:cc:dd:ee:fe")
    assert not wakes(pkt[:-1], HW)
    assert not wakes(b"\xff" * 6 + bytes.fromhex("aabbccddeeff") * 15 + bytes(6), HW)
    with pytest.raises(ValueError, match="not a hardware address"):
        magic_packet("aa:bb:cc:dd:ee")


def test_a_magic_packet_sent_over_udp_arrives_whole():
    got: list[bytes] = []
    door = WakeDoor("t", got.append).start()
    try:
        assert send_magic_packet(HW, "127.0.0.1", door.port) == PACKET_LEN
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        door.stop()
    assert got == [magic_packet(HW)]


# -- the lab file -----------------------------------------------------------------------------------

def _lab(tmp_path, wol):
    (tmp_path / "sig.toml").write_text('[product]\nname="x"\nsubsystems=["com.x"]\n')
    mac = {"name": "mbp-01", "host": "h", "user": "rig", "known_hosts": "kh", "actuator": "act-1", "channel": 1}
    if wol is not None:
        mac["wake_on_lan"] = wol
    return parse_lab({"extension": {"name": "X", "subsystem": "com.x", "signatures": "sig.toml"},
                      "actuator": [{"name": "act-1", "port": "/dev/ttyUSB0"}], "mac": [mac]}, tmp_path / "lab.toml")


def test_a_lab_mac_with_wake_on_lan_has_its_address_and_one_without_has_none(tmp_path):
    lab = _lab(tmp_path, {"mac": "AA-BB-CC-DD-EE-FF", "broadcast": "192.0.2.255"})
    assert lab.macs["mbp-01"].wake_on_lan == WakeOnLan(HW, "192.0.2.255", 9)
    assert _lab(tmp_path, None).macs["mbp-01"].wake_on_lan is None


@pytest.mark.parametrize("wol,field", [
    ("aa:bb:cc:dd:ee:ff", "wake_on_lan must be a table"),
    ({"mac": "aa:bb:cc:dd:ee:zz", "broadcast": "192.0.2.255"}, "wake_on_lan.mac 'aa:bb:cc:dd:ee:zz' is not a hardware"),
    ({"mac": "01:00:5e:00:00:01", "broadcast": "192.0.2.255"}, "wake_on_lan.mac '01:00:5e:00:00:01' is a group"),
    ({"broadcast": "192.0.2.255"}, "wake_on_lan: mac is required"),
    ({"mac": HW, "broadcast": "lab-broadcast"}, "wake_on_lan.broadcast 'lab-broadcast' is not an IPv4"),
    ({"mac": HW, "broadcast": "192.0.2.255", "port": 70000}, "wake_on_lan.port must be a UDP port"),
    ({"mac": HW, "broadcast": "192.0.2.255", "port": "9"}, "wake_on_lan: port must be an integer"),
    ({"mac": HW, "broadcast": "192.0.2.255", "ip": "192.0.2.7"}, "wake_on_lan.ip is not a field"),
])
def test_a_broken_wake_on_lan_field_names_the_file_the_mac_and_the_field(tmp_path, wol, field):
    with pytest.raises(LabError) as e:
        _lab(tmp_path, wol)
    assert str(e.value).startswith('lab.toml: mac "mbp-01": ')
    assert field in str(e.value)


# -- the dwell: the script's one definition, carried out by a fake clock ---------------------------

class FakeLab:
    """An executor on an exact clock: a wait may be cut short at ``stop_at`` (a stop request)."""

    def __init__(self, refuse: bool = False, stop_at: float | None = None):
        self.t, self.refuse, self.stop_at = 0.0, refuse, stop_at
        self.ops, self.notes = [], []

    def perform(self, op):
        self.ops.append(op)
        if isinstance(op, Wait):
            self.t = min(self.t + op.seconds, self.stop_at if self.stop_at is not None else float("inf"))
        elif isinstance(op, WakePacket) and self.refuse:
            raise OSError(101, "Network is unreachable")
        elif isinstance(op, Note):
            self.notes.append(op.record)
        return self.t if isinstance(op, (Now, WakePacket)) else None


def _dwell(lab: FakeLab, every_s: float, target=WakeOnLan(HW, "192.0.2.255", 9), dwell_s: float = 600.0):
    s = SimpleNamespace(name="mbp-01", plan=Plan(build="b", dwell_s=dwell_s, dark_wake_every_s=every_s),
                        mac=SimpleNamespace(wake_on_lan=target))
    run_to_end(script.dwell(s, 3), lab.perform)
    return [op for op in lab.ops if isinstance(op, WakePacket)]


def test_the_dwell_sends_a_packet_each_interval_but_none_in_its_last_minute():
    lab = FakeLab()
    sent = _dwell(lab, 180.0)
    assert len(sent) == 3 and lab.t == 600.0
    assert [r["t"] for r in lab.notes] == [180.0, 360.0, 540.0]
    assert all(r["type"] == Rec.WAKE_PACKET.value and r["cycle"] == 3 and r["hw"] == HW
               and r["to"] == "192.0.2.255:9" and "error" not in r for r in lab.notes)


@pytest.mark.parametrize("every_s,target", [(0.0, WakeOnLan(HW, "192.0.2.255", 9)), (180.0, None)])
def test_without_an_interval_or_a_wake_on_lan_address_the_dwell_is_one_wait(every_s, target):
    lab = FakeLab()
    assert _dwell(lab, every_s, target) == []
    assert lab.ops == [Wait(600.0)] and lab.notes == []


def test_a_packet_the_network_refuses_is_journaled_and_the_dwell_goes_on():
    lab = FakeLab(refuse=True)
    assert len(_dwell(lab, 180.0)) == 3 and lab.t == 600.0
    assert all("Network is unreachable" in r["error"] for r in lab.notes)


def test_a_stop_request_ends_the_packets_with_the_wait():
    lab = FakeLab(stop_at=250.0)
    assert len(_dwell(lab, 180.0)) == 1
    assert lab.t == 250.0


# -- the twin Mac: a magic packet through its interface ---------------------------------------------

def _asleep_twin_mac(wol: str = "dark"):
    world = World(start=1_800_000_000.0, seed=3)
    world.gateway = Gateway(world, users={"mbp-01": "rig-mbp-01"})
    mac = replace(DEFAULT_MACS[0], wol=wol).model(world, 1, "naive", 900.0)
    world.macs[mac.name] = mac
    mac.ext.start()
    world.advance(world.now + 30)
    mac.lid(True)
    world.advance(world.now + 300)   # long enough for the gateway's DPD to end the session
    assert mac.power == "sleep" and not mac.truth["wakes"]
    return world, mac


def _packet(world, mac, data: bytes) -> None:
    world.act(world.now + 1, mac.wake_packet, data)
    world.advance(world.now + 2)


def test_a_magic_packet_for_the_mac_gives_a_dark_wake_with_a_network_reason_in_pmset_and_powerd():
    world, mac = _asleep_twin_mac()
    _packet(world, mac, magic_packet(mac.hw_address))
    assert mac.power == "dark"
    rows = [r for r in parse_pmset(mac.pmset_log(), mac.name).rows if r["kind"] == Kind.DARK_WAKE.value]
    assert len(rows) == 1 and "due to SMC.OutboxNotEmpty smc.70070000 wifibt wlan/" in rows[0]["detail"]
    powerd = [rec["eventMessage"] for _, rec in mac.records if rec["subsystem"] == "com.apple.powerd"]
    assert powerd[-1] == "DarkWake from Normal Sleep [CDN] : due to SMC.OutboxNotEmpty smc.70070000 wifibt wlan/"
    assert mac.truth["wakes"][-1]["cause"] == WakeCause.NETWORK.value
    world.advance(world.now + 5)
    # the naive build reconnects in it exactly as in a maintenance dark wake
    assert [u["phase"] for u in mac.truth["tunnel_ups"]][-1] == "dark"


@pytest.mark.parametrize("wol,data,result", [
    ("dark", magic_packet("02:72:69:67:00:09"), "ignored: no magic packet for this Mac"),
    ("dark", b"\xff" * 6 + b"hello", "ignored: no magic packet for this Mac"),
    ("off", None, "ignored: womp 0"),
])
def test_a_packet_for_another_address_or_with_womp_off_is_ignored(wol, data, result):
    world, mac = _asleep_twin_mac(wol)
    _packet(world, mac, data or magic_packet(mac.hw_address))
    assert mac.power == "sleep"
    assert mac.truth["wake_packets"][-1]["result"] == result
    assert not any(w.get("cause") == "network" for w in mac.truth["wakes"])


# -- counting against the truth ---------------------------------------------------------------------

def _true_network_wakes(truth_mac: dict, kind: str, lo: float, hi: float) -> int:
    return sum(1 for w in truth_mac["wakes"] if w["kind"] == kind and w.get("cause") == "network" and lo <= w["t"] < hi)


def _sent_per_cycle(run_dir: Path) -> dict:
    records, _ = read_journal(run_dir / "journal.jsonl")
    out: dict = {}
    for r in records:
        if r["type"] == Rec.WAKE_PACKET.value and "error" not in r:
            out[(r["mac"], r["cycle"])] = out.get((r["mac"], r["cycle"]), 0) + 1
    return out


@pytest.mark.slow
def test_a_live_twin_run_counts_the_network_dark_wakes_the_twin_really_had(tmp_path):
    """``rig run --dark-wake-every 3m`` on the embedded twin: packets over UDP to each twin Mac's
    port, logs fetched over SSH, scored; every count equals the twin's own record."""
    res = CliRunner().invoke(main, ["run", "--cycles", "1", "--dwell", "12m", "--dark-wake-every", "3m",
                                    "--reports", str(tmp_path), "-q"])
    assert "report:" in res.output, res.output
    run_dir = next(tmp_path.iterdir())
    truth = json.loads((run_dir / "twin-truth.json").read_text())
    cycles = pd.read_csv(run_dir / "cycles.csv")
    sent = _sent_per_cycle(run_dir)
    assert len(cycles) == 2
    for row in cycles.to_dict("records"):
        t = truth["macs"][row["mac"]]
        lo = next(s["t"] for s in t["sleeps"] if s["reason"] != "Maintenance Sleep")
        hi = next(w["t"] for w in t["wakes"] if w["kind"] == "full" and w["t"] > lo)
        true_dark = _true_network_wakes(t, "dark", lo, hi)
        assert true_dark >= 2
        assert row["wol_dark_wakes"] == true_dark
        assert row["wol_sent"] == sent[(row["mac"], 1)] == len(t["wake_packets"])
        assert row["wol_full_wakes"] == 0
    summary = (run_dir / "summary.md").read_text()
    total = int(cycles["wol_dark_wakes"].sum())
    assert f"- on-demand dark wakes: {int(cycles['wol_sent'].sum())} sent, {total} dark wakes, 0 full wakes" in summary


def _batch(tmp_path, wol: str = "dark", build: str = "naive", cycles: int = 2, every: str = "3m"):
    """``rig twin simulate --dark-wake-every``: the run folder, its cycles and truth.json."""
    specs = [replace(m, wol=wol) for m in fleet(2)]
    if wol == "dark":   # through the command line, as a user runs it
        res = CliRunner().invoke(main, ["twin", "simulate", "--build", build, "--macs", "2", "--cycles-per-night",
                                        str(cycles), "--dwell", "20m", "--dark-wake-every", every,
                                        "--out", str(tmp_path)])
        assert res.exit_code == 0, res.output
        run_dir = Path(next(ln for ln in res.output.splitlines() if ln.startswith("run: ")).split(" ", 1)[1])
    else:
        run_dir = simulate(TwinConfig(build=build, macs=specs),
                           SimPlan(cycles_per_night=cycles, dwell_s=20 * 60, dark_wake_every_s=180.0), tmp_path).run_dir
        derive_run(run_dir)
    truth = json.loads((tmp_path / "truth.json").read_text())
    return run_dir, pd.read_csv(run_dir / "cycles.csv").to_dict("records"), truth


def _pairs(cycles: list[dict], truth: dict):
    rows = {(r["mac"], r["cycle"]): r for r in cycles}
    return [(rows[(t["mac"], t["cycle"])], t) for t in truth["cycles"]]


def test_batch_mode_counts_the_network_dark_wakes_of_truth_json(tmp_path):
    run_dir, cycles, truth = _batch(tmp_path)
    sent = _sent_per_cycle(run_dir)
    pairs = _pairs(cycles, truth)
    assert len(pairs) == 4
    for row, t in pairs:
        true_dark = _true_network_wakes(truth["macs"][t["mac"]], "dark", t["sleep"], t["wake"])
        assert true_dark >= 4
        assert row["wol_dark_wakes"] == true_dark
        assert row["wol_sent"] == sent[(t["mac"], t["cycle"])]
        assert row["wol_full_wakes"] == 0
        assert row["dark_wakes"] == t["dark_wakes"] >= true_dark
        assert row["reconnects_in_sleep"] == t["reconnects_in_sleep"] == t["dark_wakes"]  # naive: one per wake
    scores = json.loads((run_dir / "scores.json").read_text())
    for mac, m in scores["per_mac"].items():
        assert m["totals"]["wol_dark_wakes"] == sum(r["wol_dark_wakes"] for r, t in pairs if t["mac"] == mac)
    html = (run_dir / "report.html").read_text()
    assert "mbp-01: on-demand dark wakes: " in html and "mini-01: on-demand dark wakes: " in html


def test_a_mac_that_full_wakes_on_a_packet_is_reported_as_a_full_wake_not_a_dark_wake(tmp_path):
    run_dir, cycles, truth = _batch(tmp_path, wol="full")
    sent = _sent_per_cycle(run_dir)
    for row in cycles:
        t = truth["macs"][row["mac"]]
        c = next(c for c in truth["cycles"] if (c["mac"], c["cycle"]) == (row["mac"], row["cycle"]))
        true_full = _true_network_wakes(t, "full", c["sleep"], c["end"])
        assert true_full == 1   # the first packet woke it fully; the later ones found it awake
        assert row["wol_full_wakes"] == true_full
        assert row["wol_dark_wakes"] == _true_network_wakes(t, "dark", c["sleep"], c["end"]) == 0
        assert row["wol_sent"] == sent[(row["mac"], row["cycle"])] >= 2
    summary = (run_dir / "summary.md").read_text()
    assert f"{sum(r['wol_sent'] for r in cycles)} sent, 0 dark wakes, {len(cycles)} full wakes" in summary


def test_a_mac_with_womp_off_is_sent_packets_and_shows_no_dark_wake(tmp_path):
    run_dir, cycles, truth = _batch(tmp_path, wol="off")
    sent = _sent_per_cycle(run_dir)
    for row, t in _pairs(cycles, truth):
        assert row["wol_sent"] == sent[(row["mac"], row["cycle"])] >= 4
        assert row["wol_dark_wakes"] == row["wol_full_wakes"] == 0
        assert row["dark_wakes"] == t["dark_wakes"]   # its maintenance wakes, which are no packet's
    assert sum(r["dark_wakes"] for r in cycles) > 0
    for t in truth["macs"].values():
        assert t["wake_packets"] and {p["result"] for p in t["wake_packets"]} == {"ignored: womp 0"}
    summary = (run_dir / "summary.md").read_text()
    assert f"{sum(r['wol_sent'] for r in cycles)} sent, 0 dark wakes, 0 full wakes" in summary


def test_an_interval_too_short_for_a_dark_wake_is_refused(tmp_path):
    res = CliRunner().invoke(main, ["twin", "simulate", "--dark-wake-every", "10s", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--dark-wake-every" in res.output and "at least 30s" in res.output


# -- rig doctor ---------------------------------------------------------------------------------------

def test_doctor_checks_womp_and_the_address_of_a_mac_with_wake_on_lan(tmp_path):
    macs = [MacSpec(**asdict(DEFAULT_MACS[0])), replace(DEFAULT_MACS[1], wol="off")]
    with TwinProcess(TwinConfig(macs=macs), root=tmp_path / "twin") as twin:
        lab = load_lab(twin.lab_path)
        by = lambda fs, mac, check: next(x for x in fs if x.target == mac and x.check == check)  # noqa: E731
        found = run_doctor(lab, list(lab.macs.values()))
        assert by(found, "mbp-01", "pmset womp").status == "ok"
        assert by(found, "mbp-01", "wake-on-LAN address").status == "ok"
        off = by(found, "mini-01", "pmset womp")
        assert off.status == "fail" and off.fix == "sudo -n pmset -a womp 1"
        run_doctor(lab, [lab.macs["mini-01"]], fix=True)
        assert by(run_doctor(lab, [lab.macs["mini-01"]]), "mini-01", "pmset womp").status == "ok"
        wrong = replace(lab.macs["mbp-01"], wake_on_lan=replace(lab.macs["mbp-01"].wake_on_lan, mac=HW))
        f = by(run_doctor(lab, [wrong]), "mbp-01", "wake-on-LAN address")
        assert f.status == "fail" and "none of the Mac's interfaces" in f.detail
