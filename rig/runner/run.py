"""A run: create the run folder, record what is about to happen, drive the Macs, derive the rest.

Thin on purpose: the cycle runner does the cycles, ``derive`` the scores and reports. This module
only ties them to one folder and one ``run.json``.
"""
from __future__ import annotations

import re
import shutil
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from rig import __version__
from rig.report.rebuild import derive_run
from rig.score.derive import score_run
from rig.lab.exported import merge_ports, ports_used
from rig.lab.lease_backend import Holding, controller_identity
from rig.runner.cycle import CycleRunner
from rig.runner.plan import Plan
from rig.journal import Journal, cycles_from_journal, merge_parts, read_journal
from rig.lab.inventory import Lab
from rig.outcomes import Outcome, RunFolderError
from rig.run_folder import RunFolder
from rig.outcomes import is_scored
from rig.score.sequential import ALPHA, BETA, Hypothesis, Sequential
from rig.score.suites import exposure as suite_exposure, hypotheses as suite_hypotheses
from rig.timestamps import utc_seconds

_DUR = re.compile(r"(\d+(?:\.\d+)?)([hms])")


def parse_duration(text: str) -> float:
    """``45m``, ``2h``, ``90s``, ``1h30m`` or plain seconds -> seconds."""
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    parts = _DUR.findall(t)
    if not parts or "".join(a + b for a, b in parts) != t:
        raise ValueError(f"not a duration: {text!r} (use e.g. 45m, 2h, 90s, 1h30m)")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def start_run(lab: Lab, plan: Plan, reports: Path, *, suite: str = "dark_wake",
              command: list[str] | None = None, macs=None, folder: RunFolder | None = None,
              started: float | None = None, extra: dict | None = None) -> RunFolder:
    """Write ``run.json`` (and the signatures copy) into a new run folder under ``reports``, or
    into ``folder`` when the caller made it (parallel pytest workers agree on one path).

    The one writer of ``run.json``: ``rig run``, the pytest session and ``rig twin simulate``
    (whose first night ``started`` at a fixed instant, and which adds its ``twin`` table in
    ``extra``) all describe a run with the same keys."""
    started = lab.clock().now() if started is None else started
    folder = folder or RunFolder.create(reports, plan.build, started)
    shutil.copy(lab.extension.signatures, folder.signatures)
    selected = macs or list(lab.macs.values())
    meta = {
        "run_id": folder.path.name,
        "rig_version": __version__,
        "build": plan.build,
        "suite": suite,
        "lab": {"name": lab.name, "virtual": lab.is_virtual, "rack": lab.rack or lab.name},
        "controller": controller_identity(),
        "macs": {m.name: {"sleep_by": m.sleep_by, "wake_by": m.wake_by, "tags": list(m.tags)} for m in selected},
        "gateway": ({"name": lab.gateway.name, "format": lab.gateway.format, "users": lab.gateway.users}
                    if lab.gateway else None),
        "extension": {"name": lab.extension.name, "subsystem": lab.extension.subsystem},
        "redact": list(lab.redact),
        "plan": {k: v for k, v in asdict(plan).items() if k != "gates"},
        "gates": [asdict(g) for g in plan.gates],
        "exposure": suite_exposure(suite),
        **({"sequential": sequential_spec(suite, plan)} if plan.until_settled else {}),
        "started": utc_seconds(started),
        "command": command or sys.argv,
        **(extra or {}),
    }
    folder.write_meta(meta)
    return folder


def sequential_spec(suite: str, plan: Plan) -> dict:
    """run.json's ``sequential``: what ``rig score`` needs to decide the test again."""
    hyps = suite_hypotheses(suite)
    if not hyps:
        raise ValueError(f"suite {suite!r} declares no sequential hypotheses: run it without --until-settled")
    return {"hypotheses": [asdict(h) for h in hyps], "pool": "tags", "alpha": ALPHA, "beta": BETA,
            "max_cycles": plan.cycles}


class SettledMonitor:
    """The sequential test as a run goes: each Mac's scored cycles are fed as they end, and a
    Mac stops when its pool has settled (the run's record is decided again by ``rig score``)."""

    def __init__(self, meta: dict):
        spec = meta["sequential"]
        macs = {m: list(v.get("tags", [])) for m, v in meta["macs"].items()}
        self.seq = Sequential([Hypothesis(**h) for h in spec["hypotheses"]], macs, spec.get("pool", "tags"),
                              spec.get("alpha", ALPHA), spec.get("beta", BETA))
        self.lock = threading.Lock()

    def add(self, rec: dict) -> None:
        row = {**rec, "t_end": rec.get("t_end") or rec.get("t")}
        if is_scored(row):
            with self.lock:
                self.seq.add(row)

    def settled_for(self, mac: str) -> bool:
        with self.lock:
            return self.seq.settled_for(mac)


def lease_ttl_s(plan: Plan, clock) -> float:
    """Wall seconds a lease must outlive one cycle (renewed after each), with a generous margin."""
    cycle_lab_s = plan.dwell_s + plan.precondition_timeout_s + 4 * plan.wake_timeout_s + plan.tunnel_timeout_s
    return max(600.0, 2 * (cycle_lab_s + 600) / clock.scale)


def drive(lab: Lab, folder: RunFolder, plan: Plan, macs, *, on_cycle: Callable[[dict], None] | None = None,
          stop: threading.Event | None = None, on_step=None) -> dict:
    """Run (or resume) the cycles not yet finished, then derive every report file.

    Takes a lease on every Mac first (file or coordinator, :class:`rig.lab.lease_backend.Holding`,
    with the places of actuators exported from another host; :class:`rig.lab.lease.LeaseBusy` if
    another run holds one past ``lab.lease_wait_s``), renews it after each cycle and releases it
    at the end.
    """
    clock = lab.clock()
    held = Holding(lab, macs, folder.path.name, lease_ttl_s(plan, clock))
    try:
        _drive_held(held, folder, plan, macs, clock, on_cycle, stop, on_step)
    finally:
        held.release()   # at the end, on Ctrl-C, on a full disk and on any error
    scores = derive_run(folder.path)
    if scores.get("settled"):
        folder.update_meta(settled={k: scores["settled"][k] for k in ("state", "cycles", "dark_wakes", "lab_hours")})
    return scores


def _drive_held(held: Holding, folder: RunFolder, plan: Plan, macs, clock, on_cycle, stop, on_step) -> None:
    """The cycles of :func:`drive` while its leases are held."""
    lab = held.lab   # an actuator found through its place now has its exported port's URL
    record_ports(folder, lab)
    monitor = SettledMonitor(folder.meta()) if plan.until_settled else None

    def cycle_done(rec: dict) -> None:
        held.renew(lab.macs[rec["mac"]])
        if monitor:
            monitor.add(rec)
        if on_cycle:
            on_cycle(rec)

    merge_parts(folder.path)  # a night run by parallel pytest workers left per-Mac parts
    records, _ = read_journal(folder.journal)
    done = {key for key, c in cycles_from_journal(records).items() if c.get("outcome") != Outcome.UNKNOWN.value}
    if monitor and done:   # a resumed run: the cycles already scored are evidence already seen
        for row in score_run(folder.path).cycles.to_dict("records"):
            monitor.add(row)
    journal = Journal(folder.journal)
    writable = True
    try:
        CycleRunner(lab, folder.path, plan, journal, clock, on_cycle=cycle_done, stop=stop,
                    on_step=on_step, settled=monitor.settled_for if monitor else None).run(macs, done)
    except RunFolderError:
        writable = False  # nothing more is written: the error says where the disk gave out
        raise
    finally:
        journal.close()
        if writable:
            record_ports(folder, lab)   # an exporter restarted mid-run published a new port
            folder.update_meta(finished=utc_seconds(clock.now()))


def record_ports(folder: RunFolder, lab: Lab) -> None:
    """The ports the actuators found through a place were given, into ``run.json`` (nothing for
    a lab without places)."""
    if ports := ports_used(lab):
        folder.update_meta(**merge_ports(folder.meta(), ports))
