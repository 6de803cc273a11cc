"""``bisect.html`` and ``bisect.json``: every step of a bisect, its verdict and its run's report."""
from __future__ import annotations

import json
import os
from pathlib import Path

from rig.report.templating import Code, Link, Span, h, p, page, table
from rig.run_folder import atomic_write


def write(folder: Path, data: dict, redactor=None) -> None:
    """``data``: :meth:`rig.runner.bisect.Result.as_dict` (the report stage never imports the runner)."""
    folder.mkdir(parents=True, exist_ok=True)
    if redactor is not None:
        data = redactor.mask(data)
    atomic_write(folder / "bisect.json", json.dumps(data, indent=1, sort_keys=True))
    atomic_write(folder / "bisect.html", render(folder, data))


def render(folder: Path, d: dict) -> str:
    rows = []
    for i, s in enumerate(d["steps"], 1):
        run = Path(s["run"]) if s["run"] else None
        link = Link(os.path.relpath(run / "report.html", folder), run.name) if run else "–"
        rows.append([i, Code(s["build"]), s["why"], Span(s["verdict"].upper(), s["verdict"].replace(" ", "-")),
                     s["words"] or "–", link])
    answer = (["first bad build: ", Code(d["first_bad"])] if d["first_bad"] else ["no first bad build: ", d["stopped"]])
    ends = ("the ends were trusted as given (--trust-ends): the first build good, the last bad"
            if d["trusted_ends"] else "both ends were checked first")
    blocks = [
        h(1, "Bisect"),
        p(answer, "verdict"),
        p([f"{len(d['builds'])} builds, {len(d['steps'])} runs; {ends}; at most {d['max_midpoints']} midpoints."]),
        table(["step", "build", "why", "verdict", "sequential test", "run"], rows, {0}),
        h(2, "Builds in order"),
        p([Code(b) if i == 0 else [" → ", Code(b)] for i, b in enumerate(d["builds"])]),
    ]
    return page(f"rig bisect: {d['first_bad'] or 'no answer'}", "report.css", blocks)
