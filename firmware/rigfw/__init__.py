"""The rig's actuator firmware (protocol v1), as a package both a board and the twin import.

``protocol`` is the firmware's logic and the only module the twin uses; ``run`` is the serial
loop of a board; ``board_rp2`` (a Raspberry Pi Pico) and ``board_sim`` (MicroPython's unix port)
are the pin layers; ``pinmap`` is the one file a lab edits. ``firmware/main.py`` starts it all.
"""
