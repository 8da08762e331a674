"""One self-contained HTML page for a verify or prune run, from its JSON report.

The data is prepared here (and in `verify_page` / `prune_page`); the page itself is
the Jinja2 template `templates/<command>.html.j2`, with auto-escaping on, so every
piece of text from the JSON is escaped. The figures come from `sanp.report.plots`
(the same code as `--plots`) and are embedded as base64 PNG data URIs, beside any PNG
files given as `images`: the page needs nothing but itself.

    >>> from sanp import report
    >>> doc = report.load("out/demo/prune.json")                       # doctest: +SKIP
    >>> report.write_page(doc, "prune.html", images={"|weights|": "out/demo/prune/weights.png"})  # doctest: +SKIP

Table cells are plain strings or `cell(...)` dicts (code, bold, badge), or lists of them.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from sanp.atomic import write_text
from sanp.report.drawing import png_bytes, png_uri
from sanp.report.reading import PRUNE_SCHEMA, VERIFY_SCHEMA, ReportError, check_schema, read_png
from sanp.report.values import fmt, num, records

MAX_TABLE_ROWS = 100
"""Rows of a long table; the rest are counted, not listed."""


def cell(text: Any, *, code: bool = False, hash: bool = False, bold: bool = False,
         badge: str | None = None) -> dict[str, Any]:
    """A table cell with markup the template draws: code, a hash, bold text or a badge."""
    return {"text": str(text), "code": code or hash, "hash": hash, "bold": bold, "badge": badge}


def badge(text: str, colour: str) -> dict[str, Any]:
    return cell(text, badge=colour)


def figure(pair: tuple[Any, str] | None) -> dict[str, str] | None:
    """A plots.*_figure result as the template's {uri, caption}."""
    if pair is None:
        return None
    fig, caption = pair
    return {"uri": png_uri(png_bytes(fig)), "caption": caption}


def limited(rows: list[Any], what: str, limit: int = MAX_TABLE_ROWS) -> tuple[list[Any], str]:
    """The first `limit` rows and a note counting the others."""
    if len(rows) <= limit:
        return rows, ""
    return rows[:limit], f"{len(rows) - limit} more {what} are in the JSON."


def inputs_context(doc: Mapping[str, Any], extra: list[tuple[str, Any]] = ()) -> dict[str, Any]:
    inp = doc.get("inputs") if isinstance(doc.get("inputs"), Mapping) else {}
    rows = [
        ("policy", cell(inp.get("policy", "–"), code=True)),
        ("policy SHA-256", cell(inp.get("policy_sha256", "–"), hash=True)),
        ("spec", cell(inp.get("spec", "–"), code=True)),
        ("spec SHA-256", cell(inp.get("spec_sha256", "–"), hash=True)),
        ("environment", fmt(inp.get("env_id", "–"))),
        ("seed", fmt(inp.get("seed"))),
        *extra,
    ]
    opts = inp.get("options") if isinstance(inp.get("options"), Mapping) else {}
    options = [(str(k), fmt(v)) for k, v in opts.items()]
    vers = inp.get("versions") if isinstance(inp.get("versions"), Mapping) else {}
    return {"rows": rows, "options": options, "versions": [f"{k} {v}" for k, v in vers.items()]}


def timing_rows(timing: Any) -> list[tuple[str, str]]:
    if not isinstance(timing, Mapping):
        return []
    return [(re.sub(r"_s$", "", str(k)).replace("_", " "), fmt(v, 3) + " s") for k, v in timing.items()]


def statistics_rows(doc: Mapping[str, Any]) -> list[list[Any]]:
    """The exact bounds on violation rates the run computed (`statistics`), when present."""
    return [[cell(s.get("label", "–"), bold=True), fmt(s.get("violations")), fmt(s.get("points")),
             _percent(s.get("upper_bound")), _percent(s.get("confidence")), fmt(s.get("method")),
             fmt(s.get("text"))]
            for s in records(doc.get("statistics"))]


def _percent(v: Any) -> str:
    x = num(v)
    return fmt(v) if x is None else f"{100 * x:.3g}%"


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("sanp.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(doc: Mapping[str, Any], images: Mapping[str, str | os.PathLike] | None = None) -> str:
    """The HTML page of a verify or prune report, self-contained.

    `images` maps captions to existing PNG files to embed as well (e.g. the prune
    plots' weights.png, which the JSON cannot reproduce)."""
    from sanp.report import prune_page, verify_page

    check_schema(doc, "report")
    extra = [{"uri": png_uri(read_png(path)), "caption": str(caption)}
             for caption, path in (images or {}).items()]
    build = verify_page.context if doc["schema"] == VERIFY_SCHEMA else prune_page.context
    try:
        ctx = build(doc)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise ReportError(f"malformed {doc['schema']} report ({what}); regenerate it with sanp") from None
    ctx.update(
        schema=doc["schema"], images=extra, timing=timing_rows(doc.get("timing")),
        statistics=statistics_rows(doc), inputs=inputs_context(doc, ctx.pop("extra_inputs", [])),
    )
    name = "verify.html.j2" if doc["schema"] == VERIFY_SCHEMA else "prune.html.j2"
    return _environment().get_template(name).render(ctx)


def write(doc: Mapping[str, Any], path: str | os.PathLike,
          images: Mapping[str, str | os.PathLike] | None = None) -> None:
    """Render `doc` and write the page to `path` atomically."""
    write_text(path, render(doc, images))


__all__ = ["PRUNE_SCHEMA", "badge", "cell", "figure", "limited", "render", "write"]
