"""Start a twin lab: the world, an SSH door per host, a Wake-on-LAN UDP port per Mac, the
actuator pty, and a ``lab.toml``.

The lab file is written exactly as a real rack's would look (hosts, ports, known_hosts, the
tty path), plus the ``[clock]`` table that puts the controller on the twin's virtual clock.
``python -m rig.twin serve --dir D`` prints ``READY <lab.toml>`` when every door is open and
writes ``truth.json`` (the ground truth, which the rig never reads) when it stops.
"""
from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rig.lab.clock import ScaledClock
from rig.twin import keys
from rig.twin.faults import Faults
from rig.twin.files import MacFiles, files_dir
from rig.twin.firmware import Firmware
from rig.twin.gateway import Gateway
from rig.twin.mac import Mac, hardware_address
from rig.twin.shell import gateway_shell, mac_shell
from rig.twin.shell_door import DoorSocket
from rig.twin.sshd import TwinSSHServer
from rig.twin.wake_door import WakeDoor
from rig.twin.world import World

USER = "rig"
POWER_CYCLE_AFTER_S = 60.0  # fault actuator_power_cycle: lab seconds after a lid closes


@dataclass
class MacSpec:
    name: str
    kind: str = "laptop"  # laptop (lid) | desktop (pmset sleepnow, power button)
    skew: float = 0.0
    utc_offset_min: int = 0
    fault: str = ""  # "" | never_wakes | needs_long_press | needs_ac_cycle (rig.twin.mac)
    network_change: float = 0.0  # chance that a wake from sleep finds the Mac on another network
    tags: list = field(default_factory=list)
    clock_step_s: float = 0.0  # fault: the Mac's clock steps by this much at every full wake (NTP)
    tz_change: list = field(default_factory=list)  # fault: [after_s, utc_offset_min] (a DST change)
    wol: str = "dark"  # a magic packet in sleep: dark (wake) | full (wake) | off (womp 0, ignored)
    macos: str = "15.3"      # what sw_vers says
    hw_model: str = ""       # what sysctl hw.model says ("": a MacBook Pro for a laptop, a Mac mini else)

    def model(self, world, serial: int, build: str, dark_interval_s: float, draws: dict | None = None) -> Mac:
        """The twin Mac this spec describes (the live twin and the batch build it the same way);
        ``draws``: its group's distributions from a twin profile (None: the built-in numbers)."""
        return Mac(world, self.name, serial, kind=self.kind, skew=self.skew, utc_offset_min=self.utc_offset_min,
                   build=build, dark_interval_s=dark_interval_s, fault=self.fault,
                   network_change=self.network_change, clock_step_s=self.clock_step_s,
                   tz_change=tuple(self.tz_change) or None, wol=self.wol, draws=draws, macos=self.macos,
                   hw_model=self.hw_model)


DEFAULT_MACS = [
    MacSpec("mbp-01", "laptop", skew=2.75, utc_offset_min=-480, tags=["laptop", "m3"]),
    MacSpec("mini-01", "desktop", skew=-1.3, utc_offset_min=330, tags=["desktop", "m2"]),
]


@dataclass
class TwinConfig:
    build: str = "naive"
    scale: float = 200.0
    seed: int = 1
    macs: list = field(default_factory=lambda: [MacSpec(**asdict(m)) for m in DEFAULT_MACS])
    dpd_s: int = 30
    gateway_skew: float = 0.6
    dark_interval_s: float = 900.0
    actuator_answers: int = -1  # fault: the firmware answers this many requests, then hangs (-1: never)
    # twin: rig/twin/firmware.py; micropython: the reference firmware (firmware/main.py) under
    # MicroPython's unix port, its simulated pins wired to the Macs (rig/twin/board_door.py)
    actuator: str = "twin"
    faults: dict = field(default_factory=dict)  # door faults on demand (rig.twin.faults), name -> times
    # a twin profile (rig twin calibrate): the Macs and the gateway draw their numbers from it
    profile: str = ""

    def __post_init__(self):
        from rig.twin import profile

        self._profile = None
        if self.profile:
            self.use_profile(profile.load(self.profile))

    def use_profile(self, prof) -> None:
        """Draw from ``prof`` (a :class:`rig.twin.profile.Profile`, e.g. a what-if's variation of
        the loaded file) instead of the file ``profile`` names; its DPD teardown sets ``dpd_s``."""
        self._profile = prof
        teardown = prof.groups.get("all", next(iter(prof.groups.values()))).get("dpd_teardown_s")
        if teardown is not None and teardown.source != "default":
            self.dpd_s = max(1, round(teardown.dist.mean() / 3))   # ocserv tears down at 3 x its DPD

    def draws_for(self, spec: MacSpec) -> dict | None:
        """The distributions for ``spec``'s Mac: the group of its tags (as ``rig twin calibrate``
        names groups: the tags joined), else of one of its tags or its kind, else ``all``
        (None: no profile)."""
        if self._profile is None:
            return None
        return self._profile.for_group([",".join(sorted(spec.tags)), *spec.tags, spec.kind])

    @classmethod
    def from_json(cls, text: str) -> "TwinConfig":
        raw = json.loads(text)
        macs = [MacSpec(**m) for m in raw.pop("macs", [])] or None
        cfg = cls(**raw)
        if macs:
            cfg.macs = macs
        return cfg


def _is_log_fetch(command: str) -> bool:
    """The gateway's log command (its ``journalctl``), not an offset measurement."""
    return command.lstrip().startswith("journalctl")


def _toml_str(s: str) -> str:
    return json.dumps(str(s))


class TwinLab:
    def __init__(self, root: Path, cfg: TwinConfig):
        self.root = Path(root)
        self.cfg = cfg
        now = time.time()
        self.clock = ScaledClock(cfg.scale, now, now)
        self.world = World(start=self.clock.now(), seed=cfg.seed)
        self.servers: dict[str, TwinSSHServer] = {}
        self.firmware: Firmware | None = None
        self.board = None  # the MicroPython board, with actuator = "micropython"
        self.actuator_link = self.root / "usb-rig-actuator-TWIN0001-if00"
        # host -> (shell handler, awake?): what both doors call (embedded sshd, door socket)
        self.hosts: dict[str, tuple] = {}
        self.door: DoorSocket | None = None
        self.wake_doors: dict[str, WakeDoor] = {}   # Mac -> its Wake-on-LAN UDP port
        self.faults = Faults(cfg.faults)
        self._stopped = threading.Event()

    def start(self) -> Path:
        root, cfg, world = self.root, self.cfg, self.world
        root.mkdir(parents=True, exist_ok=True)
        client = keys.new_key(root / "id_ed25519", "rig@controller")
        gw = Gateway(world, users={m.name: f"rig-{m.name}" for m in cfg.macs}, dpd_s=cfg.dpd_s,
                     skew=cfg.gateway_skew)
        world.gateway = gw
        known = []
        for i, spec in enumerate(cfg.macs, start=1):
            mac = spec.model(world, i, cfg.build, cfg.dark_interval_s, cfg.draws_for(spec))
            world.macs[spec.name] = mac
            hk = keys.new_key(root / f"hostkey_{spec.name}")
            files = MacFiles(files_dir(root, spec.name), self.faults)
            self.hosts[spec.name] = (lambda cmd, m=mac, f=files: self._run(mac_shell, m, cmd, f),
                                     lambda m=mac: self._reachable(m))
            srv = TwinSSHServer(spec.name, hk, client, USER, handler=self.hosts[spec.name][0],
                                reachable=self.hosts[spec.name][1], files=files).start()
            self.servers[spec.name] = srv
            self.wake_doors[spec.name] = WakeDoor(
                spec.name, lambda data, m=mac: self.world.act(self.clock.now(), m.wake_packet, data)).start()
            known.append(keys.known_hosts_line("127.0.0.1", srv.port, hk))
        ghk = keys.new_key(root / "hostkey_gateway")
        self.hosts[gw.name] = (lambda cmd: self._gateway(gw, cmd), lambda: True)
        gsrv = TwinSSHServer(gw.name, ghk, client, USER, handler=self.hosts[gw.name][0],
                             reachable=self.hosts[gw.name][1],
                             cut_output=lambda cmd: _is_log_fetch(cmd) and self.faults.take("gateway_fetch_drop")).start()
        self.servers[gw.name] = gsrv
        known.append(keys.known_hosts_line("127.0.0.1", gsrv.port, ghk))
        (root / "known_hosts").write_text("\n".join(known) + "\n")
        self._open_door_socket()
        world.listeners.append(self._on_power)
        with world.lock:
            for mac in world.macs.values():
                mac.ext.start()
        channels = {i: world.macs[s.name] for i, s in enumerate(cfg.macs, start=1)}
        if cfg.actuator == "micropython":
            from rig.twin.board_door import wired_board

            self.board = wired_board(world, self.clock, channels, self.actuator_link, self.faults).plug()
        else:
            self.firmware = Firmware(world, self.clock, channels, self.actuator_link, faults=self.faults)
            self.firmware.answers = cfg.actuator_answers
            self.firmware.start()
        if self.faults.left("actuator_power_cycle"):
            threading.Thread(target=self._watch_for_power_cycles, name="power-cycles", daemon=True).start()
        shutil.copy(Path(__file__).with_name("signatures.toml"), root / "signatures.toml")
        from rig.twin.builds import write_packages

        write_packages(root / "pkgs")  # build manifests for `rig install`
        lab = root / "lab.toml"
        lab.write_text(self._lab_toml(gsrv.port))
        return lab

    def _gateway(self, gw, cmd: str):
        if _is_log_fetch(cmd) and self.faults.take("gateway_down"):
            return b"", b"journalctl: Failed to open journal directory /var/log/journal: Input/output error\n", 1
        return self._run(gateway_shell, gw, cmd)

    def _run(self, shell, host, cmd, *extra):
        self.world.advance(self.clock.now())
        return shell(self.world, host, cmd, *extra)

    def _open_door_socket(self) -> None:
        """``door.sock``: the same shells for a real sshd's ForceCommand (``shell_door.py``)."""
        try:
            self.door = DoorSocket(self.root / "door.sock", self.hosts.get).start()
        except (OSError, ValueError) as e:  # e.g. a root path too long for AF_UNIX
            print(f"twin: no door socket ({e}); only the embedded SSH doors are open", file=sys.stderr)

    def _reachable(self, mac) -> bool:
        with self.world.lock:
            self.world.advance(self.clock.now())
            return mac.reachable()

    def _on_power(self, mac: str, phase: str) -> None:
        if phase != "full":
            self.servers[mac].drop_connections()

    def _watch_for_power_cycles(self) -> None:
        """``actuator_power_cycle``: a minute (lab time) after a lid is closed, the actuator loses
        power and comes back. Watched on the wall clock: the world only moves when a door is used,
        and in the dwell none is."""
        while self.faults.left("actuator_power_cycle") and not self._stopped.is_set():
            if any(m.lid_closed for m in self.world.macs.values()):
                self.clock.sleep(POWER_CYCLE_AFTER_S)
                if self.faults.take("actuator_power_cycle"):
                    self._power_cycle_actuator()
                while any(m.lid_closed for m in self.world.macs.values()) and not self._stopped.is_set():
                    time.sleep(0.01)
            time.sleep(0.01)

    def _power_cycle_actuator(self) -> None:
        """The actuator loses power and comes back: a new boot (safe states), a new tty."""
        if self.board is not None:
            self.board.replug()
        else:
            self.firmware.unplug()
            self.firmware.reboot()
            self.firmware.plug()

    def _lab_toml(self, gw_port: int) -> str:
        ports = {name: srv.port for name, srv in self.servers.items()}
        return lab_toml(self.cfg, self.world.gateway.name, gw_port, ports, str(self.actuator_link), self.clock,
                        wol_ports={name: d.port for name, d in self.wake_doors.items()},
                        actuator_clock="rtt" if self.board is not None else "lab")

    def write_truth(self) -> Path:
        self.world.advance(self.clock.now())
        path = self.root / "truth.json"
        tmp = path.with_suffix(".tmp")
        struck = dict(self.faults.struck)
        brownouts = sum(line.startswith("brownout") for line in self.board.lines) if self.board else 0
        if brownouts:  # the MicroPython board strikes this fault itself: count what it says
            struck["actuator_reboot"] = brownouts
        tmp.write_text(json.dumps({**self.world.truth(), "faults": struck}, indent=1))
        tmp.replace(path)
        return path

    def stop(self) -> None:
        self._stopped.set()
        if self.door:
            self.door.stop()
        for s in self.servers.values():
            s.stop()
        for d in self.wake_doors.values():
            d.stop()
        if self.firmware:
            self.firmware.unplug()
        if self.board:
            self.board.unplug()


def serve(root: Path, cfg: TwinConfig) -> None:
    # A client that hangs up mid-session (the rig closing before sleep) is normal here.
    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    logging.getLogger("paramiko").propagate = False
    lab = TwinLab(root, cfg)
    path = lab.start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print(f"READY {path}", flush=True)
    # Also stop when the parent goes away (stdin closes), so a killed controller leaves no twin.
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    while not done.wait(0.5):
        pass
    lab.write_truth()
    lab.stop()


def lab_toml(cfg: "TwinConfig", gateway: str, gw_port: int, mac_ports: dict, actuator_port: str,
             clock=None, signatures: str = "signatures.toml", wol_ports: dict | None = None,
             actuator_clock: str = "lab") -> str:
    """The twin's lab file: the same shape as a real rack's ``lab.toml``, one Mac per channel of
    one actuator. The live twin writes it with its doors' ports (SSH, and each Mac's
    Wake-on-LAN UDP port on 127.0.0.1); the batch reads the same lab (placeholder ports, never
    dialled), so both run the same cycle on the same Macs."""
    out = [
        "# Lab file written by the twin: the same shape as a real rack's lab.toml.",
        "[lab]",
        'name = "twin"',
        "redact = ['(?i)token=\\S+', '(?i)authorization: \\S+']",
        "",
    ]
    if clock is not None:
        out += [
            "[clock]  # a twin lab runs on a virtual clock; a real lab file has no [clock] table",
            f"scale = {clock.scale!r}",
            f"wall_origin = {clock.wall_origin!r}",
            f"virtual_origin = {clock.virtual_origin!r}",
            "",
        ]
    out += [
        "[extension]",
        'name = "TwinProxy"',
        'subsystem = "com.example.twinproxy"',
        'bundle_id = "com.example.twinproxy.extension"',
        f"signatures = {_toml_str(signatures)}",
        "",
        "[gateway]",
        f"name = {_toml_str(gateway)}",
        'host = "127.0.0.1"',
        f"port = {gw_port}",
        f'user = "{USER}"',
        'key = "id_ed25519"',
        'known_hosts = "known_hosts"',
        'log_command = "journalctl -u ocserv -o short-iso-precise --since @{start} --until @{end}"',
        'format = "ocserv"',
        "clients = { " + ", ".join(f'{_toml_str(m.name)} = {_toml_str("rig-" + m.name)}' for m in cfg.macs) + " }",
        "",
        "[[actuator]]",
        'name = "act-1"',
        f"port = {_toml_str(actuator_port)}",
        'kind = "rig-v1"',
        'clock = "lab"  # the firmware stamps at= on the lab clock' if actuator_clock == "lab" else
        'clock = "rtt"  # the firmware stamps at= on its own clock: mapped by the round trip',
        "",
    ]
    for i, spec in enumerate(cfg.macs, start=1):
        laptop = spec.kind == "laptop"
        out += [
            "[[mac]]",
            f"name = {_toml_str(spec.name)}",
            'host = "127.0.0.1"',
            f"port = {mac_ports[spec.name]}",
            f'user = "{USER}"',
            'key = "id_ed25519"',
            'known_hosts = "known_hosts"',
            'actuator = "act-1"',
            f"channel = {i}",
            f'sleep_by = "{"lid" if laptop else "sleepnow"}"',
            f'wake_by = "{"lid" if laptop else "power"}"',
            "tags = [" + ", ".join(_toml_str(t) for t in spec.tags or [spec.kind]) + "]",
            f'wake_on_lan = {{ mac = "{hardware_address(i)}", broadcast = "127.0.0.1", '
            f"port = {(wol_ports or {}).get(spec.name, 9)} }}",
            "",
        ]
    return "\n".join(out)
