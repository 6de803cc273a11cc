"""Would a reader thread make ``rig parse`` faster? The scan with and without one, in one process.

``rig parse`` reads a night's unified log in 1 MB ``readinto`` calls and searches each block
for its needles with ``bytes.find``, all on one thread. ``readinto`` releases the GIL, so the
obvious speed-up is a second thread that reads block *i + 1* while the first searches block
*i* (the search itself holds the GIL: nothing else in the scan can run beside it). This script
measures that pipeline against the one-thread loop, on the export of ``benchmarks/ingest.py``
(the same 1M-line file, generated if ``--keep DIR`` does not already hold it), each step the
median of ``--repeat`` interleaved rounds:

- ``read``: the 1 MB reads alone (the part a thread could take off the main thread);
- ``search``: the two needle searches of a compact segment alone, over a private 1 MB block
  searched as many times as the file has blocks (no reading);
- ``one thread``: read then search, block after block, as ``rig parse`` does;
- ``reader thread``: a thread reads into a ring of 8 blocks, the main thread searches each block
  it is handed (the switch interval lowered to 0.1 ms, or the reader waits up to 5 ms for the
  GIL after every read);
- ``reader thread, private block``: the same reads beside the same searches, but the search
  looks at its own block instead of the one just read: what the two threads cost each other
  without handing data from one core to the other.

The pipeline pays only if ``reader thread`` is below ``one thread``; the last two lines tell
whether a loss comes from the hand-over of freshly written blocks between cores or from the two
threads competing for the machine. Run: ``python benchmarks/reader_thread.py [--keep DIR]
[--repeat K]``.
"""
from __future__ import annotations

import argparse
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import PRODUCT, export  # noqa: E402

BLOCK = 1 << 20
RING = 8
# the needles of a compact segment (rig.parse.unified_log), searched as clean_lines searches them
NEEDLES = (f'"subsystem":"{PRODUCT}'.encode(),
           b'"processImagePath":"\\/System\\/Library\\/CoreServices\\/powerd.bundle\\/powerd')


def search(block, n: int) -> int:
    hits = 0
    find = block.find
    for needle in NEEDLES:
        k = find(needle, 0, n)
        while k >= 0:
            hits += 1
            k = find(needle, k + 1, n)
    return hits


def read_only(path: Path) -> int:
    buf = bytearray(BLOCK)
    blocks = 0
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            blocks += 1
    return blocks


def search_only(path: Path) -> int:
    with open(path, "rb") as f:
        private = bytearray(f.read(BLOCK))
    blocks = -(-path.stat().st_size // BLOCK)
    return sum(search(private, BLOCK) for _ in range(blocks))


def one_thread(path: Path) -> int:
    buf = bytearray(BLOCK)
    hits = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            hits += search(buf, n)
    return hits


def reader_thread(path: Path, private: bool = False) -> int:
    with open(path, "rb") as f:
        own = bytearray(f.read(BLOCK))
    free: queue.SimpleQueue = queue.SimpleQueue()
    full: queue.SimpleQueue = queue.SimpleQueue()
    for _ in range(RING):
        free.put(bytearray(BLOCK))

    def reader(f) -> None:
        while True:
            buf = free.get()
            n = f.readinto(buf)
            full.put((buf, n) if n else None)
            if not n:
                return

    hits = 0
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        with open(path, "rb", buffering=0) as f:
            t = threading.Thread(target=reader, args=(f,), daemon=True)
            t.start()
            while (item := full.get()) is not None:
                buf, n = item
                hits += search(own, n) if private else search(buf, n)
                free.put(buf)
            t.join()
    finally:
        sys.setswitchinterval(switch)
    return hits


STEPS = {
    "read": read_only,
    "search": search_only,
    "one thread": one_thread,
    "reader thread": reader_thread,
    "reader thread, private block": lambda p: reader_thread(p, private=True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", type=Path, default=None, help="where the export is (or is written and kept)")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="rig-reader-"))
    try:
        measure(export(folder, args.lines)[0], args.repeat)
    finally:
        if args.keep is None:   # 760 MB of export: not left behind in /tmp
            shutil.rmtree(folder, ignore_errors=True)


def measure(path: Path, repeat: int) -> None:
    walls: dict[str, list[float]] = {name: [] for name in STEPS}
    answers: dict[str, set] = {name: set() for name in STEPS}
    for _ in range(repeat):
        for name, step in STEPS.items():
            t = time.perf_counter()
            answers[name].add(step(path))
            walls[name].append(time.perf_counter() - t)
    med = {name: statistics.median(w) for name, w in walls.items()}
    size = path.stat().st_size
    print(f"export: {size / 1e6:.0f} MB in {BLOCK >> 20} MB blocks, medians of {repeat} interleaved rounds")
    print(f"{'step':<32} {'wall s':>7} {'x one thread':>13}")
    for name, wall in med.items():
        print(f"{name:<32} {wall:>7.3f} {wall / med['one thread']:>13.2f}")
    if answers["one thread"] != answers["reader thread"]:
        sys.exit(f"MISMATCH: one thread found {answers['one thread']}, the pipeline {answers['reader thread']}")
    saved = med["one thread"] - med["reader thread"]
    print(f"\nhits {answers['one thread'].pop():,} either way (a needle across two blocks is missed by both). "
          f"The reader thread {'saves' if saved > 0 else 'costs'} {abs(saved):.3f} s, taking "
          f"{med['read']:.3f} s of reads off the main thread; beside it the searches take "
          f"{med['reader thread, private block']:.3f} s on a private block ({med['search']:.3f} s alone) and "
          f"{med['reader thread']:.3f} s on the blocks it reads")


if __name__ == "__main__":
    main()
