"""Product signatures: which unified-log records of an extension are which canonical event.

Every product logs its own sentences. A *signature file* (TOML) says, once per product, how its
records map to the rig's extension kinds, so the parser stays product-agnostic::

    [product]
    name = "TwinProxy"
    subsystems = ["com.example.twinproxy"]      # records of interest (the prefilter uses these)

    [[rule]]                                     # rules are tried in order; the first match wins
    kind = "tunnel_up"                           # one of the extension kinds (see EXTENSION_KINDS)
    category = "tunnel"                          # optional: exact category
    subsystem = "com.example.twinproxy.helper"   # optional: exact subsystem (default: the product's)
    message = '^Tunnel up session=(?P<session>\\S+)'   # regex searched in eventMessage

Named groups ``session``, ``reason`` and ``verdict`` (``dark``/``full`` for ``wake_classified``)
are extracted; any other group name is an error, because nothing downstream would read it.

A bad file fails when it is loaded, naming the rule::

    signatures.toml: rule 3 (kind "tunnel_upp"): unknown kind (known: ext_sleep, ...)

Loading is the only I/O here (:func:`load_signatures`); :func:`parse_signatures` takes text.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from os import PathLike

from rig.events import Kind
from rig.names import SUBSYSTEM_RULE, is_subsystem

#: The kinds a signature rule may produce: what an extension itself can tell us.
EXTENSION_KINDS: tuple[Kind, ...] = (
    Kind.EXT_SLEEP,
    Kind.EXT_WAKE,
    Kind.HANDSHAKE_START,
    Kind.TUNNEL_UP,
    Kind.TUNNEL_DOWN,
    Kind.KEEPALIVE,
    Kind.ALERT_DISCONNECTED,
    Kind.WAKE_CLASSIFIED,
)
GROUPS = frozenset({"session", "reason", "verdict"})

_RULE_KEYS = frozenset({"kind", "message", "subsystem", "category"})
_PRODUCT_KEYS = frozenset({"name", "subsystems"})
_TOP_KEYS = frozenset({"product", "rule"})
_KINDS_BY_VALUE = {k.value: k for k in EXTENSION_KINDS}


class SignatureError(ValueError):
    """A signature file that cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class Rule:
    """One ``[[rule]]``: where it applies (subsystems, category) and what it extracts."""

    index: int                      # 1-based position in the file, for messages
    kind: Kind
    message: re.Pattern
    subsystems: tuple[str, ...]
    category: str | None = None

    def applies_to(self, subsystem: str, category: str) -> bool:
        return subsystem in self.subsystems and (self.category is None or self.category == category)


@dataclass(frozen=True)
class Signatures:
    """A product's rules. :meth:`match` maps one record to ``(kind, groups)`` or ``None``."""

    product: str
    subsystems: tuple[str, ...]
    rules: tuple[Rule, ...]
    # (subsystem, category) -> the rules that can apply; filled lazily, never compared or hashed
    _by_place: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @property
    def watched_subsystems(self) -> tuple[str, ...]:
        """The product's subsystems plus any a rule names itself (what a log parser must keep)."""
        seen = dict.fromkeys(self.subsystems)
        for rule in self.rules:
            seen.update(dict.fromkeys(rule.subsystems))
        return tuple(seen)

    def match(self, subsystem: str, category: str, message: str) -> tuple[Kind, dict] | None:
        """The first rule matching this record: its kind and its non-empty named groups."""
        key = (subsystem, category)
        rules = self._by_place.get(key)
        if rules is None:
            rules = tuple(r for r in self.rules if r.applies_to(subsystem, category))
            if len(self._by_place) < 4096:      # a hostile log cannot grow this without bound
                self._by_place[key] = rules
        for rule in rules:
            m = rule.message.search(message)
            if m is not None:
                return rule.kind, {k: v for k, v in m.groupdict().items() if v is not None}
        return None


def load_signatures(path: str | PathLike) -> Signatures:
    """Read and check a signature file (the only I/O of this module)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SignatureError(f"{path}: not UTF-8 ({e})") from None
    return parse_signatures(text, name=str(path))


def parse_signatures(text: str, name: str = "signatures") -> Signatures:
    """Check and compile a signature file's text; ``name`` prefixes every error message."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SignatureError(f"{name}: not valid TOML: {e}") from None

    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise SignatureError(f"{name}: unknown top-level key(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(_TOP_KEYS))})")
    product = doc.get("product")
    if not isinstance(product, dict):
        raise SignatureError(f"{name}: missing [product] table (name, subsystems)")
    unknown = sorted(set(product) - _PRODUCT_KEYS)
    if unknown:
        raise SignatureError(f"{name}: [product]: unknown key(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(_PRODUCT_KEYS))})")
    pname = product.get("name")
    if not isinstance(pname, str) or not pname:
        raise SignatureError(f"{name}: [product]: name must be a non-empty string")
    subsystems = product.get("subsystems", [])
    if not isinstance(subsystems, list) or not all(isinstance(s, str) and s for s in subsystems):
        raise SignatureError(f"{name}: [product]: subsystems must be a list of non-empty strings")
    for sub in subsystems:
        if not is_subsystem(sub):
            raise SignatureError(f"{name}: [product]: subsystem {sub!r} is not a unified-log subsystem "
                                 f"({SUBSYSTEM_RULE}); it goes into the log show predicate")

    raw_rules = doc.get("rule", [])
    if not isinstance(raw_rules, list):
        raise SignatureError(f"{name}: rule must be an array of tables ([[rule]])")
    rules = tuple(_rule(name, i, r, tuple(subsystems)) for i, r in enumerate(raw_rules, start=1))
    return Signatures(product=pname, subsystems=tuple(subsystems), rules=rules)


def _rule(name: str, index: int, raw: object, default_subsystems: tuple[str, ...]) -> Rule:
    if not isinstance(raw, dict):
        raise SignatureError(f"{name}: rule {index}: must be a table ([[rule]])")
    kind_text = raw.get("kind")
    where = f'{name}: rule {index} (kind "{kind_text}")' if isinstance(kind_text, str) \
        else f"{name}: rule {index}"

    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise SignatureError(f"{where}: unknown key(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(_RULE_KEYS))})")
    if kind_text is None:
        raise SignatureError(f"{where}: missing kind")
    kind = _KINDS_BY_VALUE.get(kind_text) if isinstance(kind_text, str) else None
    if kind is None:
        raise SignatureError(f"{where}: unknown kind (known: {', '.join(_KINDS_BY_VALUE)})")

    pattern = raw.get("message")
    if pattern is None:
        raise SignatureError(f"{where}: missing message (a regex on eventMessage)")
    if not isinstance(pattern, str) or not pattern:
        raise SignatureError(f"{where}: message must be a non-empty string (a regex)")
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise SignatureError(f"{where}: bad message regex {pattern!r}: {e}") from None
    extra = sorted(set(compiled.groupindex) - GROUPS)
    if extra:
        raise SignatureError(f"{where}: unknown named group(s) {', '.join(extra)} "
                             f"(known: {', '.join(sorted(GROUPS))})")

    if "subsystem" in raw:
        sub = raw["subsystem"]
        if not isinstance(sub, str) or not sub:
            raise SignatureError(f"{where}: subsystem must be a non-empty string")
        if not is_subsystem(sub):
            raise SignatureError(f"{where}: subsystem {sub!r} is not a unified-log subsystem ({SUBSYSTEM_RULE})")
        subsystems: tuple[str, ...] = (sub,)
    else:
        subsystems = default_subsystems
        if not subsystems:
            raise SignatureError(f"{where}: no subsystem (the rule has none and [product] "
                                 "subsystems is empty)")
    category = raw.get("category")
    if category is not None and not isinstance(category, str):
        raise SignatureError(f"{where}: category must be a string")
    if category is not None and not is_subsystem(category):
        raise SignatureError(f"{where}: category {category!r} is not a unified-log category ({SUBSYSTEM_RULE})")
    return Rule(index=index, kind=kind, message=compiled, subsystems=subsystems, category=category)
