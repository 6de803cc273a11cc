"""The board's pin map and lid calibration: the one file a lab edits (docs/actuator.md).

One entry per channel (a Mac), numbered from 1 in this order. GPIO numbers are the Pico's
``GPn`` names. ``lid`` is ``"servo"`` (an arm that swings a magnet over the lid sensor, PWM at
50 Hz; ``open_us``/``closed_us`` are its pulse widths, found with ``rig actuator … lid``) or
``"coil"`` (an electromagnet over the sensor, on = closed, through a logic-level MOSFET).
Relays are driven active-high (a GPIO at 1 energises the coil): the power-button relay's
normally-open contact is across the button, the AC relay's normally-closed contact carries
the Mac's supply, so a board without power leaves every Mac powered and no button held.
"""

CHANNELS = [
    # channel 1: left pin header rows (see docs/actuator-wiring.svg)
    {"lid": "servo", "lid_pin": 2, "open_us": 1000, "closed_us": 2000, "button_pin": 3, "ac_pin": 4},
    # channel 2
    {"lid": "servo", "lid_pin": 6, "open_us": 1000, "closed_us": 2000, "button_pin": 7, "ac_pin": 8},
]

MAINTENANCE_PIN = 22  # tied to GND at reset: the firmware does not start (REPL free for flashing)
SERVO_HZ = 50
WATCHDOG_MS = 8000    # the RP2040's longest watchdog period is 8.3 s
