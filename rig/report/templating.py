"""Every HTML page and SVG picture of the rig comes from one Jinja2 environment with autoescaping
on for every template: Python computes the data (rows, numbers, labels, coordinates), the
templates in ``templates/`` lay them out, and a string from a log, a lab file or the journal can
reach a page only through an escaping ``{{ }}``. The only markup passed in is :class:`Markup`
that an autoescaped template of this environment rendered itself (an SVG embedded in a page),
never a log string. ``StrictUndefined`` makes a misspelt name in a template an error.

Pieces a page is built of (``templates/blocks.j2``): plain values (numbers shortened, missing
values as a dash), :class:`Span` (text with a class, e.g. a verdict's colour), :class:`Code`,
lists of pieces, and :class:`El` (one SVG element).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

__all__ = ["ENV", "Code", "El", "Link", "Markup", "Span", "md_code", "page", "render", "svg", "value"]


@dataclass(frozen=True)
class Span:
    text: object
    cls: str = ""


@dataclass(frozen=True)
class Code:
    text: object


@dataclass(frozen=True)
class Link:
    """A link to another file of the reports tree: ``href`` is a relative path the code made
    (a run folder's report), never a string from a log; both are escaped anyway."""
    href: str
    text: object


@dataclass(frozen=True)
class El:
    """One SVG element: its tag and attribute names are the code's; attribute values, its
    ``title`` (a tooltip) and ``text`` may be anything (escaped)."""
    tag: str
    attrs: dict = field(default_factory=dict)
    title: object = None
    text: object = None


def value(v) -> str:
    """A value as a reader sees it: numbers shortened, missing values as a dash, yes/no."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isinf(v):
            return "∞"
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.0f}"
    return str(v)


def _attr(v) -> str:
    """An SVG attribute value: coordinates to 0.1 px, everything else as text (then escaped)."""
    if isinstance(v, float):
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return str(v)


ENV = Environment(loader=PackageLoader("rig.report", "templates"),
                  autoescape=select_autoescape(default=True, default_for_string=True),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
ENV.filters["v"] = value
ENV.filters["attr"] = _attr
ENV.tests["span"] = lambda p: isinstance(p, Span)
ENV.tests["code"] = lambda p: isinstance(p, Code)
ENV.tests["link"] = lambda p: isinstance(p, Link)
ENV.tests["markup"] = lambda p: isinstance(p, Markup)
ENV.tests["pieces"] = lambda p: isinstance(p, (list, tuple))


_SVG = ENV.get_template("svg.j2")   # one picture per cycle: fetched once, not per call


def render(template: str, **context) -> str:
    return ENV.get_template(template).render(**context)


def svg(elements, *, width, height, cls: str = "", title=None, viewbox: str | None = None,
        aria=None) -> Markup:
    """An ``<svg>`` element rendered by ``svg.j2``: safe to embed because the template escaped it."""
    shapes = [(e.tag, [(k, _attr(v)) for k, v in e.attrs.items()], e.text, e.title) for e in elements]
    return Markup(_SVG.render(elements=shapes, width=width, height=height, cls=cls, title=title,
                              viewbox=viewbox, aria=aria).strip())


# -- blocks of a page (templates/blocks.j2) -------------------------------------------------------

def h(level: int, text) -> dict:
    return {"kind": f"h{level}", "text": text}


def p(text, cls: str = "") -> dict:
    return {"kind": "p", "text": text, "cls": cls}


def div(cls: str, text) -> dict:
    return {"kind": "div", "text": text, "cls": cls}


def table(headers, rows, numeric=(), row_class=None, cls: str = "", wide: bool = False) -> dict:
    return {"kind": "table", "headers": list(headers), "rows": [list(r) for r in rows], "numeric": set(numeric),
            "row_class": row_class, "cls": cls, "wide": wide}


def figure(caption, body) -> dict:
    return {"kind": "figure", "caption": caption, "body": body}


def chart(title, body) -> dict:
    """A titled picture: ``<h3>`` then the SVG (or a note that there is nothing to draw)."""
    return {"kind": "chart", "title": title, "body": body}


def bullets(items) -> dict:
    return {"kind": "list", "items": list(items)}


def legend(items) -> dict:
    return {"kind": "legend", "items": list(items)}


def page(title, css: str, blocks) -> str:
    """A whole self-contained page: no external asset, no script (its Content-Security-Policy
    forbids any), so it opens from a mail attachment or a CI artifact."""
    return render("page.j2", title=title, css=css, blocks=list(blocks))


# ---- Markdown (summary.md, compare.md) ------------------------------------------------------------

def md_code(value) -> str:
    """``value`` as one Markdown code span that nothing inside can leave (CommonMark 6.1).

    A build line comes from the Mac and may hold anything: a backtick would end a one-backtick
    span and let the rest be read as Markdown (links, images, HTML in some renderers). The fence
    is one backtick longer than the longest run inside; control bytes and line breaks become
    ``\\xNN`` so the span stays on its line.
    """
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in str(value))
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
