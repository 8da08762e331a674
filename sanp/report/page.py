"""One self-contained HTML page for a verify, prune or prove run, from its JSON report.

The data is prepared here (and in `verify_page` / `prune_page`); the page itself is
the Jinja2 template `templates/<command>.html.j2`, with auto-escaping on, so every
piece of text from the JSON is escaped. The figures come from `sanp.report.plots`
(the same code as `--plots`) and are embedded as base64 PNG data URIs, beside any PNG
files given as `images`: the page needs nothing but itself.

    >>> from sanp import report
    >>> doc = report.load("out/demo/prune.json")                       # doctest: +SKIP
    >>> report.write_html(doc, "prune.html", images={"|weights|": "out/demo/prune/weights.png"})  # doctest: +SKIP

Table cells and figures: `sanp.report.cells`.
"""
from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from typing import Any

from sanp.atomic import write_text
from sanp.report import prove_page, prune_page, verify_page
from sanp.report.cells import MAX_TABLE_ROWS, cell
from sanp.report.drawing import GREEN, GREY, RED, png_uri
from sanp.report.reading import (
    PROVE_SCHEMA,
    PRUNE_SCHEMA,
    VERIFY_SCHEMA,
    ReportError,
    check_schema,
    read_png,
)
from sanp.report.values import fmt, num, records

MAX_SPEC_SHOWN = 20_000
"""Characters of the spec text shown on the page."""


def inputs_context(doc: Mapping[str, Any], extra: list[tuple[str, Any]] = ()) -> dict[str, Any]:
    """What the run was given: files and digests, options, versions, the spec text."""
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
    spec_text = inp.get("spec_text") if isinstance(inp.get("spec_text"), str) else ""
    return {"rows": rows, "options": options, "versions": [f"{k} {v}" for k, v in vers.items()],
            "spec_text": spec_text[:MAX_SPEC_SHOWN], "spec_cut": max(0, len(spec_text) - MAX_SPEC_SHOWN)}


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


def structured_verdict(doc: Mapping[str, Any], composed: dict[str, Any]) -> dict[str, Any]:
    """The banner: the run's own verdict {ok, headline, details} where the report has one
    (its headline, green when ok), else the one composed from the report's numbers."""
    v = doc.get("verdict")
    if not isinstance(v, Mapping):
        return composed
    ok = v.get("ok")
    details = v.get("details") if isinstance(v.get("details"), list) else []
    return {"text": fmt(v.get("headline", "–")),
            "colour": GREEN if ok is True else RED if ok is False else GREY,
            "lines": [fmt(d) for d in details[:MAX_TABLE_ROWS]] + composed["lines"]}


PAGES = {VERIFY_SCHEMA: (verify_page.context, "verify.html.j2"),
         PRUNE_SCHEMA: (prune_page.context, "prune.html.j2"),
         PROVE_SCHEMA: (prove_page.context, "prove.html.j2")}
"""Per schema: the function preparing the template's data, and the template."""


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


def render(doc: Mapping[str, Any], images: Mapping[str, str | os.PathLike] | None = None,
           animations: Mapping[str, bytes] | None = None) -> str:
    """The HTML page of a verify, prune or prove report, self-contained.

    `images` maps captions to existing PNG files to embed as well (e.g. the prune
    plots' weights.png, which the JSON cannot reproduce); `animations` maps captions to
    GIF bytes (`sanp report --replay`, from `sanp.report.replay`)."""
    check_schema(doc, "report")
    extra = [{"uri": png_uri(read_png(path)), "caption": str(caption)}
             for caption, path in (images or {}).items()]
    build, name = PAGES[doc["schema"]]
    try:
        ctx = build(doc)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError,
            RecursionError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise ReportError(f"malformed {doc['schema']} report ({what}); regenerate it with sanp") from None
    ctx.update(
        verdict=structured_verdict(doc, ctx["verdict"]),
        schema=doc["schema"],
        images=extra,
        animations=[{"uri": "data:image/gif;base64," + base64.b64encode(data).decode("ascii"),
                     "caption": str(caption)} for caption, data in (animations or {}).items()],
        timing=timing_rows(doc.get("timing")),
        statistics=statistics_rows(doc),
        inputs=inputs_context(doc, ctx.pop("extra_inputs", [])),
    )
    return _environment().get_template(name).render(ctx)


def write(doc: Mapping[str, Any], path: str | os.PathLike,
          images: Mapping[str, str | os.PathLike] | None = None,
          animations: Mapping[str, bytes] | None = None) -> None:
    """Render `doc` and write the page to `path` atomically."""
    write_text(path, render(doc, images, animations))

