"""A twin Mac: power state machine, its own clock, its logs, and what really happened.

States: ``full`` (full wake) -> ``sleep`` (lid close, ``pmset sleepnow``, power press) ->
``dark`` (a maintenance dark wake every ~15 min, jittered, lasting ~10-60 s, lid still closed)
-> ``sleep`` ... -> ``full`` (lid open or power press; a dark wake is promoted to full).

The Mac's clock is the virtual clock plus a skew, printed in the Mac's own UTC offset. It writes
``pmset -g log`` lines (second resolution, durations filled in when a state ends) and unified-log
records (powerd's sleepWake sentences and the extension's, µs precision).

A Mac can wake on another network than it slept on (a laptop carried home, a dock unplugged):
with ``network_change`` > 0 each wake from sleep moves it, with that probability, to a new
interface and address. The extension learns of it when its ``wake()`` is delivered (a path
update), its session's socket is dead from then on, and the gateway sees the next session come
from the new address. The draw uses its own random stream, so a Mac without the knob behaves
exactly as before.

Faults a Mac can carry (``MacSpec``; docs/design.md, "Fault matrix"): ``never_wakes``;
``needs_long_press`` (a wake from sleep is ignored until a press of 5 s or more has reset it:
the recovery ladder's second rung); ``needs_ac_cycle`` (ignored until its AC was switched off
and on: the third rung); ``clock_step_s`` (the Mac's clock steps at every full wake, as an NTP
step after a long sleep does); ``tz_change`` (its UTC offset changes at an instant of the night,
a DST change inside its pmset dump and unified log).

Wake-on-LAN (``wake_packet``): a magic packet for the Mac's hardware address while it sleeps,
with "Wake for network access" on (``womp 1`` in its pmset settings), is a dark wake with a
network reason, the same dark wake a maintenance wake is to the extension (``wol = "dark"``);
``wol = "full"`` makes it a full wake instead (a model that lights up on network access), and
``wol = "off"`` starts the Mac with ``womp 0`` (packets ignored until ``pmset -a womp 1``).
"""
from __future__ import annotations

import bisect
import random
import uuid

from rig.drive.wol import wakes
from rig.twin import formats

POWERD = "com.apple.powerd"
EXT_PATH = ("/Library/SystemExtensions/4B1F0C55-6E0D-4C7C-9A55-0D6C1F2B7A10/"
            "com.example.twinproxy.extension.systemextension/Contents/MacOS/com.example.twinproxy.extension")
POWERD_PATH = "/System/Library/CoreServices/powerd.bundle/powerd"
# Network wake reasons as real Macs print them (tests/data/real/): the wired LAN alone
# ("GLAN/", pmset_log_issue_adrgumula_oc-m3800_7.txt) and, on Apple silicon, the Wi-Fi chip's
# WLAN (pmset_log_issue_actuallymentor_battery_226.txt). A laptop wakes by Wi-Fi, a desktop by wire.
NETWORK_REASON = {"laptop": "SMC.OutboxNotEmpty smc.70070000 wifibt wlan/", "desktop": "GLAN/"}
WOL_MODES = ("dark", "full", "off")


def hardware_address(serial: int) -> str:
    """The twin Mac's interface address: locally administered, unique per serial."""
    return f"02:72:69:67:{serial >> 8 & 255:02x}:{serial & 255:02x}"


def pmset_settings(womp: bool) -> dict:
    """A Mac's ``pmset -g`` settings, named and valued as a real one prints them (each line
    `` womp                 1``; shell.py prints them, ``pmset -a KEY VALUE`` changes them)."""
    return {"standby": "1", "powernap": "1", "tcpkeepalive": "1", "womp": "1" if womp else "0",
            "ttyskeepawake": "1", "lidwake": "1", "hibernatemode": "3", "hibernatefile": "/var/vm/sleepimage",
            "sleep": "1", "displaysleep": "10", "disksleep": "10"}


#: ``sysctl -n hw.model`` of a twin Mac by kind: a 14-inch MacBook Pro (M3), a Mac mini (M2)
HW_MODELS = {"laptop": "Mac15,3", "desktop": "Mac14,3"}


class Mac:
    def __init__(self, world, name: str, serial: int, *, kind: str = "laptop", skew: float = 0.0,
                 utc_offset_min: int = 0, build: str = "naive", dark_interval_s: float = 900.0,
                 fault: str = "", macos: str = "15.3", network_change: float = 0.0,
                 clock_step_s: float = 0.0, tz_change: tuple | None = None, wol: str = "dark",
                 draws: dict | None = None, hw_model: str = ""):
        from rig.twin.builds import model

        self.world = world
        self.name = name
        self.serial = serial
        self.kind = kind
        self._skews = [(float("-inf"), skew)]  # (from virtual instant, skew): a clock step adds one
        self._utc_offset_min = utc_offset_min
        self.tz_change = (world.start + tz_change[0], int(tz_change[1])) if tz_change else None
        self.clock_step_s = clock_step_s
        self.dark_interval_s = dark_interval_s
        # a twin profile's distributions (rig.twin.profile), or None: the built-in numbers
        self.draws = draws
        if draws and "network_change" in draws:
            network_change = draws["network_change"].mean()
        self.fault = fault
        self.stuck = False  # asleep and deaf to wake requests until the fault's remedy (see above)
        self.macos = macos
        self.hw_model = hw_model or HW_MODELS[kind]
        if wol not in WOL_MODES:
            raise ValueError(f"{name}: wol must be one of {', '.join(WOL_MODES)}, not {wol!r}")
        self.wol = wol
        self.hw_address = hardware_address(serial)
        self.settings = {"pmset": pmset_settings(womp=wol != "off"), "log_modes": {}}  # shell.py, doctor
        self.boot_uuid = str(uuid.UUID(int=world.rng.getrandbits(128))).upper()
        self.boot_t = world.now - 3600.0
        # network: None = the home network (the gateway's default address for this Mac)
        self.network_change = network_change
        self.interface = "en0"
        self.address: str | None = None
        self.net_gen = 0  # changes with the network: a socket opened before is dead after
        self._net_rng = random.Random(f"{world.seed}/{name}/network") if network_change > 0 else None
        self.power = "full"
        self.lid_closed = False
        self.epoch = 0  # changes at every sleep and wake: a frozen process's timers die with it
        self.token = 0  # changes at every power transition: voids scheduled dark wakes
        self._ac = True
        self._ac_cycled = False
        self.pmset: list[dict] = []
        self.records: list[tuple[float, dict]] = []
        self._mach_seq = 0
        self._state_entry: dict | None = None
        self.truth = {"skew": skew, "utc_offset_min": utc_offset_min, "kind": kind, "build": build,
                      "phases": [[world.now, None, "full"]], "wakes": [], "sleeps": [], "handshakes": [],
                      "tunnel_ups": [], "tunnel_downs": [], "alerts": [], "dpd": [], "full_wakes": [],
                      "wake_requests": [], "network_changes": [], "failed_handshakes": [], "zombie": [],
                      "offload_keepalives": 0, "clock_steps": [], "remedies": [], "wake_packets": []}
        self.ext = model(build)(self, world)
        self.installed_version = f"{self.ext.version}-{build}"
        self.ext_pid = 300 + serial * 7

    # -- clock --------------------------------------------------------------------------------
    def clock(self, virtual: float | None = None) -> float:
        """The Mac's clock at a virtual instant (a stepped clock keeps its old skew before the step)."""
        t = self.world.now if virtual is None else virtual
        i = bisect.bisect_right(self._skews, (t, float("inf"))) - 1
        return t + self._skews[i][1]

    @property
    def skew(self) -> float:
        return self._skews[-1][1]

    def reachable(self) -> bool:
        return self.power == "full"

    def utc_offset_at(self, virtual: float) -> int:
        """The Mac's UTC offset (minutes) at a virtual instant: a DST change moves it once."""
        if self.tz_change is not None and virtual >= self.tz_change[0]:
            return self.tz_change[1]
        return self._utc_offset_min

    @property
    def utc_offset_min(self) -> int:
        return self.utc_offset_at(self.world.now)

    @property
    def ac(self) -> bool:
        return self._ac

    @ac.setter
    def ac(self, on: bool) -> None:
        if self._ac and not on:
            self._ac_cycled = True  # off now; on again below is the third rung's remedy
        elif on and not self._ac and self._ac_cycled and self.fault == "needs_ac_cycle" and self.stuck:
            self.stuck = False
            self.truth["remedies"].append({"t": self.world.now, "remedy": "ac cycle"})
        self._ac = on

    # -- logs ---------------------------------------------------------------------------------
    def _pmset(self, domain: str, message: str, state: bool = False) -> None:
        entry = {"t": self.world.now, "domain": domain, "msg": message, "state": state, "end": None}
        if state:
            if self._state_entry is not None:
                self._state_entry["end"] = self.world.now
            self._state_entry = entry
        self.pmset.append(entry)

    def pmset_log(self) -> str:
        lines = []
        for e in self.pmset:
            dur = None
            if e["state"] and e["end"] is not None:
                start = self.clock(e["t"])  # elapsed time: a clock step in between is not in it
                dur = int(start + (e["end"] - e["t"])) - int(start)
            lines.append(formats.pmset_line(self.clock(e["t"]), self.utc_offset_at(e["t"]), e["domain"], e["msg"], dur))
        return "".join(line + "\n" for line in lines)

    def _record(self, subsystem: str, category: str, message: str, path: str, pid: int, thread: int) -> None:
        t = self.world.now
        self._mach_seq += 1
        mach = int((t - self.boot_t) * 24_000_000) + self._mach_seq
        rec = {
            "timezoneName": "", "messageType": "Default", "eventType": "logEvent", "source": None,
            "formatString": "%{public}s", "userID": 0, "activityIdentifier": 0,
            "subsystem": subsystem, "category": category, "threadID": thread,
            "senderImageUUID": "6C1D2F0A-1B7E-3A55-9C2E-5D0B7A9E4F11", "bootUUID": self.boot_uuid,
            "processImagePath": path, "senderImagePath": path,
            "timestamp": formats.unified_timestamp(self.clock(t), self.utc_offset_at(t)),
            "machTimestamp": mach, "eventMessage": message,
            "processImageUUID": "6C1D2F0A-1B7E-3A55-9C2E-5D0B7A9E4F11",
            "traceID": (self.serial << 56) + self._mach_seq * 1024 + 9_007_199_254_740_993,
            "processID": pid, "senderProgramCounter": 103060, "parentActivityIdentifier": 0,
        }
        self.records.append((t, rec))

    def ext_log(self, category: str, message: str) -> None:
        self._record(self.ext.subsystem, category, message, EXT_PATH, self.ext_pid, 40000 + self.serial)

    def _powerd(self, message: str) -> None:
        self._record(POWERD, "sleepWake", message, POWERD_PATH, 97, 700 + self.serial)

    def log_show(self, subsystems: set[str], start: float | None, end: float | None) -> list[dict]:
        """Records whose Mac-clock time is in [start, end] (``log show --start/--end``)."""
        out = []
        for t, rec in self.records:
            mt = self.clock(t)
            if rec["subsystem"] in subsystems and (start is None or mt >= start) and (end is None or mt <= end):
                out.append(rec)
        return out

    # -- power: requests from the doors --------------------------------------------------------
    def request_sleep(self, reason: str) -> None:
        if self.power == "full":
            self.world.after(0.3, self._enter_sleep, reason, self.token)

    def lid(self, closed: bool) -> None:
        if self.kind != "laptop":
            return
        was = self.lid_closed
        self.lid_closed = closed
        if closed and not was:
            self.request_sleep("Clamshell Sleep")
        elif not closed and was:
            if self.power == "full":
                self.token += 1  # opened before the clamshell sleep began: it never does
            self.request_full_wake("lid")

    def power_press(self, ms: int) -> None:
        if self.power == "full":
            self.request_sleep("Power Button Sleep")
        elif ms >= 5000 and self.fault == "needs_long_press" and self.stuck:
            self.stuck = False  # a long press resets it; the next press wakes it
            self.truth["remedies"].append({"t": self.world.now, "remedy": "long press"})
        else:
            self.request_full_wake("power")

    def wake_packet(self, data: bytes) -> None:
        """A datagram reached the Mac's interface (the live twin's UDP port, or the batch). Only
        a magic packet for its own address, while it sleeps with womp on, wakes it (module
        docstring); anything else is ignored, as a real interface ignores it."""
        rec = {"t": self.world.now, "power": self.power}
        if not wakes(data, self.hw_address):
            rec["result"] = "ignored: no magic packet for this Mac"
        elif self.settings["pmset"]["womp"] != "1":
            rec["result"] = "ignored: womp 0"
        elif self.power != "sleep" or self.fault == "never_wakes" or self.stuck:
            rec["result"] = "ignored: " + ("awake" if self.power != "sleep" else f"deaf ({self.fault})")
        elif self.wol == "full":
            rec["result"] = "full wake"
            self.world.after(self.world.rng.uniform(0.25, 0.7), self._full_wake, "network", self.world.now)
        else:
            rec["result"] = "dark wake"
            self.world.after(self.world.rng.uniform(0.2, 0.5), self._dark_wake, self.token, "network")
        self.truth["wake_packets"].append(rec)

    def network_reason(self) -> str:
        return NETWORK_REASON.get(self.kind, NETWORK_REASON["desktop"])

    def ifconfig(self) -> str:
        """``ifconfig``'s lines for the Mac's interface, as macOS prints them (the ether line is
        what ``rig doctor`` matches the lab's wake_on_lan address against)."""
        return (f"{self.interface}: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n"
                f"\toptions=6460<TSO4,TSO6,CHANNEL_IO,PARTIAL_CSUM,ZEROINVERT_CSUM>\n"
                f"\tether {self.hw_address}\n\tmedia: autoselect\n\tstatus: active\n")

    def request_full_wake(self, cause: str) -> None:
        self.truth["wake_requests"].append({"t": self.world.now, "cause": cause})
        if self.power == "full" or self.fault == "never_wakes" or self.stuck:
            return
        self.world.after(self._draw("ssh_after_wake_s", lambda r: r.uniform(0.25, 0.7)), self._full_wake, cause,
                         self.world.now)

    # -- power: transitions -------------------------------------------------------------------
    def _phase(self, phase: str) -> None:
        now = self.world.now
        self.truth["phases"][-1][1] = now
        self.truth["phases"].append([now, None, phase])
        self.power = phase
        self.token += 1
        self.world.notify(self.name, phase)

    def _enter_sleep(self, reason: str, token: int) -> None:
        if token != self.token or self.power == "sleep":
            return
        self.ext.on_sleep()
        self.epoch += 1
        src = "AC" if self.ac else "BATT"
        self._pmset("Sleep", f"Entering Sleep state due to '{reason}':TCPKeepAlive=active Using {src} (Charge:100%)", state=True)
        self._powerd(f"Entering Sleep state due to '{reason}':TCPKeepAlive=active")
        self.truth["sleeps"].append({"t": self.world.now, "reason": reason})
        if self.fault in ("needs_long_press", "needs_ac_cycle") and reason != "Maintenance Sleep":
            self.stuck, self._ac_cycled = True, False
        self._phase("sleep")
        interval = self._draw("dark_wake_interval_s", lambda r: self.dark_interval_s * r.uniform(0.85, 1.15))
        self.world.after(interval, self._dark_wake, self.token)

    def _dark_wake(self, token: int, cause: str = "maintenance") -> None:
        """A dark wake (the scheduled maintenance one, or a network one from a magic packet):
        the same wake to the extension, only the reason in the logs differs."""
        if token != self.token:
            return
        self.epoch += 1
        src = "AC" if self.ac else "BATT"
        why = self.network_reason() if cause == "network" else "EC.RTC/Maintenance"
        self._pmset("DarkWake", f"DarkWake from Normal Sleep [CDN] : due to {why} Using {src} (Charge:100%)", state=True)
        self._powerd(f"DarkWake from Normal Sleep [CDN] : due to {why}")
        self._maybe_move()
        self.truth["wakes"].append({"t": self.world.now, "kind": "dark", "cause": cause})
        self._phase("dark")
        self.world.after(0.08, self._deliver_wake, True, self.epoch)
        self.world.after(self._draw("dark_wake_duration_s", lambda r: r.uniform(10.0, 60.0)), self._enter_sleep,
                         "Maintenance Sleep", self.token)

    def _full_wake(self, cause: str, requested: float) -> None:
        if self.power == "full":
            return
        src = "AC" if self.ac else "BATT"
        if self.power == "sleep":
            self._maybe_move()
        survived = self.ext.connected()
        record = {"requested": requested, "wake": self.world.now, "cause": cause,
                  "survived": survived, "tunnel_up": None}
        self.truth["full_wakes"].append(record)
        if self.power == "dark":
            self._pmset("Wake", f"DarkWake to FullWake from Normal Sleep [CDNVA] : due to UserActivity Assertion Using {src} (Charge:100%)", state=True)
            self._powerd("DarkWake to FullWake from Normal Sleep [CDNVA] : due to UserActivity Assertion")
            self.truth["wakes"].append({"t": self.world.now, "kind": "dark_to_full"})
            self._phase("full")
            self.ext.on_promoted()
        else:
            why = {"lid": "EC.LidOpen/Lid Open", "network": self.network_reason()}.get(cause, "EC.PowerButton/User")
            self.epoch += 1
            if self.clock_step_s:  # stepped as the Mac wakes: its wake lines carry the new time
                self._skews.append((self.world.now, self.skew + self.clock_step_s))
                self.truth["clock_steps"].append({"t": self.world.now, "step": self.clock_step_s,
                                                  "skew": self.skew})
            self._pmset("Wake", f"Wake from Normal Sleep [CDNVA] : due to {why} Using {src} (Charge:100%)", state=True)
            self._powerd(f"Wake from Normal Sleep [CDNVA] : due to {why}")
            self.truth["wakes"].append({"t": self.world.now, "kind": "full", "cause": cause})
            self._phase("full")
            self.world.after(0.08, self._deliver_wake, False, self.epoch)
        self._pmset("WakeTime", f"WakeTime: {self.world.rng.uniform(0.2, 0.6):.3f} sec")

    def _deliver_wake(self, dark: bool, epoch: int) -> None:
        if epoch == self.epoch:
            if self.ext.net_seen != self.net_gen:
                self.ext.on_network_change()
            self.ext.on_wake(dark)

    # -- network ------------------------------------------------------------------------------
    def network_text(self) -> str:
        addr = self.address or (self.world.gateway.address(self.name) if self.world.gateway else "?")
        return f"{self.interface} {addr}"

    def _maybe_move(self) -> None:
        """Maybe wake on another network (decided at the wake; it happened while asleep)."""
        if self._net_rng is None or self._net_rng.random() >= self.network_change:
            return
        old = self.network_text()
        self.net_gen += 1
        self.interface = ("en7", "en0")[self.net_gen % 2]  # USB Ethernet dock, Wi-Fi
        self.address = f"172.{16 + self.serial % 16}.{self.net_gen // 250}.{10 + self.net_gen % 240}"
        self.truth["network_changes"].append({"t": self.world.now, "from": old, "to": self.network_text(),
                                              "phase": self.power})

    # -- truth hooks (called by the extension and the gateway) ---------------------------------
    def truth_handshake_start(self, sid: str) -> None:
        self.truth["handshakes"].append({"t": self.world.now, "sid": sid, "phase": self.power})

    def truth_tunnel_up(self, sid: str) -> None:
        self.truth["tunnel_ups"].append({"t": self.world.now, "sid": sid, "phase": self.power})
        for fw in self.truth["full_wakes"]:
            if not fw["survived"] and fw["tunnel_up"] is None:
                fw["tunnel_up"] = self.world.now

    def truth_tunnel_down(self, sid: str | None) -> None:
        self.truth["tunnel_downs"].append({"t": self.world.now, "sid": sid, "phase": self.power})

    def truth_alert(self, sid: str | None) -> None:
        self.truth["alerts"].append({"t": self.world.now, "sid": sid, "phase": self.power})

    def truth_failed_handshake(self, sid: str, attempt: int) -> None:
        self.truth["failed_handshakes"].append({"t": self.world.now, "sid": sid, "attempt": attempt,
                                                "phase": self.power})

    def truth_zombie(self, sid: str) -> None:
        """The extension reports the tunnel up while its gateway session is dead (until restarted)."""
        self.truth["zombie"].append({"start": self.world.now, "end": None, "sid": sid, "phase": self.power})

    def truth_dpd(self, t: float, sid: str) -> None:
        self.truth["dpd"].append({"t": t, "sid": sid, "phase": self.power})

    def install(self, build: str, version: str) -> None:
        """A new build of the extension replaces the running one (what ``installer -pkg`` does):
        the old process logs its tunnel down and says goodbye to the gateway, the new one connects."""
        from rig.twin.builds import model

        new_cls = model(build)
        old = self.ext
        if old.state == "up":
            old.log("tunnel", f"Tunnel down session={old.session} reason=upgrade")
            self.truth_tunnel_down(old.session)
            self.world.gateway.bye(old.session)
        old.state, old.session = "down", None  # the old process's timers find nothing to do
        self.ext = new_cls(self, self.world)
        self.installed_version = version
        self.truth["build"] = build
        self.truth.setdefault("installs", []).append({"t": self.world.now, "build": build, "version": version})
        self.ext.start()

    def _draw(self, name: str, builtin) -> float:
        """One draw of ``name`` from the profile when it has one, else the built-in number (the
        same call on the world's generator either way, so a run without a profile is unchanged)."""
        if self.draws and name in self.draws:
            return max(0.0, self.draws[name].sample(self.world.rng))
        return builtin(self.world.rng)

    def truth_record(self) -> dict:
        return self.truth
