"""Wake-on-LAN: the magic packet that asks a sleeping Mac's network interface to wake it.

A magic packet is six ``0xFF`` bytes followed by the target's 6-byte hardware address sixteen
times (102 bytes), sent as a UDP datagram to a broadcast address of the Mac's network segment,
by convention to port 9 (discard) or 7 (echo). The interface looks for that pattern anywhere in a
frame while the Mac sleeps; nothing answers, so the sender can never know whether it worked. On a
Mac it only wakes anything when "Wake for network access" is on (``pmset womp 1``), and what it
wakes (a dark wake, a full wake, nothing) depends on the model: the rig reads that from the Mac's
own pmset and powerd lines afterwards (``rig.score.on_demand``), never from here.

Lab file (per Mac)::

    wake_on_lan = { mac = "aa:bb:cc:dd:ee:ff", broadcast = "192.0.2.255", port = 9 }

A pure function builds the packet, one sends it (a stdlib socket with ``SO_BROADCAST``), and one
looks for it in a datagram as an interface does (what the twin's Macs use).
"""
from __future__ import annotations

import socket

from rig.names import HW_ADDRESS_RULE, hw_address

SYNC = b"\xff" * 6
REPEATS = 16
PACKET_LEN = len(SYNC) + 6 * REPEATS   # 102 bytes


def _address(mac: str) -> bytes:
    raw = hw_address(mac)
    if raw is None:
        raise ValueError(f"{mac!r} is not a hardware address ({HW_ADDRESS_RULE})")
    return raw


def magic_packet(mac: str) -> bytes:
    """The 102 bytes that wake the interface with hardware address ``mac`` (``aa:bb:…``)."""
    return SYNC + _address(mac) * REPEATS


def send_magic_packet(mac: str, broadcast: str, port: int = 9) -> int:
    """Send one magic packet for ``mac`` as UDP to ``broadcast:port``; the bytes sent.

    Raises ``OSError`` when the controller's network refuses it (no route, no interface): the
    caller journals that, it is not the Mac's doing."""
    packet = magic_packet(mac)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        return s.sendto(packet, (broadcast, port))


def wakes(data: bytes, mac: str) -> bool:
    """Whether a datagram holds a magic packet for the interface ``mac``: as an interface looks,
    for the sync run and its own address sixteen times anywhere in it (other bytes, such as a
    SecureOn password, may surround it). An interface knows its own address, which is what
    makes the search unambiguous (a shifted reading of a packet can look like another one's)."""
    return magic_packet(mac) in data
