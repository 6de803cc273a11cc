"""A real gateway: Debian's ocserv with dead-peer detection, a real openconnect client, a "sleeping Mac".

The test starts ocserv on 127.0.0.1 (``dpd = 2``, a self-signed EC certificate made at run time,
plain password auth), connects openconnect as user ``rig-mbp-01`` (mapped to Mac ``mbp-01``),
freezes the client with SIGSTOP the way sleep freezes a Mac's extension, and waits for ocserv to
tear the session down; then resumes it with SIGCONT and waits for the new session. ocserv in the
foreground prints its lines without a time, so each captured line is stamped at capture, the way
``journalctl -o short-iso-precise`` shows it in a lab, and the rig's parser reads that text.

The controller's own instants (SIGSTOP, SIGCONT, from the system clock) are the truth the parsed
gateway events are checked against.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from rig.events import Kind
from rig.parse.gateway_log import parse_gateway

pytestmark = [pytest.mark.peer, pytest.mark.slow]

USER, MAC, PASSWORD = "rig-mbp-01", "mbp-01", "not-a-secret-test-only"
GW = "gw-live"
WAIT_S = 30.0


def _need(binary: str) -> str:
    path = shutil.which(binary) or next((p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}")
                                          if os.access(p, os.X_OK)), None)
    if path is None:
        pytest.fail(f"{binary} is not installed: this test needs Debian's ocserv and openconnect "
                    "(apt-get install -y ocserv openconnect; ./dev test installs them)", pytrace=False)
    return path


def _certificate(d: Path) -> str:
    """A self-signed EC P-256 certificate for 127.0.0.1; returns openconnect's pin for it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    (d / "key.pem").chmod(0o600)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return "pin-sha256:" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Journal:
    """ocserv's foreground output, each line stamped when it arrived (as journald would)."""

    def __init__(self, stream, main_pid: int):
        self.lines: list[tuple[float, str]] = []
        self.main_pid = main_pid
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append((time.time(), line))
                self._cond.notify_all()

    def wait_for(self, text: str, after: int = 0, timeout: float = WAIT_S) -> int:
        """Index of the first line from ``after`` on that contains ``text``; fails when it never comes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(after, len(self.lines)):
                    if text in self.lines[i][1]:
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(line for _, line in self.lines[-15:])
                    pytest.fail(f"ocserv did not log {text!r} within {timeout:.0f} s; last lines:\n{tail}",
                                pytrace=False)
                self._cond.wait(left)

    def text(self) -> str:
        """``journalctl -u ocserv -o short-iso-precise``: ISO time with µs and offset, host, ident[pid]."""
        out = []
        with self._cond:
            for t, line in self.lines:
                stamp = dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
                body = line if line.startswith("ocserv[") else f"ocserv[{self.main_pid}]: {line}"
                out.append(f"{stamp} {GW} {body}")
        return "\n".join(out) + "\n"


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGCONT)   # a stopped process cannot act on SIGTERM
        proc.terminate()
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def dpd_night(tmp_path_factory):
    """Run the scenario once: connect, SIGSTOP until ocserv tears the session down, SIGCONT until
    the client is back. Returns the parsed gateway log and the controller's instants."""
    ocserv, ocpasswd, openconnect = _need("ocserv"), _need("ocpasswd"), _need("openconnect")
    if not os.path.exists("/dev/net/tun"):
        pytest.fail("/dev/net/tun is missing: ocserv and openconnect need tun devices", pytrace=False)
    d = tmp_path_factory.mktemp("ocserv")
    pin = _certificate(d)
    subprocess.run([ocpasswd, "-c", str(d / "passwd"), USER], input=f"{PASSWORD}\n{PASSWORD}\n",
                   text=True, check=True, capture_output=True, timeout=10)
    port = _free_port()
    net = f"10.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24"
    (d / "ocserv.conf").write_text("\n".join([
        f'auth = "plain[passwd={d / "passwd"}]"',
        "listen-host = 127.0.0.1", f"tcp-port = {port}",
        f"socket-file = {d / 'ocserv.sock'}", f"pid-file = {d / 'ocserv.pid'}",
        f"server-cert = {d / 'cert.pem'}", f"server-key = {d / 'key.pem'}",
        "isolate-workers = false", "max-clients = 4", "keepalive = 30",
        "dpd = 2", "mobile-dpd = 2", "device = vpns", f"ipv4-network = {net}",
        "use-occtl = true", f"occtl-socket-file = {d / 'occtl.sock'}", "log-level = 2", ""]))
    server = client = None
    try:
        server = subprocess.Popen([ocserv, "-f", "-c", str(d / "ocserv.conf")], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        journal = Journal(server.stdout, server.pid)
        journal.wait_for("listening (TCP) on", timeout=10)

        client_log = open(d / "openconnect.log", "wb")
        client = subprocess.Popen([openconnect, "--servercert", pin, "--user", USER, "--passwd-on-stdin",
                                   "--script", "/bin/true", "--no-dtls", f"https://127.0.0.1:{port}"],
                                  stdin=subprocess.PIPE, stdout=client_log, stderr=subprocess.STDOUT)
        client.stdin.write(f"{PASSWORD}\n".encode())
        client.stdin.close()
        first = journal.wait_for("new user session")
        up = journal.wait_for("user logged in", first)
        time.sleep(1.0)                       # a keep-alive exchange or two while awake

        t_stop = time.time()
        os.kill(client.pid, signal.SIGSTOP)   # the Mac falls asleep: its extension is frozen
        down = journal.wait_for("user disconnected", up)
        t_cont = time.time()
        os.kill(client.pid, signal.SIGCONT)   # the Mac wakes
        again = journal.wait_for("new user session", down)
        journal.wait_for("user logged in", again)
        t_back = time.time()
        text = journal.text()
    finally:
        _stop(client)
        _stop(server)
    res = parse_gateway(text, GW, "ocserv", {USER: MAC})
    return {"res": res, "text": text, "t_stop": t_stop, "t_cont": t_cont, "t_back": t_back}


def _events(res, kind: Kind) -> list[dict]:
    return [r for r in res.rows if r["kind"] == kind.value]


def _epoch(r: dict) -> float:
    return dt.datetime.fromisoformat(r["t"]).timestamp()


def test_every_captured_ocserv_line_is_understood(dpd_night):
    res = dpd_night["res"]
    assert res.read > 10
    assert res.rejected == 0, res.reject_reasons
    assert res.read == res.parsed + res.other + res.skipped


def test_a_frozen_client_is_torn_down_by_dpd_while_its_mac_sleeps(dpd_night):
    res = dpd_night["res"]
    dpd = _events(res, Kind.GW_DPD_TIMEOUT)
    assert len(dpd) == 1
    assert dpd[0]["mac"] == MAC
    assert dpd_night["t_stop"] < _epoch(dpd[0]) < dpd_night["t_cont"]


def test_the_dpd_teardown_ends_the_session_that_was_open_with_reason_dpd(dpd_night):
    res = dpd_night["res"]
    start = _events(res, Kind.GW_SESSION_START)[0]
    dpd = _events(res, Kind.GW_DPD_TIMEOUT)[0]
    end = _events(res, Kind.GW_SESSION_END)[0]
    assert (end["mac"], end["session"]) == (MAC, start["session"])
    assert "DPD" in end["detail"]
    assert dpd["session"] == start["session"]
    assert _epoch(start) < dpd_night["t_stop"] < _epoch(dpd) <= _epoch(end) < dpd_night["t_cont"]


def test_the_resumed_client_starts_a_new_session_after_the_teardown(dpd_night):
    res = dpd_night["res"]
    starts = _events(res, Kind.GW_SESSION_START)
    end = _events(res, Kind.GW_SESSION_END)[0]
    assert len(starts) == 2 and all(s["mac"] == MAC for s in starts)
    assert starts[1]["session"] != starts[0]["session"]
    assert _epoch(end) < dpd_night["t_cont"] <= _epoch(starts[1]) <= dpd_night["t_back"]
