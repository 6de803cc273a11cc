"""The live twin's Wake-on-LAN door: a UDP port on 127.0.0.1 per twin Mac.

A real Mac's interface sees every broadcast on its segment while it sleeps; the twin gives each
Mac its own port (written into its lab file as ``wake_on_lan = { … broadcast = "127.0.0.1",
port = N }``), so the rig's packets reach it exactly as they would a rack: a stdlib UDP datagram
from the controller (``rig.drive.wol``). Each datagram is handed to the Mac model on the lab's
virtual clock (``Mac.wake_packet``), which decides, as an interface does, whether it was a magic
packet for its own address and what it wakes.
"""
from __future__ import annotations

import socket
import sys
import threading
from typing import Callable

MAX_DATAGRAM = 2048
POLL_S = 0.2   # how often the reader looks for a stop request between datagrams


class WakeDoor:
    """One UDP socket and its reader thread; ``deliver(data)`` runs for every datagram."""

    def __init__(self, name: str, deliver: Callable[[bytes], None], host: str = "127.0.0.1"):
        self.name, self.deliver = name, deliver
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(POLL_S)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"wol-{name}", daemon=True)

    def start(self) -> "WakeDoor":
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(MAX_DATAGRAM)
            except socket.timeout:
                continue
            except OSError:  # closed by stop()
                return
            try:
                self.deliver(data)
            except Exception as e:  # noqa: BLE001 - one odd datagram must not close the door
                print(f"twin: {self.name}: wake packet not delivered: {type(e).__name__}: {e}", file=sys.stderr)

    def stop(self) -> None:
        """Stop the reader (within one poll), then close the socket."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2 * POLL_S + 1.0)
        self.sock.close()
