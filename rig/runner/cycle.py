"""The cycle runner: the eight steps of a sleep/wake cycle (DESIGN.md, "A cycle").

Orchestration lives here and only here: drivers (``ssh.py``, ``actuator.py``) know their
protocols, this module knows what a cycle does with them.

1. Precondition: Mac reachable, extension at the expected build; offsets measured. The cycle is
   journaled as ``unknown`` *before* acting, so a hang can never lose it.
2. Close SSH sessions (an open session can hold off sleep), then sleep: lid close through the
   actuator, or ``pmset sleepnow``.
3. Dwell.
4. Full wake: lid open or a power press; the actuator's instant is the anchor.
5. Wait for SSH (bounded); if it never answers, walk the recovery ladder, then ``dut_hang``.
6. Wait for the tunnel (bounded), then hold for the alert grace period so late alerts are seen.
7. Collect the cycle's window of pmset log, unified log and gateway log into ``raw/<mac>/<cycle>/``;
   measure offsets again.
8. Journal the outcome. Any exception becomes an outcome (``rig_error``), never a crash.
"""
from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from rig.runner import collect
from rig.score import derive
from rig.drive import probe
from rig.drive.actuator import open_actuator
from rig.lab.clock import Clock
from rig.runner.offsets import measure_offset
from rig.journal import Journal
from rig.lab.inventory import Lab, Mac
from rig.outcomes import DutHang, Outcome, RigError
from rig.drive.ssh import SSHSession, Unreachable, wait_reachable


@dataclass
class Plan:
    """What a run does to each Mac; lab seconds throughout."""

    build: str
    cycles: int = 2
    dwell_s: float = 45 * 60
    grace_s: float = 30.0
    wake_timeout_s: float = 180.0
    tunnel_timeout_s: float = 60.0
    precondition_timeout_s: float = 120.0
    power_press_ms: int = 300
    hang_limit: int = 2  # hangs after which a Mac is skipped for the rest of the run
    rig_retries: int = 1  # a cycle that ends rig_error is run again this many times
    gates: list = field(default_factory=list)

    @property
    def expected_version(self) -> str:
        return self.build.split(":", 1)[-1]


class ActuatorBank:
    """The lab's actuators, opened lazily, one lock each (Macs share a serial port)."""

    def __init__(self, lab: Lab, clock: Clock):
        self.lab, self.clock = lab, clock
        self._open: dict = {}
        self._locks = {name: threading.Lock() for name in lab.actuators}
        self._guard = threading.Lock()

    def act(self, name: str, fn: Callable):
        with self._locks[name]:
            with self._guard:
                dev = self._open.get(name)
                if dev is None:
                    dev = self._open[name] = open_actuator(self.lab.actuators[name], self.clock)
            return fn(dev)

    def close(self) -> None:
        for dev in self._open.values():
            dev.close()


class Interrupted(Exception):
    """The operator asked to stop (Ctrl-C): the current step was finished, the Mac left awake."""


class CycleRunner:
    def __init__(self, lab: Lab, run_dir: Path, plan: Plan, journal: Journal, clock: Clock,
                 on_cycle: Callable[[dict], None] | None = None, stop: threading.Event | None = None,
                 on_step: Callable[[str, int, str], None] | None = None):
        self.lab, self.run_dir, self.plan, self.journal, self.clock = lab, Path(run_dir), plan, journal, clock
        self.actuators = ActuatorBank(lab, clock)
        self.on_cycle = on_cycle or (lambda rec: None)
        self.on_step = on_step or (lambda mac, k, step: None)
        self.stop = stop or threading.Event()
        self._offsets: dict[str, list] = {}  # host -> offsets measured this run (for log windows)
        self._asleep: set[str] = set()  # Macs the rig has put to sleep and not yet woken

    # -- the night ----------------------------------------------------------------------------
    def run(self, macs: list[Mac], done: set | None = None) -> None:
        """Drive every Mac in its own thread; ``done`` holds (mac, cycle) already finished.

        Ctrl-C sets ``stop``: every Mac finishes its current step, is woken if the rig put it to
        sleep, and its cycle is journaled as interrupted (``unknown``), to be re-run on resume.
        """
        finished = threading.Semaphore(0)

        def work(m: Mac) -> None:
            try:
                self.run_mac(m, done or set())
            finally:
                finished.release()

        threads = [threading.Thread(target=work, args=(m,), name=f"mac-{m.name}") for m in macs]
        for t in threads:
            t.start()
        # Wait on a semaphore, not Thread.join(): a KeyboardInterrupt inside join() can mark a
        # still-running thread as stopped (CPython 3.11), and the journal would close under it.
        left = len(threads)
        while left:
            try:
                if finished.acquire(timeout=0.5):
                    left -= 1
            except KeyboardInterrupt:
                self.stop.set()
        for t in threads:
            t.join()
        self.actuators.close()

    def run_mac(self, mac: Mac, done: set) -> None:
        hangs = 0
        for k in range(1, self.plan.cycles + 1):
            if (mac.name, k) in done:
                continue
            if self.stop.is_set():
                break
            if hangs >= self.plan.hang_limit:
                self._journal_skip(mac, k, f"skipped: {hangs} hangs this run (Mac marked unhealthy)")
                continue
            for attempt in range(1, self.plan.rig_retries + 2):
                rec = self.run_cycle(mac, k, attempt)
                if rec["outcome"] != Outcome.RIG_ERROR.value or self.stop.is_set():
                    break
            if rec["outcome"] == Outcome.DUT_HANG.value:
                hangs += 1

    # -- one cycle ----------------------------------------------------------------------------
    def run_cycle(self, mac: Mac, k: int, attempt: int = 1) -> dict:
        start = self.clock.now()
        raw = self.run_dir / "raw" / mac.name / f"{k:03d}"
        if raw.exists():  # an earlier attempt (retried, or interrupted before a resume): keep it aside
            raw.rename(raw.with_name(f"{raw.name}.attempt{self._next_attempt_no(raw)}"))
        self.journal.append({"type": "cycle_start", "mac": mac.name, "cycle": k, "t": start, "attempt": attempt,
                             "outcome": Outcome.UNKNOWN.value, "build": self.plan.build,
                             "utc": datetime.fromtimestamp(start, timezone.utc).isoformat()})
        step = "precondition"
        try:
            self._step(mac, k, step)
            with self._precondition(mac, k) as ssh:
                self._offset(ssh, mac.name, mac.name, k)
                self._check_build(ssh, mac)
                if mac.probe:
                    self._ensure_probe(ssh, mac, k)
                self._gateway_offset(mac, k)
                step = "sleep"
                self._step(mac, k, step)
                self._sleep(mac, k, ssh)
            step = "dwell"
            self._step(mac, k, step)
            self._dwell(self.plan.dwell_s)
            step = "wake"
            self._step(mac, k, step, may_stop=False)
            anchor = self._wake(mac, k)
            step = "wait for SSH"
            self._step(mac, k, step)
            with self._await_ssh(mac, k) as ssh:
                self._offset(ssh, mac.name, mac.name, k)
                step = "wait for tunnel"
                self._step(mac, k, step)
                collect.wait_for_tunnel(ssh, self.lab, mac.name, anchor, self._offsets[mac.name][-1].offset,
                                        self.clock, self.plan.tunnel_timeout_s)
                # hold for the grace period: an alert raised late must land in this cycle's logs
                self._dwell(anchor + self.plan.grace_s + 5.0 - self.clock.now())
                step = "collect"
                self._step(mac, k, step, may_stop=False)
                end = self.clock.now()
                collect.collect_mac(ssh, self.lab, mac, raw, start, end, self._last_offsets(mac.name))
                if mac.probe:
                    (raw / "probe.log").write_bytes(ssh.run(probe.fetch_argv()).check().out)
                self._offset(ssh, mac.name, mac.name, k)
            collect.collect_gateway(self.lab, raw, start, end, self.clock, self._last_offsets(self._gw_name()))
            outcome, reason = Outcome.PASS, ""
        except Interrupted:
            outcome, reason = Outcome.UNKNOWN, f"interrupted by the operator during {step}; re-run on resume"
        except DutHang as e:
            outcome, reason = Outcome.DUT_HANG, str(e)
        except RigError as e:
            outcome, reason = Outcome.RIG_ERROR, f"{step}: {e}"
        except Exception as e:  # noqa: BLE001 - an unexpected failure is a rig error, never a crash
            outcome, reason = Outcome.RIG_ERROR, f"{step}: unexpected {type(e).__name__}: {e}"
            raw.mkdir(parents=True, exist_ok=True)
            (raw / "traceback.txt").write_text(traceback.format_exc())
        if mac.name in self._asleep and outcome is not Outcome.DUT_HANG:
            self._leave_awake(mac, k)
        rec = {"type": "cycle_end", "mac": mac.name, "cycle": k, "t": self.clock.now(), "attempt": attempt,
               "collected": outcome is Outcome.PASS, "outcome": outcome.value, "reason": reason}
        scored: dict = {}
        if outcome is Outcome.PASS:
            # Collected; the build's verdict (pass/fail against the gates) comes from scoring.
            try:
                scored = derive.score_collected_cycle(self.run_dir, mac.name, k)
                rec["outcome"] = scored["outcome"]
            except Exception as e:  # noqa: BLE001 - a scoring bug must not lose the cycle
                rec.update(outcome=Outcome.RIG_ERROR.value, reason=f"scoring: {type(e).__name__}: {e}")
        self.journal.append(rec)
        self.on_cycle({**scored, **rec})
        return rec

    @staticmethod
    def _next_attempt_no(raw: Path) -> int:
        n = 1
        while raw.with_name(f"{raw.name}.attempt{n}").exists():
            n += 1
        return n

    def _step(self, mac: Mac, k: int, step: str, may_stop: bool = True) -> None:
        """Journal the step *before* doing it; between steps is where Ctrl-C takes effect."""
        if may_stop and self.stop.is_set():
            raise Interrupted(step)
        self.journal.append({"type": "step", "mac": mac.name, "cycle": k, "step": step, "t": self.clock.now()})
        self.on_step(mac.name, k, step)

    def _dwell(self, seconds: float) -> None:
        """Wait ``seconds`` of lab time in slices, so a stop request is honoured within one slice."""
        end = self.clock.now() + seconds
        while not self.stop.is_set():
            left = end - self.clock.now()
            if left <= 0:
                return
            self.clock.sleep(min(left, 5.0))

    def _precondition(self, mac: Mac, k: int) -> SSHSession:
        """Reach the Mac; if it does not answer (left asleep by a crashed run?), wake it once."""
        try:
            return wait_reachable(mac.ssh, self.clock, min(30.0, self.plan.precondition_timeout_s))
        except Unreachable as first:
            if not mac.actuator:
                raise
            self.journal.append({"type": "recovery", "mac": mac.name, "cycle": k, "step": "preflight wake",
                                 "why": str(first)})
            self._wake(mac, k, kind_prefix="preflight")
            return wait_reachable(mac.ssh, self.clock, self.plan.precondition_timeout_s)

    def _leave_awake(self, mac: Mac, k: int) -> None:
        """After an interrupted or failed cycle, never leave a Mac the rig put to sleep asleep."""
        try:
            self._wake(mac, k, kind_prefix="cleanup")
        except Exception as e:  # noqa: BLE001 - the cycle's own outcome must still be journaled
            self.journal.append({"type": "recovery", "mac": mac.name, "cycle": k, "step": "cleanup wake",
                                 "error": str(e)})

    # -- steps --------------------------------------------------------------------------------
    def _offset(self, ssh: SSHSession, host: str, mac: str, k: int) -> None:
        off = measure_offset(ssh, host)
        self.journal.append({"type": "offset", "mac": mac, "cycle": k, **off.as_dict()})
        self._offsets.setdefault(host, []).append(off)

    def _last_offsets(self, host: str):
        return self._offsets.get(host, [])

    def _gw_name(self) -> str:
        return self.lab.gateway.name if self.lab.gateway else ""

    def _gateway_offset(self, mac: Mac, k: int) -> None:
        if not self.lab.gateway:
            return
        with SSHSession(self.lab.gateway.ssh, self.clock).connect() as gw:
            self._offset(gw, self.lab.gateway.name, mac.name, k)

    def _ensure_probe(self, ssh: SSHSession, mac: Mac, k: int) -> None:
        """Start the probe loop on the Mac unless it already runs (it survives sleep and cycles)."""
        if ssh.run(probe.running_argv()).status == 0:
            return
        ssh.run_line([probe.start_argv(mac.probe, mac.probe_interval_s), ">/dev/null", "2>&1", "&"]).check()
        self.journal.append({"type": "probe_started", "mac": mac.name, "cycle": k, "url": mac.probe,
                             "t": self.clock.now()})

    def _check_build(self, ssh: SSHSession, mac: Mac) -> None:
        out = ssh.run(["systemextensionsctl", "list"]).check().text
        bundle = self.lab.extension.bundle_id or self.lab.extension.subsystem
        lines = [ln for ln in out.splitlines() if bundle in ln]
        want = self.plan.expected_version
        if not any(want in ln for ln in lines):
            found = lines[0].strip() if lines else "not installed"
            raise RigError(f"{mac.name}: extension {bundle} is not at build {want!r} ({found}); "
                           f"install it first (rig install)")
        self.journal.append({"type": "build", "mac": mac.name, "installed": lines[0].strip()})

    def _action(self, mac: Mac, k: int, kind: str, action) -> float:
        self.journal.append({"type": "action", "mac": mac.name, "cycle": k, "kind": kind, "t": action.at,
                             "sent": action.sent, "received": action.received, "attempts": action.attempts,
                             "request": action.request, "notes": list(getattr(action, "notes", []) or [])})
        return action.at

    def _sleep(self, mac: Mac, k: int, ssh: SSHSession) -> None:
        if mac.sleep_by == "lid":
            ssh.close()  # an open session can hold off sleep
            act = self.actuators.act(mac.actuator, lambda a: a.lid(mac.channel, close=True))
            self._asleep.add(mac.name)
            self._action(mac, k, "act_lid_close", act)
        else:
            t0 = self.clock.now()
            note = ""
            try:
                res = ssh.run(["pmset", "sleepnow"]).check()
                t0, t1 = res.t0, res.t1
            except Unreachable as e:
                # The Mac may cut the link as it falls asleep, before the answer arrives: that is the
                # command working. Whether it really slept is read from its pmset log, not assumed.
                t1, note = self.clock.now(), f"link dropped as the Mac went to sleep: {e}"
            self._asleep.add(mac.name)
            self.journal.append({"type": "action", "mac": mac.name, "cycle": k, "kind": "cmd_sleepnow",
                                 "t": t0, "sent": t0, "received": t1, "attempts": 1,
                                 "request": "pmset sleepnow", "notes": [note] if note else []})
            ssh.close()

    def _wake(self, mac: Mac, k: int, kind_prefix: str = "") -> float:
        """Lid open or power press. Only the cycle's own wake (no prefix) is an anchor."""
        if mac.wake_by == "lid":
            act = self.actuators.act(mac.actuator, lambda a: a.lid(mac.channel, close=False))
            kind = "act_lid_open"
        else:
            act = self.actuators.act(mac.actuator, lambda a: a.power_press(mac.channel, self.plan.power_press_ms))
            kind = "act_power_press"
        self._asleep.discard(mac.name)
        if kind_prefix:
            self.journal.append({"type": "recovery", "mac": mac.name, "cycle": k, "step": f"{kind_prefix} wake",
                                 "request": act.request, "t": act.at})
            return act.at
        return self._action(mac, k, kind, act)

    def _ladder(self, mac: Mac) -> list[tuple[str, Callable]]:
        """The recovery ladder, gentlest first (DESIGN.md, step 5)."""
        ch, ms, wait = mac.channel, self.plan.power_press_ms, self.clock.sleep

        def long_then_press(a):
            acts = [a.power_press(ch, 6000)]
            wait(10.0)
            return acts + [a.power_press(ch, ms)]

        def ac_cycle(a):
            acts = [a.ac(ch, on=False)]
            wait(10.0)
            acts.append(a.ac(ch, on=True))
            wait(5.0)
            return acts + [a.power_press(ch, ms)]

        return [("power press", lambda a: [a.power_press(ch, ms)]),
                ("long press then press", long_then_press),
                ("AC off and on", ac_cycle)]

    def _await_ssh(self, mac: Mac, k: int) -> SSHSession:
        """Wait for SSH after wake; on timeout walk the recovery ladder, journaling each step."""
        try:
            return wait_reachable(mac.ssh, self.clock, self.plan.wake_timeout_s)
        except Unreachable as first:
            if not mac.actuator:
                raise DutHang(f"{mac.name}: no SSH answer after wake ({first}) and no actuator to recover it")
            for name, step in self._ladder(mac):
                self.journal.append({"type": "recovery", "mac": mac.name, "cycle": k, "step": name,
                                     "t": self.clock.now()})
                try:
                    for act in self.actuators.act(mac.actuator, step):
                        self.journal.append({"type": "recovery_action", "mac": mac.name, "cycle": k,
                                             "request": act.request, "t": act.at})
                except RigError as e:
                    self.journal.append({"type": "recovery", "mac": mac.name, "cycle": k, "step": name,
                                         "error": str(e)})
                    continue
                try:
                    ssh = wait_reachable(mac.ssh, self.clock, self.plan.wake_timeout_s)
                except Unreachable:
                    continue
                self.journal.append({"type": "recovery", "mac": mac.name, "cycle": k, "step": name,
                                     "result": "recovered"})
                return ssh
            raise DutHang(f"{mac.name}: no SSH answer after wake ({first}); recovery ladder exhausted")

    def _journal_skip(self, mac: Mac, k: int, why: str) -> None:
        t = self.clock.now()
        self.journal.append({"type": "cycle_start", "mac": mac.name, "cycle": k, "t": t,
                             "outcome": Outcome.UNKNOWN.value, "build": self.plan.build})
        self.journal.append({"type": "cycle_end", "mac": mac.name, "cycle": k, "t": t,
                             "outcome": Outcome.DUT_HANG.value, "reason": why, "collected": False})
