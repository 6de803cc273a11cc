"""``rig actuator``: bring an actuator board up on the bench, one request at a time, and flash it.

::

    rig actuator --lab lab.toml act-1 ping            # firmware, protocol, channels, boot id
    rig actuator --lab lab.toml act-1 status 1
    rig actuator --lab lab.toml act-1 lid 1 close     # or open: calibrate the lid with this
    rig actuator --lab lab.toml act-1 press 1 300     # a 300 ms power-button press
    rig actuator --lab lab.toml act-1 ac 1 off        # or on
    rig actuator flash /dev/serial/by-id/usb-MicroPython_Board_in_FS_mode_…-if00

Each request goes through the lab's own driver (the one a night uses: ids, retries, the boot-id
check) and prints what was sent, the reply, and the round trip, so a person at the bench sees
exactly what the rig will see. ``flash`` copies ``firmware/`` onto a MicroPython board with
``mpremote`` and prints the ``mpremote`` line it ran, to repeat by hand if need be.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import click
import serial

USAGE = ("rig actuator --lab FILE NAME ping | status CH | lid CH open|close | press CH MS | ac CH on|off\n"
         "rig actuator flash PORT [--pinmap FILE] [--no-reset]")
# mpremote's exec: make the package folder on the board (it may be there already)
MKDIR = "import os\ntry:\n    os.mkdir('rigfw')\nexcept OSError:\n    pass\n"


@click.command("actuator", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--lab", "lab_path", type=click.Path(dir_okay=False, path_type=Path),
              help="the lab file naming the actuator (not needed for flash)")
@click.option("--pinmap", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="flash: this board's pin map and lid calibration instead of firmware/rigfw/pinmap.py")
@click.option("--no-reset", is_flag=True, help="flash: leave the board in its REPL after copying")
@click.argument("words", nargs=-1, required=True)
def actuator(lab_path, pinmap, no_reset, words) -> None:
    """Send one request to an actuator and print the reply and round trip, or flash a board.

    \b
    rig actuator --lab FILE NAME ping | status CH | lid CH open|close | press CH MS | ac CH on|off
    rig actuator flash PORT [--pinmap FILE] [--no-reset]
    """
    if words[0] == "flash":
        if len(words) != 2:
            raise click.UsageError(f"flash takes one PORT\n{USAGE}")
        sys.exit(flash(words[1], pinmap, reset=not no_reset))
    if lab_path is None:
        raise click.UsageError(f"--lab FILE is needed to find actuator {words[0]!r}\n{USAGE}")
    verb, channel, arg, ms = parse_words(words[1:])
    bench_request(lab_path, words[0], verb, channel, arg, ms)


SHAPES = {"ping": "ping", "status": "status CH", "lid": "lid CH open|close", "press": "press CH MS",
          "ac": "ac CH on|off"}


def parse_words(words: tuple) -> tuple[str, int, str, int]:
    """``("lid", "1", "close")`` -> ``("LID", 1, "CLOSE", 0)``; a usage error says what is wrong."""
    if not words or words[0].lower() not in SHAPES:
        raise click.UsageError(f"expected a verb after the actuator's name\n{USAGE}")
    verb, rest = words[0].lower(), [w.lower() for w in words[1:]]
    wrong = click.UsageError(f"{verb}: expected {SHAPES[verb]}\n{USAGE}")
    if len(rest) != len(SHAPES[verb].split()) - 1 or (rest and not rest[0].isdigit()):
        raise wrong
    channel = int(rest[0]) if rest else 0
    if verb in ("ping", "status"):
        return verb.upper(), channel, "", 0
    if verb == "lid" and rest[1] in ("open", "close"):
        return "LID", channel, rest[1].upper(), 0
    if verb == "ac" and rest[1] in ("on", "off"):
        return "AC", channel, rest[1].upper(), 0
    if verb == "press" and rest[1].isdigit():
        return "PWR", channel, "PRESS", int(rest[1])
    raise wrong


def bench_request(lab_path: Path, name: str, verb: str, channel: int, arg: str, ms: int) -> None:
    from rig.drive.actuator import ActuatorError, load_backend
    from rig.lab.exported import PlaceError, reachable
    from rig.lab.inventory import LabError, load_lab

    try:
        lab = load_lab(lab_path)
    except LabError as e:
        raise click.ClickException(str(e))
    cfg = lab.actuators.get(name)
    if cfg is None:
        raise click.ClickException(f"{lab_path.name}: no actuator {name!r} (known: {', '.join(lab.actuators) or 'none'})")
    clock = lab.clock()
    try:
        with reachable(lab, cfg) as cfg, load_backend(cfg.kind)(cfg, clock) as dev:
            if not hasattr(dev, "ask"):
                raise click.ClickException(f'actuator "{name}" is a {cfg.kind} board: it does not answer requests '
                                           f"(try `rig doctor`, or press/ac through a run)")
            action = dev.ask(verb, channel, arg, ms)
    except (ActuatorError, PlaceError) as e:
        raise click.ClickException(str(e))
    if cfg.port != lab.actuators[name].port:
        click.echo(f"port:       {cfg.port} (exported to {lab.actuators[name].port})")
    r = action.reply
    click.echo(f"sent:       {action.request}")
    click.echo(f"reply:      {r.id} OK" + "".join(f" {k}={v}" for k, v in r.fields.items()))
    rtt_ms = (action.received - action.sent) / getattr(clock, "scale", 1.0) * 1000
    held = f" (the button is held {ms} ms before the reply)" if verb == "PWR" else ""
    click.echo(f"round trip: {rtt_ms:.2f} ms{held}" + (f", {action.attempts} attempts" if action.attempts > 1 else ""))
    for note in action.notes:
        click.echo(f"note:       {note}")


# -- flash ------------------------------------------------------------------------------------------

def firmware_files() -> list[tuple[Path, str]]:
    """(file here, path on the board) of everything the board runs: main.py and rigfw/."""
    from rig.twin.board_door import firmware_dir

    root = firmware_dir()
    files = [root / "main.py", *sorted((root / "rigfw").glob("*.py"))]
    return [(p, p.relative_to(root).as_posix()) for p in files]


def running_firmware(port: str) -> str:
    """The reply to a PING if the rig's firmware already runs there (its REPL is then shut)."""
    try:
        with serial.Serial(port, 115200, timeout=0.05) as s:
            s.reset_input_buffer()
            s.write(b"flash-check PING\n")
            buf, end = b"", time.monotonic() + 0.6
            while time.monotonic() < end:
                buf += s.read(256)
                for line in buf.split(b"\n"):
                    if line.startswith(b"flash-check OK "):
                        return line.decode("ascii", "replace").strip()
    except (serial.SerialException, OSError) as e:
        raise click.ClickException(f"cannot open {port}: {e}")
    return ""


def flash(port: str, pinmap: Path | None, reset: bool) -> int:
    mpremote = shutil.which("mpremote") or shutil.which("mpremote", path=str(Path(sys.executable).parent))
    if not mpremote:
        raise click.ClickException("mpremote is not installed: pip install mpremote")
    running = running_firmware(port)
    if running:
        raise click.ClickException(f"{port} runs the rig's firmware ({running}), which keeps the REPL shut: fit "
                                   f"the maintenance jumper (GP22 to GND), reset the board, flash again, "
                                   f"then remove the jumper and reset it")
    argv = [mpremote, "connect", port, "resume", "exec", MKDIR]
    for src, dest in firmware_files():
        if pinmap is not None and dest == "rigfw/pinmap.py":
            src = pinmap
        argv += ["+", "fs", "cp", str(src), f":{dest}"]
    if reset:
        argv += ["+", "reset"]
    click.echo("$ " + " ".join(a if a != MKDIR else repr(a) for a in argv))
    res = subprocess.run(argv, timeout=300)
    if res.returncode == 0:
        click.echo(f"flashed {len(firmware_files())} files" + ("; the board restarts into the firmware" if reset
                                                             else "; reset the board to start the firmware"))
    return res.returncode
