"""Bench tools against the firmware under real MicroPython: ``rig actuator`` requests,
``rig actuator flash`` with mpremote onto a MicroPython REPL, and what ``rig doctor`` reports.

The board is ``micropython firmware/main.py`` behind a socat pty (``rig.twin.board_door``);
the REPL a flash writes to is ``micropython -i`` behind another, in a folder of its own that
stands for the board's filesystem.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rig.cli.main import main
from rig.lab.clock import SystemClock
from rig.lab.inventory import load_lab
from rig.runner.doctor import check_actuators
from rig.twin.board_door import MicroPythonBoard, firmware_dir, micropython

pytestmark = pytest.mark.peer
ROOT = Path(__file__).resolve().parents[1]


def bench_lab(folder: Path, port: Path) -> Path:
    """A lab file of one Mac on one actuator, as a bench (the Mac is never dialled here)."""
    shutil.copy(ROOT / "rig" / "twin" / "signatures.toml", folder / "signatures.toml")
    (folder / "id_ed25519").write_text("")
    (folder / "known_hosts").write_text("")
    lab = folder / "lab.toml"
    lab.write_text(f'''[lab]
name = "bench"

[extension]
name = "AcmeProxy"
subsystem = "com.acme.proxy"
signatures = "signatures.toml"

[[actuator]]
name = "act-1"
port = "{port}"
kind = "rig-v1"
timeout_s = 0.5

[[mac]]
name = "mbp-01"
host = "mbp-01.lab"
user = "rig"
key = "id_ed25519"
known_hosts = "known_hosts"
actuator = "act-1"
channel = 1
''')
    return lab


@pytest.fixture
def bench(tmp_path):
    board = MicroPythonBoard(tmp_path / "usb-rig-actuator-BENCH001-if00").plug()
    yield board, bench_lab(tmp_path, board.link)
    board.unplug()


def rig(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_ping_prints_the_reply_with_firmware_and_boot_id_and_the_round_trip(bench):
    board, lab = bench
    res = rig("actuator", "--lab", str(lab), "act-1", "ping")
    assert res.exit_code == 0, res.output
    assert re.search(r"^reply: +\d+ OK fw=sim-1\.0\.0 proto=1 channels=2 boot=([0-9a-f]{8}) at=\d+$",
                     res.output, re.M)
    assert re.search(r"boot=" + board.boots()[-1], res.output)
    assert float(re.search(r"^round trip: ([\d.]+) ms$", res.output, re.M)[1]) < 200


def test_lid_press_ac_and_status_act_on_the_board_one_request_each(bench):
    board, lab = bench
    for words in (["lid", "1", "close"], ["press", "2", "150"], ["ac", "2", "off"]):
        res = rig("actuator", "--lab", str(lab), "act-1", *words)
        assert res.exit_code == 0 and " OK at=" in res.output, res.output
    res = rig("actuator", "--lab", str(lab), "act-1", "status", "2")
    assert "OK lid=open ac=off" in res.output
    assert [w for _, w in board.acts()] == ["LID 1 CLOSE", "PWR 2 PRESS", "AC 2 OFF"]
    press_line = next(line for line in board.lines if "button=down ms=150" in line)
    assert press_line and any(line.endswith("ch=2 button=up") for line in board.lines[board.lines.index(press_line):])


def test_a_refusal_and_a_bad_request_say_what_is_wrong_and_act_on_nothing(bench):
    board, lab = bench
    res = rig("actuator", "--lab", str(lab), "act-1", "press", "1", "20000")
    assert res.exit_code == 1 and "ERR 1 (bad request) PWR: a press of 20000 ms is outside 1..10000 ms" in res.output
    res = rig("actuator", "--lab", str(lab), "act-1", "lid", "1", "shut")
    assert res.exit_code == 2 and "lid: expected lid CH open|close" in res.output
    res = rig("actuator", "--lab", str(lab), "act-9", "ping")
    assert res.exit_code == 1 and "no actuator 'act-9' (known: act-1)" in res.output
    assert board.acts() == []


def test_doctor_reports_the_firmware_version_and_the_boot_id(bench):
    board, lab = bench
    (finding,) = check_actuators(load_lab(lab), SystemClock())
    assert finding.status == "ok"
    assert finding.detail.startswith(f"firmware sim-1.0.0, boot id {board.boots()[-1]}, 2 channels; rig-v1 at ")


# -- flash ----------------------------------------------------------------------------------------

@pytest.fixture
def repl(tmp_path):
    """MicroPython's REPL on a pty, its working folder standing for a board's filesystem."""
    fs = tmp_path / "board-fs"
    fs.mkdir()
    link = tmp_path / "usb-MicroPython-REPL-if00"
    proc = subprocess.Popen(["socat", f"PTY,link={link},raw,echo=0", f"EXEC:{micropython()} -i,pty,raw,echo=0"],
                            cwd=fs, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not link.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "socat did not start the REPL"
        time.sleep(0.005)
    time.sleep(0.2)  # the REPL's banner
    yield link, fs
    proc.terminate()
    proc.wait(timeout=5)


def test_flash_copies_the_firmware_with_mpremote_and_the_copy_runs(repl, tmp_path):
    link, fs = repl
    pinmap = tmp_path / "act-1-pinmap.py"
    pinmap.write_text("CHANNELS = []  # this lab's board\nMAINTENANCE_PIN = 22\nSERVO_HZ = 50\nWATCHDOG_MS = 8000\n")
    res = rig("actuator", "flash", str(link), "--pinmap", str(pinmap), "--no-reset")
    assert res.exit_code == 0, res.output
    assert res.output.startswith("$ ") and " connect " in res.output and " resume exec " in res.output
    src = firmware_dir()
    want = {p.relative_to(src).as_posix() for p in [src / "main.py", *(src / "rigfw").glob("*.py")]}
    assert {p.relative_to(fs).as_posix() for p in fs.rglob("*.py")} == want
    for rel in want - {"rigfw/pinmap.py"}:
        assert (fs / rel).read_bytes() == (src / rel).read_bytes(), rel
    assert (fs / "rigfw" / "pinmap.py").read_bytes() == pinmap.read_bytes()
    ran = subprocess.run([micropython(), "main.py"], cwd=fs, input=b"1 PING\n", capture_output=True, timeout=10)
    assert re.fullmatch(rb"1 OK fw=sim-1\.0\.0 proto=1 channels=2 boot=[0-9a-f]{8} at=\d+\n", ran.stdout), ran


def test_flash_refuses_a_board_that_runs_the_firmware_and_names_the_jumper(bench):
    board, _ = bench
    res = rig("actuator", "flash", str(board.link))
    assert res.exit_code == 1
    assert "runs the rig's firmware (flash-check OK fw=sim-1.0.0" in res.output and "GP22 to GND" in res.output
    assert board.acts() == []
