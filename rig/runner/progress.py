"""Progress of a night: where every Mac is (cycle k/N, step, ETA), for the person or the CI log.

Long work must show that it is alive (DESIGN.md, "Rules that hold everywhere"). The same state
is rendered two ways, chosen by where the output goes:

- **a terminal** (a TTY): one line per Mac, redrawn in place::

      mbp-01    cycle 2/4  dwell            ETA 6m10s
      mini-01   cycle 3/4  wait for tunnel  ETA 2m02s

  The block is kept at the bottom: a host that prints its own lines (pytest's terminal reporter)
  calls :meth:`Progress.pause` before and :meth:`Progress.resume` after, and the block is
  erased and drawn again below them. Lines are cut to the terminal's width, so a long Mac name
  can never wrap and make the redraw climb into the host's output.
- **anything else** (CI logs, a file, a pipe): plain timestamped lines, one per step and one per
  finished cycle, never redrawn, so a log read the next morning says when each step began::

      2026-11-25T08:48:12Z mbp-01 cycle 2/4 dwell (ETA 6m10s)
      2026-11-25T08:49:03Z mbp-01 cycle 2/4 done: FAIL (reconnects 3, false alerts 8, TTT 1.06 s)

- **quiet** (``-q``): nothing at all.

The callbacks match :class:`rig.runner.cycle.CycleRunner`'s ``on_step(mac, k, step)`` and
``on_cycle(rec)``, and are safe to call from the runner's Mac threads. :meth:`Progress.plan`
tells how many cycles a Mac will run (and roughly how long one takes, for the ETA before the
first cycle has finished).

ETAs are wall time (what the person waits), from the mean wall duration of the Mac's finished
cycles, or the planned estimate until one has finished.
"""
from __future__ import annotations

import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, TextIO

_UP_CLEAR = "\x1b[{n}F\x1b[J"  # cursor to the start of the line n lines up, then clear below
_CLEAR_LINE = "\x1b[2K"


def eta_text(seconds: float | None) -> str:
    """``ETA 6m10s``, ``ETA 1h02m``, ``ETA 42s``; ``ETA ?`` when unknown."""
    if seconds is None:
        return "ETA ?"
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"ETA {s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"ETA {s // 60}m{s % 60:02d}s"
    return f"ETA {s}s"


def _metrics_text(rec: dict) -> str:
    if "reconnects_in_sleep" not in rec:
        reason = rec.get("reason") or ""
        return f" ({reason})" if reason else ""
    ttt = rec.get("ttt_s")
    if rec.get("ttt_censored"):
        ttt_txt = "censored"
    elif isinstance(ttt, (int, float)) and ttt == ttt:
        ttt_txt = f"{ttt:.2f} s"
    else:
        ttt_txt = "n/a"
    return (f" (reconnects {rec.get('reconnects_in_sleep', 0)}, false alerts {rec.get('false_alerts', 0)}, "
            f"TTT {ttt_txt})")


@dataclass
class _Mac:
    name: str
    cycles: int = 0
    cycle_wall_s: float | None = None  # planned estimate of one cycle, wall seconds
    k: int = 0
    step: str = "waiting"
    started: float | None = None  # wall (monotonic) start of cycle k
    durations: list = field(default_factory=list)
    outcomes: dict = field(default_factory=dict)
    last: str = ""

    def eta(self, now: float) -> float | None:
        per = (sum(self.durations) / len(self.durations)) if self.durations else self.cycle_wall_s
        if per is None:
            return None
        after = max(0, self.cycles - self.k) * per  # the cycles after the current one
        if self.started is None:  # between cycles
            return after
        return after + max(0.0, per - (now - self.started))


class Progress:
    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None, quiet: bool = False,
                 refresh_s: float | None = None, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, width: int | None = None):
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.tty = bool(isatty()) if tty is None else tty
        self.quiet = quiet
        self._mono, self._wall = monotonic, wall
        self._width = width
        self._macs: dict[str, _Mac] = {}
        self._lock = threading.RLock()
        self._drawn = 0  # lines of the block on screen
        self._paused = 0
        self._stop = threading.Event()
        self._ticker = None
        if self.tty and refresh_s and not quiet:
            # The ETA counts down during a 45-minute dwell, when no step happens.
            self._ticker = threading.Thread(target=self._tick, args=(refresh_s,), daemon=True,
                                            name="progress")
            self._ticker.start()

    # -- what the runner tells ------------------------------------------------------------------
    def plan(self, mac: str, cycles: int, cycle_wall_s: float | None = None) -> None:
        """``mac`` will run ``cycles`` cycles (in all), each taking about ``cycle_wall_s``."""
        with self._lock:
            m = self._macs.setdefault(mac, _Mac(mac))
            m.cycles = max(cycles, m.k)
            if cycle_wall_s is not None:
                m.cycle_wall_s = cycle_wall_s
            self._render()

    def on_step(self, mac: str, k: int, step: str) -> None:
        with self._lock:
            m = self._macs.setdefault(mac, _Mac(mac))
            if k != m.k or m.started is None:
                m.k, m.started = k, self._mono()
            m.cycles = max(m.cycles, k)
            m.step = step
            self._plain(f"{mac} cycle {k}/{m.cycles} {step} ({eta_text(m.eta(self._mono()))})")
            self._render()

    def on_cycle(self, rec: dict) -> None:
        with self._lock:
            mac, k = rec.get("mac", "?"), int(rec.get("cycle", 0) or 0)
            m = self._macs.setdefault(mac, _Mac(mac))
            if m.started is not None and k == m.k:
                m.durations.append(self._mono() - m.started)
            m.k, m.cycles, m.started, m.step = k, max(m.cycles, k), None, "done"
            outcome = str(rec.get("outcome", "")).upper()
            m.outcomes[outcome] = m.outcomes.get(outcome, 0) + 1
            m.last = outcome
            self._plain(f"{mac} cycle {k}/{m.cycles} done: {outcome}{_metrics_text(rec)}")
            self._render()

    # -- hosts that print their own lines -------------------------------------------------------
    def pause(self) -> None:
        """Erase the block (a TTY) until :meth:`resume`: the host is about to print."""
        with self._lock:
            self._paused += 1
            self._erase()

    def resume(self) -> None:
        with self._lock:
            self._paused = max(0, self._paused - 1)
            self._render(force=True)

    def close(self) -> None:
        """Stop refreshing; the block's last state stays on screen."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            self._drawn = 0

    # -- rendering ------------------------------------------------------------------------------
    def lines(self) -> list[str]:
        """The block as it would be drawn now (one line per Mac)."""
        now = self._mono()
        with self._lock:
            name_w = max((len(n) for n in self._macs), default=0)
            out = []
            for m in self._macs.values():
                if m.step == "done" and m.k >= m.cycles:
                    tally = ", ".join(f"{o} {n}" for o, n in sorted(m.outcomes.items()))
                    out.append(f"{m.name:<{name_w}}  done {m.k}/{m.cycles}  {tally}")
                else:
                    out.append(f"{m.name:<{name_w}}  cycle {max(m.k, 1)}/{m.cycles}  {m.step:<16} "
                               f"{eta_text(m.eta(now))}")
            return out

    def _plain(self, text: str) -> None:
        if self.quiet or self.tty:
            return
        stamp = datetime.fromtimestamp(self._wall(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = getattr(self.stream, "write_line", None)
        if line:
            line(f"{stamp} {text}")
        else:
            self._write(f"{stamp} {text}\n")

    def _erase(self) -> None:
        if self._drawn:
            self._write(_UP_CLEAR.format(n=self._drawn) + self._host("after_block"))
            self._drawn = 0

    def _host(self, hook: str) -> str:
        """What a host stream wants written around the block (pytest: leave its half-written
        line before the block, and return to the end of it after)."""
        fn = getattr(self.stream, hook, None)
        return fn() if fn else ""

    def _render(self, force: bool = False) -> None:
        if self.quiet or not self.tty or self._paused:
            return
        width = self._width or shutil.get_terminal_size((100, 24)).columns
        lines = [ln[: max(10, width - 1)] for ln in self.lines()]
        if not lines and not self._drawn:
            return  # nothing to show yet: leave the host's line alone
        text = _UP_CLEAR.format(n=self._drawn) if self._drawn else self._host("before_block")
        text += "".join(f"{_CLEAR_LINE}{ln}\n" for ln in lines)
        self._write(text)
        self._drawn = len(lines)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal must never stop the night
            pass

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            with self._lock:
                self._render()
