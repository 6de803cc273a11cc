"""Run folders for the report's tests: a twin night in batch mode, then made hostile.

The twin's logs are well-behaved; a real Mac's or gateway's are not. :func:`hostile_run` edits a
simulated run folder the way an attacker (or an unlucky log line) could: an extension message
carrying ``<script>`` and ``<img onerror=…>``, a token in a log line, and a rig error whose
reason carries both. Everything else is the twin's real output, scored by the real rig.
"""
from __future__ import annotations

import json
from pathlib import Path

from rig.journal import Journal
from rig.twin.serve import TwinConfig
from rig.twin.simulate import SimPlan, fleet, simulate

SCRIPT = "<script>document.title='pwned';window.__xss=1</script>"
IMG = "<img/src=x/onerror=window.__xss=2>"
SECRET = "token=SECRET-9f8e7d"
RIG_ERROR_REASON = f"collect: <script>window.__xss=3</script> gateway said {SECRET}"


def simulated_run(out: Path, build: str = "naive", *, macs: int = 2, cycles: int = 3, seed: int = 5,
                  dwell_s: float = 40 * 60) -> tuple[Path, Path]:
    sim = simulate(TwinConfig(build=build, seed=seed, macs=fleet(macs)),
                   SimPlan(nights=1, cycles_per_night=cycles, dwell_s=dwell_s), out)
    return sim.run_dir, sim.truth_path


def edit_messages(ndjson: Path, rules: list) -> None:
    """Rewrite, for each rule ``(name, picks(message, done), new(message))``, the first record of
    a unified-log export it picks (one rule per record, in the file's order); every rule must
    find its record."""
    lines, done = [], set()
    for line in ndjson.read_text().splitlines():
        if line.startswith("{") and '"eventMessage"' in line:
            rec = json.loads(line)
            msg = rec.get("eventMessage", "")
            for name, picks, new in rules:
                if name not in done and picks(msg, done):
                    rec["eventMessage"] = new(msg)
                    done.add(name)
                    break
            line = json.dumps(rec)
        lines.append(line)
    assert done == {name for name, _, _ in rules}, done
    ndjson.write_text("\n".join(lines) + "\n")


def hostile_run(out: Path) -> Path:
    """A naive night with hostile log strings in mbp-01's first cycle and one extra rig error."""
    run, _ = simulated_run(out)
    edit_messages(run / "raw" / "mbp-01" / "001" / "unified.ndjson", [
        ("alert", lambda m, done: m.startswith("ALERT Session Disconnected"),
         lambda m: m.rsplit("reason=", 1)[0] + "reason=" + SCRIPT),
        ("down", lambda m, done: m.startswith("Tunnel down"), lambda m: m.rsplit("reason=", 1)[0] + "reason=" + IMG),
        ("secret", lambda m, done: m.startswith("Handshake started") and "down" in done, lambda m: m + " " + SECRET),
    ])
    j = Journal(run / "journal.jsonl")
    t = json.loads((run / "journal.jsonl").read_text().splitlines()[-1])["t"] + 10.0
    j.append({"type": "cycle_start", "mac": "mini-01", "cycle": 99, "t": t, "outcome": "unknown", "build": "twin:naive"})
    j.append({"type": "cycle_end", "mac": "mini-01", "cycle": 99, "t": t + 5, "outcome": "rig_error",
              "collected": False, "reason": RIG_ERROR_REASON})
    j.close()
    return run
