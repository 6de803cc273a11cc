"""The twin Mac's shell behind a real OpenSSH sshd: a ``ForceCommand`` entry point and its socket.

A twin Mac's shell is one function from a command line to (stdout, stderr, exit status) over the
running world. The embedded SSH server calls it in-process. This module gives the same function a
second door: the twin process listens on a unix socket (``DoorSocket``), and a real sshd runs

    ForceCommand exec python3 -I -S .../rig/twin/shell_door.py --socket SOCK --host mbp-01

for every exec request. The entry point reads ``$SSH_ORIGINAL_COMMAND``, sends it over the socket,
and writes back what the world answered, exit status included. So the same Mac can be reached
through either door and the rig cannot tell which one it used.

Why it is built like this:

- It runs once per exec, so its start-up is the door's latency: standard library only, nothing
  from ``rig`` (no paramiko, no pandas), runnable as a plain script (``-I -S`` skips ``site``).
  ``python -m rig.twin shell`` runs the same ``main``.
- SFTP: with ``ForceCommand`` set, sshd runs the forced command for subsystem requests too, with
  ``$SSH_ORIGINAL_COMMAND`` set to the configured ``Subsystem sftp`` program. The entry point then
  becomes OpenSSH's own ``sftp-server``, started in the Mac's files directory (its "home"): the
  rig fetches large logs by home-relative paths, which resolve to the same files through both doors.
- A sleeping Mac does not answer. When the world says the Mac is not awake, the entry point ends
  the sshd session it runs under, so the rig sees a dropped link, as it would on hardware.

Wire format on the socket (one request per connection): ``host NUL command``, then the client
shuts its write side; the answer is a line ``STATUS AWAKE OUT_LEN ERR_LEN`` then stdout and stderr.
"""
from __future__ import annotations

import _socket  # not ``socket``: its enum/selectors imports cost ~13 ms on every exec
import os
import sys

SFTP_SERVERS = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server",
                "/usr/libexec/sftp-server")
NOT_AWAKE = 255


# -- the client half (runs under sshd, once per exec) --------------------------------------------

def _recv_all(sock) -> bytes:
    chunks = []
    while chunk := sock.recv(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def encode_answer(out: bytes, err: bytes, status: int, awake: bool) -> bytes:
    return b"%d %d %d %d\n" % (status, int(awake), len(out), len(err)) + out + err


def decode_answer(data: bytes) -> tuple[bytes, bytes, int, bool]:
    head, sep, body = data.partition(b"\n")
    fields = head.split()
    if not sep or len(fields) != 4:
        raise ValueError(f"bad answer header {head[:80]!r}")
    status, awake, n_out, n_err = (int(x) for x in fields)
    if len(body) != n_out + n_err:
        raise ValueError(f"answer cut short ({len(body)} of {n_out + n_err} bytes)")
    return body[:n_out], body[n_out:], status, bool(awake)


def ask(socket_path: str, host: str, command: str) -> tuple[bytes, bytes, int, bool]:
    """Run ``command`` on ``host`` through the twin's door socket: (stdout, stderr, status, awake)."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(socket_path)
        s.sendall(host.encode() + b"\0" + command.encode("utf-8", "surrogateescape"))
        s.shutdown(_socket.SHUT_WR)
        return decode_answer(_recv_all(s))
    finally:
        s.close()


def _is_sftp(command: str) -> bool:
    first = command.split(None, 1)[0] if command.strip() else ""
    return os.path.basename(first) in ("sftp-server", "internal-sftp")


def _exec_sftp(command: str, home: str) -> None:
    first = command.split(None, 1)[0]
    candidates = ([first] if os.path.isabs(first) else []) + list(SFTP_SERVERS)
    for prog in candidates:
        if os.access(prog, os.X_OK):
            os.chdir(home)
            os.execv(prog, [prog, "-d", home.replace("%", "%%"), "-e", "-l", "ERROR"])
    sys.stderr.write("twin door: no sftp-server found\n")
    sys.exit(1)


def _drop_session() -> None:
    """End the sshd session this door runs under: the client sees its link go down."""
    parent = os.getppid()
    try:
        with open(f"/proc/{parent}/comm") as f:
            is_sshd = f.read().strip() == "sshd"
    except OSError:
        is_sshd = False
    if is_sshd:
        os.kill(parent, 15)
    sys.exit(NOT_AWAKE)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    opts = {"--socket": None, "--host": None, "--home": None}
    while args:
        key = args.pop(0)
        if key not in opts or not args:
            sys.stderr.write("usage: shell_door.py --socket PATH --host NAME [--home DIR]\n")
            sys.exit(2)
        opts[key] = args.pop(0)
    if not opts["--socket"] or not opts["--host"]:
        sys.stderr.write("usage: shell_door.py --socket PATH --host NAME [--home DIR]\n")
        sys.exit(2)
    sock, host = opts["--socket"], opts["--host"]
    home = opts["--home"] or os.path.join(os.path.dirname(sock), "fs", host)
    command = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    if _is_sftp(command):
        _exec_sftp(command, home)
    if not command:
        sys.stderr.write("twin door: interactive shells are not served; send a command\n")
        sys.exit(1)
    try:
        out, err, status, awake = ask(sock, host, command)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"twin door: cannot reach the twin at {sock}: {e}\n")
        sys.exit(NOT_AWAKE)
    if not awake:
        _drop_session()
    stdout = sys.stdout.buffer
    stdout.write(out)
    stdout.flush()
    sys.stderr.buffer.write(err)
    sys.stderr.flush()
    sys.exit(status)


# -- the twin's half (runs in the twin process) ----------------------------------------------------

class DoorSocket:
    """Serve ``lookup(host) -> (handler, awake)`` on a unix socket, one thread per request.

    The socket is made connectable by every local user (0666): the sshd session that runs the
    entry point logs in as a dedicated unprivileged user. What it reaches is the twin's simulated
    shell, which touches nothing outside the twin's own files directory.
    """

    def __init__(self, path, lookup):
        import socket
        import threading

        self.path = str(path)
        self.lookup = lookup
        if len(self.path.encode()) > 107:
            raise ValueError(f"door socket path too long for AF_UNIX ({len(self.path)} bytes): {self.path}")
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self._sock.listen(64)
        self._threading = threading

    def start(self) -> "DoorSocket":
        self._threading.Thread(target=self._accept_loop, name="door-socket", daemon=True).start()
        return self

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:
        with conn:
            try:
                host, sep, command = _recv_all(conn).partition(b"\0")
                found = self.lookup(host.decode("utf-8", "replace")) if sep else None
                if found is None:
                    answer = (b"", b"twin: no such host %r\n" % host, 255, True)
                else:
                    handler, is_awake = found
                    awake = is_awake()
                    out, err, status = (handler(command.decode("utf-8", "replace")) if awake
                                        else (b"", b"", NOT_AWAKE))
                    answer = (out, err, status, awake)
                conn.sendall(encode_answer(*answer))
            except OSError:
                pass  # a door that hung up mid-request: nothing to answer

    def stop(self) -> None:
        try:
            self._sock.close()
        finally:
            if os.path.exists(self.path):
                os.unlink(self.path)


if __name__ == "__main__":
    main()
