"""The summary of a run that a notebook shows (`_repr_html_` of `sanp.verify`,
`sanp.prune` and `sanp.prove` results): the page's head (title, verdict banner,
violation-rate bounds, from `templates/head.html.j2`) and its first table, in the
page's own stylesheet scoped to the block (`scoped`). No figures: it renders in
milliseconds.

    >>> html = summary(result.report)                               # doctest: +SKIP
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sanp.report import prune_page, verify_page
from sanp.report.drawing import AMBER, GREEN, GREY, RED
from sanp.report.page import _environment, statistics_rows, structured_verdict
from sanp.report.reading import PRUNE_SCHEMA, VERIFY_SCHEMA, ReportError, check_schema
from sanp.report.values import basename, get, records

PROVE_SCHEMA = "sanp.prove/1"


def summary(doc: Mapping[str, Any]) -> str:
    """An HTML fragment summarising a verify, prune or prove report."""
    if not (isinstance(doc, Mapping) and doc.get("schema") == PROVE_SCHEMA):
        check_schema(doc, "report")
    try:
        ctx = _context(doc)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ReportError(f"malformed {doc['schema']} report ({type(exc).__name__}: {exc}); "
                          "regenerate it with sanp") from None
    env = _environment()
    css = env.loader.get_source(env, "report.css")[0]
    ctx.update(schema=doc["schema"], statistics=statistics_rows(doc), css=scoped(css, ".sanp-report"))
    return env.get_template("summary.html.j2").render(ctx)


def scoped(css: str, scope: str) -> str:
    """The page's stylesheet with every selector put under `scope`, so that a summary
    inside a notebook styles itself and nothing around it: `body` becomes the scope
    itself; `:root` and `main` (the page's frame) are dropped.

        >>> scoped("body { font: 15px serif } h1, .note { color: red }", ".s")
        '.s { font: 15px serif }\\n.s h1, .s .note { color: red }'
    """
    def one(m: re.Match) -> str:
        sels = [s.strip() for s in m.group(1).split(",")]
        kept = [scope if s == "body" else f"{scope} {s}" for s in sels if s not in (":root", "main")]
        return f"{', '.join(kept)} {{{m.group(2)}}}\n" if kept else ""

    return re.sub(r"([^{}]+)\{([^{}]*)\}", one, css).strip()


def _context(doc: Mapping[str, Any]) -> dict[str, Any]:
    inp = doc.get("inputs") if isinstance(doc.get("inputs"), Mapping) else {}
    command = {VERIFY_SCHEMA: "verify", PRUNE_SCHEMA: "prune"}.get(doc["schema"], "prove")
    header = {"command": command, "policy": basename(inp.get("policy")),
              "joiner": "with" if command == "prune" else "against", "spec": basename(inp.get("spec"))}
    if command == "verify":
        reqs = records(doc.get("requirements"))
        composed = verify_page._verdict(doc, records(doc.get("counterexamples")))
        table = {"title": "Requirements", "heads": ["requirement", "formula", "evaluations", "min robustness",
                                                    "counterexamples", "status"],
                 "rows": verify_page._requirement_rows(reqs), "numeric": (2, 3, 4), "note": ""}
    elif command == "prune":
        rounds = records(doc.get("rounds"))
        composed = prune_page._verdict(doc, rounds)
        hd, hs = ({} if not isinstance(h, Mapping) else h
                  for h in (get(doc, "heldout", "dense"), get(doc, "heldout", "sparse")))
        req = prune_page._requirements(rounds, hd, hs)
        table = req and {"title": "Requirements", "heads": req["heads"], "rows": req["rows"],
                         "numeric": range(1, len(req["heads"])), "note": req["more"]}
    else:
        composed, table = _prove(doc)
    return {"header": header, "verdict": structured_verdict(doc, composed), "table": table}


def _prove(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A prove report's banner and its table of properties (the prune page's proof table)."""
    verdict = str(doc.get("verdict", "–"))
    colour = {"proved": GREEN, "refuted": RED, "unknown": AMBER}.get(verdict, GREY)
    props = records(doc.get("properties"))
    lines = [f"{p.get('name')}: {p.get('verdict')}" + (f" ({p['reason']})" if p.get("reason") else "")
             for p in props]
    proof = prune_page._proof({"properties": props, "timeout": get(doc, "inputs", "options", "timeout"),
                               "note": None})
    table = {"title": "Properties", "heads": ["property", "statement", "verdict", "proved", "refuted",
                                              "unknown", "seconds"],
             "rows": proof["rows"], "numeric": (3, 4, 5, 6), "note": proof["note"]}
    return {"text": verdict, "colour": colour, "lines": lines}, table
