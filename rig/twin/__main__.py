"""``python -m rig.twin serve --dir D [--config JSON]`` starts a twin lab;
``python -m rig.twin shell --socket SOCK --host NAME`` is a twin Mac's shell for a real sshd's
``ForceCommand`` (``shell_door.py``: it imports nothing heavy, it runs once per exec).
"""
from __future__ import annotations

import argparse
from pathlib import Path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="rig.twin")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run a twin lab until SIGTERM or stdin closes")
    s.add_argument("--dir", required=True, type=Path)
    s.add_argument("--config", default="", help="TwinConfig as JSON")
    sh = sub.add_parser("shell", help="run $SSH_ORIGINAL_COMMAND on a twin host (sshd ForceCommand)")
    sh.add_argument("--socket", required=True, help="the twin's door.sock")
    sh.add_argument("--host", required=True, help="the twin host (a Mac's name)")
    sh.add_argument("--home", default=None, help="the host's files directory (default: beside the socket)")
    a = p.parse_args(argv)
    if a.cmd == "shell":
        from rig.twin.shell_door import main as door

        door(["--socket", a.socket, "--host", a.host] + (["--home", a.home] if a.home else []))
        return
    from rig.twin.serve import TwinConfig, serve

    cfg = TwinConfig.from_json(a.config) if a.config else TwinConfig()
    serve(a.dir, cfg)


if __name__ == "__main__":
    main()
