"""The twin: a simulated lab (Macs, actuator firmware, gateway) that the rig drives through the
same doors as hardware (SSH, a serial device, gateway logs over SSH), writing the real formats.

The twin is a guest of the rig: it may import the rig's formats and protocol definitions, but
nothing outside ``rig/twin/`` imports it, except the code that starts it (``rig.twin.launch``).
"""
