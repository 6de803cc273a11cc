"""Reports: ``report.html`` (one self-contained file) and ``summary.md`` (ten lines for chat or a PR).

The report is what most people ever see of the rig, so it is ordered by what they ask first:
the verdict and the gates; then the headline numbers; then, per Mac, a timeline picture of each
cycle (see :mod:`rig.report.svg_timeline`); then the per-cycle table, the rig's own errors, the log
lines it could not read, and the exact commands and versions behind it.

The HTML has no external assets and makes no request (a Content-Security-Policy forbids any),
so it opens from a mail attachment or a CI artifact. It is laid out by the templates of
:mod:`rig.report.templating` with autoescaping: a log line carrying ``<script>`` is shown, never
run. What reaches it was masked with the lab's redaction patterns before any output was written
(:meth:`rig.redact.Redactor.mask`). Nothing in it depends on when it was rendered, so
re-deriving a run gives the same bytes.
"""
from __future__ import annotations

import math

import pandas as pd

from rig import __version__
from rig.metrics import time_summary, times
from rig.report import on_demand_view, sequential_view, svg_timeline
from rig.run_folder import atomic_write
from rig.report.templating import Code, Span, div, figure, h, md_code, p, page, table

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


def _verdict(v) -> Span:
    return Span(v, _cls(v))


def _gate_rows(scores: dict) -> list[list]:
    rows = []
    for g, kind in [(g, "suite gate") for g in scores.get("gates", [])] + \
                   [(g, "rule (every suite)") for g in scores.get("rules", [])]:
        rows.append([g["name"], kind, f"{g['agg']}({g['metric']})", g["value"],
                     f"{g['op']} {g['limit']:g}" if isinstance(g["limit"], (int, float)) else g["limit"],
                     g["unit"], _verdict(g["verdict"])])
    return rows


def render_html(meta: dict, scores: dict, cycles: pd.DataFrame, analyses: dict | None = None,
                provenance: dict | None = None) -> str:
    analyses = analyses or {}
    provenance = provenance or {}
    verdict = scores.get("verdict", "no data")
    lab = meta.get("lab", {}) or {}
    macs = list(meta.get("macs") or {}) or (sorted(set(cycles["mac"])) if len(cycles) else [])
    blocks = [
        h(1, f"Sleep/wake report: build {meta.get('build')}"),
        div(f"verdict v-{_cls(verdict)}",
            ["verdict: ", Span(str(verdict).upper(), _cls(verdict)), " ",
             Span(f"({scores.get('cycles_scored')} of {scores.get('cycles')} cycles scored)", "muted")]),
        table(["run", "build", "lab", "Macs", "suite", "started", "finished"], [[
            meta.get("run_id"), meta.get("build"), f"{lab.get('name')}" + (" (twin)" if lab.get("virtual") else ""),
            ", ".join(macs), meta.get("suite"), meta.get("started"), meta.get("finished")]]),
        h(2, "Gates"),
        table(["gate", "kind", "measure", "value", "limit", "unit", "verdict"], _gate_rows(scores), {3}),
    ]
    short = (scores.get("exposure") or {}).get("short")
    if short:
        blocks.insert(2, p(["Not enough exposure for a verdict: ", "; ".join(short),
                            " (a PASS needs the exposure the suite declares)."], "other"))
    blocks += sequential_view.blocks(scores)
    blocks += _headline(scores)
    blocks += _per_mac(scores)
    blocks += on_demand_view.blocks(scores)
    blocks += _by_sleep_length(meta, cycles)
    blocks += _timelines(cycles, analyses)
    blocks += _cycle_table(cycles)
    blocks += _rig_errors(scores, provenance)
    blocks += _bad_lines(scores)
    blocks += _how_made(meta, provenance)
    title = f"rig report {meta.get('run_id')}: {meta.get('build')} {str(verdict).upper()}"
    return page(title, "report.css", blocks)


def _timelines(cycles: pd.DataFrame, analyses: dict) -> list[dict]:
    out = [h(2, "Timelines"),
           p("Each cycle: the whole cycle on the left, the seconds around the wake on the right. "
             "Hover a mark for its time and log line.", "muted"),
           svg_timeline.legend()]
    rec_by_key = {(r["mac"], int(r["cycle"])): r for r in cycles.to_dict("records")} if len(cycles) else {}
    for mac in sorted({k[0] for k in rec_by_key}):
        out.append(h(3, mac))
        for (m, k), rec in sorted(rec_by_key.items()):
            if m != mac:
                continue
            a = analyses.get((m, k))
            pic = svg_timeline.render(a, caption=_plain_caption(rec)) if a is not None else ""
            out.append(figure(_caption(rec), pic or Span(
                "no picture: the cycle was not collected or could not be scored", "muted")))
    return out


def _cycle_table(cycles: pd.DataFrame) -> list[dict]:
    present = [(c, hd) for c, hd in CYCLE_COLUMNS if c in cycles.columns]
    rows = [[_verdict(rec.get(c)) if c == "outcome" else rec.get(c) for c, _ in present]
            for rec in cycles.to_dict("records")]
    num = {i for i, (c, _) in enumerate(present) if c not in ("mac", "outcome", "ttt_anchor", "ttt_evidence",
                                                               "missed_gates", "reason")}
    return [h(2, "Cycles"), table([hd for _, hd in present], rows, num, cls="cyc", wide=True)]


def _caption(rec: dict) -> list:
    out = rec.get("outcome")
    return [f"cycle {rec.get('cycle')} ", _verdict(out), f" · {_facts(rec)}"]


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
            f"{ttt_txt}{z_txt}{on_demand_view.cycle_text(rec)}{m_txt}{r_txt}")


def _plural(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _pairs(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items())


def _headline(s: dict) -> list[dict]:
    if "totals" not in s:
        return []
    tot, rate, ttt, z = s["totals"], s.get("rates_per_sleep_hour", {}), s.get("ttt", {}), s.get("zombie", {})

    def line(name, metric):
        return [name, tot.get(metric), rate.get(metric)]
    out = [h(2, "Headline"),
           p(f"{s.get('cycles_scored')} cycles scored over {s.get('sleep_hours')} sleep-hours. "
             f"Rig errors and unknown cycles are listed apart and never scored "
             f"({_pairs(s.get('unscored', {})) or 'none'})."),
           table(["metric", "total", "per sleep-hour"], [
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
           table(["time-to-tunnel", "n", "p50 s", "p95 s", "max s", "censored (failures)", "anchors used",
                  "evidence"], [[
               "", ttt.get("n"), _stat(ttt, "p50"), _stat(ttt, "p95"), _stat(ttt, "max"), ttt.get("censored"),
               _pairs(ttt.get("anchors", {})), _pairs(ttt.get("evidence", {}))]], {1, 2, 3, 4, 5}),
           table(["zombie time", "total s", "max s", f"cycles over the {s.get('grace_s', 30):g} s grace", "evidence"],
                 [["", z.get("total_s"), z.get("max_s"), z.get("cycles_over_grace"), _pairs(z.get("evidence", {}))]],
                 {1, 2, 3}),
           h(3, "Alerts, and why the false ones are false"),
           table(["side", "asleep", "in dark wake", "recovered within grace", "false total", "true"], [
               ["extension", tot.get("alerts_ext_false_asleep"), tot.get("alerts_ext_false_dark"),
                tot.get("alerts_ext_false_recovered"), tot.get("alerts_ext_false"), tot.get("true_alerts_ext")],
               ["gateway (DPD)", tot.get("alerts_gw_false_asleep"), tot.get("alerts_gw_false_dark"),
                tot.get("alerts_gw_false_recovered"), tot.get("alerts_gw_false"), tot.get("true_alerts_gw")],
           ], {1, 2, 3, 4, 5})]
    cb = s.get("callbacks_per_dark_wake", {})
    out.append(p(["Callbacks per dark wake: wake() ", cb.get("wake"), ", sleep() ", cb.get("sleep"),
                  ". Longest keep-alive gap: ", s.get("keepalive_gap_max_s"), " s."]))
    wv = s.get("wake_verdicts")
    if wv:
        out += [h(3, "The build's own wake verdicts against the power log"),
                table(["power log says", "build said dark", "build said full"], [
                    ["dark wake", wv["true_dark"]["said_dark"], wv["true_dark"]["said_full"]],
                    ["full wake", wv["true_full"]["said_dark"], wv["true_full"]["said_full"]],
                ], {1, 2}),
                p(["unmatched verdicts: ", tot.get("verdicts_unmatched")], "muted")]
    return out


def _per_mac(s: dict) -> list[dict]:
    per = s.get("per_mac") or {}
    if not per:
        return []
    worst = s.get("worst_mac")
    rows, classes = [], []
    for mac, m in per.items():
        tt = m["totals"]
        flag = mac == worst and m["failed"]
        rows.append([[mac, " ", Span("worst", "fail")] if flag else mac,
                     m["cycles"], m["cycles_scored"], m["failed"],
                     tt["reconnects_in_sleep"], tt["false_alerts"], tt["true_alerts"],
                     tt["dpd_terminations"], _stat(m["ttt"], "p95"), m["ttt"]["censored"],
                     m["zombie_cycles_over_grace"]])
        classes.append("worst" if flag else "")
    return [h(2, "Macs"), table(["Mac", "cycles", "scored", "failed", "reconnects in sleep", "false alerts",
                                 "true alerts", "DPD ends", "TTT p95 s", "censored TTT", "zombie cycles"],
                                rows, set(range(1, 11)), classes)]


def _by_sleep_length(meta: dict, cycles: pd.DataFrame) -> list[dict]:
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
        rows.append([f"{length / 60:g} min", len(g), int((g["outcome"] == "fail").sum()),
                     int(g["reconnects_in_sleep"].sum()), int(g["false_alerts"].sum()),
                     int(g["dpd_terminations"].sum()),
                     _stat(time_summary(times(recs, "ttt_s")), "p95"), censored])
    return [h(2, "By sleep length"),
            table(["sleep", "cycles", "failed", "reconnects in sleep", "false alerts", "DPD ends", "TTT p95 s",
                   "censored TTT"], rows, set(range(1, 8)))]


def _rig_errors(s: dict, prov: dict) -> list[dict]:
    errs = s.get("rig_errors", [])
    out = [h(2, "Rig errors and unscored cycles"),
           table(["Mac", "cycle", "outcome", "reason"], [[e["mac"], e["cycle"], e["outcome"], e["reason"]]
                                                         for e in errs]) if errs else p("none")]
    rec = prov.get("recoveries", [])
    if rec:
        out += [h(3, "Recovery steps taken"),
                table(["Mac", "cycle", "step", "error"],
                      [[r.get("mac"), r.get("cycle"), r.get("step"), r.get("error", "")] for r in rec])]
    return out


def _bad_lines(s: dict) -> list[dict]:
    rows = []
    totals: dict = {}
    for key, srcs in sorted(s.get("bad_lines", {}).items()):
        for src, c in sorted(srcs.items()):
            tot = totals.setdefault(src, [0, 0, 0, 0])
            for i, f in enumerate(("read", "parsed", "other", "rejected")):
                tot[i] += int(c.get(f, 0))
            if c.get("rejected"):
                rows.append([key, src, c["read"], c["rejected"], ", ".join(map(str, c.get("rejected_lines", [])[:10]))])
    out = [h(2, "Log lines"),
           table(["source", "read", "parsed", "other", "rejected"],
                 [[src, *vals] for src, vals in sorted(totals.items())], {1, 2, 3, 4}),
           table(["cycle", "source", "read", "rejected", "first rejected lines"], rows, {2, 3})
           if rows else p("No line was rejected.")]
    if s.get("journal_torn_lines"):
        out.append(p(f"journal: {s['journal_torn_lines']} unreadable line(s)", "fail"))
    return out


def _how_made(meta: dict, prov: dict) -> list[dict]:
    rows = [
        ["rig version (run)", meta.get("rig_version")],
        ["rig version (this report)", __version__],
        ["command", Code(" ".join(map(str, meta.get("command", []))))],
        ["plan", Code(_plain(meta.get("plan")))],
        ["extension", _plain(meta.get("extension"))],
        ["gateway", _plain(meta.get("gateway"))],
    ]
    for mac, line in sorted(prov.get("installed", {}).items()):
        rows.append([f"installed on {mac}", Code(line)])
    for mac, cmds in sorted(prov.get("collect", {}).items()):
        for name, cmd in sorted(cmds.items()):
            rows.append([f"{name} on {mac} (first cycle)", Code(cmd)])
    return [h(2, "How this was made"), table(["what", "value"], rows)]


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
        f"**{str(scores.get('verdict', 'no data')).upper()}**: build {md_code(meta.get('build'))} on lab "
        f"{md_code((meta.get('lab') or {}).get('name'))}, {scores.get('cycles_scored')}/{scores.get('cycles')} cycles scored"
        + (f" ({unscored}, not scored)" if unscored else ""),
        f"- reconnects in sleep: {gate_text('reconnects_in_sleep', fmt(t.get('reconnects_in_sleep')) + rate('reconnects_in_sleep'))}",
        f"- false disconnect alerts: {gate_text('false_alerts', fmt(t.get('false_alerts')) + rate('false_alerts'))}",
        f"- time-to-tunnel p95: {gate_text('ttt_s', _stat(ttt, 'p95', 'n/a', '{:.2f} s'))}"
        + (f", {ttt['censored']} censored (failures)" if ttt.get("censored") else ""),
        f"- worst Mac: {worst_txt}",
        *on_demand_view.summary_line(scores),
        *sequential_view.summary_line(scores),
        *([f"- exposure too short: {'; '.join(scores['exposure']['short'])}"]
          if (scores.get("exposure") or {}).get("short") else []),
        f"- report: [{report_path}]({report_path})",
    ]
    return "\n".join(lines) + "\n"


def write(folder, meta: dict, scores: dict, cycles: pd.DataFrame, analyses: dict | None = None,
          provenance: dict | None = None) -> None:
    """``report.html`` and ``summary.md`` of data already redacted (:meth:`Redactor.mask`)."""
    atomic_write(folder.report_html, render_html(meta, scores, cycles, analyses, provenance))
    atomic_write(folder.summary_md, render_summary(meta, scores, cycles))
