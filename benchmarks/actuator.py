"""Actuator speed over a real pty pair (socat) with real pyserial: what the driver adds, and replug time.

Measures, with the twin firmware on the device end of a socat pair:

- the floor: a bare ``os.write`` + ``os.read`` round trip of the same STATUS line on the tty;
- ``RigV1Actuator.status()``: the driver's round trip (ids, deadline-bound reads, reply parsing);
- an AC switch whose reply is lost to an unplug: from the new pair being ready to the request
  completing through the stable link (re-find latency; the driver polls every 50 ms);
- an LCUS relay press of 300 ms: the on-to-off gap the twin relay board sees;
- the same driver against the reference firmware under real MicroPython (``micropython
  firmware/main.py`` behind a socat pty): ``status()``, and a lid action, which costs two round
  trips (the boot-id check, then the request).

Prints medians, p95 and the driver's ratio to the floor. Goals: the driver adds under 1 ms a
request (a lid servo takes about a second, so this only has to stay out of the way); a device that
comes back is found within 100 ms; every action acted on exactly once; a press held within 5 ms
of what was asked.

Run: ``python benchmarks/actuator.py [--requests N] [--replugs K]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import termios
import tty

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from rig.drive.actuators.lcus_relay import LcusRelay  # noqa: E402
from rig.drive.actuators.rig_v1 import RigV1Actuator  # noqa: E402
from rig.lab.clock import SystemClock  # noqa: E402
from rig.lab.inventory import Actuator  # noqa: E402
from rig.twin.board_door import MicroPythonBoard  # noqa: E402
from rig.twin.firmware import Firmware  # noqa: E402
from rig.twin.mac import Mac  # noqa: E402
from rig.twin.relay import RelayBoard  # noqa: E402
from rig.twin.world import World  # noqa: E402
from socat_pair import SocatPair  # noqa: E402

CLOCK = SystemClock()


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def line(name, xs, unit="ms"):
    print(f"{name:<34} median {statistics.median(xs):8.3f} {unit}   p95 {pct(xs, 0.95):8.3f} {unit}   n={len(xs)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--replugs", type=int, default=10)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rig-bench-act-"))
    cable = SocatPair(tmp).plug()
    world = World(start=CLOCK.now(), seed=1)
    fw = Firmware(world, CLOCK, {1: Mac(world, "mbp-01", 1)}).attach(cable.device)
    try:
        fd = os.open(cable.rig, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd, termios.TCSANOW)
        floor = []
        for i in range(a.requests):
            t0 = time.perf_counter()
            os.write(fd, f"{i + 1} STATUS 1\n".encode())
            got = b""
            while not got.endswith(b"\n"):
                got += os.read(fd, 256)
            floor.append((time.perf_counter() - t0) * 1000)
        os.close(fd)
        act = RigV1Actuator(Actuator("act-1", str(cable.rig), timeout_s=2.0, reopen_s=5.0), CLOCK).open()
        driver = []
        for _ in range(a.requests):
            t0 = time.perf_counter()
            act.status(1)
            driver.append((time.perf_counter() - t0) * 1000)
        line("floor: os.write + os.read", floor)
        line("RigV1Actuator.status()", driver)
        print(f"{'driver / floor':<34} {statistics.median(driver) / statistics.median(floor):8.2f}x")

        refind = []
        for _ in range(a.replugs):
            fw.reply_delay_s = 0.2
            done = threading.Event()
            threading.Thread(target=lambda: (act.ac(1, on=False), done.set()), daemon=True).start()
            while not any(" AC " in r for r in fw.received[-1:]):
                time.sleep(0.001)
            cable.unplug()
            fw.detach()
            time.sleep(0.1)
            fw.reply_delay_s = 0.0
            cable.plug()
            t0 = time.perf_counter()
            fw.attach(cable.device)
            assert done.wait(10), "the press never completed after replug"
            refind.append((time.perf_counter() - t0) * 1000)
        act.close()
        line("replug -> request completed", refind)
        acted = sum(1 for x in fw.actions if x[1].startswith("AC"))
        print(f"{'actions acted on / requested':<34} {acted} / {a.replugs}")
    finally:
        fw.detach()
        cable.unplug()

    micropython_round_trips(tmp, a.requests)
    cable = SocatPair(tmp).plug()
    board = RelayBoard(CLOCK).attach(cable.device)
    try:
        relay = LcusRelay(Actuator("relay-1", str(cable.rig), kind="lcus-relay", baud=9600,
                                   wiring={1: ("power", 1)}), CLOCK).open()
        gaps = []
        for _ in range(5):
            n = len(board.log)
            relay.power_press(1, 300)
            while len(board.log) < n + 2:
                time.sleep(0.001)
            gaps.append((board.log[n + 1][0] - board.log[n][0]) * 1000 - 300)
        relay.close()
        line("LCUS press: on-to-off minus 300 ms", gaps)
    finally:
        board.detach()
        cable.unplug()
    os.system(f"rm -rf {tmp}")


def micropython_round_trips(tmp: Path, n: int) -> None:
    mp = MicroPythonBoard(tmp / "usb-rig-actuator-MPY-if00").plug()
    try:
        act = RigV1Actuator(Actuator("act-mp", str(mp.link), timeout_s=2.0, reopen_s=5.0), CLOCK).open()
        status, lid = [], []
        for i in range(n):
            t0 = time.perf_counter()
            act.status(1)
            status.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            act.lid(1, close=i % 2 == 0)
            lid.append((time.perf_counter() - t0) * 1000)
        act.close()
        line("MicroPython: status()", status)
        line("MicroPython: lid() (+ boot check)", lid)
    finally:
        mp.unplug()


if __name__ == "__main__":
    main()
