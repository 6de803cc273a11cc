"""The twin hosts' shells: one function from a command line to (stdout, stderr, exit status).

The embedded SSH server calls these directly; ``rig twin shell`` exposes the same function to a
real OpenSSH sshd through ``ForceCommand``. They answer the commands the rig sends to a real Mac
(``pmset -g log``, ``pmset sleepnow``, ``log show --style ndjson …``, the perl time one-liner,
``sw_vers``, ``systemextensionsctl list``) and to a gateway (``journalctl … --since @S --until @E``),
in the real tools' output formats.
"""
from __future__ import annotations

import re
import shlex
from datetime import datetime

import orjson

Result = tuple[bytes, bytes, int]

PERL_TIME = "perl -MTime::HiRes=time -e 'printf \"%.6f\\n\", time'"
_SUBSYSTEM = re.compile(r'subsystem\s*==\s*"([^"]+)"')


def _err(msg: str, status: int = 1) -> Result:
    return b"", (msg + "\n").encode(), status


def _parse_log_time(text: str, utc_offset_min: int) -> float:
    """``log show --start`` formats: ``YYYY-MM-DD HH:MM:SS`` (local) or with ``±ZZZZ``."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\s*([+-]\d{4}))?", text.strip())
    if not m:
        raise ValueError(f"log: Could not parse date: {text}")
    off = m.group(2)
    if off is None:
        sign = "+" if utc_offset_min >= 0 else "-"
        off = f"{sign}{abs(utc_offset_min) // 60:02d}{abs(utc_offset_min) % 60:02d}"
    return datetime.strptime(m.group(1) + off, "%Y-%m-%d %H:%M:%S%z").timestamp()


def mac_shell(world, mac, command: str) -> Result:
    with world.lock:
        try:
            argv = shlex.split(command)
        except ValueError as e:
            return _err(f"sh: syntax error: {e}", 2)
        if argv[:2] == ["sudo", "-n"]:
            argv = argv[2:]
        if not argv:
            return b"", b"", 0
        prog = argv[0]
        if prog == "perl" and "Time::HiRes" in command:
            return f"{mac.clock():.6f}\n".encode(), b"", 0
        if prog == "sw_vers":
            return (f"ProductName:\t\tmacOS\nProductVersion:\t\t{mac.macos}\nBuildVersion:\t\t24D60\n").encode(), b"", 0
        if prog == "hostname":
            return f"{mac.name}.local\n".encode(), b"", 0
        if prog == "true":
            return b"", b"", 0
        if prog == "pmset":
            return _pmset(world, mac, argv[1:])
        if prog == "log":
            return _log(mac, argv[1:])
        if prog == "systemextensionsctl" and argv[1:2] == ["list"]:
            v = mac.installed_version
            return (
                "1 extension(s)\n--- com.apple.system_extension.network_extension\n"
                "enabled\tactive\tteamID\tbundleID (version)\tname\t[state]\n"
                f"*\t*\tT9WIN00001\tcom.example.twinproxy.extension ({v}/140)\tTwinProxy Extension\t[activated enabled]\n"
            ).encode(), b"", 0
        return _err(f"sh: {prog}: command not found", 127)


def _settings(mac) -> dict:
    """The Mac's pmset settings and log modes (what `rig doctor` checks and fixes)."""
    return mac.__dict__.setdefault("settings", {
        "pmset": {"standby": "1", "powernap": "1", "tcpkeepalive": "1", "womp": "1", "ttyskeepawake": "1"},
        "log_modes": {},
    })


def _pmset(world, mac, args: list[str]) -> Result:
    if args[:2] == ["-g", "log"]:
        return mac.pmset_log().encode(), b"", 0
    if args == ["sleepnow"]:
        if mac.power != "full":
            return _err("pmset: system is not awake")
        mac.request_sleep("Software Sleep pid=4242")
        return b"Sleeping now...\n", b"", 0
    settings = _settings(mac)["pmset"]
    if args[:1] == ["-g"] and len(args) == 1:
        body = "".join(f" {k:<20} {v}\n" for k, v in settings.items())
        return f"System-wide power settings:\nCurrently in use:\n{body}".encode(), b"", 0
    if args[:1] == ["-a"] and len(args) == 3 and args[1] in settings:
        settings[args[1]] = args[2]
        return b"", b"", 0
    return _err(f"pmset: unsupported arguments: {' '.join(args)}")


def _log_config(mac, args: list[str]) -> Result:
    modes = _settings(mac)["log_modes"]
    if "--subsystem" not in args:
        return _err("log: --subsystem required here", 64)
    sub = args[args.index("--subsystem") + 1] if args.index("--subsystem") + 1 < len(args) else ""
    if "--status" in args:
        level, persist = modes.get(sub, ("DEFAULT", "DEFAULT"))
        return f"Mode for '{sub}'  {level} PERSIST_{persist}\n".encode(), b"", 0
    if "--mode" in args:
        mode = dict(kv.split(":", 1) for kv in args[args.index("--mode") + 1].split(",") if ":" in kv)
        modes[sub] = (mode.get("level", "default").upper(), mode.get("persist", "default").upper())
        return b"", b"", 0
    return _err("log config: nothing to do", 64)


def _log(mac, args: list[str]) -> Result:
    if args[:1] == ["config"]:
        return _log_config(mac, args[1:])
    if not args or args[0] != "show":
        return _err("log: only 'log show' is supported here", 64)
    opts: dict[str, str] = {}
    it = iter(args[1:])
    for a in it:
        if a in ("--style", "--predicate", "--start", "--end"):
            opts[a] = next(it, "")
        elif a in ("--info", "--debug", "--no-pager", "--signpost"):
            continue
        else:
            return _err(f"log: unknown option {a}", 64)
    if opts.get("--style") != "ndjson":
        return _err("log: twin supports --style ndjson only", 64)
    subsystems = set(_SUBSYSTEM.findall(opts.get("--predicate", "")))
    try:
        start = _parse_log_time(opts["--start"], mac.utc_offset_min) if "--start" in opts else None
        end = _parse_log_time(opts["--end"], mac.utc_offset_min) if "--end" in opts else None
    except ValueError as e:
        return _err(str(e), 64)
    recs = mac.log_show(subsystems, start, end)
    out = [f'Filtering the log data using "{opts.get("--predicate", "")}"'.encode()]
    out += [orjson.dumps(r) for r in recs]
    out.append(orjson.dumps({"count": len(recs), "finished": 1}))
    return b"\n".join(out) + b"\n", b"", 0


def gateway_shell(world, gateway, command: str) -> Result:
    with world.lock:
        try:
            argv = shlex.split(command)
        except ValueError as e:
            return _err(f"sh: syntax error: {e}", 2)
        if not argv:
            return b"", b"", 0
        if argv[0] == "perl" and "Time::HiRes" in command:
            return f"{gateway.clock(world.now):.6f}\n".encode(), b"", 0
        if argv[0] != "journalctl":
            return _err(f"sh: {argv[0]}: command not found", 127)
        since = until = None
        it = iter(argv[1:])
        for a in it:
            if a in ("--since", "--until"):
                v = next(it, "")
                if not v.startswith("@"):
                    return _err(f"Failed to parse timestamp: {v}")
                try:
                    val = float(v[1:])
                except ValueError:
                    return _err(f"Failed to parse timestamp: {v}")
                if a == "--since":
                    since = val
                else:
                    until = val
        return gateway.journal(since, until).encode(), b"", 0
