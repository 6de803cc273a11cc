"""The cycle, once: the eight steps of a sleep/wake cycle (DESIGN.md, "A cycle") as a script.

The steps, the recovery ladder, the journal records, the skip rule and what counts as tunnel
evidence are written here and only here. The script touches nothing itself but the run folder:
every touch of a Mac, the gateway, the actuator or the clock is an *operation* it yields
(:mod:`rig.runner.operations`: reach a host, run a command, measure an offset, act, wait,
collect), and an executor carries it out on its own clock and sends the answer back, or throws the failure in, where the script's own
``try`` turns it into an outcome. Two executors run it:

- :class:`rig.runner.cycle.CycleRunner`: a thread per Mac, SSH sessions, the actuator bank and
  the lab's clock (real hardware, or the live twin through its doors);
- :class:`rig.twin.simulate.Night`: the twin's models on virtual time, with the latencies real
  hardware has (``rig twin simulate``).

So a step added here appears in ``rig run`` and ``rig twin simulate`` with no second edit, and
the two journals hold the same record types in the same order.

1. Precondition: Mac reachable, extension at the expected build; offsets measured. The cycle is
   journaled as ``unknown`` *before* acting, so a hang can never lose it.
2. Close SSH sessions (an open session can hold off sleep), then sleep: lid close through the
   actuator, or ``pmset sleepnow``.
3. Dwell; with ``--dark-wake-every`` a Wake-on-LAN packet each interval (``WakePacket``,
   journaled as ``wake_packet``): what it did is read from the Mac's logs, never assumed.
4. Full wake: lid open or a power press; the actuator's instant is the anchor.
5. Wait for SSH (bounded); if it never answers, walk the recovery ladder, then ``dut_hang``.
6. Wait for the tunnel (bounded), then hold for the alert grace period so late alerts are seen.
7. Collect the cycle's window of pmset log, unified log and gateway log into ``raw/<mac>/<cycle>/``;
   measure offsets again.
8. Journal the outcome. Any exception becomes an outcome (``rig_error``), never a crash.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rig.drive import extension, probe
from rig.events import Kind
from rig.journal import Rec
from rig.lab.inventory import Lab, Mac
from rig.names import inside
from rig.outcomes import DutHang, Outcome, RigError, RunFolderError
from rig.run_folder import writing
from rig.drive.ssh import Unreachable
from rig.parse.signatures import Signatures
from rig.parse.unified_log import parse_unified
from rig.runner.collect import MARGIN_S, log_show_argv
from rig.runner.operations import (GATEWAY, Act, Collect, Hangup, Interrupted, Measure, Note, Now, Reach,
                                   Run, Score, Step, Wait, WakePacket)
from rig.runner.plan import Plan
from rig.timestamps import utc_micro

TUNNEL_EVIDENCE = frozenset({Kind.TUNNEL_UP.value, Kind.KEEPALIVE.value})
POLL_S = 5.0           # how often the tunnel is looked for after a wake
PACKET_MARGIN_S = 60.0  # no wake packet in the dwell's last minute: its wake would meet the rig's


# -- the state a Mac's cycles share ------------------------------------------------------------

@dataclass
class Offsets:
    """What windows need of a host's offsets this run: the extremes and the latest (a run of
    many nights must not rescan every measurement at every collection)."""
    lo: object = None
    hi: object = None
    last: object = None

    def add(self, off) -> None:
        self.last = off
        if self.lo is None or off.offset < self.lo.offset:
            self.lo = off
        if self.hi is None or off.offset > self.hi.offset:
            self.hi = off

    def window_set(self) -> tuple:
        return tuple(o for o in (self.lo, self.hi) if o is not None)


@dataclass
class MacScript:
    """One Mac's cycles: the lab, the plan, the run folder and what carries over between cycles."""
    lab: Lab
    plan: Plan
    run_dir: Path
    mac: Mac
    signatures: Signatures
    offsets: dict = field(default_factory=dict)  # host -> Offsets (shared by a run's Macs)
    asleep: bool = False                         # the rig put the Mac to sleep, not yet woken
    press_unsure: bool = False                   # a wake press failed: it may have pressed anyway

    @property
    def name(self) -> str:
        return self.mac.name

    def raw(self, k: int) -> Path:
        """The cycle's raw folder, checked to stay inside the run folder."""
        return inside(self.run_dir, self.run_dir / "raw" / self.name / f"{k:03d}")


# -- the Mac's cycles --------------------------------------------------------------------------

def mac_cycles(s: MacScript, cycles, done: frozenset = frozenset(), stopped=lambda: False):
    """Every cycle of ``cycles`` not in ``done`` ((mac, k) pairs): a cycle that ends
    ``rig_error`` is run again up to ``plan.rig_retries`` times, and after ``plan.hang_limit``
    hangs the Mac's remaining cycles are journaled as skipped (it is marked unhealthy)."""
    hangs = 0
    for k in cycles:
        if (s.name, k) in done:
            continue
        if stopped():
            return
        if hangs >= s.plan.hang_limit:
            t = yield Now()
            yield from _skip(s, k, t, f"skipped: {hangs} hang(s) this run (Mac marked unhealthy)")
            continue
        for attempt in range(1, s.plan.rig_retries + 2):
            rec = yield from cycle(s, k, attempt)
            if rec["outcome"] != Outcome.RIG_ERROR.value or stopped():
                break
        if rec["outcome"] == Outcome.DUT_HANG.value:
            hangs += 1


def _skip(s: MacScript, k: int, t: float, why: str):
    yield Note({"type": Rec.CYCLE_START.value, "mac": s.name, "cycle": k, "t": t,
                "outcome": Outcome.UNKNOWN.value, "build": s.plan.build})
    yield Note({"type": Rec.CYCLE_END.value, "mac": s.name, "cycle": k, "t": t,
                "outcome": Outcome.DUT_HANG.value, "reason": why, "collected": False})


def cycle(s: MacScript, k: int, attempt: int = 1):
    """One cycle; returns its ``cycle_end`` record merged with its scores.

    A run folder that cannot be written (:class:`RunFolderError`, a full disk) is no outcome of
    the cycle: the Mac is left awake, the cycle stays ``unknown`` (resume runs it again) and the
    error goes up to stop the run."""
    start = yield Now()
    raw = s.raw(k)
    if raw.exists():  # an earlier attempt (retried, or interrupted before a resume): keep it aside
        with writing(raw):
            raw.rename(raw.with_name(f"{raw.name}.attempt{_next_attempt_no(raw)}"))
    yield Note({"type": Rec.CYCLE_START.value, "mac": s.name, "cycle": k, "t": start, "attempt": attempt,
                "outcome": Outcome.UNKNOWN.value, "build": s.plan.build, "utc": utc_micro(start)})
    progress = ["precondition"]
    folder_error = None
    try:
        yield from _steps(s, k, start, raw, progress)
        outcome, reason = Outcome.PASS, ""
    except RunFolderError as e:
        outcome, reason, folder_error = Outcome.UNKNOWN, str(e), e
    except Interrupted:
        outcome, reason = Outcome.UNKNOWN, f"interrupted by the operator during {progress[-1]}; re-run on resume"
    except DutHang as e:
        outcome, reason = Outcome.DUT_HANG, str(e)
    except RigError as e:
        outcome, reason = Outcome.RIG_ERROR, f"{progress[-1]}: {e}"
    except Exception as e:  # noqa: BLE001 - an unexpected failure is a rig error, never a crash
        outcome, reason = Outcome.RIG_ERROR, f"{progress[-1]}: unexpected {type(e).__name__}: {e}"
        _keep_traceback(raw)
    if s.asleep and outcome is not Outcome.DUT_HANG:
        try:
            yield from _leave_awake(s, k)
        except RunFolderError as e:  # the Mac was woken; only the note of it was lost
            folder_error = folder_error or e
    if folder_error is not None:
        raise folder_error
    return (yield from _end(s, k, attempt, outcome, reason))


def _keep_traceback(raw: Path) -> None:
    """Best effort: the journal's reason names the failure even when this cannot be written."""
    try:
        raw.mkdir(parents=True, exist_ok=True)
        (raw / "traceback.txt").write_text(traceback.format_exc())
    except OSError:
        pass


def _end(s: MacScript, k: int, attempt: int, outcome: Outcome, reason: str):
    """Journal the outcome; a collected cycle's verdict (pass/fail against the gates) comes from
    scoring, and a scoring bug must not lose the cycle."""
    t = yield Now()
    rec = {"type": Rec.CYCLE_END.value, "mac": s.name, "cycle": k, "t": t, "attempt": attempt,
           "collected": outcome is Outcome.PASS, "outcome": outcome.value, "reason": reason}
    scored: dict = {}
    if outcome is Outcome.PASS:
        try:
            scored = (yield Score(s.name, k)) or {}
            rec["outcome"] = scored.get("outcome", rec["outcome"])
        except RunFolderError:
            raise
        except Exception as e:  # noqa: BLE001
            rec.update(outcome=Outcome.RIG_ERROR.value, reason=f"scoring: {type(e).__name__}: {e}")
    yield Note(rec, scored)
    return {**scored, **rec}


def _steps(s: MacScript, k: int, start: float, raw: Path, progress: list):
    """Steps 1-7 (the module docstring); ``progress[-1]`` names the step under way."""
    def step(name: str, may_stop: bool = True):
        progress.append(name)
        t = yield Step(s.name, k, name, may_stop)
        yield Note({"type": Rec.STEP.value, "mac": s.name, "cycle": k, "step": name, "t": t})

    yield from step("precondition")
    yield from _precondition(s, k)
    try:
        yield from _offset(s, s.name, k)
        yield from _check_build(s)
        if s.mac.probe:
            yield from _ensure_probe(s, k)
        yield from _gateway_offset(s, k)
        yield from step("sleep")
        yield from _sleep(s, k)
    finally:
        yield Hangup(s.name)
    yield from step("dwell")
    yield from dwell(s, k)
    yield from step("wake", may_stop=False)
    anchor = yield from _wake(s, k)
    yield from step("wait for SSH")
    yield from _await_ssh(s, k)
    try:
        yield from _offset(s, s.name, k)
        yield from step("wait for tunnel")
        yield from wait_for_tunnel(s, anchor)
        # hold for the grace period: an alert raised late must land in this cycle's logs
        now = yield Now()
        yield Wait(anchor + s.plan.grace_s + 5.0 - now)
        yield from step("collect", may_stop=False)
        end = yield Now()
        yield Collect(s.name, raw, start, end, s.offsets[s.name].window_set())
        if s.mac.probe:
            res = yield Run(s.name, tuple(probe.fetch_argv()))
            with writing(raw / "probe.log"):
                (raw / "probe.log").write_bytes(res.check().out)
        yield from _offset(s, s.name, k)
    finally:
        yield Hangup(s.name)
    if s.lab.gateway:
        gw = s.offsets.get(s.lab.gateway.name, Offsets())
        yield Collect(GATEWAY, raw, start, end, gw.window_set())


# -- the steps ---------------------------------------------------------------------------------

def _precondition(s: MacScript, k: int):
    """Reach the Mac; if it does not answer (left asleep by a crashed run?), wake it once."""
    try:
        yield Reach(s.name, min(30.0, s.plan.precondition_timeout_s))
    except Unreachable as first:
        if not s.mac.actuator:
            raise
        yield Note({"type": Rec.RECOVERY.value, "mac": s.name, "cycle": k, "step": "preflight wake",
                    "why": str(first)})
        yield from _wake(s, k, prefix="preflight")
        yield Reach(s.name, s.plan.precondition_timeout_s)


def _offset(s: MacScript, host: str, k: int):
    """Measure ``host`` over its open session (the Mac's or the gateway's) and journal it."""
    off = yield Measure(GATEWAY if s.lab.gateway and host == s.lab.gateway.name else host)
    yield Note({"type": Rec.OFFSET.value, "mac": s.name, "cycle": k, **off.as_dict()})
    s.offsets.setdefault(host, Offsets()).add(off)


def _gateway_offset(s: MacScript, k: int):
    if not s.lab.gateway:
        return
    yield Reach(GATEWAY, 30.0)
    try:
        yield from _offset(s, s.lab.gateway.name, k)
    finally:
        yield Hangup(GATEWAY)


#: what the Mac is, journaled with its build so a history across racks can be cut by model and OS
MACOS_ARGV = ("sw_vers", "-productVersion")
MODEL_ARGV = ("sysctl", "-n", "hw.model")


def _check_build(s: MacScript):
    res = yield Run(s.name, extension.LIST_ARGV)
    found = extension.installed(res.check().text, s.lab.extension, s.plan.build)
    if not found.at_build:
        raise RigError(found.refusal(s.name))
    about = {}
    for key, argv in (("macos", MACOS_ARGV), ("model", MODEL_ARGV)):
        r = yield Run(s.name, argv)
        # metadata, not evidence: a Mac that will not say is recorded as "" and still measured
        about[key] = r.text.strip() if r.status == 0 else ""
    yield Note({"type": Rec.BUILD.value, "mac": s.name, "installed": found.line, **about})


def _ensure_probe(s: MacScript, k: int):
    """Start the probe loop on the Mac unless it already runs (it survives sleep and cycles)."""
    if (yield Run(s.name, tuple(probe.running_argv()))).status == 0:
        return
    line = (probe.start_argv(s.mac.probe, s.mac.probe_interval_s), ">/dev/null", "2>&1", "&")
    (yield Run(s.name, line, line=True)).check()
    t = yield Now()
    yield Note({"type": Rec.PROBE_STARTED.value, "mac": s.name, "cycle": k, "url": s.mac.probe, "t": t})


def _action(s: MacScript, k: int, kind: str, act) -> dict:
    return {"type": Rec.ACTION.value, "mac": s.name, "cycle": k, "kind": kind, "t": act.at,
            "sent": act.sent, "received": act.received, "attempts": act.attempts,
            "request": act.request, "notes": list(getattr(act, "notes", ()) or ())}


def _sleep(s: MacScript, k: int):
    if s.mac.sleep_by == "lid":
        yield Hangup(s.name)  # an open session can hold off sleep
        act = yield Act(s.name, "lid", True)
        s.asleep = True
        yield Note(_action(s, k, "act_lid_close", act))
        return
    t0 = yield Now()
    note = ""
    try:
        res = yield Run(s.name, ("pmset", "sleepnow"))
        res.check()
        t0, t1 = res.t0, res.t1
    except Unreachable as e:
        # The Mac may cut the link as it falls asleep, before the answer arrives: that is the
        # command working. Whether it really slept is read from its pmset log, not assumed.
        t1, note = (yield Now()), f"link dropped as the Mac went to sleep: {e}"
    s.asleep = True
    yield Note({"type": Rec.ACTION.value, "mac": s.name, "cycle": k, "kind": "cmd_sleepnow", "t": t0,
                "sent": t0, "received": t1, "attempts": 1, "request": "pmset sleepnow",
                "notes": [note] if note else []})


def dwell(s: MacScript, k: int):
    """Hold the sleep for the plan's dwell. With ``dark_wake_every_s`` and a Mac that has
    ``wake_on_lan``, send a magic packet every interval (none in the last minute): a dark wake
    on demand instead of one per ~15 min, so a verdict needs less lab time. A wait cut short
    is a stop request: no more packets then."""
    every, target = s.plan.dark_wake_every_s, s.mac.wake_on_lan
    if every <= 0 or target is None:
        yield Wait(s.plan.dwell_s)
        return
    end = (yield Now()) + s.plan.dwell_s
    while True:
        now = yield Now()
        due = now + every
        if due > end - PACKET_MARGIN_S:
            yield Wait(end - now)
            return
        yield Wait(every)
        if (yield Now()) < due:
            return
        yield from _wake_packet(s, k, target)


def _wake_packet(s: MacScript, k: int, target):
    """Send one packet and journal it; a network that refuses it is noted, never a crash."""
    rec = {"type": Rec.WAKE_PACKET.value, "mac": s.name, "cycle": k, "hw": target.mac,
           "to": f"{target.broadcast}:{target.port}"}
    try:
        rec["t"] = yield WakePacket(s.name, target)
    except RunFolderError:
        raise
    except OSError as e:
        rec.update(t=(yield Now()), error=f"not sent: {type(e).__name__}: {e}")
    yield Note(rec)


def _wake(s: MacScript, k: int, prefix: str = ""):
    """Lid open or power press -> its instant. Only the cycle's own wake (no prefix) is an anchor."""
    if s.mac.wake_by == "lid":
        act, kind = (yield Act(s.name, "lid", False)), "act_lid_open"
    else:
        s.press_unsure = True  # until the actuator confirms: a press is not a state to set again
        act, kind = (yield Act(s.name, "press", s.plan.power_press_ms)), "act_power_press"
    s.asleep = s.press_unsure = False
    if prefix:
        yield Note({"type": Rec.RECOVERY.value, "mac": s.name, "cycle": k, "step": f"{prefix} wake",
                    "request": act.request, "t": act.at})
    else:
        yield Note(_action(s, k, kind, act))
    return act.at


def _leave_awake(s: MacScript, k: int):
    """After an interrupted or failed cycle, never leave a Mac the rig put to sleep asleep.

    If the wake press itself failed unconfirmed (an actuator that rebooted mid-request), the
    press may have happened: a Mac that answers is awake and must not be pressed again (a
    second press would put it back to sleep)."""
    if s.press_unsure:
        try:
            yield Reach(s.name, s.plan.wake_timeout_s)
            s.asleep = s.press_unsure = False
            yield Note({"type": Rec.RECOVERY.value, "mac": s.name, "cycle": k, "step": "cleanup wake",
                        "result": "the Mac answers: the unconfirmed press had woken it; not pressed again"})
            return
        except Unreachable:
            pass
        finally:
            yield Hangup(s.name)
    try:
        yield from _wake(s, k, prefix="cleanup")
    except RunFolderError:
        raise
    except Exception as e:  # noqa: BLE001 - the cycle's own outcome must still be journaled
        yield Note({"type": Rec.RECOVERY.value, "mac": s.name, "cycle": k, "step": "cleanup wake",
                    "error": str(e)})


def ladder(plan: Plan) -> list[tuple[str, list]]:
    """The recovery ladder, gentlest first (DESIGN.md, step 5): rungs of actions and waits."""
    ms = plan.power_press_ms
    return [("power press", [("press", ms)]),
            ("long press then press", [("press", 6000), ("wait", 10.0), ("press", ms)]),
            ("AC off and on", [("ac", False), ("wait", 10.0), ("ac", True), ("wait", 5.0), ("press", ms)])]


def _await_ssh(s: MacScript, k: int):
    """Wait for SSH after wake; on timeout walk the recovery ladder, journaling each rung."""
    try:
        yield Reach(s.name, s.plan.wake_timeout_s)
        return
    except Unreachable as first:
        why = str(first)
    if not s.mac.actuator:
        raise DutHang(f"{s.name}: no SSH answer after wake ({why}) and no actuator to recover it")
    for name, moves in ladder(s.plan):
        t = yield Now()
        yield Note({"type": Rec.RECOVERY.value, "mac": s.name, "cycle": k, "step": name, "t": t})
        try:
            yield from _rung(s, k, moves)
        except RigError as e:
            yield Note({"type": Rec.RECOVERY.value, "mac": s.name, "cycle": k, "step": name, "error": str(e)})
            continue
        try:
            yield Reach(s.name, s.plan.wake_timeout_s)
        except Unreachable:
            continue
        yield Note({"type": Rec.RECOVERY.value, "mac": s.name, "cycle": k, "step": name, "result": "recovered"})
        return
    raise DutHang(f"{s.name}: no SSH answer after wake ({why}); recovery ladder exhausted")


def _rung(s: MacScript, k: int, moves: list):
    for verb, value in moves:
        if verb == "wait":
            yield Wait(value)
            continue
        act = yield Act(s.name, verb, value)
        yield Note({"type": Rec.RECOVERY_ACTION.value, "mac": s.name, "cycle": k,
                    "request": act.request, "t": act.at})


def wait_for_tunnel(s: MacScript, anchor: float, poll_s: float = POLL_S):
    """Poll the extension's log until it shows the tunnel carrying traffic after the wake.

    Evidence is a record the signatures map to ``tunnel_up`` or ``keepalive``, logged after the
    anchor (translated onto the Mac's clock with the latest offset). Returns the controller time
    it was seen, or ``None`` at the timeout: a missing tunnel is scored (censored
    time-to-tunnel), not raised.
    """
    offset = s.offsets[s.name].last.offset
    anchor_host = anchor + offset
    while True:
        now = yield Now()
        res = yield Run(s.name, tuple(log_show_argv(s.lab, anchor_host - 1.0, now + offset + MARGIN_S)))
        rows = parse_unified(res.check().out, s.name, s.signatures).rows
        now = yield Now()
        if any(r["kind"] in TUNNEL_EVIDENCE and datetime.fromisoformat(r["t"]).timestamp() > anchor_host
               for r in rows):
            return now
        if now >= anchor + s.plan.tunnel_timeout_s:
            return None
        yield Wait(poll_s)


def _next_attempt_no(raw: Path) -> int:
    n = 1
    while raw.with_name(f"{raw.name}.attempt{n}").exists():
        n += 1
    return n
