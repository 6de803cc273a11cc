"""The threaded executor of the cycle: a thread per Mac carries out :mod:`rig.runner.script`'s
operations with SSH sessions, the actuator bank and the lab's clock.

Orchestration lives in the script; protocols live in the drivers (``ssh.py``, ``actuator.py``);
this module only maps one to the other, and owns what only a live controller has: threads, a
stop request (Ctrl-C) honoured between steps, and sessions that stay open between operations.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from rig.drive.actuator import open_actuator
from rig.drive.ssh import SSHSession, wait_reachable
from rig.drive.wol import send_magic_packet
from rig.journal import Journal
from rig.lab.clock import Clock
from rig.lab.inventory import Lab, Mac
from rig.outcomes import RunFolderError
from rig.parse.signatures import load_signatures
from rig.runner import collect, script
from rig.runner import operations as ops
from rig.runner.offsets import measure_offset
from rig.runner.plan import Plan
from rig.score import derive

SLICE_S = 5.0  # a wait is slept in slices of this much lab time, so a stop is seen within one


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


class CycleRunner:
    def __init__(self, lab: Lab, run_dir: Path, plan: Plan, journal: Journal, clock: Clock,
                 on_cycle: Callable[[dict], None] | None = None, stop: threading.Event | None = None,
                 on_step: Callable[[str, int, str], None] | None = None,
                 settled: Callable[[str], bool] | None = None):
        self.lab, self.run_dir, self.plan, self.journal, self.clock = lab, Path(run_dir), plan, journal, clock
        self.actuators = ActuatorBank(lab, clock)
        self.on_cycle = on_cycle or (lambda rec: None)
        self.on_step = on_step or (lambda mac, k, step: None)
        self.stop = stop or threading.Event()
        self.settled = settled or (lambda mac: False)   # the sequential test: this Mac may stop
        self.signatures = load_signatures(lab.extension.signatures)
        self.offsets: dict = {}  # host -> script.Offsets, shared by the Macs of the run

    def script(self, mac: Mac) -> script.MacScript:
        return script.MacScript(self.lab, self.plan, self.run_dir, mac, self.signatures, self.offsets)

    # -- the night ----------------------------------------------------------------------------
    def run(self, macs: list[Mac], done: set | None = None) -> None:
        """Drive every Mac in its own thread; ``done`` holds (mac, cycle) already finished.

        Ctrl-C sets ``stop``: every Mac finishes its current step, is woken if the rig put it to
        sleep, and its cycle is journaled as interrupted (``unknown``), to be re-run on resume.
        A run folder that cannot be written (a full disk) stops every Mac the same way, and the
        first such :class:`RunFolderError` is raised when all have stopped. Any other exception
        in a Mac's thread (a bug, a callback that raised) stops them too and is raised the same
        way: a thread that died quietly would leave its Mac's cycles silently missing, and the
        caller (``drive``) would release leases under a night it thinks finished.
        """
        finished = threading.Semaphore(0)
        folder_errors: list[RunFolderError] = []
        other_errors: list[BaseException] = []

        def work(m: Mac) -> None:
            try:
                self.run_mac(m, done or set())
            except RunFolderError as e:
                folder_errors.append(e)
                self.stop.set()
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread below
                other_errors.append(e)
                self.stop.set()
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
        if folder_errors:
            raise folder_errors[0]
        if other_errors:
            raise other_errors[0]

    def run_mac(self, mac: Mac, done: set) -> None:
        cycles = range(1, self.plan.cycles + 1)
        MacExecutor(self, mac).execute(script.mac_cycles(
            self.script(mac), cycles, frozenset(done),
            lambda: self.stop.is_set() or self.settled(mac.name)))

    def run_cycle(self, mac: Mac, k: int, attempt: int = 1) -> dict:
        """One cycle of one Mac, in this thread (what a pytest fixture drives)."""
        return MacExecutor(self, mac).execute(script.cycle(self.script(mac), k, attempt))


class MacExecutor:
    """Carries out one Mac's operations; holds its open sessions between them."""

    def __init__(self, runner: CycleRunner, mac: Mac):
        self.r, self.mac = runner, mac
        self.sessions: dict[str, SSHSession] = {}

    def execute(self, gen):
        """Run the script to its end; the Mac's sessions are closed whatever happens."""
        try:
            return ops.run_to_end(gen, self.perform)
        finally:
            for s in self.sessions.values():
                s.close()

    def perform(self, op):
        return getattr(self, "do_" + type(op).__name__.lower())(op)

    # -- operations -----------------------------------------------------------------------------
    def do_now(self, op: ops.Now) -> float:
        return self.r.clock.now()

    def do_note(self, op: ops.Note) -> None:
        self.r.journal.append(op.record)
        if op.scores is not None:
            self.r.on_cycle({**op.scores, **op.record})

    def do_step(self, op: ops.Step) -> float:
        if op.may_stop and self.r.stop.is_set():
            raise ops.Interrupted(op.name)
        self.r.on_step(op.mac, op.cycle, op.name)
        return self.r.clock.now()

    def do_reach(self, op: ops.Reach) -> None:
        self.do_hangup(ops.Hangup(op.host))
        if op.host == ops.GATEWAY:
            self.sessions[op.host] = SSHSession(self.r.lab.gateway.ssh, self.r.clock).connect()
        else:
            self.sessions[op.host] = wait_reachable(self.mac.ssh, self.r.clock, op.timeout_s)

    def do_hangup(self, op: ops.Hangup) -> None:
        s = self.sessions.pop(op.host, None)
        if s is not None:
            s.close()

    def do_run(self, op: ops.Run):
        ssh = self.sessions[op.host]
        return ssh.run_line(list(op.argv)) if op.line else ssh.run(list(op.argv))

    def do_measure(self, op: ops.Measure):
        host = self.r.lab.gateway.name if op.host == ops.GATEWAY else op.host
        return measure_offset(self.sessions[op.host], host)

    def do_act(self, op: ops.Act):
        ch, verb, value = self.mac.channel, op.verb, op.value
        if verb == "lid":
            return self.r.actuators.act(self.mac.actuator, lambda a: a.lid(ch, close=value))
        if verb == "press":
            return self.r.actuators.act(self.mac.actuator, lambda a: a.power_press(ch, value))
        return self.r.actuators.act(self.mac.actuator, lambda a: a.ac(ch, on=value))

    def do_wakepacket(self, op: ops.WakePacket) -> float:
        """One UDP magic packet from the controller; an ``OSError`` goes back to the script,
        which journals it (the dwell goes on)."""
        t = self.r.clock.now()
        send_magic_packet(op.target.mac, op.target.broadcast, op.target.port)
        return t

    def do_wait(self, op: ops.Wait) -> None:
        clock, stop = self.r.clock, self.r.stop
        end = clock.now() + op.seconds
        while not stop.is_set():
            left = end - clock.now()
            if left <= 0:
                return
            clock.sleep(min(left, SLICE_S))

    def do_collect(self, op: ops.Collect) -> None:
        if op.host == ops.GATEWAY:
            collect.collect_gateway(self.r.lab, op.raw, op.start, op.end, self.r.clock, op.offsets)
        else:
            collect.collect_mac(self.sessions[op.host], self.r.lab, self.mac, op.raw, op.start, op.end,
                                op.offsets)

    def do_score(self, op: ops.Score) -> dict:
        return derive.score_collected_cycle(self.r.run_dir, op.mac, op.cycle)
