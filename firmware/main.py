"""The rig's actuator firmware: protocol v1 on USB serial (docs/actuator.md).

On a Raspberry Pi Pico (MicroPython's rp2 port) it drives the pins of ``rigfw/pinmap.py``; on
MicroPython's unix port (``micropython firmware/main.py``) it drives simulated pins, reading
requests on stdin and answering on stdout as the board does on USB CDC.
"""
from rigfw.run import main

main()
