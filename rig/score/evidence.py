"""Evidence before scores: what a cycle's numbers rest on, and the refusal when it is missing.

A collected cycle is scored only if every log its metrics read came back and holds records:
``pmset.log`` (power phases, dark wakes), ``unified.ndjson`` (the extension's lanes and alerts,
powerd's sleep/wake lines) and, in a lab with a gateway, ``gateway.log`` (sessions, DPD). A file
that is missing was never fetched; an empty or all-garbage one cannot say "nothing happened". A
gateway log that is empty *and* recorded as fetched with status 0 in ``collect.json`` is told
apart: the gateway logged nothing (the Mac never connected), which is evidence of absence.
Pure: counts and ``collect.json`` in, words out.
"""
from __future__ import annotations

FILES = {"pmset": "pmset.log", "unified": "unified.ndjson", "gateway": "gateway.log"}


def describe(counts: dict) -> str:
    """``pmset.log 412 lines (33 parsed); unified.ndjson 5120 lines (88 parsed); …``."""
    return "; ".join(f"{FILES.get(src, src)} {c.get('read', 0)} lines ({c.get('parsed', 0)} parsed"
                     + (f", {c['rejected']} rejected" if c.get("rejected") else "") + ")"
                     for src, c in sorted(counts.items()))


def missing(counts: dict, collect: dict | None, has_gateway: bool) -> list[str]:
    """What a collected cycle lacks to be scored (empty: nothing is missing)."""
    out = []
    for src in ("pmset", "unified") + (("gateway",) if has_gateway else ()):
        name, c = FILES[src], counts.get(src)
        fetched = (collect or {}).get(src) or {}
        if c is None:
            out.append(f"{name} missing (never fetched)")
        elif c.get("read", 0) == 0:
            if src == "gateway" and fetched.get("status") == 0:
                continue  # fetched and empty: the gateway logged nothing for the window
            out.append(f"{name} empty" + ("" if fetched else " and not recorded as fetched in collect.json"))
        elif c.get("parsed", 0) + c.get("other", 0) == 0 and c.get("rejected", 0):
            out.append(f"{name} holds no readable record ({c['read']} lines, {c['rejected']} rejected)")
        elif src == "pmset" and c.get("parsed", 0) == 0:
            out.append(f"{name} has no power line ({c['read']} lines)")
    return out
