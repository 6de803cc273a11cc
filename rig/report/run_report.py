"""Reports: ``report.html`` (one self-contained file) and ``summary.md`` (ten lines for chat or a PR).

The report is what most people ever see of the rig, so it is ordered by what they ask first:
the verdict and the gates; then the headline numbers; then, per Mac, a timeline picture of each
cycle (see :mod:`rig.report.svg_timeline`); then the per-cycle table, the rig's own errors, the log
lines it could not read, and the exact commands and versions behind it.

The HTML has no external assets and makes no request (a Content-Security-Policy forbids any),
so it opens from a mail attachment or a CI artifact. Every string that came from a log, a lab
file or the journal is masked with the lab's redaction patterns and then HTML-escaped: a log
line carrying ``<script>`` is shown, never run. Nothing in it depends on when it was rendered,
so re-deriving a run gives the same bytes.
"""
from __future__ import annotations

import html
import math

import pandas as pd

from rig import __version__
from rig.report import svg_timeline
from rig.metrics import time_summary, times
from rig.redact import Redactor

CYCLE_COLUMNS = [
    ("mac", "Mac"), ("cycle", "cycle"), ("outcome", "outcome"), ("sleep_s", "sleep s"),
    ("dark_wakes", "dark wakes"), ("reconnects_in_sleep", "reconnects in sleep"),
    ("handshakes_in_sleep", "handshakes in sleep"), ("handshakes_cut_by_sleep", "cut off by sleep"),
    ("gw_sessions_created", "gateway sessions"), ("dpd_terminations", "DPD ends"),
    ("alerts_ext_false", "false alerts ext"), ("alerts_gw_false", "false alerts gw"),
    ("true_alerts", "true alerts"), ("ttt_s", "TTT s"), ("ttt_anchor", "TTT anchor"),
    ("ttt_evidence", "TTT evidence"), ("zombie_s", "zombie s"),
    ("wake_callbacks_per_dark_wake", "wake() per dark wake"), ("keepalive_gap_max_s", "longest keep-alive gap s"),
    ("verdict_errors", "wrong wake verdicts"), ("missed_gates", "missed gates / rules"), ("reason", "reason"),
]

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d1d1f;max-width:1100px}
h1{font-size:20px;margin:0 0 6px} h2{font-size:16px;margin:26px 0 8px;border-bottom:1px solid #e5e5ea}
h3{font-size:14px;margin:16px 0 4px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #d2d2d7;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f7;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:600} .fail{color:#c62828;font-weight:600} .other{color:#8a6d00;font-weight:600}
.verdict{font-size:18px;padding:6px 14px;display:inline-block;border-radius:6px;margin:6px 0}
.v-pass{background:#e6f4ea} .v-fail{background:#fdecea} .v-other{background:#fff4d6}
code{font-size:12px;white-space:pre-wrap;word-break:break-all} .muted{color:#6e6e73}
figure{margin:6px 0 14px} figcaption{font-size:12px;color:#333;margin-bottom:2px}
svg.tl{display:block;max-width:100%;height:auto} svg.tl text{font:10px system-ui,sans-serif;fill:#333}
svg.tl text.ln{text-anchor:end} svg.tl text.tk{text-anchor:middle;fill:#666} svg.tl text.tk0{fill:#666}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin:6px 0 10px}
.key svg{vertical-align:middle} tr.worst td{background:#fff6f6}
.wide{overflow-x:auto;max-width:100%} table.cyc{font-size:12px} table.cyc td{white-space:nowrap}
table.cyc td:nth-last-child(-n+2){white-space:normal;min-width:160px}
"""

_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; "
        "connect-src 'none'; base-uri 'none'; form-action 'none'")


class _Text:
    """Redact, then escape: the only way a string reaches the page."""

    def __init__(self, redactor: Redactor | None):
        self.redactor = redactor or Redactor([])

    def __call__(self, v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "–"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            if math.isinf(v):
                return "∞"
            return html.escape(f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.0f}")
        return html.escape(self.redactor.text(str(v)))


def esc(v) -> str:
    """Escape one value for HTML (numbers shortened, missing values as a dash)."""
    return _Text(None)(v)


def _stat(ttt: dict, key: str, none="", fmt=None):
    """A time statistic of ``scores.json`` as a reader sees it: "censored" when it landed on a
    wake with no tunnel within the timeout (the registry's rule, rig/metrics.py), never 0."""
    if ttt.get(f"{key}_censored"):
        return "censored (> timeout)"
    v = ttt.get(key)
    if v is None:
        return none if fmt else None
    return fmt.format(v) if fmt else v


def _cls(verdict) -> str:
    return {"pass": "pass", "fail": "fail"}.get(str(verdict), "other")


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
           row_class: list[str] | None = None, cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for n, r in enumerate(rows):
        rcls = f' class="{row_class[n]}"' if row_class and row_class[n] else ""
        cells = "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        body.append(f"<tr{rcls}>{cells}</tr>")
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _gate_rows(t: _Text, scores: dict) -> list[list[str]]:
    rows = []
    for g, kind in [(g, "suite gate") for g in scores.get("gates", [])] + \
                   [(g, "rule (every suite)") for g in scores.get("rules", [])]:
        rows.append([t(g["name"]), t(kind), t(f"{g['agg']}({g['metric']})"), t(g["value"]),
                     t(f"{g['op']} {g['limit']:g}" if isinstance(g["limit"], (int, float)) else g["limit"]),
                     t(g["unit"]), f"<span class='{_cls(g['verdict'])}'>{t(g['verdict'])}</span>"])
    return rows


def render_html(meta: dict, scores: dict, cycles: pd.DataFrame, analyses: dict | None = None,
                redactor: Redactor | None = None, provenance: dict | None = None) -> str:
    t = _Text(redactor)
    analyses = analyses or {}
    provenance = provenance or {}
    verdict = scores.get("verdict", "no data")
    lab = meta.get("lab", {}) or {}
    macs = list(meta.get("macs") or {}) or (sorted(set(cycles["mac"])) if len(cycles) else [])
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>rig report {t(meta.get('run_id'))}: {t(meta.get('build'))} {t(str(verdict).upper())}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Sleep/wake report: build {t(meta.get('build'))}</h1>",
        f"<div class='verdict v-{_cls(verdict)}'>verdict: <span class='{_cls(verdict)}'>{t(str(verdict).upper())}</span>"
        f" <span class='muted'>({t(scores.get('cycles_scored'))} of {t(scores.get('cycles'))} cycles scored)</span></div>",
        _table(["run", "build", "lab", "Macs", "suite", "started", "finished"], [[
            t(meta.get("run_id")), t(meta.get("build")), t(lab.get("name")) + (" (twin)" if lab.get("virtual") else ""),
            t(", ".join(macs)), t(meta.get("suite")), t(meta.get("started")), t(meta.get("finished"))]]),
        "<h2>Gates</h2>",
        _table(["gate", "kind", "measure", "value", "limit", "unit", "verdict"], _gate_rows(t, scores), {3}),
    ]
    parts += _headline(t, scores)
    parts += _per_mac(t, scores)
    parts += _by_sleep_length(t, meta, cycles)
    parts.append("<h2>Timelines</h2>")
    parts.append("<p class='muted'>Each cycle: the whole cycle on the left, the seconds around the wake on "
                 "the right. Hover a mark for its time and log line.</p>")
    parts.append(svg_timeline.legend())
    rec_by_key = {(r["mac"], int(r["cycle"])): r for r in cycles.to_dict("records")} if len(cycles) else {}
    for mac in sorted({k[0] for k in rec_by_key}):
        parts.append(f"<h3>{t(mac)}</h3>")
        for (m, k), rec in sorted(rec_by_key.items()):
            if m != mac:
                continue
            a = analyses.get((m, k))
            cap = _caption(t, rec)
            svg = svg_timeline.render(a, caption=_plain_caption(rec)) if a is not None else ""
            body = svg or "<p class='muted'>no picture: the cycle was not collected or could not be scored</p>"
            parts.append(f"<figure><figcaption>{cap}</figcaption>{body}</figure>")
    parts.append("<h2>Cycles</h2>")
    present = [(c, h) for c, h in CYCLE_COLUMNS if c in cycles.columns]
    rows = []
    for rec in cycles.to_dict("records"):
        cells = []
        for c, _ in present:
            v = rec.get(c)
            cells.append(f"<span class='{_cls(v)}'>{t(v)}</span>" if c == "outcome" else t(v))
        rows.append(cells)
    num = {i for i, (c, _) in enumerate(present) if c not in ("mac", "outcome", "ttt_anchor", "ttt_evidence",
                                                               "missed_gates", "reason")}
    parts.append(f"<div class=wide>{_table([h for _, h in present], rows, num, cls='cyc')}</div>")
    parts += _rig_errors(t, scores, provenance)
    parts += _bad_lines(t, scores)
    parts += _how_made(t, meta, provenance)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _caption(t: _Text, rec: dict) -> str:
    out = rec.get("outcome")
    return f"cycle {t(rec.get('cycle'))} <span class='{_cls(out)}'>{t(out)}</span> · {t(_facts(rec))}"


def _plain_caption(rec: dict) -> str:
    return f"{rec.get('mac')} cycle {rec.get('cycle')}: {rec.get('outcome')}; {_facts(rec)}"


def _facts(rec: dict) -> str:
    sleep = rec.get("sleep_s")
    if not (isinstance(sleep, (int, float)) and math.isfinite(sleep)):
        return f"not scored: {rec.get('reason') or 'the cycle was not collected'}"

    def n(k):
        v = rec.get(k)
        return 0 if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
    ttt = rec.get("ttt_s")
    if rec.get("ttt_censored") is True or ttt is None or (isinstance(ttt, float) and math.isnan(ttt)):
        ttt_txt = "no tunnel within the timeout" if rec.get("ttt_censored") else "TTT n/a"
    else:
        ttt_txt = f"TTT {float(ttt):.2f} s from {rec.get('ttt_anchor') or '?'}"
    sleep_txt = f"sleep {float(sleep) / 60:.1f} min, "
    z = rec.get("zombie_s")
    z_txt = f", zombie {float(z):.1f} s" if isinstance(z, (int, float)) and math.isfinite(z) and z > 0 else ""
    missed = rec.get("missed_gates")
    m_txt = f"; missed: {missed}" if isinstance(missed, str) and missed else ""
    reason = rec.get("reason")
    r_txt = f"; {reason}" if isinstance(reason, str) and reason else ""
    return (f"{sleep_txt}{_plural(n('dark_wakes'), 'dark wake')}, "
            f"{_plural(n('reconnects_in_sleep'), 'reconnect')} in sleep, "
            f"{n('false_alerts')} false / {n('true_alerts')} true alerts, {_plural(n('dpd_terminations'), 'DPD end')}, "
            f"{ttt_txt}{z_txt}{m_txt}{r_txt}")


def _plural(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _headline(t: _Text, s: dict) -> list[str]:
    if "totals" not in s:
        return []
    tot, rate, ttt, z = s["totals"], s.get("rates_per_sleep_hour", {}), s.get("ttt", {}), s.get("zombie", {})

    def line(name, metric, unit="per cycle window"):
        return [t(name), t(tot.get(metric)), t(rate.get(metric))]
    out = ["<h2>Headline</h2>",
           f"<p>{t(s.get('cycles_scored'))} cycles scored over {t(s.get('sleep_hours'))} sleep-hours. "
           f"Rig errors and unknown cycles are listed apart and never scored "
           f"({t(', '.join(f'{k} {v}' for k, v in s.get('unscored', {}).items()) or 'none')}).</p>",
           _table(["metric", "total", "per sleep-hour"], [
               line("reconnects in sleep", "reconnects_in_sleep"),
               line("handshakes started in sleep", "handshakes_in_sleep"),
               line("handshakes cut off by sleep", "handshakes_cut_by_sleep"),
               line("gateway sessions created in sleep", "gw_sessions_in_sleep"),
               line("gateway sessions created", "gw_sessions_created"),
               line("DPD terminations", "dpd_terminations"),
               line("false alerts", "false_alerts"),
               line("true alerts", "true_alerts"),
               line("dark wakes", "dark_wakes"),
               line("wrong wake verdicts", "verdict_errors"),
           ], {1, 2}),
           _table(["time-to-tunnel", "n", "p50 s", "p95 s", "max s", "censored (failures)", "anchors used",
                   "evidence"], [[
               "", t(ttt.get("n")), t(_stat(ttt, "p50")), t(_stat(ttt, "p95")), t(_stat(ttt, "max")), t(ttt.get("censored")),
               t(", ".join(f"{k} {v}" for k, v in ttt.get("anchors", {}).items())),
               t(", ".join(f"{k} {v}" for k, v in ttt.get("evidence", {}).items()))]], {1, 2, 3, 4, 5}),
           _table(["zombie time", "total s", "max s", f"cycles over the {s.get('grace_s', 30):g} s grace", "evidence"], [[
               "", t(z.get("total_s")), t(z.get("max_s")), t(z.get("cycles_over_grace")),
               t(", ".join(f"{k} {v}" for k, v in z.get("evidence", {}).items()))]], {1, 2, 3}),
           "<h3>Alerts, and why the false ones are false</h3>",
           _table(["side", "asleep", "in dark wake", "recovered within grace", "false total", "true"], [
               ["extension", t(tot.get("alerts_ext_false_asleep")), t(tot.get("alerts_ext_false_dark")),
                t(tot.get("alerts_ext_false_recovered")), t(tot.get("alerts_ext_false")), t(tot.get("true_alerts_ext"))],
               ["gateway (DPD)", t(tot.get("alerts_gw_false_asleep")), t(tot.get("alerts_gw_false_dark")),
                t(tot.get("alerts_gw_false_recovered")), t(tot.get("alerts_gw_false")), t(tot.get("true_alerts_gw"))],
           ], {1, 2, 3, 4, 5})]
    cb = s.get("callbacks_per_dark_wake", {})
    out.append(f"<p>Callbacks per dark wake: wake() {t(cb.get('wake'))}, sleep() {t(cb.get('sleep'))}. "
               f"Longest keep-alive gap: {t(s.get('keepalive_gap_max_s'))} s.</p>")
    wv = s.get("wake_verdicts")
    if wv:
        out.append("<h3>The build's own wake verdicts against the power log</h3>")
        out.append(_table(["power log says", "build said dark", "build said full"], [
            ["dark wake", t(wv["true_dark"]["said_dark"]), t(wv["true_dark"]["said_full"])],
            ["full wake", t(wv["true_full"]["said_dark"]), t(wv["true_full"]["said_full"])],
        ], {1, 2}) + f"<p class='muted'>unmatched verdicts: {t(tot.get('verdicts_unmatched'))}</p>")
    return out


def _per_mac(t: _Text, s: dict) -> list[str]:
    per = s.get("per_mac") or {}
    if not per:
        return []
    worst = s.get("worst_mac")
    rows, classes = [], []
    for mac, m in per.items():
        tt = m["totals"]
        rows.append([t(mac) + (" <span class='fail'>worst</span>" if mac == worst and m["failed"] else ""),
                     t(m["cycles"]), t(m["cycles_scored"]), t(m["failed"]),
                     t(tt["reconnects_in_sleep"]), t(tt["false_alerts"]), t(tt["true_alerts"]),
                     t(tt["dpd_terminations"]), t(_stat(m["ttt"], "p95")), t(m["ttt"]["censored"]),
                     t(m["zombie_cycles_over_grace"])])
        classes.append("worst" if mac == worst and m["failed"] else "")
    return ["<h2>Macs</h2>", _table(["Mac", "cycles", "scored", "failed", "reconnects in sleep", "false alerts",
                                     "true alerts", "DPD ends", "TTT p95 s", "censored TTT", "zombie cycles"],
                                    rows, set(range(1, 11)), classes)]


def _by_sleep_length(t: _Text, meta: dict, cycles: pd.DataFrame) -> list[str]:
    """A sweep (``suite_plan.sweep_s`` in run.json, e.g. 2, 5, 10, 20, 45 min): the scored cycles
    grouped by the planned sleep length nearest their measured sleep, so one table shows at which
    length churn (reconnects in sleep, false alerts, DPD ends) and slow reconnects (TTT) begin."""
    lengths = sorted((meta.get("suite_plan") or {}).get("sweep_s") or [])
    need = {"sleep_s", "reconnects_in_sleep", "false_alerts", "dpd_terminations", "ttt_s"}
    if not lengths or not len(cycles) or not need <= set(cycles.columns):
        return []
    sc = cycles[cycles["sleep_s"].notna()]
    nearest = sc["sleep_s"].map(lambda x: min(lengths, key=lambda length: abs(length - x)))
    rows = []
    for length in lengths:
        g = sc[nearest == length]
        recs = g.to_dict("records")
        censored = int(g["ttt_censored"].fillna(False).astype(bool).sum()) if "ttt_censored" in g else 0
        rows.append([t(f"{length / 60:g} min"), t(len(g)), t(int((g["outcome"] == "fail").sum())),
                     t(int(g["reconnects_in_sleep"].sum())), t(int(g["false_alerts"].sum())),
                     t(int(g["dpd_terminations"].sum())),
                     t(_stat(time_summary(times(recs, "ttt_s")), "p95")), t(censored)])
    return ["<h2>By sleep length</h2>",
            _table(["sleep", "cycles", "failed", "reconnects in sleep", "false alerts", "DPD ends", "TTT p95 s",
                    "censored TTT"], rows, set(range(1, 8)))]


def _rig_errors(t: _Text, s: dict, prov: dict) -> list[str]:
    errs = s.get("rig_errors", [])
    out = ["<h2>Rig errors and unscored cycles</h2>"]
    out.append(_table(["Mac", "cycle", "outcome", "reason"],
                      [[t(e["mac"]), t(e["cycle"]), t(e["outcome"]), t(e["reason"])] for e in errs])
               if errs else "<p>none</p>")
    rec = prov.get("recoveries", [])
    if rec:
        out.append("<h3>Recovery steps taken</h3>")
        out.append(_table(["Mac", "cycle", "step", "error"],
                          [[t(r.get("mac")), t(r.get("cycle")), t(r.get("step")), t(r.get("error", ""))] for r in rec]))
    return out


def _bad_lines(t: _Text, s: dict) -> list[str]:
    rows = []
    totals: dict = {}
    for key, srcs in sorted(s.get("bad_lines", {}).items()):
        for src, c in sorted(srcs.items()):
            tot = totals.setdefault(src, [0, 0, 0, 0])
            for i, f in enumerate(("read", "parsed", "other", "rejected")):
                tot[i] += int(c.get(f, 0))
            if c.get("rejected"):
                rows.append([t(key), t(src), t(c["read"]), t(c["rejected"]),
                             t(", ".join(map(str, c.get("rejected_lines", [])[:10])))])
    out = ["<h2>Log lines</h2>",
           _table(["source", "read", "parsed", "other", "rejected"],
                  [[t(src), *(t(v) for v in vals)] for src, vals in sorted(totals.items())], {1, 2, 3, 4})]
    out.append(_table(["cycle", "source", "read", "rejected", "first rejected lines"], rows, {2, 3})
               if rows else "<p>No line was rejected.</p>")
    if s.get("journal_torn_lines"):
        out.append(f"<p class='fail'>journal: {t(s['journal_torn_lines'])} unreadable line(s)</p>")
    return out


def _how_made(t: _Text, meta: dict, prov: dict) -> list[str]:
    rows = [
        ["rig version (run)", t(meta.get("rig_version"))],
        ["rig version (this report)", t(__version__)],
        ["command", f"<code>{t(' '.join(map(str, meta.get('command', []))))}</code>"],
        ["plan", f"<code>{t(_plain(meta.get('plan')))}</code>"],
        ["extension", t(_plain(meta.get("extension")))],
        ["gateway", t(_plain(meta.get("gateway")))],
    ]
    for mac, line in sorted(prov.get("installed", {}).items()):
        rows.append([f"installed on {t(mac)}", f"<code>{t(line)}</code>"])
    for mac, cmds in sorted(prov.get("collect", {}).items()):
        for name, cmd in sorted(cmds.items()):
            rows.append([f"{t(name)} on {t(mac)} (first cycle)", f"<code>{t(cmd)}</code>"])
    return ["<h2>How this was made</h2>", _table(["what", "value"], rows)]


def _plain(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={_plain(x)}" for k, x in sorted(v.items()))
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_plain(x) for x in v) + "]"
    return "" if v is None else str(v)


def render_summary(meta: dict, scores: dict, cycles: pd.DataFrame, report_path: str = "report.html") -> str:
    """At most ten lines: verdict, the three headline metrics with their gates, the worst Mac, a link."""
    gates = {g["metric"]: g for g in scores.get("gates", [])}

    def gate_text(metric: str, value: str) -> str:
        g = gates.get(metric)
        if not g:
            return value
        return f"{value} (gate {g['agg']} {g['op']} {g['limit']:g} {g['unit']}: **{g['verdict']}**)"

    def fmt(v) -> str:
        return "n/a" if v is None else f"{v:g}"

    t = scores.get("totals", {})
    r = scores.get("rates_per_sleep_hour", {})
    ttt = scores.get("ttt", {})
    worst = scores.get("worst_mac") or ""
    w = scores.get("per_mac", {}).get(worst)
    worst_txt = (f"{worst} ({w['failed']} failed cycles, {w['totals']['false_alerts']} false alerts, "
                 f"{w['totals']['reconnects_in_sleep']} reconnects in sleep)") if w else "n/a"
    rate = lambda m: f", {r[m]:.2f}/sleep-h" if r.get(m) is not None else ""  # noqa: E731
    unscored = ", ".join(f"{k} {v}" for k, v in scores.get("unscored", {}).items() if v)
    lines = [
        f"**{str(scores.get('verdict', 'no data')).upper()}**: build `{meta.get('build')}` on lab "
        f"`{(meta.get('lab') or {}).get('name')}`, {scores.get('cycles_scored')}/{scores.get('cycles')} cycles scored"
        + (f" ({unscored}, not scored)" if unscored else ""),
        f"- reconnects in sleep: {gate_text('reconnects_in_sleep', fmt(t.get('reconnects_in_sleep')) + rate('reconnects_in_sleep'))}",
        f"- false disconnect alerts: {gate_text('false_alerts', fmt(t.get('false_alerts')) + rate('false_alerts'))}",
        f"- time-to-tunnel p95: {gate_text('ttt_s', _stat(ttt, 'p95', 'n/a', '{:.2f} s'))}"
        + (f", {ttt['censored']} censored (failures)" if ttt.get("censored") else ""),
        f"- worst Mac: {worst_txt}",
        f"- report: [{report_path}]({report_path})",
    ]
    return "\n".join(lines) + "\n"


def write(folder, meta: dict, scores: dict, cycles: pd.DataFrame, analyses: dict | None = None,
          redactor: Redactor | None = None, provenance: dict | None = None) -> None:
    folder.report_html.write_text(render_html(meta, scores, cycles, analyses, redactor, provenance))
    red = redactor or Redactor([])
    folder.summary_md.write_text(red.text(render_summary(meta, scores, cycles)))
