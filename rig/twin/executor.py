"""The batch executor of the cycle: :mod:`rig.runner.script`'s operations on the twin's models,
on virtual time, with the latencies real hardware has (SSH connects, round trips, ``log show``
taking a second). No SSH, no threads, no waiting: ``rig twin simulate`` runs hundreds of nights.

It is a generator on the world's event queue: each operation yields the instants it takes and
returns the answer the threaded executor would get through the doors. Commands go to the twin
shell's own renderers (the exact command lines the rig sends), so logs, offsets and the build
listing are read by the script exactly as from a real Mac. What only the batch needs (the true
instants of each cycle, for ``truth.json``) is read from the journal records the script writes.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from rig.drive.ssh import CommandResult, Unreachable
from rig.drive.wol import magic_packet
from rig.journal import Rec
from rig.outcomes import Outcome
from rig.runner import operations as ops
from rig.outcomes import RigError
from rig.runner.collect import gateway_argv, host_window
from rig.runner.offsets import Offset
from rig.score.derive import score_collected_cycle
from rig.twin.shell import gateway_shell, mac_shell


@dataclass(frozen=True)
class Action:
    """What the twin's firmware did, as the rig's actuator driver reports it."""
    request: str
    at: float
    sent: float
    received: float
    attempts: int = 1
    notes: tuple = ()


class BatchExecutor:
    """Carries out one twin Mac's operations on the night's world."""

    def __init__(self, night, mac, channel: int):
        self.night, self.mac, self.channel = night, mac, channel
        self.world, self.ctl = night.world, night.ctl
        self.marks: dict = {}     # the open cycle's instants, from its journal records

    def execute(self, gen):
        """Run the script to its end, yielding the world's instants on the way."""
        return (yield from ops.carry_out(gen, self.perform))

    def perform(self, op):
        return getattr(self, "do_" + type(op).__name__.lower())(op)

    # -- operations ---------------------------------------------------------------------------------
    def do_now(self, op):
        return self.world.now

    def do_note(self, op: ops.Note):
        rec = op.record
        self.night.sim.journal(rec)
        if op.scores is not None and self.night.sim.monitor is not None:
            self.night.sim.monitor.add({**op.scores, **rec})
        kind = rec.get("kind", "")
        if rec["type"] == Rec.CYCLE_START.value:
            self.marks = {"start": rec["t"]}
        elif rec["type"] == Rec.ACTION.value and kind in ("act_lid_close", "cmd_sleepnow"):
            self.marks["sleep"] = rec["t"]
        elif rec["type"] == Rec.ACTION.value:
            self.marks["anchor"] = rec["t"]
        elif rec["type"] == Rec.CYCLE_END.value and "anchor" in self.marks:
            m = self.marks
            self.night.sim.truth_cycle(self.night, self.mac, rec["cycle"], m["start"], m.get("sleep", m["start"]),
                                       m["anchor"], rec["t"], hung=rec["outcome"] == Outcome.DUT_HANG.value)

    def do_step(self, op):
        return self.world.now

    def do_reach(self, op: ops.Reach):
        if op.host == ops.GATEWAY:
            yield self.world.now + self.ctl.connect_s()
            return
        w, ctl, mac = self.world, self.ctl, self.mac
        end, delay = w.now + op.timeout_s, 1.0
        while True:   # rig.drive.ssh.wait_reachable: try, back off 1, 2, 4 ... 15 s
            if mac.reachable():
                yield w.now + ctl.connect_s()
                return
            yield w.now + 0.05  # refused: the Mac's network is not up yet
            if w.now + delay > end:
                raise Unreachable(f"{mac.name}: no SSH answer within {op.timeout_s:.0f} s")
            yield w.now + delay
            delay = min(delay * 2, 15.0)

    def do_hangup(self, op):
        return None

    def do_run(self, op: ops.Run):
        w, ctl = self.world, self.ctl
        command = " ".join(shlex.quote(str(a)) for a in op.argv) if not op.line else _line(op.argv)
        t0 = w.now
        rtt = ctl.rtt()
        yield t0 + rtt / 2
        out, err, status = mac_shell(w, self.mac, command)
        slow = ctl.rng.uniform(0.8, 1.6) if op.argv[:2] == ("log", "show") else ctl.exec_s()
        yield t0 + rtt + slow
        return CommandResult(list(map(str, op.argv)), out, err, status, t0, t0 + rtt, command)

    def do_measure(self, op: ops.Measure):
        host = self.night.gw if op.host == ops.GATEWAY else self.mac
        off = self.ctl.offset(host.name, host.skew, self.world.now)
        yield self.world.now + 5 * self.ctl.exec_s()
        return Offset(**off)

    def do_act(self, op: ops.Act):
        """A protocol-v1 request: the firmware acts ``at`` (exact), the reply comes back later."""
        w, ctl, mac = self.world, self.ctl, self.mac
        rid = ctl.next_id()
        sent = w.now
        at = sent + ctl.rng.uniform(0.002, 0.004)
        yield at
        if op.verb == "lid":
            mac.lid(bool(op.value))
            words = f"LID {self.channel} {'CLOSE' if op.value else 'OPEN'}"
        elif op.verb == "press":
            mac.power_press(int(op.value))
            words = f"PWR {self.channel} PRESS {int(op.value)}"
        else:
            mac.ac = bool(op.value)
            words = f"AC {self.channel} {'ON' if op.value else 'OFF'}"
        received = at + ctl.rng.uniform(0.001, 0.003)
        yield received
        return Action(f"{rid} {words}", at, sent, received)

    def do_wakepacket(self, op: ops.WakePacket):
        """The magic packet crosses the LAN (half a round trip) and reaches the Mac's interface
        as the live twin's UDP listener hands it over: the same bytes, the same model method."""
        sent = self.world.now
        yield sent + self.ctl.rtt() / 2
        self.mac.wake_packet(magic_packet(op.target.mac))
        return sent

    def do_wait(self, op: ops.Wait):
        if op.seconds > 0:
            yield self.world.now + op.seconds

    def do_collect(self, op: ops.Collect):
        """The same commands the rig's collector sends, through the twin's shells; the files and
        ``collect.json`` it writes (stdout only: the batch has no SFTP to model)."""
        w, ctl, lab = self.world, self.ctl, self.night.sim.lab
        raw = op.raw
        raw.mkdir(parents=True, exist_ok=True)
        meta_path = raw / "collect.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        a, b = host_window(op.start, op.end, op.offsets)
        if op.host == ops.GATEWAY:
            yield w.now + ctl.connect_s()
            cmd = shlex.join(gateway_argv(lab, a, b))
            _save(raw, meta, "gateway", gateway_shell(w, self.night.gw, cmd), cmd, "gateway.log", [a, b])
        else:
            yield w.now + ctl.rtt() / 2
            _save(raw, meta, "pmset", mac_shell(w, self.mac, "pmset -g log"), "pmset -g log", "pmset.log")
            yield w.now + ctl.rng.uniform(0.15, 0.4)
            cmd = self.night.sim.log_show_command(a, b)
            _save(raw, meta, "unified", mac_shell(w, self.mac, cmd), cmd, "unified.ndjson", [a, b])
            yield w.now + ctl.rng.uniform(0.8, 1.6)
        meta_path.write_text(json.dumps(meta, indent=1))
        yield w.now + ctl.exec_s()
        for name, info in meta.items():
            if info["status"] != 0:
                raise RigError(f"{op.host}: collecting {name} failed: {info['command']} exited {info['status']}")

    def do_score(self, op):
        """The batch scores the whole run at its end (``rig score``); the cycle's placeholder
        outcome stands until then, unless a sequential test needs each cycle's score as it
        ends (``--until-settled``): then it is scored here, as the runner does. The rig's
        scoring pause before the next cycle is kept."""
        yield self.world.now + 0.2
        sim = self.night.sim
        if sim.monitor is None:
            return {}
        sim.flush_journal()
        return score_collected_cycle(sim.folder.path, op.mac, op.cycle)


def _line(words) -> str:
    """A shell line of quoted words and operators (what ``SSHSession.run_line`` sends)."""
    return " ".join(w if isinstance(w, str) else shlex.join(map(str, w)) for w in words)


def _save(raw, meta: dict, name: str, result, command: str, filename: str, window=None) -> None:
    out, err, status = result
    (raw / filename).write_bytes(out)
    meta[name] = {"command": command, "status": status, "bytes": len(out),
                  "stderr": err.decode("utf-8", "replace")[-2000:], "window": window, "via": "stdout"}

