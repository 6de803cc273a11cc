"""Command-line values shared by several commands, checked where they enter.

``--dark-wake-every`` (``rig run``, ``rig twin simulate``): seconds between the Wake-on-LAN
packets of the dwell (dark wakes on demand, ``rig.runner.script.dwell``). A duration like the
dwell's (``3m``, ``180s``, ``1h30m``), 0 for none. Under 30 s a packet would land in the dark
wake the one before caused (one lasts up to a minute), so that is refused, not silently run.
"""
from __future__ import annotations

import click


class Duration(click.ParamType):
    """A duration as the dwell is written (``45m``, ``90s``, ``1h30m``), as float seconds: every
    command's ``--dwell`` (and ``--dark-wake-interval``) is checked here, where it enters, and a
    bad one is click's usual error naming the option."""

    name = "duration"

    def convert(self, value, param, ctx) -> float:
        from rig.runner.run import parse_duration

        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


DURATION = Duration()


class Interval(Duration):
    """A duration of at least ``minimum`` seconds, or 0 (none), as float seconds."""

    def __init__(self, minimum: float):
        self.minimum = minimum

    def convert(self, value, param, ctx) -> float:
        seconds = super().convert(value, param, ctx)
        if 0 < seconds < self.minimum or seconds < 0:
            self.fail(f"{value}: at least {self.minimum:g}s, or 0 for none", param, ctx)
        return seconds


dark_wake_every = click.option(
    "--dark-wake-every", "dark_wake_every_s", type=Interval(30.0), default="0", show_default=True,
    metavar="DURATION", help="a Wake-on-LAN packet this often in the dwell (3m) to each Mac with wake_on_lan: "
                             "dark wakes on demand, counted from the Macs' logs (0: none)")
