"""The data of a verify report's page (template `verify.html.j2`)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sanp.falsify.registry import is_uniform
from sanp.report import comparisons, plots
from sanp.report.cells import badge, cell, figure, limited
from sanp.report.drawing import GREEN, GREY, RED
from sanp.report.values import basename, fmt, get, num, plus1, records, sort_key

MAX_CEX_PLOTS = 8
"""Counterexample trajectories drawn (the worst of each violated requirement first)."""


def pick_counterexamples(cexs: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices to draw: the worst counterexample of each violated requirement (in the
    order requirements first appear), then the worst of the rest."""
    order = sorted(range(len(cexs)), key=lambda i: (sort_key(cexs[i].get("min_robustness")), i))
    worst: dict[str, int] = {}
    for i in order:
        for name in cexs[i].get("violated") or []:
            worst.setdefault(str(name), i)
    first_seen = dict.fromkeys(str(n) for c in cexs for n in c.get("violated") or [])
    chosen = list(dict.fromkeys(worst[n] for n in first_seen))
    taken = set(chosen)
    chosen += [i for i in order if i not in taken][: max(0, MAX_CEX_PLOTS - len(chosen))]
    return chosen[:MAX_CEX_PLOTS]


def _verdict(doc: Mapping[str, Any], cexs: list[Mapping[str, Any]]) -> dict[str, Any]:
    inp = doc.get("inputs") if isinstance(doc.get("inputs"), Mapping) else {}
    opts = inp.get("options") if isinstance(inp.get("options"), Mapping) else {}
    verdict = str(doc.get("verdict", "–"))
    falsified = verdict == "falsified" or bool(cexs)
    colour = RED if falsified else (GREEN if verdict == "no counterexample found" else GREY)
    n = len(doc.get("evaluations") or [])
    how = f"{n} evaluations ({fmt(opts.get('optimizer', '?'))}, seed {fmt(inp.get('seed'))})"
    if falsified:
        first = min((c["evaluation"] for c in cexs if isinstance(c.get("evaluation"), int)), default=None)
        names = sorted({str(r) for c in cexs for r in c.get("violated") or []})
        lines = [f"{len(cexs)} counterexample(s) in {how}"
                 + (f"; the first after {first + 1} rollout(s)" if first is not None else "") + ".",
                 f"Violated: {', '.join(names)}." if names else ""]
    else:
        lines = [f"No counterexample found within {how}.",
                 "This is evidence, not proof: a larger budget or another seed may still find one."]
    return {"text": verdict.upper() if falsified else verdict, "colour": colour, "lines": [s for s in lines if s]}


def _requirement_rows(reqs: list[Mapping[str, Any]]) -> list[list[Any]]:
    rows = []
    for r in reqs:
        n_cex = r.get("counterexamples") or 0
        mr = num(r.get("min_robustness"))
        bad = bool(n_cex) or (mr is not None and mr < 0)
        rows.append([cell(r.get("name", "–"), bold=True), cell(r.get("formula", "–"), code=True),
                     fmt(r.get("evaluations")), fmt(r.get("min_robustness")), fmt(n_cex),
                     badge("violated", RED) if bad else badge("held", GREEN)])
    return rows


def _step_text(c: Mapping[str, Any], spec: Any) -> str:
    """The critical step of each violated requirement, computed from the spec (the
    recorded `step` belongs to the worst requirement and ignores time windows)."""
    steps = comparisons.cex_view(c, spec).steps if spec is not None else {}
    if not steps:
        return fmt(c.get("step"))
    if len(steps) == 1:
        return fmt(next(iter(steps.values())))
    return ", ".join(f"{n} {fmt(s)}" for n, s in steps.items())


def _cex_rows(cexs: list[Mapping[str, Any]], spec: Any = None) -> list[list[Any]]:
    return [[str(i + 1), fmt(plus1(c.get("evaluation"))), ", ".join(map(str, c.get("violated") or [])),
             fmt(c.get("min_robustness")), _step_text(c, spec), fmt(c.get("length")),
             fmt(c.get("total_reward")), fmt(c.get("terminated")),
             badge("non-finite", RED) if c.get("nonfinite") else "no", cell(fmt(c.get("point")), code=True)]
            for i, c in enumerate(cexs)]


def context(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The template's data for a verify report."""
    inp = doc.get("inputs") if isinstance(doc.get("inputs"), Mapping) else {}
    if not isinstance(doc.get("requirements", []), list):
        raise TypeError("requirements is not a list")
    reqs, req_more = limited(records(doc.get("requirements")), "requirements")
    cexs = records(doc.get("counterexamples"))
    out: dict[str, Any] = {
        "header": {"command": "verify", "policy": basename(inp.get("policy")),
                   "joiner": "against", "spec": basename(inp.get("spec"))},
        "title": f"sanp verify — {basename(inp.get('policy'))}",
        "verdict": _verdict(doc, cexs),
        "requirements": {"rows": _requirement_rows(reqs), "more": req_more},
        "robustness": figure(plots.robustness_figure(doc)),
        "counterexamples": None,
    }
    if cexs:
        listed, more = limited(cexs, "counterexamples")
        spec, note = comparisons.spec_of(doc)
        rows = _cex_rows(listed, spec)
        picked = pick_counterexamples(cexs)
        figures = [figure(plots.counterexample_figure(i, cexs[i], comparisons.cex_view(cexs[i], spec, note)))
                   for i in picked]
        searched = not is_uniform(str(get(doc, "inputs", "options", "optimizer")))
        out["counterexamples"] = {"rows": rows, "more": more, "searched": searched,
                                  "shown": len(picked), "total": len(cexs),
                                  "figures": figures}
    return out

