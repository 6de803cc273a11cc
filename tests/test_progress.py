"""rig/progress.py: one line per Mac in place on a terminal, timestamped lines in CI, nothing with -q."""
from __future__ import annotations

import io
import re
import threading

from rig.runner.progress import Progress, eta_text

ESC_UP = re.compile(r"\x1b\[(\d+)F\x1b\[J")


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def screen(text: str) -> list[str]:
    """Replay the block's escape codes onto a list of lines: what a terminal would show."""
    lines: list[str] = []
    pos = 0
    for part in re.split(r"(\x1b\[\d+F\x1b\[J|\n)", text):
        m = ESC_UP.fullmatch(part) if part else None
        if m:
            pos -= int(m.group(1))
            del lines[pos:]
        elif part == "\n":
            pos += 1
        elif part:
            clean = part.replace("\x1b[2K", "")
            if pos == len(lines):
                lines.append(clean)
            else:
                lines[pos] = clean
    return lines


def finish(p: Progress, mac: str, k: int, outcome: str = "pass", **metrics) -> None:
    p.on_cycle({"mac": mac, "cycle": k, "outcome": outcome, **metrics})


def test_plain_output_is_one_timestamped_line_per_step_and_per_cycle():
    out, mono = io.StringIO(), Clock()
    p = Progress(out, tty=False, monotonic=mono, wall=lambda: 1_795_600_000.0)
    p.plan("mbp-01", 2, cycle_wall_s=100)
    p.on_step("mbp-01", 1, "sleep")
    mono.t = 60
    finish(p, "mbp-01", 1, "fail", reconnects_in_sleep=3, false_alerts=8, ttt_s=1.06, ttt_censored=False)
    lines = out.getvalue().splitlines()
    assert lines == [
        "2026-11-25T09:46:40Z mbp-01 cycle 1/2 sleep (ETA 3m20s)",
        "2026-11-25T09:46:40Z mbp-01 cycle 1/2 done: FAIL (reconnects 3, false alerts 8, TTT 1.06 s)",
    ]
    assert "\x1b" not in out.getvalue()


def test_eta_comes_from_the_macs_finished_cycles_once_there_are_any():
    out, mono = io.StringIO(), Clock()
    p = Progress(out, tty=False, monotonic=mono, wall=lambda: 0.0)
    p.plan("mbp-01", 4, cycle_wall_s=1000)  # a bad first guess
    p.on_step("mbp-01", 1, "precondition")
    mono.t = 30
    finish(p, "mbp-01", 1)  # the first cycle took 30 s
    p.on_step("mbp-01", 2, "precondition")
    mono.t = 40
    p.on_step("mbp-01", 2, "dwell")  # 10 s into cycle 2: 20 s left of it, then 2 cycles of 30 s
    assert out.getvalue().splitlines()[-1].endswith("mbp-01 cycle 2/4 dwell (ETA 1m20s)")


def test_a_terminal_shows_one_line_per_mac_updated_in_place():
    out, mono = Tty(), Clock()
    p = Progress(out, monotonic=mono, width=80)
    p.plan("mbp-01", 2, cycle_wall_s=60)
    p.plan("mini-01", 2, cycle_wall_s=60)
    for step in ("precondition", "sleep", "dwell"):
        p.on_step("mbp-01", 1, step)
        p.on_step("mini-01", 1, step)
    mono.t = 20
    p.on_step("mini-01", 1, "wake")
    shown = screen(out.getvalue())
    assert shown == ["mbp-01   cycle 1/2  dwell            ETA 1m40s",
                     "mini-01  cycle 1/2  wake             ETA 1m40s"]


def test_a_finished_mac_shows_its_tally_of_outcomes():
    out = Tty()
    p = Progress(out, width=80)
    p.plan("mbp-01", 2)
    p.on_step("mbp-01", 1, "sleep")
    finish(p, "mbp-01", 1, "pass")
    p.on_step("mbp-01", 2, "sleep")
    finish(p, "mbp-01", 2, "fail")
    assert screen(out.getvalue()) == ["mbp-01  done 2/2  FAIL 1, PASS 1"]


def test_pause_takes_the_block_down_so_the_host_can_print_above_it():
    out = Tty()
    p = Progress(out, width=80)
    p.plan("mbp-01", 1)
    p.plan("mini-01", 1)
    p.pause()
    out.write("suites/test_dark_wake.py .\n")  # the host's own line
    p.on_step("mbp-01", 1, "sleep")  # while paused nothing is drawn
    assert screen(out.getvalue()) == ["suites/test_dark_wake.py ."]
    p.resume()
    shown = screen(out.getvalue())
    assert shown[0] == "suites/test_dark_wake.py ."
    assert [ln.split()[0] for ln in shown[1:]] == ["mbp-01", "mini-01"]


def test_lines_are_cut_to_the_terminal_width_so_a_redraw_never_climbs_too_far():
    out = Tty()
    p = Progress(out, width=30)
    p.plan("a-mac-with-a-very-long-name-indeed", 3)
    assert all(len(ln) <= 29 for ln in screen(out.getvalue()))


def test_quiet_writes_nothing_on_a_terminal_or_in_ci():
    for out in (Tty(), io.StringIO()):
        p = Progress(out, quiet=True)
        p.plan("mbp-01", 1)
        p.on_step("mbp-01", 1, "sleep")
        finish(p, "mbp-01", 1)
        assert out.getvalue() == ""


def test_mac_threads_reporting_at_once_never_break_the_block():
    out = Tty()
    p = Progress(out, width=80)
    macs = [f"mac-{i:02d}" for i in range(16)]

    def work(mac):
        for k in (1, 2):
            for step in ("precondition", "sleep", "dwell", "wake", "collect"):
                p.on_step(mac, k, step)
            finish(p, mac, k)

    threads = [threading.Thread(target=work, args=(m,)) for m in macs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shown = screen(out.getvalue())
    assert sorted(ln.split()[0] for ln in shown) == macs
    assert all("done 2/2" in ln for ln in shown)


def test_eta_text_reads_like_a_person_would_say_it():
    assert [eta_text(s) for s in (None, 42, 370, 3720)] == ["ETA ?", "ETA 42s", "ETA 6m10s", "ETA 1h02m"]


class HalfLineHost(Tty):
    """A host (pytest) whose own line is half written: the block goes below it and, taken down,
    leaves the cursor at the end of that line again."""

    def before_block(self) -> str:
        return "\n"

    def after_block(self) -> str:
        return "\x1b[1F\x1b[25C"


def test_the_block_is_drawn_below_the_hosts_half_line_and_taken_down_back_to_its_end():
    out = HalfLineHost()
    p = Progress(out, width=80)
    p.resume()  # no Mac yet: nothing to draw, the host's line is left alone
    assert out.getvalue() == ""
    p.plan("mbp-01", 1)
    assert out.getvalue().startswith("\n\x1b[2Kmbp-01")
    p.pause()
    assert out.getvalue().endswith("\x1b[1F\x1b[J\x1b[1F\x1b[25C")
