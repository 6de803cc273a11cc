"""``rig doctor``: check every entry of a lab before a night, and say how to fix what is wrong.

A night on a rack fails for boring reasons far more often than for interesting ones: a Mac whose
host key changed after a reinstall, an actuator on another tty, a subsystem whose messages are not
persisted (an extension logging at debug level never reaches ``log show`` unless
``log config --subsystem … --mode "level:debug,persist:debug"`` was set), ``ttyskeepawake`` keeping
a Mac awake while an SSH session is open, a Mac given ``wake_on_lan`` whose "Wake for network
access" is off (``womp 0``: every on-demand packet is ignored) or whose address is none of its
interfaces. Each check returns a :class:`Finding` with a fix; the
fixes marked safe are applied by ``--fix`` (idempotent settings, never a reboot or an install).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from rig.drive.actuator import open_actuator
from rig.lab.exported import PlaceError, reachable
from rig.runner.offsets import measure_offset
from rig.drive import extension
from rig.lab.inventory import Lab, Mac
from rig.outcomes import RigError
from rig.drive.ssh import SSHSession

LEVELS = ("default", "info", "debug")
# pmset settings that change what a night measures: (setting, wanted, why)
PMSET_WANTED = [
    ("ttyskeepawake", "0", "an open SSH session keeps the Mac awake and hides sleep"),
    ("tcpkeepalive", "1", "customers run with it on; dark wakes and DPD behave differently without it"),
    ("powernap", "1", "Power Nap drives the maintenance dark wakes the rig measures"),
    ("womp", "1", "wake on network access is on in customer fleets"),
]
MAX_OFFSET_S = 2.0


@dataclass
class Finding:
    target: str
    check: str
    status: str  # ok | warn | fail
    detail: str = ""
    fix: str = ""
    fix_argv: list = field(default_factory=list)  # a safe fix the rig may apply with --fix

    @property
    def fixable(self) -> bool:
        return bool(self.fix_argv)


def _pmset_settings(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*([A-Za-z]+)\s+(\S+)", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def _persist_level(text: str) -> str | None:
    m = re.search(r"PERSIST_(\w+)", text)
    return m.group(1).lower() if m else None


def check_mac(lab: Lab, mac: Mac, clock, build: str | None = None) -> list[Finding]:
    f: list[Finding] = []
    name = mac.name
    try:
        ssh = SSHSession(mac.ssh, clock).connect()
    except RigError as e:
        return [Finding(name, "ssh", "fail", str(e), "see the message; check host, key and known_hosts")]
    with ssh:
        f.append(Finding(name, "ssh", "ok", f"{mac.ssh.user}@{mac.ssh.host}:{mac.ssh.port}, host key verified"))
        vers = ssh.run(["sw_vers"])
        m = re.search(r"ProductVersion:\s*(\S+)", vers.text)
        f.append(Finding(name, "macOS", "ok" if m else "warn", m.group(1) if m else vers.text.strip()[:80]))

        off = measure_offset(ssh, name)
        st = "ok" if abs(off.offset) <= MAX_OFFSET_S else "warn"
        f.append(Finding(name, "clock offset", st, f"{off.offset:+.3f} s (±{off.error * 1000:.1f} ms)",
                         "" if st == "ok" else "enable network time: sudo sntp -sS time.apple.com"))

        found = extension.installed(ssh.run(list(extension.LIST_ARGV)).text, lab.extension, build or "")
        if not found.line:
            f.append(Finding(name, "extension", "fail", f"{found.bundle} not installed", "rig install --build PKG"))
        elif build and not found.at_build:
            f.append(Finding(name, "extension", "fail", f"installed: {found.line}", f"rig install --build {build}"))
        else:
            f.append(Finding(name, "extension", "ok", found.line))

        settings = _pmset_settings(ssh.run(["pmset", "-g"]).text)
        for key, want, why in PMSET_WANTED:
            if key == "womp" and mac.wake_on_lan:
                continue  # a must for this Mac, not a preference: checked with its address below
            have = settings.get(key)
            if have == want:
                f.append(Finding(name, f"pmset {key}", "ok", have))
            else:
                argv = ["sudo", "-n", "pmset", "-a", key, want]
                f.append(Finding(name, f"pmset {key}", "warn", f"{have} (want {want}: {why})",
                                 shlex.join(argv), argv))

        f += wake_on_lan_checks(ssh, mac, settings)
        need = lab.extension.log_level
        for sub in [lab.extension.subsystem]:
            status = ssh.run(["log", "config", "--status", "--subsystem", sub])
            have = _persist_level(status.text)
            if have in LEVELS and LEVELS.index(have) >= LEVELS.index(need):
                f.append(Finding(name, f"log persist {sub}", "ok", have))
            else:
                argv = ["sudo", "-n", "log", "config", "--subsystem", sub, "--mode", f"level:{need},persist:{need}"]
                f.append(Finding(name, f"log persist {sub}", "fail",
                                 f"persisted level {have or 'unknown'}; the signatures need {need}: "
                                 f"those messages never reach log show", shlex.join(argv), argv))
    return f


def wake_on_lan_checks(ssh, mac: Mac, settings: dict[str, str]) -> list[Finding]:
    """A Mac with ``wake_on_lan`` (on-demand dark wakes): ``womp 1``, and the lab's address is
    one of its interfaces (``ifconfig``'s ether lines), else every packet is lost in silence."""
    w = mac.wake_on_lan
    if w is None:
        return []
    out = []
    if settings.get("womp") == "1":
        out.append(Finding(mac.name, "pmset womp", "ok", "1 (Wake for network access)"))
    else:
        argv = ["sudo", "-n", "pmset", "-a", "womp", "1"]
        out.append(Finding(mac.name, "pmset womp", "fail",
                           f"{settings.get('womp')}: wake_on_lan is set but Wake for network access is off, "
                           f"so every on-demand packet is ignored", shlex.join(argv), argv))
    ethers = sorted(set(re.findall(r"^\s*ether\s+([0-9a-fA-F:]{17})\b", ssh.run(["ifconfig"]).text, re.M)))
    found = w.mac in (e.lower() for e in ethers)
    out.append(Finding(mac.name, "wake-on-LAN address", "ok" if found else "fail",
                       f"{w.mac} via {w.broadcast}:{w.port}" + ("" if found else
                       f" is none of the Mac's interfaces (ether: {', '.join(ethers) or 'none'})"),
                       "" if found else "set wake_on_lan.mac to the ether address of the interface it sleeps on"))
    return out


def check_actuators(lab: Lab, clock) -> list[Finding]:
    out = []
    for a in lab.actuators.values():
        try:
            with reachable(lab, a) as cfg:
                out.append(_check_actuator(cfg, clock))
        except PlaceError as e:
            out.append(Finding(a.name, "actuator", "fail", str(e),
                               f"labgrid-client -p {a.port.split(':', 1)[1]} show: is it exported and matched?"))
    return out


def _check_actuator(a, clock) -> Finding:
    try:
        dev = open_actuator(a, clock)
    except RigError as e:
        return Finding(a.name, "actuator", "fail", str(e), f"check the cable and {a.port}")
    try:
        fw = getattr(dev, "firmware", "") or "no firmware id (relay board)"
        boot = getattr(dev, "boot", "")
        about = f", boot id {boot}, {dev.channels} channels" if boot else ""  # first: the table cuts at 60
        return Finding(a.name, "actuator", "ok", f"firmware {fw}{about}; {a.kind} at {a.port}")
    finally:
        dev.close()


def check_gateway(lab: Lab, clock) -> list[Finding]:
    g = lab.gateway
    if g is None:
        return [Finding("gateway", "gateway", "warn", "no [gateway] in the lab: DPD terminations are not seen",
                        "add a [gateway] table with its log_command")]
    try:
        with SSHSession(g.ssh, clock).connect() as s:
            now = clock.now()
            argv = shlex.split(g.log_command.format(start=int(now - 60), end=int(now + 1)))
            res = s.run(argv)
    except RigError as e:
        return [Finding(g.name, "gateway log", "fail", str(e), "check host, key, known_hosts of [gateway]")]
    if res.status != 0:
        return [Finding(g.name, "gateway log", "fail", f"{shlex.join(argv)} exited {res.status}: "
                        f"{res.err.decode('utf-8', 'replace').strip()[:200]}",
                        "fix [gateway] log_command (it must print the gateway's log between {start} and {end})")]
    return [Finding(g.name, "gateway log", "ok", f"{g.format}, {len(res.out)} bytes for the last minute")]


def run_doctor(lab: Lab, macs: list[Mac], build: str | None = None, fix: bool = False) -> list[Finding]:
    clock = lab.clock()
    findings = check_actuators(lab, clock) + check_gateway(lab, clock)
    for mac in macs:
        mac_findings = check_mac(lab, mac, clock, build)
        if fix and any(x.fixable and x.status != "ok" for x in mac_findings):
            with SSHSession(mac.ssh, clock).connect() as ssh:
                for x in mac_findings:
                    if x.fixable and x.status != "ok":
                        res = ssh.run(x.fix_argv)
                        x.status, x.detail = ("fixed", x.detail) if res.status == 0 else (
                            x.status, f"{x.detail}; fix failed: {res.err.decode('utf-8', 'replace').strip()[:120]}")
        findings += mac_findings
    return findings


def table(findings: list[Finding]) -> str:
    rows = [("target", "check", "status", "detail", "fix")] + [
        (x.target, x.check, x.status.upper(), x.detail, x.fix) for x in findings]
    widths = [min(max(len(r[i]) for r in rows), 60) for i in range(4)]
    lines = []
    for r in rows:
        cells = [r[i][:60].ljust(widths[i]) for i in range(4)] + [r[4]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
