"""Actuator backends, one small module per lab-file ``kind`` (see ``rig/actuator.py``).

``rig_v1`` speaks the rig's own protocol v1 (ids, retries, ``at=`` instants); ``lcus_relay``
drives an off-the-shelf USB relay board. ``stable_port`` is the serial port both share: named by
a stable path and found again when the USB device re-enumerates.
"""
