"""Ingest speed: a night's unified log through ``rig parse`` and into the events DataFrame.

Generates a realistic ``log show --style ndjson`` export (default 1,000,000 records, ~760 bytes a
line, the key set of current macOS as in ``tests/data/real/log_show_ndjson_*``, a ``backtrace``
on one record in twenty): 95 % of the records belong to other subsystems, ~7 % of those mention
the product's subsystem in their message (so the prefilter's substring hits must be re-checked),
a few are powerd's sleep/wake sentences, the rest are the product's own records (the twin's
signature file maps them). Then measures, each as a whole process with the file in the page
cache (median of ``--repeat`` runs; wall time, CPU time and peak RSS of that process):

- the floor: Python reading the file's bytes (``f.read()``);
- iterating its lines (``for line in f``);
- ``rig parse --source unified --signatures … FILE > /dev/null``, CLI start-up included;
- the full path to a typed events DataFrame (the same parse + :func:`rig.frame.to_frame`);
- beside them, the library engines a team might reach for instead, each selecting the same
  records (the product's subsystem or powerd's) into a DataFrame with explicit columns: duckdb's
  ``read_ndjson`` (on every core, and on one: ``rig parse`` is one Python thread), polars'
  ``scan_ndjson``, pyarrow's ``read_json`` and pandas' ``read_json`` (pyarrow engine). An engine
  that is not installed (``pip install -e '.[bench]'``) is left out.

and prints lines/s and each one's ratio to the floor, and checks that the command counted exactly
the records the export holds and that every engine selected the same number of records. The goal:
``rig parse`` within 3x the floor's wall time, no more than 10 % slower than the fastest library
engine, and at most 300 MB peak RSS. CPU time is printed too: on a shared machine wall times stretch
with other people's load (the load average is printed at the end).

Fairness on a machine whose speed drifts (a shared VM): the steps run interleaved, one round
after another (floor, lines, parse, frame; floor, lines, …), so a slow minute slows every step
alike, and the medians of the rounds are compared. Each command runs as an installed command
does: its modules' bytecode cached (pip compiles it at install; a checkout writes it on first
run), so ``PYTHONDONTWRITEBYTECODE``, if this shell sets it, is lifted for the measured
processes and a warm-up run writes the cache.

Run: ``python benchmarks/ingest.py [--lines N] [--repeat K] [--keep DIR]`` (with ``--keep``, an
export already in DIR with the same number of lines is reused).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIGNATURES = ROOT / "rig" / "twin" / "signatures.toml"
PRODUCT = "com.example.twinproxy"

# (subsystem, category, process image path, message templates): the noise of a real Mac
OTHERS = [
    ("com.apple.coreaudio", "ac", r"\/usr\/sbin\/coreaudiod",
     ["ACMP4AACBaseDecoder.cpp:310 (0x{h:x}) Input format: 2 ch, 44100 Hz, aac"]),
    ("com.apple.network", "connection", r"\/usr\/libexec\/nesessionmanager",
     ["[C{n}.1 Hostname#{h:x}:443 tcp] event: flow:finish_connect @{f:.3f}s",
      "nw_path_evaluator_start_helper_connection [{n}] Path is satisfied"]),
    ("com.apple.Authorization", "AuthorizationHost", r"\/usr\/libexec\/authd",
     ["Failed to authenticate user <<private>> (error: {e})."]),
    ("com.apple.runningboard", "process", r"\/usr\/libexec\/runningboardd",
     ["[app<application.com.apple.Safari>:{p}] Set jetsam priority to {e}"]),
    ("com.apple.xpc", "connection", r"\/usr\/libexec\/trustd",
     ["[0x{h:x}] activating connection: mach=true name=com.apple.trustd"]),
]
# other subsystems that mention the product (NetworkExtension's managers log its bundle id)
MENTIONS = [
    ("com.apple.networkextension", "NESMSession", r"\/usr\/libexec\/nesessionmanager",
     f"NESMTransparentProxySession[TwinProxy]: status changed to connected, provider {PRODUCT}.extension"),
    ("com.apple.sysextd", "default", r"\/usr\/libexec\/sysextd",
     f"activated extension {PRODUCT}.extension (state: [activated enabled])"),
]
PRODUCT_MESSAGES = [
    ("tunnel", "Keepalive sent session={s}"),
    ("tunnel", "Tunnel up session={s} gateway=gw-twin"),
    ("tunnel", "Handshake started session={s} gateway=gw-twin"),
    ("tunnel", "Tunnel down session={s} reason=socket-dead"),
    ("provider", "wake() called"),
    ("provider", "sleep() called"),
    ("provider", "wake classified as dark"),
    ("alert", "ALERT Session Disconnected session={s} reason=dpd"),
    ("tunnel", "Reading config generation {n}"),    # the product's, matched by no rule: other
]
POWERD = ("com.apple.powerd", "sleepWake", r"\/System\/Library\/CoreServices\/powerd.bundle\/powerd",
          ["DarkWake from Normal Sleep [CDN] : due to EC.RTC/Maintenance",
           "Entering Sleep state due to 'Maintenance Sleep':TCPKeepAlive=active",
           "PMRD: kIOPMDarkWakeThermalEmergency cleared"])

BACKTRACE = '"backtrace":{{"frames":[{{"imageOffset":{off},"imageUUID":"{img}"}}]}},'
LINE = ('{{"timezoneName":"","messageType":"Default","eventType":"logEvent","source":null,'
        '"formatString":"%{{public}}s","userID":{uid},"activityIdentifier":{act},"subsystem":"{sub}",'
        '"category":"{cat}","threadID":{thr},"senderImageUUID":"{img}",{bt}"bootUUID":"3590A0B1-4C7D-4C4A-9F0B-69FAC3D0BD58","processImagePath":'
        '"{path}","senderImagePath":"{path}","timestamp":"{ts}","machTimestamp":{mach},"eventMessage":"{msg}",'
        '"processImageUUID":"{img}","traceID":{trace},"processID":{pid},"senderProgramCounter":{off},'
        '"parentActivityIdentifier":0}}\n')


def generate(path: Path, n: int, seed: int = 3) -> dict:
    """Write the export; return how many records of each sort it holds (the expected counts)."""
    rnd = random.Random(seed)
    t0 = 1_795_000_000.0
    counts = {"product": 0, "product_kinds": 0, "mentions": 0, "powerd": 0, "powerd_power": 0, "other": 0}
    img = "0F483193-D206-362B-9874-0100BCCB9CBD"
    with open(path, "w", encoding="utf-8") as f:
        buf = []
        for i in range(n):
            t = t0 + i * 0.0291 + rnd.random() * 0.01
            sec = int(t)
            ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec + 43200)) + f".{int((t - sec) * 1e6):06d}+1200"
            r = rnd.random()
            fields = dict(n=i, h=rnd.getrandbits(32), f=rnd.random() * 9, e=rnd.randint(1, 99),
                          p=rnd.randint(100, 99999), u=f"{rnd.getrandbits(64):016X}", s=f"S{i % 997}")
            if r < 0.045:                       # the product's records
                cat, msg = PRODUCT_MESSAGES[i % len(PRODUCT_MESSAGES)]
                sub, path_ = PRODUCT, (r"\/Library\/SystemExtensions\/4B1F0C55\/com.example.twinproxy.extension"
                                       r".systemextension\/Contents\/MacOS\/com.example.twinproxy.extension")
                counts["product"] += 1
                counts["product_kinds"] += not msg.startswith("Reading")
                msg = msg.format(**fields)
            elif r < 0.05:                      # powerd
                sub, cat, path_, msgs = POWERD
                msg = msgs[i % len(msgs)]
                counts["powerd"] += 1
                counts["powerd_power"] += not msg.startswith("PMRD")
                counts["other"] += msg.startswith("PMRD")
            elif r < 0.05 + 0.95 * 0.07:        # another subsystem mentioning the product
                sub, cat, path_, msg = MENTIONS[i % len(MENTIONS)]
                msg = msg.format(**fields)
                counts["mentions"] += 1
                counts["other"] += 1
            else:
                sub, cat, path_, msgs = OTHERS[i % len(OTHERS)]
                msg = msgs[i % len(msgs)].format(**fields)
                counts["other"] += 1
            off = rnd.getrandbits(17)
            bt = BACKTRACE.format(off=off, img=img) if rnd.random() < 0.05 else ""
            act = 0 if rnd.random() < 0.8 else rnd.getrandbits(20)
            buf.append(LINE.format(uid=501, bt=bt, act=act, sub=sub, cat=cat, thr=rnd.getrandbits(24),
                                   img=img, off=off, path=path_, ts=ts,
                                   mach=20147685217463 + i * 698_000, msg=msg,
                                   trace=(1 << 55) + rnd.getrandbits(54), pid=rnd.randint(100, 99999)))
            if len(buf) >= 10_000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
        f.write(f'{{"count":{n},"finished":1}}\n')
    return counts


def measure(argv: list[str], *, env=None, keep: str = "stderr") -> tuple[float, float, float, bytes]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one whole process; its
    stderr (``keep="stdout"``: its stdout and stderr, the other stream going nowhere otherwise).

    CPU time is reported beside wall time because on a shared machine the wall time of a
    CPU-bound process stretches with other people's load; the floor is measured the same way.
    """
    t0 = time.perf_counter()
    out = (dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT) if keep == "stdout"
           else dict(stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    p = subprocess.Popen(argv, env=env, **out)
    err = (p.stdout if keep == "stdout" else p.stderr).read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{argv[:3]}… exited {p.returncode}: {err.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, err


def interleaved(steps: dict[str, tuple[list[str], dict | None]], repeat: int) -> dict:
    """Median wall, median CPU, max RSS and last stderr of each step, over ``repeat`` rounds that
    run every step once (a warm-up round first, not counted)."""
    runs: dict[str, list] = {name: [] for name in steps}
    for round_no in range(repeat + 1):
        for name, (argv, env) in steps.items():
            r = measure(argv, env=env)
            if round_no:
                runs[name].append(r)
    return {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs),
                   max(r[2] for r in rs), rs[-1][3]) for name, rs in runs.items()}


def rig_argv() -> list[str]:
    """The installed ``rig`` console script next to this Python, else the same entry point."""
    script = Path(sys.executable).with_name("rig")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from rig.cli.main import main; sys.argv[0] = 'rig'; main()"]


FLOOR = "import sys\nwith open(sys.argv[1], 'rb') as f: data = f.read()\n"
LINES = "import sys\nn = 0\nwith open(sys.argv[1], 'rb') as f:\n    for line in f: n += 1\n"
FRAME = """import sys
from rig.frame import to_frame
from rig.cli.parse import parse_unified_file
from rig.parse.signatures import load_signatures
with open(sys.argv[1], 'rb') as f:
    res = parse_unified_file(f, 'mbp-01', load_signatures(sys.argv[2]))
df = to_frame(res.rows)
assert str(df['t'].dtype) == 'datetime64[ns, UTC]', df['t'].dtype
print(len(df), int((df['kind'] != 'other').sum()), file=sys.stderr)
"""

# The library engines: each selects the records of the product or powerd with explicit columns
# into a pandas DataFrame and prints how many it selected. {product} is filled in.
_COLUMNS = ("timestamp", "subsystem", "category", "eventMessage", "processImagePath")
ENGINES = {
    "duckdb read_ndjson": ("duckdb", """import sys, duckdb
cols = {{c: 'VARCHAR' for c in %r}}
df = duckdb.sql(f"select * from read_ndjson('{{sys.argv[1]}}', columns={{cols}}) "
                "where subsystem = '{product}' or processImagePath like '%%/powerd'").df()
print(len(df), file=sys.stderr)
""" % (_COLUMNS,)),
    # the same query on one core: what the single-threaded rig parse is up against per core
    "duckdb read_ndjson (1 thread)": ("duckdb", """import sys, duckdb
duckdb.sql("set threads = 1")
cols = {{c: 'VARCHAR' for c in %r}}
df = duckdb.sql(f"select * from read_ndjson('{{sys.argv[1]}}', columns={{cols}}) "
                "where subsystem = '{product}' or processImagePath like '%%/powerd'").df()
print(len(df), file=sys.stderr)
""" % (_COLUMNS,)),
    "polars scan_ndjson": ("polars", """import sys, polars as pl
schema = {{c: pl.String for c in %r}}
df = (pl.scan_ndjson(sys.argv[1], schema=schema)
      .filter((pl.col('subsystem') == '{product}') | pl.col('processImagePath').str.ends_with('/powerd'))
      .collect().to_pandas())
print(len(df), file=sys.stderr)
""" % (_COLUMNS,)),
    "pyarrow read_json": ("pyarrow", """import sys, pyarrow as pa, pyarrow.compute as pc, pyarrow.json as pj
schema = pa.schema([(c, pa.string()) for c in %r])
t = pj.read_json(sys.argv[1], parse_options=pj.ParseOptions(explicit_schema=schema,
                                                            unexpected_field_behavior='ignore'))
keep = pc.or_kleene(pc.equal(t['subsystem'], '{product}'), pc.ends_with(t['processImagePath'], '/powerd'))
df = t.filter(pc.fill_null(keep, False)).to_pandas()
print(len(df), file=sys.stderr)
""" % (_COLUMNS,)),
    "pandas read_json (pyarrow engine)": ("pandas", """import sys, pandas as pd
df = pd.read_json(sys.argv[1], lines=True, engine='pyarrow', dtype_backend='pyarrow')
df = df[(df['subsystem'] == '{product}') | df['processImagePath'].str.endswith('/powerd').fillna(False)]
df = df[%r]
print(len(df), file=sys.stderr)
""" % (list(_COLUMNS),)),
}


def engine_steps(path: Path, env: dict) -> dict:
    """The engines whose library is installed, as steps of :func:`interleaved`."""
    import importlib.util

    return {name: ([sys.executable, "-c", code.format(product=PRODUCT), str(path)], env)
            for name, (module, code) in ENGINES.items() if importlib.util.find_spec(module)}


def export(folder: Path, lines: int) -> tuple[Path, dict, str]:
    """The export of ``lines`` records in ``folder`` (reused if one with its counts is there, else
    generated), read once into the page cache; its path, its counts, and which of the two."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "unified.ndjson"
    meta = folder / "unified.counts.json"
    t = time.perf_counter()
    counts = json.loads(meta.read_text()) if meta.exists() and path.exists() else {}
    if counts.get("lines") == lines and counts.get("size") == path.stat().st_size and "powerd" in counts:
        how = "reused"
    else:
        counts = generate(path, lines)
        counts.update(lines=lines, size=path.stat().st_size)
        meta.write_text(json.dumps(counts))
        how = f"generated in {time.perf_counter() - t:.1f} s"
    with open(path, "rb") as f:           # into the page cache
        while f.read(1 << 24):
            pass
    return path, counts, how


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", type=Path, default=None, help="write the export here and keep it")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="rig-ingest-")) if args.keep is None else args.keep
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    try:
        path, counts, how = export(tmp, args.lines)
        size = path.stat().st_size
        print(f"export: {args.lines + 1:,} lines, {size / 1e6:.0f} MB ({size / (args.lines + 1):.0f} bytes/line), "
              f"{how}")
        print(f"        product records {counts['product']:,} ({counts['product_kinds']:,} of a kind), "
              f"powerd power lines {counts['powerd_power']:,}, other subsystems "
              f"{counts['other']:,} of which {counts['mentions']:,} mention the product")
        py = sys.executable
        rig = rig_argv() + ["parse", "--source", "unified", "--signatures", str(SIGNATURES), "--host", "mbp-01",
                            str(path)]
        steps = {
            "f.read() (floor)": ([py, "-c", FLOOR, str(path)], env),
            "for line in f": ([py, "-c", LINES, str(path)], env),
            "rig parse (CLI, csv to /dev/null)": (rig, env),
            "stream parse + to_frame (DataFrame)": ([py, "-c", FRAME, str(path), str(SIGNATURES)], env),
            **engine_steps(path, env),
        }
        results = interleaved(steps, args.repeat)

        # the command must have found exactly the records the export holds
        err = results["rig parse (CLI, csv to /dev/null)"][3].decode()
        expect = (f"read {args.lines + 1}, parsed {counts['product_kinds'] + counts['powerd_power']}, "
                  f"other {args.lines - counts['product_kinds'] - counts['powerd_power']}, skipped 1, rejected 0")
        ok = expect in err
        frame_rows = results["stream parse + to_frame (DataFrame)"][3].decode().split()

        floor_wall, floor_cpu = results["f.read() (floor)"][:2]
        lines_wall = results["for line in f"][0]
        print(f"\n{'step':<38} {'wall s':>7} {'lines/s':>11} {'x floor':>8} {'x lines':>8} {'cpu s':>7} "
              f"{'x floor':>8} {'peak RSS MB':>12}   (medians of {args.repeat} interleaved rounds, whole process)")
        for name, (wall, cpu, rss, _) in results.items():
            print(f"{name:<38} {wall:>7.3f} {(args.lines + 1) / wall:>11,.0f} {wall / floor_wall:>8.2f} "
                  f"{wall / lines_wall:>8.2f} {cpu:>7.3f} {cpu / floor_cpu:>8.2f} {rss:>12.0f}")
        print("(x lines: wall time over iterating the lines, a CPU-bound reference: the floor is bound by "
              "page faults, whose cost on a VM drifts apart from the CPU's speed)")
        print(f"\nrig parse counts: {err.strip().splitlines()[0]}")
        print(f"  expected: {expect} -> {'OK' if ok else 'MISMATCH'}")
        print(f"DataFrame: {frame_rows[0]} rows, {frame_rows[1]} of a kind "
              f"(expected {counts['product'] + counts['powerd_power']} rows, "
              f"{counts['product_kinds'] + counts['powerd_power']} of a kind)")
        selected = {name: int(results[name][3].decode().split()[-1]) for name in ENGINES if name in results}
        want = counts["product"] + counts["powerd"] if "powerd" in counts else None
        for name, n in selected.items():
            same = want is None or n == want
            ok = ok and same
            print(f"{name}: {n} records selected{'' if same else f' -> MISMATCH (expected {want})'}")
        wall, cpu, rss, _ = results["rig parse (CLI, csv to /dev/null)"]
        fastest = min(selected, key=lambda name: results[name][0], default=None)
        met = wall <= 3 * floor_wall and rss <= 300
        line = (f"goal: rig parse <= 3.00 x floor, <= 1.10 x the fastest engine and <= 300 MB: "
                f"wall {wall / floor_wall:.2f} x floor")
        if fastest is not None:
            ratio = wall / results[fastest][0]
            met = met and ratio <= 1.10
            line += f", {ratio:.2f} x {fastest}"
        print(f"{line}, {rss:.0f} MB -> {'met' if met else 'NOT met'} (on wall time)")
        print(f"load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        if not ok:
            raise SystemExit(1)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
