"""Real protocol peers for the rig's tests: an OpenSSH sshd in front of a twin Mac, network namespaces.

The twin's Macs normally answer on an embedded SSH server. These helpers put a *real* OpenSSH sshd
(Debian's ``openssh-server``) in front of the same Mac, the way ``shell_door.py`` describes: sshd
authenticates with its own host key and a dedicated unprivileged ``/bin/sh`` user, then runs every
exec (and the ``sftp`` subsystem) through ``ForceCommand`` into the twin's door socket. So the rig's
SSH driver, host-key checks, SFTP and cycle runner are tested against the daemon real Macs run.

``Netns`` puts such an sshd behind its own network namespace and veth pair, so a test can pull the
cable (``link(False)``) in the middle of a cycle.

Everything here needs root (creating the user, the namespaces, starting sshd), as CI is; the
Debian packages come from ``./dev test``. A missing piece fails the test with a message: a test
that needs a real peer starts it itself, it is never skipped.
"""
from __future__ import annotations

import ipaddress
import itertools
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rig.twin.keys import known_hosts_line, new_key

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
DOOR_USER = "rigmac"  # the dedicated login user sshd runs the twin's shell door as
DOOR_SCRIPT = Path(__file__).resolve().parent.parent / "rig" / "twin" / "shell_door.py"


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def _check(argv: list[str]) -> str:
    res = _run(argv)
    if res.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {res.returncode}: {res.stderr.strip()}")
    return res.stdout


def shared_dir(prefix: str = "rig-peer-") -> Path:
    """A fresh directory the door user can traverse (``mkdtemp`` makes 0700; pytest's tmp is 0700 too)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    return path


def ensure_door_user(name: str = DOOR_USER) -> str:
    """Create the dedicated ``/bin/sh`` login user once per machine (idempotent, race-safe).

    ``/bin/sh``, not root's bash: root's ``~/.bashrc`` costs ~200 ms per exec. The password field
    becomes ``*`` (no password, not locked): with ``UsePAM no`` sshd refuses a locked account.
    """
    if os.geteuid() != 0:
        raise RuntimeError("starting a real sshd peer needs root (CI runs as root)")
    if _run(["id", "-u", name]).returncode != 0:
        res = _run(["useradd", "-M", "-s", "/bin/sh", name])
        if res.returncode != 0 and _run(["id", "-u", name]).returncode != 0:
            raise RuntimeError(f"useradd {name} failed: {res.stderr.strip()}")
    _check(["usermod", "-p", "*", name])
    entry = pwd.getpwnam(name)
    home = Path(entry.pw_dir)
    if not home.is_dir():  # sshd prints "Could not chdir to home directory" on every exec otherwise
        home.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    return name


def _as_user_ok(user: str, argv: list[str]) -> bool:
    return _run(["runuser", "-u", user, "--", *argv]).returncode == 0


def door_python(user: str) -> str:
    """An interpreter the door user can run: the venv's own if reachable, else the system's.

    The door is standard library only, so any Python 3.11+ will do; the venv's interpreter often
    lives under a private home (e.g. a pyenv build under ``/root``).
    """
    for cand in (os.path.realpath(sys.executable), shutil.which("python3") or "", "/usr/bin/python3"):
        if cand and _as_user_ok(user, [cand, "-I", "-S", "-c", "import _socket"]):
            return cand
    raise RuntimeError(f"no Python interpreter is executable by {user!r} (tried {sys.executable}, python3)")


def door_script(user: str, workdir: Path) -> Path:
    """``shell_door.py`` where the door user can read it: in place, else a copy in ``workdir``."""
    if _as_user_ok(user, ["test", "-r", str(DOOR_SCRIPT)]):
        return DOOR_SCRIPT
    copy = workdir / "shell_door.py"
    shutil.copy(DOOR_SCRIPT, copy)
    os.chmod(copy, 0o644)
    return copy


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), parents before children."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo += children.get(p, [])
    return out


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class OpenSSHDoor:
    """OpenSSH sshd serving one twin host through ``ForceCommand`` into the twin's door socket.

    ``twin_root`` is the twin lab's directory (it holds ``door.sock``, ``fs/<host>`` and the
    rig's public key ``id_ed25519.pub``); it must be traversable by the door user, see
    ``shared_dir``. ``gate`` is an optional sh snippet run before the door on every exec (tests
    use it to hold a command until they have pulled the cable). ``netns`` runs sshd inside that
    namespace (``Netns``) and listens on its address.
    """

    def __init__(self, twin_root: Path, host: str, *, listen: str = "127.0.0.1", port: int | None = None,
                 netns: "Netns | None" = None, gate: str = "", workdir: Path | None = None):
        self.twin_root = Path(twin_root)
        self.host = host
        self.listen = netns.ns_addr if netns else listen
        self.port = port or (22 if netns else free_port(listen))
        self.netns = netns
        self.gate = gate
        self._own_dir = workdir is None
        self.dir = Path(workdir) if workdir else shared_dir("rig-sshd-")
        self.user = ensure_door_user()
        self.proc: subprocess.Popen | None = None
        self.host_key = None

    @property
    def force_command(self) -> str:
        py = door_python(self.user)
        script = door_script(self.user, self.dir)
        door = shlex.join([py, "-I", "-S", str(script), "--socket", str(self.twin_root / "door.sock"),
                           "--host", self.host])
        return f"{self.gate} exec {door}" if self.gate else f"exec {door}"

    def _config(self) -> str:
        return "\n".join([
            f"ListenAddress {self.listen}:{self.port}",
            f"HostKey {self.dir / 'ssh_host_ed25519_key'}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin no",
            f"AllowUsers {self.user}",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "PrintMotd no",
            "UseDNS no",
            # a session whose client vanished (a pulled cable) ends within ~3 s instead of hours
            "ClientAliveInterval 1",
            "ClientAliveCountMax 3",
            "LogLevel VERBOSE",  # logs each login and forced-command session: tests read it
            f"Subsystem sftp {SFTP_SERVER}",
            f"ForceCommand {self.force_command}",
            "",
        ])

    def start(self, timeout: float = 10.0) -> "OpenSSHDoor":
        if not os.access(SSHD, os.X_OK):
            raise RuntimeError(f"{SSHD} is missing: install Debian's openssh-server (./dev test does)")
        os.makedirs("/run/sshd", exist_ok=True)
        self.host_key = new_key(self.dir / "ssh_host_ed25519_key")
        pub = (self.twin_root / "id_ed25519.pub").read_text()
        (self.dir / "authorized_keys").write_text(pub)
        os.chmod(self.dir / "authorized_keys", 0o644)
        conf = self.dir / "sshd_config"
        conf.write_text(self._config())
        prefix = ["ip", "netns", "exec", self.netns.name] if self.netns else []
        log = open(self.dir / "sshd.log", "wb")
        self.proc = subprocess.Popen([*prefix, SSHD, "-D", "-e", "-f", str(conf.resolve())],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        end = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                socket.create_connection((self.listen, self.port), timeout=0.5).close()
                return self
            except OSError:
                if time.monotonic() > end:
                    self.stop()
                    raise RuntimeError(f"sshd did not listen on {self.listen}:{self.port}: {self.log()[-2000:]}")
                time.sleep(0.02)

    def log(self) -> str:
        p = self.dir / "sshd.log"
        return p.read_text("utf-8", "replace") if p.exists() else ""

    def known_hosts_line(self) -> str:
        return known_hosts_line(self.listen, self.port, self.host_key)

    def write_known_hosts(self, path: Path | None = None) -> Path:
        path = path or self.dir / "known_hosts"
        path.write_text(self.known_hosts_line() + "\n")
        return path

    def stop(self) -> None:
        # sshd's per-connection processes outlive the listener: end them too, by their ids
        sessions = _descendants(self.proc.pid) if self.proc else []
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in sessions:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "OpenSSHDoor":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def lab_with_mac_at(lab_path: Path, mac: str, *, host: str, port: int, user: str, known_hosts: Path,
                    out: Path | None = None) -> Path:
    """A copy of a twin's ``lab.toml`` whose ``[[mac]] name = mac`` points at another SSH door.

    Written beside the original, so every relative path in it (keys, signatures) still resolves.
    """
    lines = Path(lab_path).read_text().splitlines()
    out_lines, in_mac, found = [], False, False
    for line in lines:
        s = line.strip()
        if s.startswith("["):
            in_mac = False
        if s == f'name = "{mac}"' and out_lines and out_lines[-1].strip() == "[[mac]]":
            in_mac = found = True
        if in_mac:
            key = s.split("=", 1)[0].strip()
            if key == "host":
                line = f'host = "{host}"'
            elif key == "port":
                line = f"port = {port}"
            elif key == "user":
                line = f'user = "{user}"'
            elif key == "known_hosts":
                line = f'known_hosts = "{known_hosts}"'
        out_lines.append(line)
    if not found:
        raise ValueError(f"{lab_path}: no [[mac]] named {mac!r}")
    out = out or Path(lab_path).with_name(f"lab-{mac}-openssh.toml")
    out.write_text("\n".join(out_lines) + "\n")
    return out


# -- network namespaces --------------------------------------------------------------------------

_seq = itertools.count(1)


class Netns:
    """A network namespace joined to this one by a veth pair on a private /30.

    ``link(False)`` takes the namespace side of the veth down: the host keeps its route (the
    packets go nowhere, nothing leaves the machine), the peer inside stops answering, as a Mac
    whose Wi-Fi dropped. Removed at ``stop`` (``ip netns del`` takes the veth with it).
    """

    def __init__(self):
        n = next(_seq)
        self.name = f"rig-{os.getpid()}-{n}"
        self.host_dev = f"rgh{os.getpid() % 100000}{n}"[:15]
        self.ns_dev = f"rgn{os.getpid() % 100000}{n}"[:15]
        self.host_addr = self.ns_addr = ""

    def _free_subnet(self) -> ipaddress.IPv4Network:
        used = _check(["ip", "-o", "-4", "addr", "show"])
        taken = {ipaddress.ip_interface(w).network for w in used.split() if "/" in w and w[0].isdigit()}
        base = ipaddress.ip_network("10.254.0.0/16")
        start = (os.getpid() * 7 + next(_seq)) % (2 ** 14)
        subnets = list(base.subnets(new_prefix=30))
        for i in range(len(subnets)):
            net = subnets[(start + i) % len(subnets)]
            if not any(net.overlaps(t) for t in taken):
                return net
        raise RuntimeError("no free /30 in 10.254.0.0/16")

    def start(self) -> "Netns":
        if os.geteuid() != 0:
            raise RuntimeError("network namespaces need root (CI runs as root)")
        net = self._free_subnet()
        a, b = list(net.hosts())
        self.host_addr, self.ns_addr = str(a), str(b)
        try:
            _check(["ip", "netns", "add", self.name])
            _check(["ip", "link", "add", self.host_dev, "type", "veth", "peer", "name", self.ns_dev,
                    "netns", self.name])
            _check(["ip", "addr", "add", f"{a}/30", "dev", self.host_dev])
            _check(["ip", "link", "set", self.host_dev, "up"])
            _check(["ip", "-n", self.name, "addr", "add", f"{b}/30", "dev", self.ns_dev])
            _check(["ip", "-n", self.name, "link", "set", "lo", "up"])
            _check(["ip", "-n", self.name, "link", "set", self.ns_dev, "up"])
        except Exception:
            self.stop()
            raise
        return self

    def link(self, up: bool) -> None:
        _check(["ip", "-n", self.name, "link", "set", self.ns_dev, "up" if up else "down"])

    def stop(self) -> None:
        _run(["ip", "netns", "del", self.name])
        _run(["ip", "link", "del", self.host_dev])

    def __enter__(self) -> "Netns":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
