"""Names are data: what a Mac, actuator, lab or gateway user may be called, what a subsystem or
category may look like, and the check that a path the rig writes stays inside its folder.

A name becomes a directory (``raw/<mac>/``), a lease file, a journal part and a word in a remote
command; a subsystem becomes part of a ``log show`` predicate. So they are checked once, where
they enter (the lab file, the signature file), against patterns that cannot climb out of a
folder or close a quoted string, and each refusal names the file, the entry and the field.
"""
from __future__ import annotations

import re
from pathlib import Path

#: Letters, digits, ``.``, ``_`` and ``-``, not starting with a dot, at most 64 characters.
NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}\Z")
#: A unified-log subsystem or category: reverse-DNS-like words (``com.acme.proxy``, ``sleepWake``).
SUBSYSTEM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z")

NAME_RULE = "letters, digits, '.', '_' and '-' only, not starting with a dot, at most 64 characters"
SUBSYSTEM_RULE = "letters, digits, '.', '_' and '-' only (no quotes or blanks)"
#: A network interface's hardware (MAC) address: six hex pairs joined by ``:`` (or ``-``).
HW_ADDRESS = re.compile(r"[0-9A-Fa-f]{2}(?P<sep>[:-])[0-9A-Fa-f]{2}(?:(?P=sep)[0-9A-Fa-f]{2}){4}\Z")
HW_ADDRESS_RULE = "six hex pairs joined by ':' like aa:bb:cc:dd:ee:ff"


def is_name(s: object) -> bool:
    return isinstance(s, str) and NAME.match(s) is not None


def is_subsystem(s: object) -> bool:
    return isinstance(s, str) and SUBSYSTEM.match(s) is not None


def hw_address(s: object) -> bytes | None:
    """The six bytes of a hardware address written as :data:`HW_ADDRESS` (``None`` if it is not
    one): the lab file's ``wake_on_lan.mac`` and the magic packet built from it read it alike."""
    if not isinstance(s, str) or HW_ADDRESS.match(s) is None:
        return None
    return bytes.fromhex(s.replace(":", "").replace("-", ""))


def inside(base: Path, path: Path) -> Path:
    """``path`` if it resolves inside ``base``; ``ValueError`` naming both if it does not."""
    b, p = Path(base).resolve(), Path(path).resolve()
    if p != b and b not in p.parents:
        raise ValueError(f"{path} is outside {base}: refusing to write there")
    return Path(path)
