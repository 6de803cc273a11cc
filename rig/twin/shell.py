"""The twin hosts' shells: one function from a command line to (stdout, stderr, exit status).

The embedded SSH server calls these directly; ``python -m rig.twin shell`` (``shell_door.py``)
exposes the same function to a real OpenSSH sshd through ``ForceCommand``. They answer the commands
the rig sends to a real Mac (``pmset -g log``, ``pmset sleepnow``, ``log show --style ndjson …``,
the perl time one-liner, ``sw_vers``, ``systemextensionsctl list``) and to a gateway
(``journalctl … --since @S --until @E``), in the real tools' output formats.

A real Mac's sshd runs an exec request through the login shell, so the rig may send a short shell
line (every word quoted): ``rm -f F F.gz && log show … > F && gzip -f F``. The twin understands
the little sh it needs (words and quotes, ``|``, ``&&``, ``||``, ``;``, ``> FILE``, and the file
tools ``rm``, ``mkdir``, ``gzip``, ``cat`` over the Mac's own directory, ``files.py``), and refuses
anything a real sh would expand (``$``, backquotes, globs) rather than misread it.
"""
from __future__ import annotations

import gzip
import os
import re
import shlex
from typing import Callable

import orjson

from rig.twin.formats import parse_log_time

Result = tuple[bytes, bytes, int]

PERL_TIME = "perl -MTime::HiRes=time -e 'printf \"%.6f\\n\", time'"
_SUBSYSTEM = re.compile(r'subsystem\s*==\s*"([^"]+)"')


def _err(msg: str, status: int = 1) -> Result:
    return b"", (msg + "\n").encode(), status


def mac_shell(world, mac, command: str, files=None) -> Result:
    """One command line on a twin Mac; ``files`` (a ``MacFiles``) is its home directory."""
    return run_line(command, lambda argv: _mac_command(world, mac, argv, files), files)


def _mac_command(world, mac, argv: list[str], files=None) -> Result:
    with world.lock:
        if argv[:2] == ["sudo", "-n"]:
            argv = argv[2:]
        if not argv:
            return b"", b"", 0
        prog = argv[0]
        if prog == "perl" and any("Time::HiRes" in a for a in argv):
            return f"{mac.clock():.6f}\n".encode(), b"", 0
        said = {("sw_vers", "-productVersion"): mac.macos, ("sysctl", "-n", "hw.model"): mac.hw_model,
                ("hostname",): f"{mac.name}.local"}.get(tuple(argv))
        if said is not None:
            return f"{said}\n".encode(), b"", 0
        if prog == "sw_vers":
            return (f"ProductName:\t\tmacOS\nProductVersion:\t\t{mac.macos}\nBuildVersion:\t\t24D60\n").encode(), b"", 0
        if prog == "ifconfig":
            return mac.ifconfig().encode(), b"", 0
        if prog == "true":
            return b"", b"", 0
        if prog == "pmset":
            return _pmset(world, mac, argv[1:])
        if prog == "log":
            return _log(mac, argv[1:])
        if prog == "nohup" and PROBE_MARKER in argv:
            return _start_probe(world, mac, argv, files)
        if prog == "pgrep":
            probe = getattr(mac, "probe", None)
            running = probe is not None and probe.running and argv[-1] in PROBE_MARKER
            return (f"{4000 + mac.serial}\n".encode(), b"", 0) if running else (b"", b"", 1)
        if prog == "installer":
            return _installer(mac, argv[1:], files)
        if prog == "systemextensionsctl" and argv[1:2] == ["list"]:
            v = mac.installed_version
            return (
                "1 extension(s)\n--- com.apple.system_extension.network_extension\n"
                "enabled\tactive\tteamID\tbundleID (version)\tname\t[state]\n"
                f"*\t*\tT9WIN00001\tcom.example.twinproxy.extension ({v}/140)\tTwinProxy Extension\t[activated enabled]\n"
            ).encode(), b"", 0
        return _err(f"sh: {prog}: command not found", 127)


PROBE_MARKER = "rig-probe"


def _start_probe(world, mac, argv: list[str], files) -> Result:
    """``nohup /bin/sh -c LOOP rig-probe URL LOG INTERVAL``: the twin runs the loop's emulation."""
    from rig.twin.probe import TwinProbe

    i = argv.index(PROBE_MARKER)
    try:
        url, log, interval = argv[i + 1], argv[i + 2], float(argv[i + 3])
    except (IndexError, ValueError):
        return _err("nohup: rig-probe needs URL LOG INTERVAL", 2)
    if files is None:
        return _err("nohup: no file system", 1)
    mac.probe = TwinProbe(world, mac, files.resolve(log), url, interval)
    mac.probe.start()
    return b"", b"", 0


def _installer(mac, args: list[str], files) -> Result:
    """``installer -pkg PATH -target /`` with a twin build manifest in place of a .pkg."""
    import tomllib

    if "-pkg" not in args or args[args.index("-pkg") + 1:][:1] == [] or "-target" not in args:
        return _err("installer: usage: installer -pkg <path> -target <device>", 2)
    path = args[args.index("-pkg") + 1]
    try:
        manifest = tomllib.loads(files.resolve(path).read_text())
        mac.install(manifest["model"], manifest["version"])
    except (OSError, AttributeError) as e:
        return _err(f"installer: Error - {path}: {e}", 1)
    except (tomllib.TOMLDecodeError, KeyError, ValueError) as e:
        return _err(f"installer: Error - the package is invalid ({e})", 1)
    return f"installer: Package name is {manifest.get('product', 'TwinProxy')}\ninstaller: Installing at base path /\n" \
           f"installer: The install was successful.\n".encode(), b"", 0


def _settings(mac) -> dict:
    """The Mac's pmset settings and log modes (what `rig doctor` checks and fixes; the Mac
    model reads womp from them)."""
    return mac.settings


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
        start = parse_log_time(opts["--start"], mac.utc_offset_min) if "--start" in opts else None
        end = parse_log_time(opts["--end"], mac.utc_offset_min) if "--end" in opts else None
    except ValueError as e:
        return _err(str(e), 64)
    recs = mac.log_show(subsystems, start, end)
    out = [f'Filtering the log data using "{opts.get("--predicate", "")}"'.encode()]
    # `log` escapes "/" in its JSON ("\/usr\/libexec\/…"): so does the twin (valid JSON either way)
    out += [orjson.dumps(r).replace(b"/", b"\\/") for r in recs]
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


# -- the little sh a rig's command line needs ---------------------------------------------------

OPERATORS = ("&&", "||", "|", ";", ">")
_UNSUPPORTED = set("$`*?[()<&~#")


def tokenize(line: str) -> list[tuple[str, str]]:
    """``line`` -> ``("word", text)`` and ``("op", "|")`` tokens, quotes removed as sh does.

    Raises ``ValueError`` for what a real sh would expand or treat specially and the twin does not
    (``$VAR``, backquotes, globs, subshells, background ``&``): refusing beats misreading.
    """
    tokens: list[tuple[str, str]] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(line)

    def end_word():
        nonlocal in_word
        if in_word:
            tokens.append(("word", "".join(word)))
            word.clear()
            in_word = False

    while i < n:
        c = line[i]
        if c in " \t\n":
            end_word()
            i += 1
        elif c == "'":
            j = line.find("'", i + 1)
            if j < 0:
                raise ValueError("unterminated single quote")
            word.append(line[i + 1:j])
            in_word = True
            i = j + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise ValueError("unterminated double quote")
                d = line[i]
                if d == '"':
                    i += 1
                    break
                if d == "\\" and i + 1 < n and line[i + 1] in '"\\$`\n':
                    word.append(line[i + 1])
                    i += 2
                    continue
                if d in "$`":
                    raise ValueError(f"{d!r} expansion is not supported by the twin's sh")
                word.append(d)
                i += 1
            in_word = True
        elif c == "\\":
            if i + 1 < n:
                word.append(line[i + 1])
                in_word = True
            i += 2
        elif line.startswith(("&&", "||"), i):
            end_word()
            tokens.append(("op", line[i:i + 2]))
            i += 2
        elif not in_word and line.startswith("2>&1", i):
            tokens.append(("op", "2>&1"))
            i += 4
        elif c == "&" and line[i + 1:].strip() == "":
            end_word()
            tokens.append(("op", "&"))  # background, at the end of the line only
            i += 1
        elif c in "|;>":
            end_word()
            if line.startswith(">>", i) or line.startswith(">|", i):
                raise ValueError(f"{line[i:i + 2]!r} is not supported by the twin's sh")
            tokens.append(("op", c))
            i += 1
        elif c in _UNSUPPORTED and not (c == "#" and in_word) and not (c == "~" and in_word):
            raise ValueError(f"{c!r} is not supported by the twin's sh")
        else:
            word.append(c)
            in_word = True
            i += 1
    end_word()
    return tokens


def parse_line(line: str) -> list[tuple[str, list[tuple[list[str], str | None]]]]:
    """``line`` -> ``[(connector, pipeline)]``; a pipeline is ``[(argv, redirect path or None)]``.

    The first connector is ``";"``; the others are the operator before each pipeline.
    """
    out: list = []
    connector = ";"
    pipeline: list = []
    argv: list[str] = []
    redirect: str | None = None
    tokens = tokenize(line)
    k = 0

    def end_command():
        nonlocal argv, redirect
        if not argv:
            raise ValueError("syntax error: missing command")
        pipeline.append((argv, redirect))
        argv, redirect = [], None

    while k < len(tokens):
        kind, text = tokens[k]
        if kind == "word":
            argv.append(text)
        elif text == ">":
            if k + 1 >= len(tokens) or tokens[k + 1][0] != "word":
                raise ValueError("syntax error: '>' needs a file name")
            redirect = tokens[k + 1][1]
            k += 1
        elif text == "|":
            end_command()
        elif text in ("2>&1", "&"):
            pass  # stderr joins stdout / background: the twin's commands return at once anyway
        else:  # && || ;
            if argv or pipeline:
                end_command()
                out.append((connector, pipeline))
                pipeline = []
            elif text != ";" or out:
                raise ValueError(f"syntax error near {text!r}")
            connector = text
        k += 1
    if argv or pipeline:
        end_command()
        out.append((connector, pipeline))
    elif connector in ("&&", "||"):
        raise ValueError(f"syntax error: nothing after {connector!r}")
    return out


def run_line(line: str, command: Callable[[list[str]], Result], files=None) -> Result:
    """Run a shell line: file tools here, every other command through ``command(argv)``.

    Exit status and ``&&``/``||``/``;`` follow sh; a pipeline's status is its last command's
    (no ``pipefail``, as in sh), stdout of each stage is the next one's stdin.
    """
    try:
        steps = parse_line(line)
    except ValueError as e:
        return _err(f"sh: {e}", 2)
    out, err, status = bytearray(), bytearray(), 0
    for connector, pipeline in steps:
        if (connector == "&&" and status != 0) or (connector == "||" and status == 0):
            continue
        stdin = b""
        for argv, redirect in pipeline:
            o, e, status = _run_one(argv, stdin, command, files)
            err += e
            if redirect is not None:
                try:
                    _write(files, redirect, o)
                except OSError as x:
                    err += f"sh: {redirect}: {x.strerror or x}\n".encode()
                    status = 1
                o = b""
            stdin = o
        out += stdin
    return bytes(out), bytes(err), status


def _write(files, path: str, data: bytes) -> None:
    if path == "/dev/null":
        return
    if files is None:
        raise OSError(30, "Read-only file system")
    files.resolve(path).write_bytes(data)


def _run_one(argv: list[str], stdin: bytes, command, files) -> Result:
    tool = {"rm": _rm, "mkdir": _mkdir, "gzip": _gzip, "cat": _cat}.get(argv[0])
    if tool is None:
        return command(argv)
    if files is None:
        return _err(f"{argv[0]}: Read-only file system")
    return tool(argv[1:], stdin, files)


def _flags(args: list[str], allowed: str, prog: str) -> tuple[set, list[str]]:
    flags, rest = set(), []
    for i, a in enumerate(args):
        if a == "--":
            rest += args[i + 1:]
            break
        if a.startswith("-") and len(a) > 1 and not rest:
            for ch in a[1:]:
                if ch not in allowed:
                    raise ValueError(f"{prog}: illegal option -- {ch}")
                flags.add(ch)
        else:
            rest.append(a)
    return flags, rest


def _rm(args, stdin, files) -> Result:
    try:
        flags, paths = _flags(args, "f", "rm")
    except ValueError as e:
        return _err(str(e), 64)
    err, status = [], 0
    for p in paths:
        try:
            f = files.resolve(p)
            if f.is_dir():
                raise IsADirectoryError(21, "is a directory")
            f.unlink()
        except FileNotFoundError:
            if "f" not in flags:
                err.append(f"rm: {p}: No such file or directory")
                status = 1
        except OSError as e:
            err.append(f"rm: {p}: {e.strerror or e}")
            status = 1
    return b"", "".join(x + "\n" for x in err).encode(), status


def _mkdir(args, stdin, files) -> Result:
    try:
        flags, paths = _flags(args, "p", "mkdir")
    except ValueError as e:
        return _err(str(e), 64)
    for p in paths:
        try:
            files.resolve(p).mkdir(parents="p" in flags, exist_ok="p" in flags)
        except OSError as e:
            return _err(f"mkdir: {p}: {e.strerror or e}")
    return b"", b"", 0


def _cat(args, stdin, files) -> Result:
    if not args:
        return stdin, b"", 0
    out = bytearray()
    for p in args:
        try:
            out += files.resolve(p).read_bytes()
        except OSError as e:
            return bytes(out), f"cat: {p}: {e.strerror or e}\n".encode(), 1
    return bytes(out), b"", 0


def _gzip(args, stdin, files) -> Result:
    try:
        flags, paths = _flags(args, "cfn123456789", "gzip")
    except ValueError as e:
        return _err(str(e), 1)
    level = max([int(c) for c in flags if c.isdigit()] or [6])
    if not paths:
        return gzip.compress(stdin, compresslevel=level, mtime=0), b"", 0
    out = bytearray()
    for p in paths:
        try:
            src = files.resolve(p)
            data = gzip.compress(src.read_bytes(), compresslevel=level)
            if "c" in flags:
                out += data
                continue
            dst = src.with_name(src.name + ".gz")
            if dst.exists() and "f" not in flags:
                return bytes(out), f"gzip: {p}.gz already exists\n".encode(), 1
            tmp = dst.with_name(dst.name + ".part")
            tmp.write_bytes(data)
            os.replace(tmp, dst)
            src.unlink()
        except OSError as e:
            return bytes(out), f"gzip: {p}: {e.strerror or e}\n".encode(), 1
    return bytes(out), b"", 0
