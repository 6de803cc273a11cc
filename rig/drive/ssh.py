"""SSH driver: a thin wrapper over paramiko that knows nothing about sleep.

- Host keys are verified against the lab's known_hosts only (``RejectPolicy``): an unknown or
  changed key is refused with a message that says how to fix it, never auto-accepted.
- Key or agent auth only; no passwords.
- ``TCP_NODELAY`` on our own socket: Nagle plus delayed ACK cost ~40 ms per exec round trip.
- Timeouts are wall seconds: they guard the link, not the experiment (deadlines that belong to the
  experiment, like how long a Mac may take to answer after wake, are lab seconds and live in the
  cycle runner):
  - ``connect_timeout``: TCP connect, banner, login, and every request that needs an answer
    (opening a channel, starting a command or the SFTP subsystem).
  - ``idle_s``: a command silent this long gets the link probed (a channel opened and closed);
    no answer within ``connect_timeout`` means the link is gone (``Unreachable``). A Mac may
    legitimately stay silent for a minute while ``log show`` writes a file, so silence alone is
    never the verdict. Also the transport's keep-alive interval.
  - ``command_timeout``: the whole command, however chatty.
- Every remote command is an argv list joined with ``shlex.join``; a shell line (a real Mac's
  sshd runs commands through the login shell) is built by ``shell_line`` from argv lists and a few
  bare operators: nothing from a lab file or a log is ever pasted into a shell line unquoted.
- Large outputs are not streamed through stdout: the Mac writes them to a file and ``fetch`` gets
  it over SFTP, checking its size (``collect.py`` does that for the unified log).
"""
from __future__ import annotations

import logging
import os
import shlex
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko

from rig.lab.clock import Clock, SystemClock
from rig.lab.inventory import SSHTarget
from rig.outcomes import RigError, RunFolderError, is_disk_error


# paramiko logs every refused connection (a sleeping Mac) as a traceback on stderr; the rig turns
# those into its own errors and outcomes instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False

# The shell operators ``shell_line`` lets through between quoted argv lists.
OPERATORS = frozenset({"&&", "||", "|", ";", ">", ">/dev/null", "2>&1", "&"})


class SSHError(RigError):
    pass


class HostKeyError(SSHError):
    """The host's key is unknown or does not match known_hosts (never auto-accepted)."""


class Unreachable(SSHError):
    """Nothing answered (asleep, hung, link down)."""


class SFTPUnavailable(SSHError):
    """The host answered but refused the SFTP subsystem (callers may fall back to stdout)."""


@dataclass
class CommandResult:
    argv: list[str]
    out: bytes
    err: bytes
    status: int
    t0: float  # controller clock when the command was sent
    t1: float  # controller clock when its first output (or its end) arrived
    command: str = ""  # the exact line sent (``shlex.join(argv)`` unless a shell line)

    def __post_init__(self):
        if not self.command:
            self.command = shlex.join(self.argv)

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "replace")

    def check(self) -> "CommandResult":
        if self.status != 0:
            raise SSHError(f"{self.command} exited {self.status}: "
                           f"{self.err.decode('utf-8', 'replace').strip()[:300]}")
        return self


def shell_line(parts: list) -> str:
    """A shell line from argv lists (each word quoted) and bare operators (``&&``, ``|``, ``>``…).

    ``shell_line([["log", "show"], ">", ["out file"], "&&", ["gzip", "-f", "out file"]])`` is
    ``log show > 'out file' && gzip -f 'out file'``. Anything that is neither a list nor one of
    ``OPERATORS`` is refused, so a stray string can never reach the shell unquoted.
    """
    out = []
    for p in parts:
        if isinstance(p, (list, tuple)):
            if not p:
                raise ValueError("shell_line: empty argv")
            out.append(shlex.join(p))
        elif p in OPERATORS:
            out.append(p)
        else:
            raise ValueError(f"shell_line: {p!r} is neither an argv list nor one of {sorted(OPERATORS)}")
    return " ".join(out)


class _Watchdog:
    """One thread per connection that closes the transport when an armed deadline passes.

    paramiko waits without a timeout for some replies (an exec or subsystem request); on a link
    that died silently that wait would never end. Arming is one assignment: no thread start and
    no wake-up between the clock reading and the request (either would skew offset samples); the
    thread looks every ``TICK_S``, which is fine against a deadline of seconds.
    """

    TICK_S = 0.25

    def __init__(self, transport: paramiko.Transport, name: str):
        self._tr = transport
        self._stopped = threading.Event()
        self._due: float | None = None
        self.fired = False
        threading.Thread(target=self._loop, name=f"ssh-watchdog-{name}", daemon=True).start()

    def arm(self, seconds: float) -> None:
        self.fired = False
        self._due = time.monotonic() + seconds

    def disarm(self) -> None:
        self._due = None

    def stop(self) -> None:
        self._stopped.set()

    def _loop(self) -> None:
        while not self._stopped.wait(self.TICK_S):
            due = self._due
            if due is not None and time.monotonic() >= due:
                self.fired = True
                self._tr.close()
                return


def _known_name(t: SSHTarget) -> str:
    return t.host if t.port == 22 else f"[{t.host}]:{t.port}"


def _close_channel(chan: paramiko.Channel) -> None:
    """Close a channel whose link may already be gone. paramiko writes a close message, and
    on a socket the host just dropped (a Mac falling asleep after ``pmset sleepnow``) that
    write raises ``EOFError``: the command's result, or the error that ended it, is what counts,
    not the goodbye."""
    try:
        chan.close()
    except (paramiko.SSHException, OSError, EOFError):
        pass


class SSHSession:
    def __init__(self, target: SSHTarget, clock: Clock | None = None, connect_timeout: float = 5.0,
                 command_timeout: float = 120.0, idle_s: float = 5.0):
        self.target = target
        self.clock = clock or SystemClock()
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.idle_s = idle_s
        self.client: paramiko.SSHClient | None = None
        self._watchdog: _Watchdog | None = None

    # -- connection ---------------------------------------------------------------------------
    def connect(self) -> "SSHSession":
        t = self.target
        if t.known_hosts is None or not t.known_hosts.exists():
            raise HostKeyError(f"{t.name}: known_hosts file {t.known_hosts} does not exist; "
                               f"create it with the host's verified key (ssh-keyscan -p {t.port} {t.host})")
        try:
            sock = socket.create_connection((t.host, t.port), timeout=self.connect_timeout)
        except OSError as e:
            raise Unreachable(f"{t.name}: cannot reach {t.host}:{t.port}: {e}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = paramiko.SSHClient()
        client.load_host_keys(str(t.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(t.host, port=t.port, username=t.user, sock=sock,
                           key_filename=str(t.key) if t.key else None, allow_agent=True,
                           look_for_keys=False, timeout=self.connect_timeout,
                           banner_timeout=self.connect_timeout, auth_timeout=self.connect_timeout,
                           channel_timeout=self.connect_timeout)
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
        client.get_transport().set_keepalive(max(1, int(self.idle_s)))
        self._watchdog = _Watchdog(client.get_transport(), t.name)
        self.client = client
        return self

    def reconnect(self) -> "SSHSession":
        """Drop whatever is left of the connection and log in again (same object, same settings)."""
        self.close()
        return self.connect()

    @property
    def connected(self) -> bool:
        tr = self.client.get_transport() if self.client else None
        return bool(tr and tr.is_active())

    def close(self) -> None:
        if self._watchdog:
            self._watchdog.stop()
            self._watchdog = None
        if self.client:
            try:
                self.client.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass  # closing a link the host already dropped (it went to sleep) is not an error
            self.client = None

    def __enter__(self) -> "SSHSession":
        return self if self.connected else self.connect()

    def __exit__(self, *exc) -> None:
        self.close()

    def _transport(self) -> paramiko.Transport:
        if not self.connected:
            raise Unreachable(f"{self.target.name}: not connected")
        return self.client.get_transport()

    @contextmanager
    def _answer_within(self, what: str):
        """paramiko waits forever for some replies (exec, subsystem): close the link if none comes."""
        tr, dog = self._transport(), self._watchdog
        dog.arm(self.connect_timeout)
        try:
            yield
        except (paramiko.SSHException, OSError, EOFError) as e:
            if dog.fired:
                self.close()
                raise Unreachable(f"{self.target.name}: no answer to {what} within "
                                  f"{self.connect_timeout:g} s (link down?)") from None
            if tr.is_active():  # the host answered, with a no
                raise SSHError(f"{self.target.name}: the host refused {what} ({e})") from None
            self.close()
            raise Unreachable(f"{self.target.name}: link lost during {what}: {e}") from None
        finally:
            dog.disarm()

    def _probe(self, what: str) -> None:
        """Is anyone there? Open and close a channel; no answer in time means the link is down."""
        try:
            self._transport().open_session(timeout=self.connect_timeout).close()
        except (paramiko.SSHException, OSError, EOFError) as e:
            self.close()
            raise Unreachable(f"{self.target.name}: link lost: {what} was silent for {self.idle_s:g} s "
                              f"and a keep-alive probe got no answer within {self.connect_timeout:g} s "
                              f"({e or type(e).__name__})") from None

    # -- commands -----------------------------------------------------------------------------
    def run(self, argv: list[str], timeout: float | None = None) -> CommandResult:
        """Run one command (an argv list, quoted here) and collect all of its output."""
        return self._exec(shlex.join(argv), list(argv), timeout)

    def run_line(self, parts: list, timeout: float | None = None) -> CommandResult:
        """Run a shell line built by ``shell_line`` from argv lists and operators."""
        return self._exec(shell_line(parts), [], timeout)

    def _exec(self, command: str, argv: list[str], timeout: float | None) -> CommandResult:
        timeout = self.command_timeout if timeout is None else timeout
        what = repr(command if len(command) < 120 else command[:117] + "...")
        try:
            chan = self._transport().open_session(timeout=self.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as e:
            self.close()
            raise Unreachable(f"{self.target.name}: cannot open a channel for {what}: {e}") from None
        try:
            with self._answer_within(f"starting {what}"):
                t0 = self.clock.now()
                chan.exec_command(command)
            out, err, first = self._drain(chan, what, time.monotonic() + timeout, timeout)
            chan.status_event.wait(self.connect_timeout)
            status = chan.exit_status
            if status < 0:
                if self.connected:
                    raise SSHError(f"{self.target.name}: {what} ended without an exit status "
                                   f"(killed by a signal on the host?)")
                self.close()
                raise Unreachable(f"{self.target.name}: link lost during {what}: no exit status")
        finally:
            _close_channel(chan)
        return CommandResult(argv, out, err, status, t0, first or self.clock.now(), command)

    def _drain(self, chan: paramiko.Channel, what: str, end: float, timeout: float):
        """Read stdout and stderr until EOF; probe the link when silent; give up at ``end``.

        Blocks on stdout (the fastest wake-up, so ``t1`` is close to the arrival) and takes
        whatever stderr is buffered between reads, so a chatty stderr can never stall the window.
        """
        out, err = bytearray(), bytearray()
        first = None
        try:
            while True:
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(1 << 16)
                    first = first or self.clock.now()
                left = end - time.monotonic()
                if left <= 0:
                    raise SSHError(f"{self.target.name}: {what} timed out after {timeout:g} s")
                chan.settimeout(min(self.idle_s, left))
                try:
                    data = chan.recv(1 << 16)
                except socket.timeout:
                    if not chan.recv_stderr_ready() and time.monotonic() < end:
                        self._probe(what)
                    continue
                first = first or self.clock.now()
                if not data:
                    break
                out += data
            chan.settimeout(self.connect_timeout)
            while chunk := chan.recv_stderr(1 << 16):
                err += chunk
            return bytes(out), bytes(err), first
        except socket.timeout:
            self.close()
            raise Unreachable(f"{self.target.name}: link lost during {what}: output ended, stderr did not") from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            self.close()
            raise Unreachable(f"{self.target.name}: link lost during {what}: {e}") from None

    # -- files (SFTP) ---------------------------------------------------------------------------
    @contextmanager
    def sftp(self):
        """An SFTP client on this connection, with the session's timeouts on every read."""
        try:
            chan = self._transport().open_session(timeout=self.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as e:
            self.close()
            raise Unreachable(f"{self.target.name}: cannot open a channel for SFTP: {e}") from None
        chan.settimeout(self.idle_s + self.connect_timeout)
        try:
            try:
                with self._answer_within("the SFTP subsystem request"):
                    chan.invoke_subsystem("sftp")
            except Unreachable:
                raise
            except SSHError as e:
                raise SFTPUnavailable(f"{e}; enable 'Subsystem sftp' in the host's sshd_config") from None
            try:
                client = paramiko.SFTPClient(chan)
            except (paramiko.SSHException, OSError, EOFError) as e:
                self.close()
                raise Unreachable(f"{self.target.name}: SFTP did not start: {e}") from None
            with client:
                yield client
        finally:
            _close_channel(chan)

    def fetch(self, remote: str, local: Path) -> int:
        """Copy ``remote`` to ``local`` over SFTP; the byte count must match the remote size.

        Written to ``local.part`` and renamed, so a cut link never leaves a half file that looks
        whole. Returns the size.
        """
        local = Path(local)
        part = local.with_name(local.name + ".part")
        try:
            with self.sftp() as sftp:
                try:
                    size = sftp.stat(remote).st_size
                except FileNotFoundError:
                    raise SSHError(f"{self.target.name}: {remote}: no such file on the host") from None
                with open(part, "wb") as f:
                    got = sftp.getfo(remote, f, prefetch=True)
            if got != size or part.stat().st_size != size:
                raise SSHError(f"{self.target.name}: {remote}: got {got} bytes of {size}")
            os.replace(part, local)
            return size
        except (socket.timeout, paramiko.SSHException, EOFError) as e:
            self.close()
            raise Unreachable(f"{self.target.name}: link lost while fetching {remote}: "
                              f"{e or type(e).__name__}") from None
        except OSError as e:
            if is_disk_error(e):  # the controller's disk, not the link: never retried as one
                raise RunFolderError.from_os(e, part) from e
            raise SSHError(f"{self.target.name}: fetching {remote} to {local} failed: {e}") from None
        finally:
            part.unlink(missing_ok=True)

    def put(self, local, remote: str) -> None:
        """Copy a file to the host over SFTP (large or binary payloads never go through a shell)."""
        try:
            with self.sftp() as sftp:
                sftp.put(str(local), remote)
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise SSHError(f"{self.target.name}: SFTP put {remote} failed: {e}") from None


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
