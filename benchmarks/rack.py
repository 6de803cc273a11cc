"""A rack on the twin: wall time and controller CPU for 1, 8 and 32 Macs x 4 cycles.

The controller drives every Mac in its own thread (rig.runner.cycle.CycleRunner.run), exactly as on a
real rack; the twin runs in its own process. What grows with the number of Macs is the
controller's own work (SSH sessions, offsets, collection, per-cycle scoring) and the twin's
(one world, one SSH server per Mac), all on this machine's cores. The goal: 32 Macs in under 3x
the wall time of 1.

    python benchmarks/rack.py                 # 1, 8, 32 Macs, 4 cycles, 10 min dwell, x200
    python benchmarks/rack.py --macs 1,32 --dwell 20m --profile 32

Printed per rack size: wall seconds of the night (start to report), its floor (cycles x dwell at
the twin's scale: the sleeps themselves), controller CPU seconds (user+sys of this process),
twin CPU seconds, and the ratios to one Mac. ``--profile N`` prints where the controller's CPU
goes for the N-Mac rack: the CPU time (``time.thread_time``, so waits do not count) spent inside
each stage of a cycle, summed over the Mac threads.
"""
from __future__ import annotations

import argparse
import collections
import functools
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rig.runner.plan import Plan  # noqa: E402
from rig.lab.inventory import load_lab  # noqa: E402
from rig.runner.run import drive, parse_duration, start_run  # noqa: E402
from rig.score.suites import SUITES  # noqa: E402
from rig.twin.launch import TwinProcess  # noqa: E402
from rig.twin.serve import MacSpec, TwinConfig  # noqa: E402


def rack(n: int) -> list[MacSpec]:
    """n Macs, laptops and desktops alternating, with the clock skews and time zones of a real rack."""
    zones = [-480, 0, 60, 330, 540]
    return [MacSpec(f"mac-{i:02d}", "laptop" if i % 2 else "desktop", skew=((i * 7) % 11 - 5) * 0.4,
                    utc_offset_min=zones[i % len(zones)], tags=["laptop" if i % 2 else "desktop"])
            for i in range(1, n + 1)]


def _proc_cpu_s(pid: int) -> float:
    """user+sys CPU seconds of a running process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        import os

        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def night(n: int, cycles: int, dwell_s: float, scale: float, build: str, profile: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="rig-rack-") as tmp:
        twin = TwinProcess(TwinConfig(build=build, scale=scale, macs=rack(n)), root=Path(tmp) / "twin")
        lab_path = twin.start()
        stages = StageCPU() if profile else None
        try:
            lab = load_lab(lab_path)
            plan = Plan(build=f"twin:{build}", cycles=cycles, dwell_s=dwell_s, gates=list(SUITES["dark_wake"]["gates"]))
            folder = start_run(lab, plan, Path(tmp) / "reports", macs=list(lab.macs.values()))
            twin_cpu0, cpu0, t0 = _proc_cpu_s(twin.proc.pid), _cpu_s(), time.perf_counter()
            scores = drive(lab, folder, plan, list(lab.macs.values()))
            wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
            twin_cpu = _proc_cpu_s(twin.proc.pid) - twin_cpu0
        finally:
            if stages:
                stages.restore()
            twin.stop()
            twin.cleanup()
    out = {"macs": n, "wall_s": wall, "cpu_s": cpu, "twin_cpu_s": twin_cpu, "floor_s": cycles * dwell_s / scale,
           "cycles_scored": scores["cycles_scored"], "cycles": scores["cycles"]}
    if stages:
        out["profile"] = stages.table(cpu)
    return out


class StageCPU:
    """CPU seconds spent inside the stages of a cycle, in every thread (waits excluded)."""

    def __init__(self):
        import paramiko

        from rig.runner import collect, cycle
        from rig.runner import run as run_module
        from rig.score import derive
        from rig.drive import ssh

        self.acc: dict = collections.defaultdict(float)
        self.calls: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._undo = []
        for owner, name, label in [
            (derive, "score_collected_cycle", "scoring each cycle (derive.score_collected_cycle)"),
            (run_module, "derive_run", "deriving the run at the end (rig.report.rebuild.derive_run)"),
            (ssh.SSHSession, "connect", "SSH connect (key exchange, host keys)"),
            (paramiko.HostKeys, "load", "  of which: parsing known_hosts"),
            (ssh.SSHSession, "run", "SSH commands"),
            (cycle, "measure_offset", "clock offsets"),
            (collect, "collect_mac", "collecting a Mac's logs"),
            (collect, "collect_gateway", "collecting the gateway's log"),
            (collect, "wait_for_tunnel", "waiting for the tunnel (log polls)"),
        ]:
            self._wrap(owner, name, label)

    def _wrap(self, owner, name, label) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*a, **kw):
            t = time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                with self._lock:
                    self.acc[label] += time.thread_time() - t
                    self.calls[label] += 1

        setattr(owner, name, timed)
        self._undo.append((owner, name, fn))

    def restore(self) -> None:
        for owner, name, fn in reversed(self._undo):
            setattr(owner, name, fn)

    def table(self, total: float) -> str:
        lines = [f"  {'stage':<52} {'CPU s':>7} {'share':>6} {'calls':>6} {'ms/call':>8}"]
        for label, v in sorted(self.acc.items(), key=lambda kv: -kv[1]):
            n = self.calls[label]
            lines.append(f"  {label:<52} {v:>7.2f} {v / total:>6.0%} {n:>6} {1000 * v / n:>8.1f}")
        return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--macs", default="1,8,32", help="rack sizes to run (default 1,8,32)")
    ap.add_argument("--cycles", type=int, default=4)
    ap.add_argument("--dwell", default="10m", help="sleep per cycle (default 10m)")
    ap.add_argument("--scale", type=float, default=200.0, help="twin clock: virtual seconds per wall second")
    ap.add_argument("--build", default="naive", help="twin build model")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="profile the controller for the N-Mac rack")
    a = ap.parse_args()
    dwell_s = parse_duration(a.dwell)
    sizes = [int(x) for x in a.macs.split(",") if x]
    print(f"rack on the twin: {a.cycles} cycles x {a.dwell} dwell per Mac, clock x{a.scale:g}, build {a.build}")
    print(f"{'Macs':>5} {'wall s':>8} {'floor s':>8} {'ctl CPU s':>10} {'twin CPU s':>11} {'scored':>8} "
          f"{'wall/1':>7} {'CPU/1':>6} {'CPU/Mac-cycle':>14}")
    base = None
    for n in sizes:
        r = night(n, a.cycles, dwell_s, a.scale, a.build, profile=(n == a.profile))
        base = base or r
        print(f"{n:>5} {r['wall_s']:>8.1f} {r['floor_s']:>8.1f} {r['cpu_s']:>10.1f} {r['twin_cpu_s']:>11.1f} "
              f"{r['cycles_scored']:>4}/{r['cycles']:<3} {r['wall_s'] / base['wall_s']:>7.2f} "
              f"{r['cpu_s'] / base['cpu_s']:>6.1f} {r['cpu_s'] / (n * a.cycles):>14.3f}", flush=True)
        if "profile" in r:
            print(f"where the controller's CPU went ({n} Macs; nested stages overlap, e.g. SSH inside collection):")
            print(r["profile"])
    if len(sizes) > 1:
        big = sizes[-1]
        print(f"goal: {big} Macs in under 3x the wall time of {sizes[0]}")


if __name__ == "__main__":
    main()
