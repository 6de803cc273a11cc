"""A lab file's worth of one Mac and one actuator, as the dict ``tomllib`` makes of it, for
tests that need a real :class:`rig.lab.inventory.Lab` without a twin: ``section__key=value``
overrides one field (``None`` removes it), e.g. ``lab(tmp_path, actuator__port="place:rig-bench")``."""
from __future__ import annotations

from rig.lab.inventory import parse_lab

SIG = "signatures.toml"


def lab(tmp_path, gateway: dict | None = None, **over):
    (tmp_path / SIG).write_text('[product]\nname="x"\nsubsystems=["com.x"]\n')
    raw = {
        "lab": {"name": "rack-a"},
        "extension": {"name": "X", "subsystem": "com.x", "signatures": SIG},
        "actuator": [{"name": "act-1", "port": "/dev/ttyUSB0"}],
        "mac": [{"name": "mbp-01", "host": "mbp-01.lab", "user": "rig", "known_hosts": "kh",
                 "actuator": "act-1", "channel": 1}],
    }
    if gateway is not None:
        raw["gateway"] = gateway
    for path, value in over.items():
        section, _, key = path.partition("__")
        target = raw[section][0] if isinstance(raw[section], list) else raw[section]
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return parse_lab(raw, tmp_path / "lab.toml")
