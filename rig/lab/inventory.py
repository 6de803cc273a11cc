"""The lab inventory: what ``lab.toml`` describes, validated, with errors that name the field.

A lab file lists the Macs, the actuators wired to them, the gateway whose logs are fetched, and
the extension under test (see DESIGN.md, "A lab file"). Paths in it are relative to the file.
A twin lab also carries a ``[clock]`` table; a real lab has none and runs on the system clock.

No secret ever lives here: SSH keys are referenced by path (or the agent is used), never inlined;
a field that looks like a password is refused.

Example error: ``lab.toml: mac "mbp-02": actuator "act-9" is not defined (known: act-1, act-2)``
"""
from __future__ import annotations

import ipaddress
import re
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rig.lab.clock import Clock, ScaledClock, SystemClock
from rig.lab.exported import place_spec
from rig.names import HW_ADDRESS_RULE, NAME_RULE, SUBSYSTEM_RULE, hw_address, is_name, is_subsystem

SLEEP_BY = ("lid", "sleepnow")
WAKE_BY = ("lid", "power")
ACTUATOR_KINDS = ("rig-v1", "lcus-relay")
ACTUATOR_CLOCKS = ("rtt", "lab")
GATEWAY_FORMATS = ("ocserv", "strongswan", "jsonl")
_SECRET_KEYS = {"password", "passwd", "passphrase", "token", "secret"}


class LabError(ValueError):
    """A lab file is wrong; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class SSHTarget:
    name: str
    host: str
    user: str
    port: int = 22
    key: Path | None = None
    known_hosts: Path | None = None


@dataclass(frozen=True)
class Actuator:
    name: str
    port: str
    kind: str = "rig-v1"
    clock: str = "rtt"
    baud: int = 115200
    timeout_s: float = 2.0  # wall seconds per request attempt
    reopen_s: float = 10.0  # wall seconds to find the USB device again after it re-enumerates
    wiring: dict = field(default_factory=dict)  # lcus-relay: relay number -> (role, Mac channel)
    # Where a port found through a labgrid place is now (set by rig.lab.exported.resolve, never
    # by a lab file): an exporter that restarts publishes a new TCP port for the same place.
    locate: Callable[[], str] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class WakeOnLan:
    """Where a Mac's magic packet goes (rig.drive.wol): its interface's hardware address, and
    the broadcast address and UDP port that reach that interface's network segment."""
    mac: str               # "aa:bb:cc:dd:ee:ff", lower case
    broadcast: str         # an IPv4 address, e.g. "192.0.2.255"
    port: int = 9


@dataclass(frozen=True)
class Mac:
    name: str
    ssh: SSHTarget
    actuator: str = ""
    channel: int = 0
    sleep_by: str = "lid"
    wake_by: str = "lid"
    tags: tuple = ()
    probe: str = ""  # canary URL requested through the tunnel by a loop on the Mac ("" = no probe)
    probe_interval_s: float = 2.0
    wake_on_lan: WakeOnLan | None = None  # None: no on-demand dark wakes for this Mac


@dataclass(frozen=True)
class Gateway:
    name: str
    ssh: SSHTarget
    log_command: str
    format: str = "ocserv"
    clients: dict = field(default_factory=dict)  # Mac name -> gateway user

    @property
    def users(self) -> dict:
        """Gateway user -> Mac name (what the gateway parsers need)."""
        return {user: mac for mac, user in self.clients.items()}


@dataclass(frozen=True)
class Extension:
    name: str
    subsystem: str
    signatures: Path
    bundle_id: str = ""
    log_level: str = "default"  # the lowest level the signatures' messages are logged at


@dataclass
class Lab:
    name: str
    path: Path | None
    extension: Extension
    macs: dict[str, Mac]
    actuators: dict[str, Actuator]
    gateway: Gateway | None
    redact: tuple = ()
    reports: Path = Path("reports")
    clock_table: dict | None = None
    leases: Path | None = None  # shared folder of Mac leases (default: <reports>/.leases)
    coordinator: str = ""  # HOST:PORT of a labgrid coordinator: leases are its places instead
    lease_wait_s: float = 0.0  # how long a run waits for a Mac another run holds
    lease_priority: float = 0.0  # a waiting run's rank in a coordinator's queue (higher is served first)
    rack: str = ""  # which rack a run's history belongs to in rig trend ([lab] rack, default the lab's name)

    @property
    def lease_folder(self) -> Path:
        return self.leases or (self.reports / ".leases")

    @property
    def is_virtual(self) -> bool:
        return self.clock_table is not None

    def clock(self) -> Clock:
        if self.clock_table is None:
            return SystemClock()
        c = self.clock_table
        return ScaledClock(float(c["scale"]), float(c["wall_origin"]), float(c["virtual_origin"]))

    def select(self, names_or_tags: list[str] | None) -> list[Mac]:
        """Macs by name or tag; an unknown selector is an error naming what exists."""
        if not names_or_tags:
            return list(self.macs.values())
        out = []
        for sel in names_or_tags:
            hits = [m for m in self.macs.values() if m.name == sel or sel in m.tags]
            if not hits:
                known = ", ".join(sorted(self.macs))
                raise LabError(f"{self._where()}: no Mac named or tagged {sel!r} (known: {known})")
            out += [m for m in hits if m not in out]
        return out

    def _where(self) -> str:
        return self.path.name if self.path else "lab"


# -- loading -----------------------------------------------------------------------------------

def load_lab(path: str | Path) -> Lab:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise LabError(f"{path}: no such lab file") from None
    except tomllib.TOMLDecodeError as e:
        raise LabError(f"{path.name}: not valid TOML: {e}") from None
    return parse_lab(raw, path)


def parse_lab(raw: dict, path: Path | None = None) -> Lab:
    """Validate a lab file's tables in order; every refusal names the file, entry and field."""
    where = path.name if path else "lab"
    base = path.parent if path else Path.cwd()
    _no_secrets(raw, where)
    lab_t = _table(raw, "lab", where, required=False)
    name = _name(lab_t, "name", f"{where}: [lab]", default="lab")
    redact = _redact_patterns(lab_t, where)
    reports = _path(base, _str(lab_t, "reports", f"{where}: [lab]", default="reports")) if path else Path("reports")
    leases_s = _str(lab_t, "leases", f"{where}: [lab]", default="")
    leases = _path(base, leases_s) if leases_s else None
    clock_t = _clock_table(raw, where)
    extension = _extension(raw, where, base)
    actuators = _actuators(raw, where)
    macs = _macs(raw, where, base, actuators)
    gateway = _gateway(raw, where, base, macs) if "gateway" in raw else None
    coordinator = _str(lab_t, "coordinator", f"{where}: [lab]", default="")
    rack = _name(lab_t, "rack", f"{where}: [lab]", default=name)
    return Lab(name, path, extension, macs, actuators, gateway, redact, reports, clock_t, leases, coordinator,
               rack=rack)


def _redact_patterns(lab_t: dict, where: str) -> tuple[str, ...]:
    redact = tuple(_list(lab_t, "redact", f"{where}: [lab]"))
    for i, pat in enumerate(redact):
        try:
            re.compile(pat)
        except re.error as e:
            raise LabError(f"{where}: [lab] redact[{i}] {pat!r} is not a valid regex: {e}") from None
    return redact


def _clock_table(raw: dict, where: str) -> dict | None:
    """The twin's ``[clock]`` (scale and origins); a real lab file has none."""
    clock_t = raw.get("clock")
    if clock_t is not None:
        for k in ("scale", "wall_origin", "virtual_origin"):
            if not isinstance(clock_t.get(k), (int, float)):
                raise LabError(f"{where}: [clock] {k} must be a number")
    return clock_t


def _extension(raw: dict, where: str, base: Path) -> Extension:
    ext_t = _table(raw, "extension", where)
    ctx = f"{where}: [extension]"
    sig = _path(base, _str(ext_t, "signatures", ctx))
    if not sig.exists():
        raise LabError(f"{ctx} signatures: file {sig} does not exist")
    subsystem = _str(ext_t, "subsystem", ctx)
    if not is_subsystem(subsystem):
        raise LabError(f"{ctx}: subsystem {subsystem!r} is not a unified-log subsystem ({SUBSYSTEM_RULE})")
    return Extension(_str(ext_t, "name", ctx), subsystem, sig,
                     _str(ext_t, "bundle_id", ctx, default=""),
                     _choice(ext_t, "log_level", ctx, ("default", "info", "debug"), default="default"))


def _actuators(raw: dict, where: str) -> dict[str, Actuator]:
    actuators: dict[str, Actuator] = {}
    for i, a in enumerate(_array(raw, "actuator", where)):
        aname = _name(a, "name", f"{where}: actuator #{i + 1}")
        ctx = f'{where}: actuator "{aname}"'
        kind = _choice(a, "kind", ctx, ACTUATOR_KINDS, default="rig-v1")
        clock = _choice(a, "clock", ctx, ACTUATOR_CLOCKS, default="rtt")
        if aname in actuators:
            raise LabError(f"{ctx}: defined twice")
        baud = _int(a, "baud", ctx, 9600 if kind == "lcus-relay" else 115200)
        port = _str(a, "port", ctx)
        try:
            place_spec(port)
        except ValueError as e:
            raise LabError(f"{ctx}: port {e}") from None
        actuators[aname] = Actuator(aname, port, kind, clock, baud,
                                    _seconds(a, "timeout_s", ctx, 2.0), _seconds(a, "reopen_s", ctx, 10.0),
                                    _wiring(a, kind, ctx))
    return actuators


def _macs(raw: dict, where: str, base: Path, actuators: dict[str, Actuator]) -> dict[str, Mac]:
    macs: dict[str, Mac] = {}
    for i, m in enumerate(_array(raw, "mac", where)):
        mname = _name(m, "name", f"{where}: mac #{i + 1}")
        ctx = f'{where}: mac "{mname}"'
        if mname in macs:
            raise LabError(f"{ctx}: defined twice")
        macs[mname] = _mac(m, mname, ctx, base, actuators)
    if not macs:
        raise LabError(f"{where}: no [[mac]] entries")
    return macs


def _mac(m: dict, mname: str, ctx: str, base: Path, actuators: dict[str, Actuator]) -> Mac:
    act = _str(m, "actuator", ctx, default="")
    sleep_by = _choice(m, "sleep_by", ctx, SLEEP_BY, default="lid")
    wake_by = _choice(m, "wake_by", ctx, WAKE_BY, default="lid")
    needs_actuator = sleep_by == "lid" or wake_by in ("lid", "power")
    if act and act not in actuators:
        known = ", ".join(sorted(actuators)) or "none"
        raise LabError(f'{ctx}: actuator "{act}" is not defined (known: {known})')
    if needs_actuator and not act:
        raise LabError(f"{ctx}: sleep_by={sleep_by!r}/wake_by={wake_by!r} need an actuator; add actuator = \"…\"")
    channel = _int(m, "channel", ctx, 0)
    if act and channel < 1:
        raise LabError(f"{ctx}: channel must be a positive integer (the actuator channel wired to this Mac)")
    if act and actuators[act].kind == "lcus-relay":
        _relay_can_drive(actuators[act], sleep_by, wake_by, channel, ctx)
    tags = tuple(_list(m, "tags", ctx))
    probe = _str(m, "probe", ctx, default="")
    if probe and not re.match(r"https?://\S+$", probe):
        raise LabError(f"{ctx}: probe must be an http(s) URL (the canary the probe requests), not {probe!r}")
    interval = m.get("probe_interval_s", 2.0)
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not 0.2 <= interval <= 60:
        raise LabError(f"{ctx}: probe_interval_s must be a number of seconds between 0.2 and 60")
    return Mac(mname, _ssh(m, mname, base, ctx), act, channel, sleep_by, wake_by, tags, probe, float(interval),
               _wake_on_lan(m, ctx))


_WOL_EXAMPLE = 'wake_on_lan = { mac = "aa:bb:cc:dd:ee:ff", broadcast = "192.0.2.255", port = 9 }'


def _wake_on_lan(m: dict, ctx: str) -> WakeOnLan | None:
    """``wake_on_lan``: the Mac's hardware address and where its magic packet is broadcast; a
    Mac without it simply gets no on-demand dark wakes (``--dark-wake-every``)."""
    w = m.get("wake_on_lan")
    if w is None:
        return None
    if not isinstance(w, dict):
        raise LabError(f"{ctx}: wake_on_lan must be a table, e.g. {_WOL_EXAMPLE}")
    unknown = sorted(set(w) - {"mac", "broadcast", "port"})
    if unknown:
        raise LabError(f"{ctx}: wake_on_lan.{unknown[0]} is not a field (mac, broadcast, port; {_WOL_EXAMPLE})")
    hw = _str(w, "mac", f"{ctx}: wake_on_lan")
    raw = hw_address(hw)
    if raw is None:
        raise LabError(f"{ctx}: wake_on_lan.mac {hw!r} is not a hardware address ({HW_ADDRESS_RULE})")
    if raw[0] & 1 or raw == bytes(6):
        raise LabError(f"{ctx}: wake_on_lan.mac {hw!r} is a group or null address, not an interface's; "
                       f"use the address `ifconfig` shows as ether for the Mac's interface")
    bcast = _str(w, "broadcast", f"{ctx}: wake_on_lan")
    try:
        ipaddress.IPv4Address(bcast)
    except ValueError:
        raise LabError(f"{ctx}: wake_on_lan.broadcast {bcast!r} is not an IPv4 address "
                       f"(the broadcast address of the Mac's network, e.g. 192.0.2.255)") from None
    port = _int(w, "port", f"{ctx}: wake_on_lan", 9)
    if not 1 <= port <= 65535:
        raise LabError(f"{ctx}: wake_on_lan.port must be a UDP port 1-65535 (usually 9 or 7), not {port}")
    return WakeOnLan(":".join(f"{b:02x}" for b in raw), bcast, port)


def _gateway(raw: dict, where: str, base: Path, macs: dict[str, Mac]) -> Gateway:
    g = _table(raw, "gateway", where)
    ctx = f"{where}: [gateway]"
    # the gateway's name labels its events and offsets, never a path: a host (an IPv6 address
    # with its colons) may stand for it
    gname = _str(g, "name", ctx, default=_str(g, "host", ctx))
    clients = g.get("clients", {})
    if not isinstance(clients, dict):
        raise LabError(f"{ctx} clients must be a table {{ MAC = \"gateway user\" }}")
    for mac_name, user in clients.items():
        if mac_name not in macs:
            raise LabError(f'{ctx} clients: "{mac_name}" is not a Mac of this lab (known: {", ".join(sorted(macs))})')
        if not isinstance(user, str):
            raise LabError(f'{ctx} clients."{mac_name}" must be the gateway user name (a string)')
        if not is_name(user):
            raise LabError(f'{ctx} clients."{mac_name}": gateway user {user!r} is not a safe name ({NAME_RULE})')
    cmd = _log_command(g, ctx)
    return Gateway(gname, _ssh(g, gname, base, ctx), cmd,
                   _choice(g, "format", ctx, GATEWAY_FORMATS, default="ocserv"), dict(clients))


# -- small validators ---------------------------------------------------------------------------

def _no_secrets(node, where: str, trail: str = "") -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k.lower() in _SECRET_KEYS:
                raise LabError(f"{where}: {trail}{k}: secrets do not belong in a lab file; "
                               f"use an SSH key path, the SSH agent, or an environment variable")
            _no_secrets(v, where, f"{trail}{k}.")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _no_secrets(v, where, f"{trail}[{i}].")


def _ssh(t: dict, name: str, base: Path, ctx: str) -> SSHTarget:
    key = t.get("key")
    kh = t.get("known_hosts")
    if kh is None:
        raise LabError(f"{ctx}: known_hosts is required (host keys are always verified)")
    return SSHTarget(name, _str(t, "host", ctx), _str(t, "user", ctx), _int(t, "port", ctx, 22),
                     _path(base, key) if key else None, _path(base, _str(t, "known_hosts", ctx)))


def _path(base: Path, p: str) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else (base / q)


def _table(raw: dict, key: str, where: str, required: bool = True) -> dict:
    v = raw.get(key)
    if v is None:
        if required:
            raise LabError(f"{where}: [{key}] table is missing")
        return {}
    if not isinstance(v, dict):
        raise LabError(f"{where}: {key} must be a table [{key}]")
    return v


def _array(raw: dict, key: str, where: str) -> list:
    v = raw.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise LabError(f"{where}: {key} must be an array of tables [[{key}]]")
    return v


def _str(t: dict, key: str, ctx: str, default: str | None = None) -> str:
    v = t.get(key, default)
    if v is None:
        raise LabError(f"{ctx}: {key} is required")
    if not isinstance(v, str):
        raise LabError(f"{ctx}: {key} must be a string, not {type(v).__name__}")
    return v


def _name(t: dict, key: str, ctx: str, default: str | None = None) -> str:
    """A name that becomes a folder, a file or a word of a command (rig.names)."""
    v = _str(t, key, ctx, default)
    if not is_name(v):
        raise LabError(f"{ctx}: {key} {v!r} is not a safe name ({NAME_RULE})")
    return v


def _log_command(g: dict, ctx: str) -> str:
    """The gateway's log command: exactly the placeholders {start} and {end}, checked now, not
    after the Macs have slept."""
    cmd = _str(g, "log_command", ctx)
    rule = "the only placeholders are {start} and {end} (epoch seconds; a literal brace is {{ or }})"
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(cmd) if f is not None}
    except ValueError as e:
        raise LabError(f"{ctx} log_command: bad braces: {e}; {rule}") from None
    unknown = sorted(fields - {"start", "end"})
    if unknown:
        raise LabError(f"{ctx} log_command: unknown placeholder(s) {', '.join(unknown)}; {rule}")
    if fields != {"start", "end"}:
        raise LabError(f"{ctx} log_command: it must contain {{start}} and {{end}} (epoch seconds)")
    return cmd


def _int(t: dict, key: str, ctx: str, default: int) -> int:
    v = t.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool):
        raise LabError(f"{ctx}: {key} must be an integer, not {v!r}")
    return v


def _list(t: dict, key: str, ctx: str) -> list:
    v = t.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise LabError(f"{ctx}: {key} must be a list of strings")
    return v


def _choice(t: dict, key: str, ctx: str, choices: tuple, default: str) -> str:
    v = t.get(key, default)
    if v not in choices:
        raise LabError(f"{ctx}: {key} = {v!r} is not one of {', '.join(choices)}")
    return v


def _seconds(t: dict, key: str, ctx: str, default: float) -> float:
    v = t.get(key, default)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
        raise LabError(f"{ctx}: {key} must be a positive number of seconds, not {v!r}")
    return float(v)


RELAY_ROLES = ("power", "ac")  # a relay closes a contact: a power button or the AC line, never a lid


def _wiring(a: dict, kind: str, ctx: str) -> dict:
    """``wiring = { 1 = "power", 2 = "ac:2" }`` -> {relay: (role, Mac channel)}; lcus-relay only."""
    raw = a.get("wiring")
    if kind != "lcus-relay":
        if raw is not None:
            raise LabError(f"{ctx}: wiring is only for lcus-relay actuators ({kind} wires channels in its firmware)")
        return {}
    example = 'e.g. wiring = { 1 = "power", 2 = "ac" }'
    if not isinstance(raw, dict) or not raw:
        raise LabError(f"{ctx}: wiring is required for an lcus-relay board (which relay drives what), {example}")
    out: dict[int, tuple[str, int]] = {}
    for key, value in raw.items():
        if not key.isdigit() or not 1 <= int(key) <= 8:
            raise LabError(f"{ctx}: wiring: {key!r} is not a relay number (1-8, as printed on the board)")
        role, _, ch = value.partition(":") if isinstance(value, str) else ("", "", "")
        if role not in RELAY_ROLES or (ch and not ch.isdigit()) or ch == "0":
            raise LabError(f'{ctx}: wiring.{key} = {value!r} must be "power" or "ac", optionally ":<Mac channel>" '
                           f'(e.g. "power:2"; a relay board cannot move a lid)')
        wired = (role, int(ch or 1))
        twin = next((r for r, w in out.items() if w == wired), None)
        if twin is not None:
            raise LabError(f"{ctx}: wiring: relays {twin} and {key} are both {role} for channel {wired[1]}")
        out[int(key)] = wired
    return out


def _relay_can_drive(act: Actuator, sleep_by: str, wake_by: str, channel: int, ctx: str) -> None:
    """A Mac on a relay board: no lid, and a power relay wired for its channel if it wakes by power."""
    board = f'actuator "{act.name}" is an lcus-relay board (power button and AC only, no lid)'
    if sleep_by == "lid":
        raise LabError(f'{ctx}: sleep_by = "lid" but {board}; use sleep_by = "sleepnow"')
    if wake_by == "lid":
        raise LabError(f'{ctx}: wake_by = "lid" but {board}; use wake_by = "power"')
    if wake_by == "power" and ("power", channel) not in act.wiring.values():
        raise LabError(f'{ctx}: wake_by = "power" but actuator "{act.name}" has no relay wired to "power" '
                       f'for channel {channel}; add it to its wiring, e.g. {{ 1 = "power:{channel}" }}')
