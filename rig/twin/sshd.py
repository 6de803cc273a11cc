"""An embedded SSH server (paramiko) in front of one twin host.

Real protocol, real host key, public-key auth for one user: the rig's SSH driver cannot tell it
from a Mac's sshd. While the host sleeps, new connections are dropped at once and open ones are
cut, as a sleeping Mac's network would. Given the host's files directory it also serves the
``sftp`` subsystem (paramiko's ``SFTPServer`` over ``files.RootedSFTP``), which is how the rig
fetches large logs.
"""
from __future__ import annotations

import socket
import threading
from typing import Callable

import paramiko

from rig.twin.files import MacFiles, RootedSFTP

Handler = Callable[[str], tuple[bytes, bytes, int]]


class _Iface(paramiko.ServerInterface):
    def __init__(self, server: "TwinSSHServer", transport: paramiko.Transport):
        self.server = server
        self.transport = transport  # what a fault closes (rig.twin.faults)

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        ok = username == self.server.user and key == self.server.authorized
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        threading.Thread(target=self.server.run_command, args=(channel, command, self.transport),
                         daemon=True).start()
        return True


class TwinSSHServer:
    def __init__(self, name: str, host_key: paramiko.PKey, authorized: paramiko.PKey, user: str,
                 handler: Handler, reachable: Callable[[], bool], files: MacFiles | None = None,
                 cut_output: Callable[[str], bool] = lambda command: False):
        self.name = name
        self.cut_output = cut_output  # fault: send half of this command's output, then drop the link
        self.files = files
        self.host_key = host_key
        self.authorized = authorized
        self.user = user
        self.handler = handler
        self.reachable = reachable
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._transports: list[paramiko.Transport] = []
        self._lock = threading.Lock()
        self._stop = False

    def start(self) -> "TwinSSHServer":
        threading.Thread(target=self._accept_loop, name=f"sshd-{self.name}", daemon=True).start()
        return self

    def _accept_loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if not self.reachable():
                conn.close()  # asleep: nothing answers
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        t = paramiko.Transport(conn)
        t.add_server_key(self.host_key)
        if self.files is not None:
            t.set_subsystem_handler("sftp", paramiko.SFTPServer, RootedSFTP, self.files)
        try:
            t.start_server(server=_Iface(self, t))
        except (paramiko.SSHException, EOFError, OSError):
            t.close()
            return
        with self._lock:
            self._transports = [x for x in self._transports if x.is_active()] + [t]

    def run_command(self, channel: paramiko.Channel, command: bytes, transport=None) -> None:
        try:
            text = command.decode("utf-8", "replace")
            out, err, status = self.handler(text)
            if transport is not None and self.cut_output(text):
                channel.sendall(out[: len(out) // 2])
                transport.close()
                return
            if out:
                channel.sendall(out)
            if err:
                channel.sendall_stderr(err)
            channel.send_exit_status(status)
            channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            threading.Timer(2.0, channel.close).start()

    def drop_connections(self) -> None:
        """Cut every open session (the host went to sleep); done off-thread, close() joins."""
        with self._lock:
            victims, self._transports = self._transports, []

        def cut():
            for t in victims:
                try:
                    t.close()
                except Exception:  # noqa: BLE001 - a dying transport may raise anything
                    pass

        threading.Thread(target=cut, daemon=True).start()

    def stop(self) -> None:
        self._stop = True
        self._sock.close()
        self.drop_connections()
