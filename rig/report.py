"""Reports: ``report.html`` (one self-contained file) and ``summary.md`` (ten lines for chat or a PR).

The HTML has no external assets and makes no request, so it opens from a mail attachment or a CI
artifact. Every string that came from a log, a lab file or the journal goes through
``html.escape``: a log line carrying ``<script>`` is shown, never run.
"""
from __future__ import annotations

import html
import math

import pandas as pd

from . import __version__

CYCLE_COLUMNS = [
    ("mac", "Mac"), ("cycle", "cycle"), ("outcome", "outcome"), ("sleep_s", "sleep s"),
    ("dark_wakes", "dark wakes"), ("reconnects_in_sleep", "reconnects in sleep"),
    ("false_alerts", "false alerts"), ("true_alerts", "true alerts"), ("dpd_terminations", "DPD ends"),
    ("ttt_s", "TTT s"), ("ttt_anchor", "TTT anchor"), ("missed_gates", "missed gates"), ("reason", "reason"),
]

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d1d1f}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #d2d2d7;padding:3px 8px;text-align:left}
th{background:#f5f5f7} .pass{color:#1a7f37;font-weight:600} .fail{color:#c62828;font-weight:600}
.other{color:#8a6d00;font-weight:600} .verdict{font-size:18px;padding:6px 12px;display:inline-block;border-radius:6px}
.v-pass{background:#e6f4ea} .v-fail{background:#fdecea} code{font-size:12px}
"""


def esc(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return html.escape(f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.0f}")
    return html.escape(str(v))


def _cls(verdict: str) -> str:
    return {"pass": "pass", "fail": "fail"}.get(verdict, "other")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(meta: dict, scores: dict, cycles: pd.DataFrame) -> str:
    verdict = scores.get("verdict", "no data")
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        f"<title>rig report {esc(meta.get('run_id'))}</title><style>{_CSS}</style></head><body>",
        f"<h1>Sleep/wake report: build {esc(meta.get('build'))}</h1>",
        f"<div class='verdict v-{_cls(verdict)}'>verdict: <span class='{_cls(verdict)}'>{esc(verdict).upper()}</span></div>",
        _table(["run", "lab", "Macs", "suite", "started", "finished"], [[
            esc(meta.get("run_id")), esc(meta.get("lab", {}).get("name")),
            esc(", ".join(meta.get("macs", {}))), esc(meta.get("suite")),
            esc(meta.get("started")), esc(meta.get("finished"))]]),
        "<h2>Gates</h2>",
        _table(["gate", "metric", "value", "limit", "unit", "verdict"], [[
            esc(g["name"]), esc(f"{g['agg']}({g['metric']})"), esc(g["value"]), esc(f"{g['op']} {g['limit']}"),
            esc(g["unit"]), f"<span class='{_cls(g['verdict'])}'>{esc(g['verdict'])}</span>"]
            for g in scores.get("gates", [])]),
        "<h2>Headline</h2>",
        _table(["cycles", "scored", "reconnects in sleep", "false alerts", "dark wakes", "TTT p50 s",
                "TTT p95 s", "TTT max s", "censored TTT"], [[
            esc(scores.get("cycles")), esc(scores.get("cycles_scored")),
            esc(scores["totals"]["reconnects_in_sleep"]), esc(scores["totals"]["false_alerts"]),
            esc(scores["totals"]["dark_wakes"]), esc(scores["ttt"]["p50"]), esc(scores["ttt"]["p95"]),
            esc(scores["ttt"]["max"]), esc(scores["ttt"]["censored"])]]),
        "<h2>Cycles</h2>",
    ]
    present = [(c, h) for c, h in CYCLE_COLUMNS if c in cycles.columns]
    rows = []
    for rec in cycles.to_dict("records"):
        cells = []
        for c, _ in present:
            v = rec.get(c)
            cells.append(f"<span class='{_cls(v)}'>{esc(v)}</span>" if c == "outcome" else esc(v))
        rows.append(cells)
    parts.append(_table([h for _, h in present], rows))
    errs = scores.get("rig_errors", [])
    parts.append("<h2>Rig errors and unscored cycles</h2>")
    parts.append(_table(["Mac", "cycle", "outcome", "reason"],
                        [[esc(e["mac"]), esc(e["cycle"]), esc(e["outcome"]), esc(e["reason"])] for e in errs])
                 if errs else "<p>none</p>")
    parts.append("<h2>Log lines</h2>")
    bad_rows = []
    for key, srcs in scores.get("bad_lines", {}).items():
        for src, c in srcs.items():
            bad_rows.append([esc(key), esc(src), esc(c["read"]), esc(c["parsed"]), esc(c["other"]),
                             esc(c["rejected"]), esc(", ".join(map(str, c["rejected_lines"][:10])))])
    parts.append(_table(["cycle", "source", "read", "parsed", "other", "rejected", "first rejected lines"], bad_rows))
    parts.append("<h2>How this was made</h2>")
    parts.append(_table(["what", "value"], [
        [esc("rig version"), esc(meta.get("rig_version", __version__))],
        [esc("command"), f"<code>{esc(' '.join(meta.get('command', [])))}</code>"],
        [esc("plan"), f"<code>{esc(meta.get('plan'))}</code>"],
        [esc("macOS"), esc(meta.get("macos"))],
    ]))
    parts.append("</body></html>")
    return "\n".join(parts)


def render_summary(meta: dict, scores: dict, cycles: pd.DataFrame, report_path: str = "report.html") -> str:
    gates = {g["metric"]: g for g in scores.get("gates", [])}

    def gate_text(metric: str, value: str) -> str:
        g = gates.get(metric)
        return f"{value} (gate {g['op']} {g['limit']} {g['unit']}: {g['verdict']})" if g else value

    worst = ""
    if len(cycles) and "false_alerts" in cycles.columns:
        per_mac = cycles.groupby("mac")[["false_alerts", "reconnects_in_sleep"]].sum(min_count=1).fillna(0)
        if len(per_mac):
            m = (per_mac["false_alerts"] + per_mac["reconnects_in_sleep"]).idxmax()
            worst = f"{m} ({int(per_mac.loc[m, 'false_alerts'])} false alerts, {int(per_mac.loc[m, 'reconnects_in_sleep'])} reconnects)"
    t = scores["totals"]
    p95 = scores["ttt"]["p95"]
    lines = [
        f"**{scores.get('verdict', 'no data').upper()}**: build `{meta.get('build')}` on lab `{meta.get('lab', {}).get('name')}`, "
        f"{scores.get('cycles_scored')}/{scores.get('cycles')} cycles scored",
        f"- reconnects in sleep: {gate_text('reconnects_in_sleep', str(t['reconnects_in_sleep']))}",
        f"- false disconnect alerts: {gate_text('false_alerts', str(t['false_alerts']))}",
        f"- time-to-tunnel p95: {gate_text('ttt_s', 'n/a' if p95 is None else f'{p95:.2f} s')}"
        f"{', censored ' + str(scores['ttt']['censored']) if scores['ttt']['censored'] else ''}",
        f"- worst Mac: {worst or 'n/a'}",
        f"- report: [{report_path}]({report_path})",
    ]
    return "\n".join(lines) + "\n"


def write(folder, meta: dict, scores: dict, cycles: pd.DataFrame, events: pd.DataFrame) -> None:
    folder.report_html.write_text(render_html(meta, scores, cycles))
    folder.summary_md.write_text(render_summary(meta, scores, cycles))
