"""``python -m rig.twin serve --dir D [--build MODEL] [--scale S] [--seed N] [--config JSON]``."""
from __future__ import annotations

import argparse
from pathlib import Path

from .serve import TwinConfig, serve


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="rig.twin")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run a twin lab until SIGTERM or stdin closes")
    s.add_argument("--dir", required=True, type=Path)
    s.add_argument("--config", default="", help="TwinConfig as JSON")
    a = p.parse_args(argv)
    cfg = TwinConfig.from_json(a.config) if a.config else TwinConfig()
    serve(a.dir, cfg)


if __name__ == "__main__":
    main()
