"""Batch mode: many Mac-nights on virtual time, written as the run folder the rig would have collected.

The SSH twin runs at a bounded scale because a controller has to keep up with it through real
doors. Questions like "how much churn does a 60 s DPD timeout cause per night?" need hundreds of
nights, so this module drives the same ``World``, ``Mac``, ``Gateway`` and build models directly:
no SSH, no threads, no waiting. Each Mac runs the rig's own cycle (:mod:`rig.runner.script`, the
one definition ``rig run`` executes too) through :class:`rig.twin.executor.BatchExecutor`, a
generator on the world's event queue with the latencies real hardware has, on the lab the live
twin would write (:func:`rig.twin.serve.lab_toml`). It writes what the rig writes: ``run.json``
(by :func:`rig.runner.run.start_run`), the product's ``signatures.toml``, ``journal.jsonl`` (the
script's records; a collected cycle's outcome is a placeholder that scoring recomputes) and
``raw/<mac>/<cycle>/`` with ``pmset.log``, ``unified.ndjson``, ``gateway.log`` and
``collect.json``, so ``rig score RUN`` scores it unchanged.

Clock offsets in the journal are *measurements*: the true skew plus an error within half of a
round trip drawn from 2-20 ms, never the truth copied; Mac and gateway clocks are seconds apart,
so the one-clock correction is exercised. The ground truth goes next to the run folder
(``<out>/truth.json``), where the rig never looks: per Mac, the twin's own records over all
nights, and per cycle the true counts and intervals (see :func:`cycle_truth`).

Each night is its own world (a fresh boot of every Mac and a fresh extension process; the same
Macs, clocks and time zones), starting 24 h after the previous one, so memory and time per night
do not grow with the number of nights. A Mac that does not wake (fault ``never_wakes``) ends its
cycle ``dut_hang`` after the rig's whole recovery ladder; its remaining cycles that night are
journaled as skipped (the next night it has been power-cycled).
"""
from __future__ import annotations

import random
import shlex
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import orjson

from rig.lab.clock import ScaledClock
from rig.lab.inventory import Lab, parse_lab
from rig.parse.signatures import load_signatures
from rig.twin import profile
from rig.run_folder import RunFolder
from rig.runner import script
from rig.runner.collect import log_show_argv
from rig.runner.plan import Plan
from rig.runner.run import SettledMonitor, start_run
from rig.score.suites import SUITES
from rig.timestamps import log_show_time, utc_seconds
from rig.twin.executor import BatchExecutor
from rig.twin.gateway import Gateway
from rig.twin.mac import Mac
from rig.twin.serve import DEFAULT_MACS, MacSpec, TwinConfig, lab_toml
from rig.twin.world import World

SIGNATURES = Path(__file__).with_name("signatures.toml")
FIRST_NIGHT = datetime(2026, 11, 25, 21, 0, tzinfo=timezone.utc).timestamp()
DAY_S = 86_400.0


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
    dark_wake_every_s: float = 0.0  # a Wake-on-LAN packet every this many dwell seconds (0: none)
    # stop each Mac once the suite's sequential test settles; nights x cycles_per_night is the most
    until_settled: bool = False
    max_cycles: int = 0       # the most cycles per Mac (0: nights x cycles_per_night)

    @property
    def cycles(self) -> int:
        whole = self.nights * self.cycles_per_night
        return min(whole, self.max_cycles) if self.max_cycles else whole


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
            self.world.macs[spec.name] = spec.model(self.world, i, cfg.build, cfg.dark_interval_s, cfg.draws_for(spec))
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

    # -- the Mac's cycles: the rig's own script, on this night's world ---------------------------
    def mac_night(self, mac: Mac, channel: int):
        sim, per = self.sim, self.sim.plan.cycles_per_night
        cycles = range(self.index * per + 1, min((self.index + 1) * per, sim.plan.cycles) + 1)
        mine = script.MacScript(sim.lab, sim.rig_plan, sim.folder.path, sim.lab.macs[mac.name],
                                sim.signatures, sim.offsets)
        settled = sim.monitor.settled_for if sim.monitor else (lambda name: False)
        yield from BatchExecutor(self, mac, channel).execute(
            script.mac_cycles(mine, cycles, stopped=lambda: settled(mac.name)))

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
        self.lab = batch_lab(cfg)
        self.signatures = load_signatures(self.lab.extension.signatures)
        self.offsets: dict = {}  # host -> script.Offsets (the extremes and the latest)
        # the collector's own command line, built once (its predicate reads the signatures)
        self._log_show = log_show_argv(self.lab, FIRST_NIGHT, FIRST_NIGHT)
        self._journal: list[bytes] = []
        self.truth_macs: dict[str, dict] = {}
        self.truth_sessions: list[dict] = []
        self.truth_nights: list[dict] = []
        self.cycles: list[dict] = []
        self.monitor: SettledMonitor | None = None   # the sequential test, with --until-settled
        # a Mac that hangs is skipped for the rest of its night (it is power-cycled before the next)
        self.rig_plan = Plan(build=self.build, cycles=plan.cycles, dwell_s=plan.dwell_s,
                             grace_s=plan.grace_s, wake_timeout_s=plan.wake_timeout_s,
                             tunnel_timeout_s=plan.tunnel_timeout_s, power_press_ms=plan.power_press_ms,
                             dark_wake_every_s=plan.dark_wake_every_s,
                             hang_limit=1, gates=list(SUITES["dark_wake"]["gates"]),
                             until_settled=plan.until_settled)
        self.command = command or ["rig", "twin", "simulate"]

    def log_show_command(self, start: float, end: float) -> str:
        argv = self._log_show
        if argv[-4] == "--start" and argv[-2] == "--end":
            argv = argv[:-4] + ["--start", log_show_time(start), "--end", log_show_time(end)]
        else:  # the collector's command changed shape: ask it every time
            argv = log_show_argv(self.lab, start, end)
        return shlex.join(argv)

    def journal(self, record: dict) -> None:
        self._journal.append(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")

    def flush_journal(self) -> None:
        """Write the records so far (once a night; after every cycle when a cycle is scored as
        it ends, which reads the journal)."""
        with open(self.folder.journal, "ab") as jf:
            jf.write(b"".join(self._journal))
        self._journal.clear()

    def run(self) -> Simulation:
        self._write_meta(finished=None)
        self.monitor = SettledMonitor(self.folder.meta()) if self.plan.until_settled else None
        for n in range(self.plan.nights):
            if self.monitor and all(self.monitor.settled_for(m.name) for m in self.cfg.macs):
                break
            night = Night(self, n)
            night.run()
            self.flush_journal()
            self._merge_truth(night)
        self._write_meta(finished=utc_seconds(self.truth_nights[-1]["end"]))
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
        if self.monitor is not None:
            summary = self.monitor.seq.summary()
            self.folder.update_meta(settled={k: summary[k] for k in ("state", "cycles", "dark_wakes", "lab_hours")})
        return Simulation(self.out, self.folder.path, self.truth_path, len(self.truth_nights) * len(self.cfg.macs),
                          len(self.cycles), virtual, self.cycles)

    def _write_meta(self, finished: str | None) -> None:
        if finished:
            self.folder.update_meta(finished=finished)
            return
        cfg = self.cfg
        start_run(self.lab, self.rig_plan, self.out, command=self.command, folder=self.folder,
                  started=FIRST_NIGHT,
                  extra={"twin": {"mode": "batch", "seed": cfg.seed, "nights": self.plan.nights,
                                  "dpd_s": cfg.dpd_s, "dark_interval_s": cfg.dark_interval_s,
                                  **({"profile": profile.record(cfg.profile)} if cfg.profile else {})}})

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


def batch_lab(cfg: TwinConfig) -> Lab:
    """The lab the live twin would write for ``cfg`` (its doors' ports are never dialled here)."""
    text = lab_toml(cfg, Gateway.name, 22, {m.name: 22 for m in cfg.macs}, "batch",
                    ScaledClock(1.0, FIRST_NIGHT, FIRST_NIGHT), signatures=str(SIGNATURES))
    return parse_lab(tomllib.loads(text))


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


def simulate(cfg: TwinConfig, plan: SimPlan, out: Path, command: list[str] | None = None) -> Simulation:
    """Run ``plan.nights`` nights of every Mac in ``cfg``; write ``out/<run-id>/`` and ``out/truth.json``."""
    return Batch(cfg, plan, out, command).run()
