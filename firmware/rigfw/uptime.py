"""Microseconds since boot that never wrap: what ``at=`` in every reply is counted in.

MicroPython's ``time.ticks_us()`` wraps (every 2**30 µs, about 18 minutes, on every port), and
the rig maps ``at=`` onto its own clock across a whole night, so the firmware extends the ticks
into an unbounded integer. That only needs ``now_us()`` called at least once per half period
(9 minutes): the serial loop calls it every turn, and turns at least once a second.
"""


class Uptime:
    def __init__(self, ticks_us, ticks_diff):
        self.ticks_us = ticks_us
        self.ticks_diff = ticks_diff
        self.last = ticks_us()
        self.total = 0

    def now_us(self):
        t = self.ticks_us()
        self.total += self.ticks_diff(t, self.last)
        self.last = t
        return self.total
