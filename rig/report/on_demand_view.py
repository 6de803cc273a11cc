"""On-demand dark wakes in the report: what the rig's Wake-on-LAN packets did, in one line.

"on-demand dark wakes: 14 sent, 13 dark wakes, 1 full wake" per Mac (``report.html``), for the
run (``summary.md``) and in each cycle's caption; nothing at all for a run that sent no packet.
The counts are the Mac's own pmset/powerd lines (``rig.score.on_demand``), never the packets
assumed to have worked: a Mac that full-wakes on them, or ignores them, shows here.
"""
from __future__ import annotations

import math

from rig.report.templating import h, p

LABEL = "on-demand dark wakes"


def _n(v) -> int:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return 0
    return 0 if math.isnan(x) else int(x)


def words(counts: dict) -> str:
    """"14 sent, 13 dark wakes, 1 full wake" from a cycle row or a totals block ("": none sent)."""
    sent, dark, full = (_n(counts.get(k)) for k in ("wol_sent", "wol_dark_wakes", "wol_full_wakes"))
    if not sent:
        return ""
    return (f"{sent} sent, {dark} dark wake{'' if dark == 1 else 's'}, "
            f"{full} full wake{'' if full == 1 else 's'}")


def cycle_text(rec: dict) -> str:
    """The caption's part: ``; on-demand dark wakes: …`` (empty when the cycle sent none)."""
    w = words(rec)
    return f"; {LABEL}: {w}" if w else ""


def blocks(scores: dict) -> list[dict]:
    """A heading and one line per Mac that was sent packets."""
    lines = [p(f"{mac}: {LABEL}: {words(m.get('totals', {}))}")
             for mac, m in (scores.get("per_mac") or {}).items() if words(m.get("totals", {}))]
    if not lines:
        return []
    return [h(2, "On-demand dark wakes"),
            p("Wake-on-LAN packets sent in the dwell, and what each Mac's own pmset and powerd lines "
              "show for them (a network reason; a full wake is a model that lights up on a packet).",
              "muted"), *lines]


def summary_line(scores: dict) -> list[str]:
    """``summary.md``'s line for the run, or nothing when no packet was sent."""
    w = words(scores.get("totals", {}))
    return [f"- {LABEL}: {w}"] if w else []
