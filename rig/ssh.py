"""SSH driver: a thin wrapper over paramiko that knows nothing about sleep.

- Host keys are verified against the lab's known_hosts only (``RejectPolicy``): an unknown or
  changed key is refused with a message that says how to fix it, never auto-accepted.
- Key or agent auth only; no passwords.
- ``TCP_NODELAY`` on our own socket: Nagle plus delayed ACK cost ~40 ms per exec round trip.
- Socket timeouts (connect, command) are wall seconds: they guard a hung link. Deadlines that
  belong to the experiment (how long a Mac may take to answer after wake) are lab seconds.
- Every remote command is an argv list joined with ``shlex.join``: nothing from a lab file or a
  log is ever pasted into a shell line unquoted.
"""
from __future__ import annotations

import shlex
import socket
from dataclasses import dataclass

import logging

import paramiko

from .clock import Clock, SystemClock
from .lab import SSHTarget
from .outcomes import RigError


# paramiko logs every refused connection (a sleeping Mac) as a traceback on stderr; the rig turns
# those into its own errors and outcomes instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False


class SSHError(RigError):
    pass


class HostKeyError(SSHError):
    """The host's key is unknown or does not match known_hosts (never auto-accepted)."""


class Unreachable(SSHError):
    """Nothing answered (asleep, hung, link down)."""


@dataclass
class CommandResult:
    argv: list[str]
    out: bytes
    err: bytes
    status: int
    t0: float  # controller clock when the command was sent
    t1: float  # controller clock when its first output (or its end) arrived

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "replace")

    def check(self) -> "CommandResult":
        if self.status != 0:
            raise SSHError(f"{shlex.join(self.argv)} exited {self.status}: "
                           f"{self.err.decode('utf-8', 'replace').strip()[:300]}")
        return self


def _known_name(t: SSHTarget) -> str:
    return t.host if t.port == 22 else f"[{t.host}]:{t.port}"


class SSHSession:
    def __init__(self, target: SSHTarget, clock: Clock | None = None, connect_timeout: float = 5.0,
                 command_timeout: float = 120.0):
        self.target = target
        self.clock = clock or SystemClock()
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.client: paramiko.SSHClient | None = None

    # -- connection ---------------------------------------------------------------------------
    def connect(self) -> "SSHSession":
        t = self.target
        try:
            sock = socket.create_connection((t.host, t.port), timeout=self.connect_timeout)
        except OSError as e:
            raise Unreachable(f"{t.name}: cannot reach {t.host}:{t.port}: {e}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = paramiko.SSHClient()
        if t.known_hosts is None or not t.known_hosts.exists():
            sock.close()
            raise HostKeyError(f"{t.name}: known_hosts file {t.known_hosts} does not exist; "
                               f"create it with the host's verified key (ssh-keyscan -p {t.port} {t.host})")
        client.load_host_keys(str(t.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(t.host, port=t.port, username=t.user, sock=sock,
                           key_filename=str(t.key) if t.key else None, allow_agent=True,
                           look_for_keys=False, timeout=self.connect_timeout,
                           banner_timeout=self.connect_timeout, auth_timeout=self.connect_timeout)
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyError(
                f"{t.name}: host key of {_known_name(t)} does not match {t.known_hosts} "
                f"(got {e.key.get_name()} {e.key.get_fingerprint().hex()}). If the Mac was reinstalled, "
                f"verify the new key out of band, then: ssh-keygen -R '{_known_name(t)}' -f {t.known_hosts}"
            ) from None
        except paramiko.AuthenticationException as e:
            client.close()
            raise SSHError(f"{t.name}: authentication as {t.user!r} failed ({e}); check the key path "
                           f"or the agent") from None
        except paramiko.SSHException as e:
            client.close()
            if "not found in known_hosts" in str(e):
                raise HostKeyError(
                    f"{t.name}: {_known_name(t)} is not in {t.known_hosts}; nothing is auto-accepted. "
                    f"Verify its key out of band and add it: ssh-keyscan -p {t.port} {t.host} >> {t.known_hosts}"
                ) from None
            raise Unreachable(f"{t.name}: SSH handshake failed: {e}") from None
        except (OSError, EOFError) as e:
            client.close()
            raise Unreachable(f"{t.name}: connection dropped during login: {e}") from None
        self.client = client
        return self

    @property
    def connected(self) -> bool:
        tr = self.client.get_transport() if self.client else None
        return bool(tr and tr.is_active())

    def close(self) -> None:
        if self.client:
            self.client.close()
            self.client = None

    def __enter__(self) -> "SSHSession":
        return self if self.connected else self.connect()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- commands -----------------------------------------------------------------------------
    def run(self, argv: list[str], timeout: float | None = None) -> CommandResult:
        """Run one command (an argv list, quoted here) and collect all of its output."""
        if not self.connected:
            raise Unreachable(f"{self.target.name}: not connected")
        command = shlex.join(argv)
        timeout = self.command_timeout if timeout is None else timeout
        try:
            chan = self.client.get_transport().open_session(timeout=self.connect_timeout)
            chan.settimeout(timeout)
            t0 = self.clock.now()
            chan.exec_command(command)
            out = bytearray()
            first = None
            while True:
                chunk = chan.recv(1 << 16)
                if first is None:
                    first = self.clock.now()
                if not chunk:
                    break
                out += chunk
            err = bytearray()
            while chunk := chan.recv_stderr(1 << 16):
                err += chunk
            status = chan.recv_exit_status()
            chan.close()
        except socket.timeout:
            raise SSHError(f"{self.target.name}: {command!r} timed out after {timeout:.0f} s") from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise Unreachable(f"{self.target.name}: link lost during {command!r}: {e}") from None
        return CommandResult(argv, bytes(out), bytes(err), status, t0, first or self.clock.now())


def wait_reachable(target: SSHTarget, clock: Clock, deadline_s: float, *, first_delay: float = 1.0,
                   max_delay: float = 15.0, connect_timeout: float = 5.0) -> SSHSession:
    """Connect, retrying with exponential backoff (lab seconds) until ``deadline_s`` has passed.

    Host-key and auth errors are not retried: waiting does not fix them.
    """
    end = clock.now() + deadline_s
    delay = first_delay
    last: Exception | None = None
    while True:
        try:
            return SSHSession(target, clock, connect_timeout=connect_timeout).connect()
        except (HostKeyError,):
            raise
        except SSHError as e:
            if "authentication" in str(e):
                raise
            last = e
        if clock.now() + delay > end:
            raise Unreachable(f"{target.name}: no SSH answer within {deadline_s:.0f} s ({last})")
        clock.sleep(delay)
        delay = min(delay * 2, max_delay)

