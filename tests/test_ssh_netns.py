"""A Mac whose network drops while the rig collects its logs (a real link, pulled in a namespace).

The Mac is a twin Mac behind a real OpenSSH sshd inside its own network namespace, joined to the
controller by a veth pair; the controller reaches it at the namespace's address, port 22. The test
holds the rig's unified-log command on the Mac (a gate in front of the door) until it has taken
the namespace's side of the link down, so the drop lands inside collection every time.
"""
from __future__ import annotations

import json
import shlex
import shutil
import threading
from pathlib import Path

import pytest

from peers import Netns, OpenSSHDoor, lab_with_mac_at, shared_dir
from polling import wait_for
from rig.runner.collect import ATTEMPTS, REMOTE_UNIFIED
from rig.runner.plan import Plan
from rig.journal import cycles_from_journal, read_journal
from rig.lab.inventory import load_lab
from rig.parse.pmset import parse_pmset
from rig.runner.run import drive, start_run
from rig.score.suites import SUITES
from rig.twin.launch import TwinProcess
from rig.twin.serve import MacSpec, TwinConfig

pytestmark = pytest.mark.peer
MAC = "mbp-01"


class Cable:
    """The gate in front of the door, and the hand that pulls the cable when the gate closes.

    The gate (an sh snippet sshd runs before the door) stops the first command that writes the
    unified log to a file, touches ``held``, and waits for ``release`` (given at teardown, so a
    stale command can never race a retried one).
    """

    def __init__(self, workdir: Path):
        self.dir = workdir / "gate"
        self.dir.mkdir()
        self.dir.chmod(0o777)  # the door user writes ``held`` here
        self.held, self.release = self.dir / "held", self.dir / "release"
        held, release = shlex.quote(str(self.held)), shlex.quote(str(self.release))
        self.snippet = (f'case "$SSH_ORIGINAL_COMMAND" in *"> {REMOTE_UNIFIED} "*) '
                        f'if [ ! -e {held} ]; then : > {held}; i=0; '
                        f'while [ ! -e {release} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; fi;; esac;')

    def open_gate(self) -> None:
        self.release.touch()


@pytest.fixture
def mac_in_netns(tmp_path):
    """(lab, netns, cable, twin) for one laptop reachable only at its namespace's address."""
    base = shared_dir()
    twin = TwinProcess(TwinConfig(scale=200.0, macs=[MacSpec(MAC, "laptop", skew=2.75, utc_offset_min=-480)]),
                       root=base / "twin")
    ns = Netns()
    cable = Cable(base)
    door = None
    try:
        lab_path = twin.start()
        ns.start()
        door = OpenSSHDoor(base / "twin", MAC, netns=ns, gate=cable.snippet).start()
        path = lab_with_mac_at(lab_path, MAC, host=ns.ns_addr, port=door.port, user=door.user,
                               known_hosts=door.write_known_hosts())
        yield load_lab(path), ns, cable, twin
    finally:
        cable.open_gate()
        if door:
            door.stop()
        ns.stop()
        twin.stop()
        shutil.rmtree(base, ignore_errors=True)


def _run_one_cycle(lab, reports: Path) -> Path:
    plan = Plan(build="twin:naive", cycles=1, dwell_s=20 * 60, rig_retries=0,
                gates=list(SUITES["dark_wake"]["gates"]))
    folder = start_run(lab, plan, reports)
    drive(lab, folder, plan, list(lab.macs.values()))
    return folder.path


def _in_background(fn) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def _mac_attempts(raw: Path) -> list[dict]:
    p = raw / "collect.json"
    if not p.exists():
        return []
    return [a for a in json.loads(p.read_text()).get("attempts", []) if a["host"] == MAC]


def test_a_link_that_stays_down_ends_the_cycle_rig_error_and_keeps_what_came(mac_in_netns, tmp_path):
    lab, ns, cable, twin = mac_in_netns
    pulled = threading.Event()

    def pull():
        if wait_for(cable.held.exists, 120):
            ns.link(False)
            pulled.set()

    hand = _in_background(pull)
    run = _run_one_cycle(lab, tmp_path / "reports")
    hand.join(5)
    truth = twin.stop()
    assert pulled.is_set(), "the collection never reached the unified log"
    cycle = cycles_from_journal(read_journal(run / "journal.jsonl")[0])[(MAC, 1)]
    assert cycle["outcome"] == "rig_error"
    assert cycle["reason"].startswith("collect:") and f"failed {ATTEMPTS} times" in cycle["reason"]
    raw = run / "raw" / MAC / "001"
    attempts = _mac_attempts(raw)
    assert [a["attempt"] for a in attempts] == list(range(1, ATTEMPTS + 1))
    assert all(a["error"] for a in attempts)
    assert attempts[0]["got"] == ["pmset"]
    # the pmset log collected before the drop is kept, whole: every sleep the twin really had
    sleeps = [r for r in parse_pmset((raw / "pmset.log").read_text(), MAC).rows if r["kind"] == "sleep"]
    assert len(sleeps) == len(truth["macs"][MAC]["sleeps"]) >= 1
    assert not (raw / "unified.ndjson").exists()


def test_a_link_back_within_the_retries_gives_a_collected_cycle(mac_in_netns, tmp_path):
    lab, ns, cable, twin = mac_in_netns
    restored = threading.Event()

    def pull_then_replug():
        if not wait_for(cable.held.exists, 120):
            return
        ns.link(False)
        raw = next((tmp_path / "reports").glob(f"*/raw/{MAC}/001"))
        if wait_for(lambda: any(a["error"] for a in _mac_attempts(raw)), 120):
            ns.link(True)
            restored.set()

    hand = _in_background(pull_then_replug)
    run = _run_one_cycle(lab, tmp_path / "reports")
    hand.join(5)
    assert restored.is_set(), "the drop never reached the rig's collection"
    cycle = cycles_from_journal(read_journal(run / "journal.jsonl")[0])[(MAC, 1)]
    assert cycle["outcome"] in ("pass", "fail"), cycle.get("reason")
    raw = run / "raw" / MAC / "001"
    attempts = _mac_attempts(raw)
    assert attempts[0]["error"] and attempts[0]["got"] == ["pmset"]
    assert attempts[-1]["error"] is None and attempts[-1]["got"] == ["unified"]  # pmset was not fetched twice
    info = json.loads((raw / "collect.json").read_text())
    assert info["unified"]["via"] == "sftp" and (raw / "unified.ndjson").stat().st_size == info["unified"]["bytes"] > 0
