"""The data of a prove report's page (template `prove.html.j2`): the verdict per
property, the fractions of each region's volume proved, refuted, unknown and vacuous,
the counterexamples the verifier found, the time per property, and the split of each
region drawn from the report's leaves (`prove_plots.split_figure`)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from sanp.report import prove_plots
from sanp.report.cells import badge, cell, figure, limited
from sanp.report.drawing import AMBER, GREEN, GREY, RED
from sanp.report.values import basename, fmt, get, pct, records

VERDICT_COLOURS = {"proved": GREEN, "refuted": RED, "unknown": AMBER}
MAX_CEX_ROWS = 5
"""Counterexamples listed per property (the rest are in the JSON)."""
MAX_SPLIT_PLOTS = 12
"""Properties whose split is drawn."""


def _region_text(region: Any) -> str:
    if not isinstance(region, Mapping):
        return "–"
    names, lo, hi = (region.get(k) or [] for k in ("names", "lo", "hi"))
    box = ", ".join(f"{n} in [{fmt(a)}, {fmt(b)}]" for n, a, b in zip(names, lo, hi))
    return f"{region.get('name') or 'region'}: {box}" if box else fmt(region.get("name"))


def _verdict(doc: Mapping[str, Any], props: list[Mapping[str, Any]]) -> dict[str, Any]:
    verdict = str(doc.get("verdict", "–"))
    counts = Counter(str(p.get("verdict")) for p in props)
    tally = ", ".join(f"{n} {v}" for v, n in counts.items()) or "none"
    lines = [f"{len(props)} propert{'y' if len(props) == 1 else 'ies'}: {tally}."]
    if counts.get("refuted"):
        lines.append("A refuted property has a counterexample the verifier found and onnxruntime "
                     "re-checked: an observation in the region where the policy breaks it.")
    if counts.get("unknown"):
        lines.append("Unknown: the verifier ran out of time (or depth) on part of the region; "
                     "a longer --timeout or a deeper --depth may decide it.")
    lines.append("A proof covers every observation of the region for one step of the policy; "
                 "it says nothing outside the region or about whole episodes.")
    colour = VERDICT_COLOURS.get(verdict, GREY)
    return {"text": verdict.upper() if verdict == "refuted" else verdict, "colour": colour, "lines": lines}


def _rows(props: list[Mapping[str, Any]]) -> list[list[Any]]:
    rows = []
    for p in props:
        v = str(p.get("verdict", "–"))
        reason = p.get("reason")
        rows.append([cell(p.get("name", "–"), bold=True), cell(p.get("text", "–"), code=True),
                     fmt(_region_text(p.get("region"))),
                     [badge(v, VERDICT_COLOURS.get(v, GREY))] + ([fmt(reason)] if reason else []),
                     pct(get(p, "fractions", "proved")), pct(get(p, "fractions", "refuted")),
                     pct(get(p, "fractions", "unknown")), pct(get(p, "fractions", "vacuous")),
                     fmt(len(p.get("leaves") or [])), fmt(p.get("queries")), fmt(p.get("seconds"), 3)])
    return rows


def _counterexamples(props: list[Mapping[str, Any]]) -> list[list[Any]]:
    rows = []
    for p in props:
        names = get(p, "region", "names") or []
        cexs = records(p.get("counterexamples"))
        for c in cexs[:MAX_CEX_ROWS]:
            obs = c.get("obs") or []
            point = ", ".join(f"{n}={fmt(v, 6)}" for n, v in zip(names, obs)) if names else fmt(obs)
            rows.append([cell(p.get("name", "–"), bold=True), cell(point, code=True), fmt(c.get("outputs")),
                         fmt(c.get("reference_outputs")), fmt(c.get("margin"))])
        if len(cexs) > MAX_CEX_ROWS:
            rows.append([cell(p.get("name", "–"), bold=True),
                         f"{len(cexs) - MAX_CEX_ROWS} more in the JSON", "", "", ""])
    return rows


def context(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The template's data for a prove report."""
    if not isinstance(doc.get("properties", []), list):
        raise TypeError("properties is not a list")
    inp = doc.get("inputs") if isinstance(doc.get("inputs"), Mapping) else {}
    props = records(doc.get("properties"))
    listed, more = limited(props, "properties")
    drawn = [figure(prove_plots.split_figure(p)) for p in props if prove_plots.split_figure_possible(p)]
    total = sum(s for p in props if isinstance(s := p.get("seconds"), (int, float)))
    return {
        "header": {"command": "prove", "policy": basename(inp.get("policy")), "joiner": "against",
                   "spec": basename(inp.get("properties_file") or inp.get("spec"))},
        "title": f"sanp prove — {basename(inp.get('policy'))}",
        "verdict": _verdict(doc, props),
        "extra_inputs": [("reference", cell(inp.get("reference") or "–", code=True)),
                         ("reference SHA-256", cell(inp.get("reference_sha256") or "–", hash=True)),
                         ("properties file", cell(inp.get("properties_file") or "the spec's prop lines",
                                                  code=True)),
                         ("verifier", fmt(inp.get("verifier", "–")))],
        "properties": {"rows": _rows(listed), "more": more},
        "counterexamples": _counterexamples(listed),
        "splits": drawn[:MAX_SPLIT_PLOTS],
        "split_more": max(0, len(drawn) - MAX_SPLIT_PLOTS),
        "timing_rows": [(str(p.get("name", "–")), fmt(p.get("seconds"), 3) + " s") for p in listed]
                       + [("all properties", fmt(total, 3) + " s")],
    }
