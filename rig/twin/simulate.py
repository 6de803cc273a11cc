"""Batch mode: many Mac-nights on virtual time, written as the run folder the rig would have collected.

The SSH twin runs at a bounded scale because a controller has to keep up with it through real
doors. Questions like "how much churn does a 60 s DPD timeout cause per night?" need hundreds of
nights, so this module drives the same ``World``, ``Mac``, ``Gateway`` and build models directly:
no SSH, no threads, no waiting. A small controller per Mac is a generator on the world's event
queue that does what ``rig/cycle.py`` does, step for step and with the latencies real hardware
has (SSH connects, round trips, ``log show`` taking a second):

    precondition (offsets, build, gateway offset) -> sleep (lid close or ``pmset sleepnow``) ->
    dwell -> wake (lid open or power press) -> wait for SSH -> wait for the tunnel -> hold for
    the alert grace -> collect pmset log, unified log and gateway log -> offset -> done

and writes what the rig writes: ``run.json`` (same keys as ``rig.runner.run.start_run``), the product's
``signatures.toml``, ``journal.jsonl`` (cycle_start, step, offset, build, action, cycle_end with
``collected`` true and a placeholder outcome that scoring recomputes) and ``raw/<mac>/<cycle>/``
with ``pmset.log``, ``unified.ndjson``, ``gateway.log`` and ``collect.json``. The log text comes
from the twin shell's own renderers (the exact commands the rig's collector sends, through
``mac_shell``/``gateway_shell``), so ``rig score RUN`` scores it unchanged.

Clock offsets in the journal are *measurements*: the true skew plus an error within half of a
round trip drawn from 2-20 ms, never the truth copied; Mac and gateway clocks are seconds apart,
so the one-clock correction is exercised. The ground truth goes next to the run folder
(``<out>/truth.json``), where the rig never looks: per Mac, the twin's own records over all
nights, and per cycle the true counts and intervals (see :func:`cycle_truth`).

Each night is its own world (a fresh boot of every Mac and a fresh extension process; the same
Macs, clocks and time zones), starting 24 h after the previous one, so memory and time per night
do not grow with the number of nights. A Mac that does not wake (fault ``never_wakes``) ends its
cycle ``dut_hang`` after the rig's recovery ladder; its remaining cycles that night are journaled
as skipped (the next night it has been power-cycled).
"""
from __future__ import annotations

import json
import random
import shlex
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import orjson

from rig import __version__
from rig.runner.collect import host_window, log_show_argv, log_time
from rig.runner.cycle import Plan
from rig.outcomes import Outcome
from rig.run_folder import RunFolder
from rig.score.suites import SUITES
from rig.twin.gateway import Gateway
from rig.twin.mac import Mac
from rig.twin.serve import DEFAULT_MACS, MacSpec, TwinConfig
from rig.twin.shell import gateway_shell, mac_shell
from rig.twin.world import World

SIGNATURES = Path(__file__).with_name("signatures.toml")
SUBSYSTEM = "com.example.twinproxy"
BUNDLE = "com.example.twinproxy.extension"
GATEWAY_LOG_COMMAND = "journalctl -u ocserv -o short-iso-precise --since @{start} --until @{end}"
REDACT = ["(?i)token=\\S+", "(?i)authorization: \\S+"]
FIRST_NIGHT = datetime(2026, 11, 25, 21, 0, tzinfo=timezone.utc).timestamp()
DAY_S = 86_400.0
EVIDENCE = ("Tunnel up session=", "Keepalive sent session=")  # what wait_for_tunnel accepts


@dataclass
class SimPlan:
    """What each Mac does each night (controller seconds)."""

    nights: int = 1
    cycles_per_night: int = 8
    dwell_s: float = 3600.0
    grace_s: float = 30.0
    tunnel_timeout_s: float = 60.0
    wake_timeout_s: float = 180.0
    power_press_ms: int = 300


@dataclass
class Simulation:
    out: Path
    run_dir: Path
    truth_path: Path
    mac_nights: int
    cycles: int
    virtual_s: float = 0.0  # Mac-seconds of lab time simulated (every Mac's nights, summed)
    cycle_truth: list = field(default_factory=list)


def fleet(n: int) -> list[MacSpec]:
    """``n`` Macs: the twin's two defaults first, then alternating laptops and desktops with
    fixed clock skews (seconds) and time zones, the same for every seed."""
    if n < 1:
        raise ValueError(f"--macs must be at least 1 (got {n})")
    out = [MacSpec(**asdict(m)) for m in DEFAULT_MACS[:n]]
    zones = [-480, 330, 0, 60, -300, 540, 600, -240]
    for i in range(len(out), n):
        laptop = i % 2 == 0
        kind = "laptop" if laptop else "desktop"
        name = f"{'mbp' if laptop else 'mini'}-{i // 2 + 1:02d}"
        skew = round(random.Random(f"fleet/{i}").uniform(-4.0, 4.0), 3)
        out.append(MacSpec(name, kind, skew=skew, utc_offset_min=zones[i % len(zones)], tags=[kind]))
    return out


# -- the controller's view of the hardware: latencies and measurements -----------------------------

class Controller:
    """Latencies and measurement noise of the rig's side (its own random stream: changing the
    noise never changes what the simulated Macs do)."""

    def __init__(self, seed: str):
        self.rng = random.Random(seed)
        self.actuator_id = 0

    def connect_s(self) -> float:
        return self.rng.uniform(0.08, 0.25)

    def exec_s(self) -> float:
        return self.rng.uniform(0.01, 0.04)

    def rtt(self) -> float:
        return self.rng.uniform(0.002, 0.020)

    def offset(self, host: str, true_offset: float, now: float) -> dict:
        """One best-of-five measurement (it takes the next ~5 round trips; the caller waits at
        least that long): the kept sample's error is within its RTT/2."""
        rtt = self.rtt()
        err = self.rng.uniform(-rtt / 2, rtt / 2)
        return {"host": host, "t": now + 2.5 * rtt, "offset": true_offset + err, "rtt": rtt}

    def next_id(self) -> int:
        self.actuator_id += 1
        return self.actuator_id


# -- one night --------------------------------------------------------------------------------------

class Night:
    """One world, every Mac of the fleet, one controller generator per Mac."""

    def __init__(self, sim: "Batch", index: int):
        self.sim = sim
        self.index = index
        cfg = sim.cfg
        self.start = FIRST_NIGHT + index * DAY_S
        self.world = World(start=self.start, seed=random.Random(f"{cfg.seed}/night/{index}").getrandbits(32))
        self.gw = Gateway(self.world, users=sim.users, dpd_s=cfg.dpd_s, skew=cfg.gateway_skew)
        self.world.gateway = self.gw
        for i, spec in enumerate(cfg.macs, start=1):
            self.world.macs[spec.name] = Mac(
                self.world, spec.name, i, kind=spec.kind, skew=spec.skew, utc_offset_min=spec.utc_offset_min,
                build=cfg.build, dark_interval_s=cfg.dark_interval_s, fault=spec.fault,
                network_change=spec.network_change)
        for mac in self.world.macs.values():
            mac.ext.start()
        self.ctl = Controller(f"{cfg.seed}/controller/{index}")
        self.end = self.start

    def run(self) -> None:
        """Run the world until every Mac's controller is done (events after that are dropped)."""
        w = self.world
        for i, spec in enumerate(self.sim.cfg.macs):
            w.at(self.start + 5.0 + 0.05 * i, self._step, self.mac_night(w.macs[spec.name], i + 1))
        self.pending = len(self.sim.cfg.macs)
        while self.pending:
            w.advance(w.next_at())
        self.close_zombies()

    def _step(self, gen) -> None:
        try:
            t = next(gen)
        except StopIteration:
            self.pending -= 1
            self.end = max(self.end, self.world.now)
            return
        self.world.at(t, self._step, gen)

    # -- the cycle (rig/cycle.py, step for step) ---------------------------------------------------
    def mac_night(self, mac: Mac, channel: int):
        sim, plan = self.sim, self.sim.plan
        for j in range(plan.cycles_per_night):
            k = self.index * plan.cycles_per_night + j + 1
            hung = yield from self.cycle(mac, channel, k)
            if hung:
                for rest in range(j + 1, plan.cycles_per_night):
                    kk = self.index * plan.cycles_per_night + rest + 1
                    t = self.world.now
                    sim.journal({"type": "cycle_start", "mac": mac.name, "cycle": kk, "t": t,
                                 "outcome": Outcome.UNKNOWN.value, "build": sim.build})
                    sim.journal({"type": "cycle_end", "mac": mac.name, "cycle": kk, "t": t,
                                 "outcome": Outcome.DUT_HANG.value, "collected": False,
                                 "reason": "skipped: the Mac hung earlier this night"})
                return

    def cycle(self, mac: Mac, channel: int, k: int):
        sim, w, ctl, plan = self.sim, self.world, self.ctl, self.sim.plan
        name = mac.name
        start = w.now
        sim.journal({"type": "cycle_start", "mac": name, "cycle": k, "t": start, "attempt": 1,
                     "outcome": Outcome.UNKNOWN.value, "build": sim.build,
                     "utc": datetime.fromtimestamp(start, timezone.utc).isoformat()})
        self.step(name, k, "precondition")
        yield w.now + ctl.connect_s()
        self.offset(mac, name, k)
        yield w.now + 5 * ctl.exec_s()
        out, _, _ = mac_shell(w, mac, "systemextensionsctl list")
        installed = next(ln for ln in out.decode().splitlines() if BUNDLE in ln)
        sim.journal({"type": "build", "mac": name, "installed": installed.strip()})
        yield w.now + ctl.exec_s() + ctl.connect_s()
        self.offset(self.gw, name, k)
        yield w.now + 5 * ctl.exec_s()

        # sleep
        self.step(name, k, "sleep")
        if mac.kind == "laptop":
            sleep_at = yield from self.actuate(mac, k, channel, "LID", "CLOSE", "act_lid_close")
        else:
            rtt = ctl.rtt()
            t0 = w.now
            yield t0 + rtt / 2
            mac_shell(w, mac, "pmset sleepnow")
            yield t0 + rtt
            sim.journal({"type": "action", "mac": name, "cycle": k, "kind": "cmd_sleepnow", "t": t0,
                         "sent": t0, "received": t0 + rtt, "attempts": 1, "request": "pmset sleepnow"})
            sleep_at = t0 + rtt / 2
        self.step(name, k, "dwell")
        yield w.now + plan.dwell_s

        # wake
        self.step(name, k, "wake")
        if mac.kind == "laptop":
            anchor = yield from self.actuate(mac, k, channel, "LID", "OPEN", "act_lid_open")
        else:
            anchor = yield from self.actuate(mac, k, channel, "PWR", f"PRESS {plan.power_press_ms}",
                                             "act_power_press")
        self.step(name, k, "wait for SSH")
        reached = yield from self.await_ssh(mac, plan.wake_timeout_s)
        if not reached:
            for step in ("power press", "long press then press", "AC off and on"):
                sim.journal({"type": "recovery", "mac": name, "cycle": k, "step": step, "t": w.now})
                if step == "power press":
                    yield from self.actuate(mac, k, channel, "PWR", f"PRESS {plan.power_press_ms}", None)
                if (yield from self.await_ssh(mac, plan.wake_timeout_s)):
                    break
            else:
                sim.journal({"type": "cycle_end", "mac": name, "cycle": k, "t": w.now, "attempt": 1,
                             "collected": False, "outcome": Outcome.DUT_HANG.value,
                             "reason": f"{name}: no SSH answer after wake; recovery ladder exhausted"})
                sim.truth_cycle(self, mac, k, start, sleep_at, anchor, w.now, hung=True)
                return True
        mac_off = self.offset(mac, name, k)
        yield w.now + 5 * ctl.exec_s()

        # wait for the tunnel (poll the extension's log every 5 s), then hold for the grace
        self.step(name, k, "wait for tunnel")
        anchor_host = anchor + mac_off
        while True:
            yield w.now + ctl.rtt() / 2
            seen = self.evidence(mac, anchor_host)
            yield w.now + ctl.rng.uniform(0.8, 1.6)  # log show is slow on a real Mac
            if seen or w.now >= anchor + plan.tunnel_timeout_s:
                break
            yield w.now + 5.0
        hold = anchor + plan.grace_s + 5.0
        if hold > w.now:
            yield hold

        # collect
        self.step(name, k, "collect")
        end = w.now
        raw = sim.folder.cycle_dir(name, k)
        raw.mkdir(parents=True, exist_ok=True)
        meta: dict = {}
        yield w.now + ctl.rtt() / 2
        self.save(raw, meta, "pmset", mac_shell(w, mac, "pmset -g log"), "pmset -g log", "pmset.log")
        yield w.now + ctl.rng.uniform(0.15, 0.4)
        a, b = host_window(start, end, sim.offsets[name])
        cmd = sim.log_show_command(a, b)
        self.save(raw, meta, "unified", mac_shell(w, mac, cmd), cmd, "unified.ndjson", [a, b])
        yield w.now + ctl.rng.uniform(0.8, 1.6)
        self.offset(mac, name, k)
        yield w.now + 5 * ctl.exec_s() + ctl.connect_s()
        a, b = host_window(start, end, sim.offsets[self.gw.name])
        gcmd = GATEWAY_LOG_COMMAND.format(start=int(a), end=int(b) + 1)
        self.save(raw, meta, "gateway", gateway_shell(w, self.gw, gcmd), gcmd, "gateway.log", [a, b])
        (raw / "collect.json").write_text(json.dumps(meta, indent=1))
        yield w.now + ctl.exec_s()
        sim.journal({"type": "cycle_end", "mac": name, "cycle": k, "t": w.now, "attempt": 1, "collected": True,
                     "outcome": Outcome.PASS.value, "reason": ""})  # scoring recomputes pass/fail
        sim.truth_cycle(self, mac, k, start, sleep_at, anchor, w.now)
        yield w.now + 0.2  # the rig scores the cycle before starting the next
        return False

    # -- pieces -------------------------------------------------------------------------------------
    def step(self, mac: str, k: int, step: str) -> None:
        self.sim.journal({"type": "step", "mac": mac, "cycle": k, "step": step, "t": self.world.now})

    def offset(self, host, mac: str, k: int) -> float:
        """Measure ``host`` (a Mac or the gateway) as the rig does; journal it; return the offset."""
        off = self.ctl.offset(host.name, host.skew, self.world.now)
        self.sim.journal({"type": "offset", "mac": mac, "cycle": k, **off})
        # host_window() only needs the smallest and largest offset so far: keep those two, so a
        # run of many nights does not rescan every measurement at every collection
        lo, hi = self.sim.offsets.setdefault(host.name, [SimpleNamespace(offset=off["offset"])] * 2)
        if off["offset"] < lo.offset:
            self.sim.offsets[host.name][0] = SimpleNamespace(offset=off["offset"])
        if off["offset"] > hi.offset:
            self.sim.offsets[host.name][1] = SimpleNamespace(offset=off["offset"])
        return off["offset"]

    def actuate(self, mac: Mac, k: int, channel: int, verb: str, arg: str, kind: str | None):
        """A protocol-v1 request: the firmware acts ``at`` (exact), the reply comes back later."""
        w, ctl = self.world, self.ctl
        rid = ctl.next_id()
        sent = w.now
        at = sent + ctl.rng.uniform(0.002, 0.004)
        yield at
        if verb == "LID":
            mac.lid(arg == "CLOSE")
        else:
            mac.power_press(int(arg.split()[-1]))
        received = at + ctl.rng.uniform(0.001, 0.003)
        yield received
        request = f"{rid} {verb} {channel} {arg}"
        if kind is not None:
            self.sim.journal({"type": "action", "mac": mac.name, "cycle": k, "kind": kind, "t": at, "sent": sent,
                              "received": received, "attempts": 1, "request": request})
        else:
            self.sim.journal({"type": "recovery_action", "mac": mac.name, "cycle": k, "request": request, "t": at})
        return at

    def await_ssh(self, mac: Mac, deadline_s: float):
        """``rig.drive.ssh.wait_reachable``: try, back off 1, 2, 4 ... 15 s, give up after the deadline."""
        w, ctl = self.world, self.ctl
        end, delay = w.now + deadline_s, 1.0
        while True:
            if mac.reachable():
                yield w.now + ctl.connect_s()
                return True
            yield w.now + 0.05  # refused: the Mac's network is not up yet
            if w.now + delay > end:
                return False
            yield w.now + delay
            delay = min(delay * 2, 15.0)

    @staticmethod
    def evidence(mac: Mac, since_host: float) -> bool:
        """What ``collect.wait_for_tunnel`` looks for: a tunnel_up or keepalive after the anchor."""
        since = since_host - mac.skew
        for t, rec in reversed(mac.records):
            if t <= since:
                return False
            if rec["eventMessage"].startswith(EVIDENCE):
                return True
        return False

    @staticmethod
    def save(raw: Path, meta: dict, name: str, result, command: str, filename: str, window=None) -> None:
        out, err, status = result
        (raw / filename).write_bytes(out)
        meta[name] = {"command": command, "status": status, "bytes": len(out),
                      "stderr": err.decode("utf-8", "replace")[-2000:], "window": window}

    def close_zombies(self) -> None:
        for mac in self.world.macs.values():
            for z in mac.truth["zombie"]:
                if z["end"] is None:
                    z["end"] = self.end
                    z["ended_by"] = "end of night (the next night starts a fresh extension process)"


# -- the batch: nights -> one run folder + truth ------------------------------------------------------

class Batch:
    def __init__(self, cfg: TwinConfig, plan: SimPlan, out: Path, command: list[str] | None):
        from rig.twin.builds import model

        model(cfg.build)  # an unknown model is a clear error before anything is written
        if plan.nights < 1 or plan.cycles_per_night < 1:
            raise ValueError("nights and cycles per night must be at least 1")
        self.cfg, self.plan, self.out = cfg, plan, Path(out)
        self.build = f"twin:{cfg.build}"
        self.users = {m.name: f"rig-{m.name}" for m in cfg.macs}  # Mac -> gateway user
        self.truth_path = self.out / "truth.json"
        if self.truth_path.exists():
            raise FileExistsError(f"{self.out} already holds a simulation (truth.json); choose another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        self.folder = RunFolder.create(self.out, self.build, FIRST_NIGHT)
        shutil.copy(SIGNATURES, self.folder.signatures)
        self.lab_shim = SimpleNamespace(extension=SimpleNamespace(signatures=self.folder.signatures,
                                                                  subsystem=SUBSYSTEM))
        self.offsets: dict[str, list] = {}  # host -> [lowest, highest] offset measured this run
        # the collector's own command line; its predicate is built once (it reads the signatures)
        self._log_show = log_show_argv(self.lab_shim, FIRST_NIGHT, FIRST_NIGHT)
        self._journal: list[bytes] = []
        self.truth_macs: dict[str, dict] = {}
        self.truth_sessions: list[dict] = []
        self.truth_nights: list[dict] = []
        self.cycles: list[dict] = []
        self.rig_plan = Plan(build=self.build, cycles=plan.nights * plan.cycles_per_night, dwell_s=plan.dwell_s,
                             grace_s=plan.grace_s, wake_timeout_s=plan.wake_timeout_s,
                             tunnel_timeout_s=plan.tunnel_timeout_s, power_press_ms=plan.power_press_ms,
                             gates=list(SUITES["dark_wake"]["gates"]))
        self.command = command or ["rig", "twin", "simulate"]

    def log_show_command(self, start: float, end: float) -> str:
        argv = self._log_show
        if argv[-4] == "--start" and argv[-2] == "--end":
            argv = argv[:-4] + ["--start", log_time(start), "--end", log_time(end)]
        else:  # the collector's command changed shape: ask it every time
            argv = log_show_argv(self.lab_shim, start, end)
        return shlex.join(argv)

    def journal(self, record: dict) -> None:
        self._journal.append(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")

    def run(self) -> Simulation:
        self._write_meta(finished=None)
        with open(self.folder.journal, "ab") as jf:
            for n in range(self.plan.nights):
                night = Night(self, n)
                night.run()
                jf.write(b"".join(self._journal))
                self._journal.clear()
                self._merge_truth(night)
        self._write_meta(finished=_utc(self.truth_nights[-1]["end"]))
        truth = {
            "mode": "batch",
            "run_id": self.folder.path.name,
            "config": {"twin": asdict(self.cfg), "plan": asdict(self.plan)},
            "nights": self.truth_nights,
            "macs": self.truth_macs,
            "gateway": {"name": Gateway.name, "skew": self.cfg.gateway_skew, "dpd_s": self.cfg.dpd_s,
                        "sessions": self.truth_sessions},
            "cycles": self.cycles,
        }
        tmp = self.truth_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2))
        tmp.replace(self.truth_path)
        virtual = sum(n["end"] - n["start"] for n in self.truth_nights) * len(self.cfg.macs)
        return Simulation(self.out, self.folder.path, self.truth_path, self.plan.nights * len(self.cfg.macs),
                          len(self.cycles), virtual, self.cycles)

    def _write_meta(self, finished: str | None) -> None:
        cfg = self.cfg
        meta = {
            "run_id": self.folder.path.name,
            "rig_version": __version__,
            "build": self.build,
            "suite": "dark_wake",
            "lab": {"name": "twin", "virtual": True},
            "macs": {m.name: {"sleep_by": "lid" if m.kind == "laptop" else "sleepnow",
                              "wake_by": "lid" if m.kind == "laptop" else "power",
                              "tags": list(m.tags or [m.kind])} for m in cfg.macs},
            "gateway": {"name": Gateway.name, "format": "ocserv",
                        "users": {user: mac for mac, user in self.users.items()}},  # as Lab.gateway.users
            "extension": {"name": "TwinProxy", "subsystem": SUBSYSTEM},
            "redact": list(REDACT),
            "plan": {k: v for k, v in asdict(self.rig_plan).items() if k != "gates"},
            "gates": [asdict(g) for g in self.rig_plan.gates],
            "started": _utc(FIRST_NIGHT),
            "command": self.command,
            "twin": {"mode": "batch", "seed": cfg.seed, "nights": self.plan.nights, "dpd_s": cfg.dpd_s,
                     "dark_interval_s": cfg.dark_interval_s},
        }
        if finished:
            meta["finished"] = finished
        self.folder.write_meta(meta)

    def _merge_truth(self, night: Night) -> None:
        self.truth_nights.append({"night": night.index, "start": night.start, "end": night.end})
        for name, mac in night.world.macs.items():
            t = mac.truth_record()
            merged = self.truth_macs.setdefault(name, {k: ([] if isinstance(v, list) else v) for k, v in t.items()})
            merged["offload_keepalives"] = (merged["offload_keepalives"] if night.index else 0) + t["offload_keepalives"]
            for key, value in t.items():
                if isinstance(value, list):
                    merged[key].extend(value)
        self.truth_sessions.extend(night.gw.truth_record()["sessions"])

    # -- per-cycle truth -------------------------------------------------------------------------------
    def truth_cycle(self, night: Night, mac: Mac, k: int, start: float, sleep_req: float, anchor: float,
                    end: float, hung: bool = False) -> None:
        self.cycles.append(cycle_truth(mac, night.gw, k, start, sleep_req, anchor, end, self.plan.grace_s, hung))


def cycle_truth(mac: Mac, gw: Gateway, k: int, start: float, sleep_req: float, anchor: float, end: float,
                grace_s: float, hung: bool = False) -> dict:
    """What really happened in one cycle, from the twin's records (virtual = controller time).

    ``sleep``/``wake``: the Mac's first real sleep after the rig's request and its full wake;
    counts are of events in [sleep, wake) unless named otherwise. ``false_alerts`` follows the
    rig's definition (DESIGN.md, "Scores") applied to the true instants; ``ttt_s`` is from the
    rig's wake request to the true tunnel (0 when the session survived; None when it never came
    back, e.g. a zombie); ``zombie_full_s`` is the time in full wake, up to the cycle's end,
    during which the extension showed Connected while the gateway had no session.
    """
    t = mac.truth
    sleep = next((s["t"] for s in t["sleeps"] if s["t"] >= sleep_req and s["reason"] != "Maintenance Sleep"), None)
    fw = next((f for f in t["full_wakes"] if f["requested"] >= anchor - 1e-9), None)
    wake = fw["wake"] if fw else None
    row = {"mac": mac.name, "cycle": k, "start": start, "sleep": sleep, "wake_request": anchor, "wake": wake,
           "end": end, "hung": hung}
    if sleep is None or wake is None:
        return row
    asleep = lambda x: sleep <= x < wake  # noqa: E731
    ups = [u["t"] for u in t["tunnel_ups"]]
    alerts_asleep = sum(1 for a in t["alerts"] if asleep(a["t"]))
    alerts_recovered = sum(1 for a in t["alerts"] if wake <= a["t"] <= end
                           and any(a["t"] < u <= a["t"] + grace_s for u in ups))
    dpd_asleep = sum(1 for d in t["dpd"] if asleep(d["t"]))
    dpd_recovered = sum(1 for d in t["dpd"] if wake <= d["t"] <= end
                        and any(d["t"] < u <= d["t"] + grace_s for u in ups))
    zombie_full = 0.0
    for z in t["zombie"]:
        z_end = z["end"] if z["end"] is not None else end
        for p0, p1, phase in t["phases"]:
            if phase != "full":
                continue
            lo, hi = max(z["start"], p0, wake), min(z_end, p1 if p1 is not None else end, end)
            zombie_full += max(0.0, hi - lo)
    ttt = None
    if fw["survived"]:
        ttt = 0.0
    elif fw["tunnel_up"] is not None and fw["tunnel_up"] <= end:
        ttt = fw["tunnel_up"] - fw["requested"]
    row.update({
        "sleep_s": wake - sleep,
        "dark_wakes": sum(1 for w in t["wakes"] if w["kind"] == "dark" and asleep(w["t"])),
        "reconnects_in_sleep": sum(1 for u in ups if asleep(u)),
        "handshakes_in_sleep": sum(1 for h in t["handshakes"] if asleep(h["t"])),
        "failed_handshakes": sum(1 for h in t["failed_handshakes"] if start <= h["t"] <= end),
        "failed_handshakes_in_sleep": sum(1 for h in t["failed_handshakes"] if asleep(h["t"])),
        "alerts_in_sleep": alerts_asleep,
        "dpd_in_sleep": dpd_asleep,
        "dpd_in_cycle": sum(1 for d in t["dpd"] if start <= d["t"] <= end),
        "alerts_recovered": alerts_recovered,
        "dpd_recovered": dpd_recovered,
        "false_alerts": alerts_asleep + alerts_recovered + dpd_asleep + dpd_recovered,
        "survived": fw["survived"],
        "ttt_s": ttt,
        "network_changes": sum(1 for c in t["network_changes"] if start <= c["t"] <= end),
        "zombie_full_s": zombie_full,
        "zombie": zombie_full > 0,
        "gw_sessions_in_sleep": sum(1 for s in gw.sessions.values() if s.mac == mac.name and asleep(s.start)),
    })
    return row


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def simulate(cfg: TwinConfig, plan: SimPlan, out: Path, command: list[str] | None = None) -> Simulation:
    """Run ``plan.nights`` nights of every Mac in ``cfg``; write ``out/<run-id>/`` and ``out/truth.json``."""
    return Batch(cfg, plan, out, command).run()
