"""The board's serial loop: USB CDC (stdin/stdout) in and out of :class:`rigfw.protocol.Board`.

The same loop runs on the Pico and on MicroPython's unix port; only the pin layer differs
(``board_rp2`` or ``board_sim``, chosen by ``sys.platform``). What it guarantees:

- **No busy loop.** It sleeps in ``select.poll`` until a byte arrives, a held press is due to
  be released, or a second has passed (to feed the watchdog), so USB is never starved.
- **Input is read a byte at a time** while ``poll`` says there is more: ``read(n)`` on
  MicroPython waits for all ``n`` bytes, and one request is a few dozen.
- **A watchdog** (``board_rp2``: ``machine.WDT``, 8 s) resets a board whose loop stopped
  turning; at boot every channel is put in its safe state again and a new boot id is drawn.
- **Ctrl-C is data.** USB CDC is also MicroPython's REPL; line noise with a 0x03 byte must not
  stop the firmware, so keyboard interrupts are off while it runs (``board_rp2`` explains how
  to reach the REPL to re-flash: the maintenance jumper).
- **End of input ends it** on the unix port (the pty closed: the simulated board unplugged),
  once the presses it holds are released and answered.
"""
import select
import sys
import time

from rigfw import protocol

IDLE_MS = 1000   # the longest sleep between turns (the watchdog is fed every turn)
READ_MAX = 128   # bytes taken per turn before the held presses are looked at again


def hardware():
    """The pin layer of this port: the Pico's pins, or the simulation on any other."""
    if sys.platform == "rp2":
        from rigfw import board_rp2 as hw
    else:
        from rigfw import board_sim as hw
    return hw


def main():
    hw = hardware()
    if not hw.prepare():
        return  # maintenance: leave the REPL to mpremote
    while True:
        try:
            if not serve(hw):
                return
        except hw.Reset:
            pass  # the simulator's brown-out: start again, as a reset board does


def serve(hw):
    """One boot of the board: -> False when the host side is gone for good (unix port)."""
    pins = hw.Pins()
    board = protocol.Board(pins, pins.channels, hw.NAME + "-" + protocol.VERSION, hw.boot_id(),
                           on_act=hw.on_act)
    hw.booted(board)
    dog = hw.watchdog()
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    rd, wr = sys.stdin.buffer, sys.stdout.buffer
    reading = True
    while reading or board.held:
        dog.feed()
        wait = IDLE_MS
        due, now = board.due_us(), pins.now_us()
        if due is not None:
            wait = max(0, min(wait, (due - now + 999) // 1000))
        data = b""
        if reading and poller.poll(wait):
            while len(data) < READ_MAX and poller.poll(0):
                try:
                    c = rd.read(1)
                except OSError:
                    c = b""
                if not c:
                    reading = False  # end of input (the pty closed): finish the held presses
                    poller.unregister(sys.stdin)
                    break
                data += c
        elif not reading:
            time.sleep_ms(wait)
        replies = board.feed(data) if data else []
        for reply in replies + board.poll():
            wr.write(reply)
    return False
