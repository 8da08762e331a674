"""The page shows what the run says about rates and verdicts when the report has it
(hand-built JSON): the `statistics` table near the verdict, the held-out dense-vs-sparse
test, a structured verdict's headline in the banner; and that BO counts carry no rate."""

from __future__ import annotations

import html
import re

from sanp import report
from sanp.report.drawing import AMBER, GREEN, RED

STATS = [
    {"label": "held-out uniform, sparse", "violations": 0, "points": 1000, "confidence": 0.95,
     "upper_bound": 0.0029914, "method": "Clopper-Pearson (exact)",
     "text": "0 violations in 1000 uniform episodes: violation rate < 0.30% (95% confidence)"},
    {"label": "<b>round 1</b> uniform", "violations": 3, "points": 200, "confidence": 0.99,
     "upper_bound": 0.0519, "method": "Clopper-Pearson (exact)",
     "text": "3 violations in 200 uniform episodes: violation rate < 5.19% (99% confidence)"},
]


def verify_doc(**extra) -> dict:
    return {"schema": "sanp.verify/1", "command": "verify", "verdict": "no counterexample found",
            "inputs": {"policy": "p.onnx", "spec": "s.stl", "options": {"optimizer": "bo"}, "seed": 0},
            "requirements": [], "evaluations": [], "counterexamples": [], **extra}


def prune_doc(**extra) -> dict:
    side = {"bo_evaluations": 5, "bo_counterexamples": 17, "uniform_points": 1000,
            "uniform_violations": 0, "per_requirement": {"r": 0}, "mean_reward": 200.0}
    return {"schema": "sanp.prune/1", "command": "prune",
            "verdict": "converged; held-out no worse than dense",
            "inputs": {"policy": "p.onnx", "spec": "s.stl", "seed": 0}, "dense_reward": 200.0,
            "step1": {"k": 0.5, "sparsity": 0.5, "mean_reward": 199.0}, "rounds": [],
            "final": {"sparsity": 0.0, "mean_reward": 200.0, "converged": True},
            "heldout": {"dense": dict(side), "sparse": dict(side)}, **extra}


def banner(page: str) -> tuple[str, str, list[str]]:
    m = re.search(r'<div class="verdict-head" style="background:(#[0-9a-f]{6})">([^<]*)</div>'
                  r'\s*<div class="verdict-body">(.*?)</div>', page)
    return m.group(1), html.unescape(m.group(2)), [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", m.group(3))]


def section(page: str, sid: str) -> str:
    return re.search(rf'<section id="{sid}">(.*?)</section>', page, re.DOTALL).group(1)


def cells(fragment: str) -> list[list[str]]:
    """Text of the body rows of the tables in `fragment`."""
    rows = [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
            for r in re.findall(r"<tr>(.*?)</tr>", fragment, re.DOTALL)]
    return [r for r in rows if r]


def test_statistics_table_near_the_verdict():
    page = report.render(verify_doc(statistics=STATS))
    stats = section(page, "statistics")
    assert page.index('class="verdict"') < page.index('id="statistics"') < page.index('id="inputs"')
    rows = cells(stats)
    assert rows[0] == ["held-out uniform, sparse", "0", "1000", "0.299%", "95%", "Clopper-Pearson (exact)",
                       STATS[0]["text"]]
    assert rows[1][0] == "<b>round 1</b> uniform" and "<b>round 1" not in page  # escaped
    assert rows[1][3:5] == ["5.19%", "99%"]
    assert "Counterexamples found by Bayesian optimisation carry no rate" in stats
    assert 'id="statistics"' not in report.render(verify_doc())  # absent: no section


def test_structured_verdict_headline_in_the_banner():
    verdict = {"ok": False, "headline": "nothing compressed: repair restored every pruned weight",
               "details": ["round 2 found 17 counterexamples, all also violated by the dense policy"]}
    colour, text, lines = banner(report.render(prune_doc(verdict=verdict)))
    assert (colour, text) == (RED, verdict["headline"])
    assert lines[0] == verdict["details"][0] and lines[1].startswith("Sparsity 0.00% after refinement")
    colour, text, _ = banner(report.render(prune_doc(verdict={**verdict, "ok": True, "headline": "compressed"})))
    assert (colour, text) == (GREEN, "compressed")
    colour, text, _ = banner(report.render(verify_doc(verdict={"ok": True, "headline": "no violation"})))
    assert (colour, text) == (GREEN, "no violation")
    # reports without one keep the composed banner
    colour, text, _ = banner(report.render(prune_doc()))
    assert (colour, text) == (GREEN, "converged; held-out no worse than dense")
    assert report.verdict_text(prune_doc(verdict=verdict)) == verdict["headline"]


def test_heldout_comparison_in_the_section_and_the_verdict():
    comparison = {"test": "one-sided Fisher exact test", "p_value": None, "verdict": "inconclusive",
                  "points_to_decide": 2995, "text": "0 vs 0 violations in 1000 points each: inconclusive"}
    doc = prune_doc()
    doc["heldout"]["comparison"] = comparison
    page = report.render(doc)
    _, _, lines = banner(page)
    assert f"Dense vs sparse: {comparison['text']}" in lines
    held = section(page, "heldout")
    rows = dict(re.findall(r"<tr><th>([^<]*)</th><td>(.*?)</td></tr>", held))
    assert rows["test"] == comparison["test"] and rows["p-value"] == "–"
    assert rows["points to decide"] == "2995" and f"background:{AMBER}" in rows["verdict"]
    assert "inconclusive" in rows["verdict"]
    doc["heldout"]["comparison"] = {**comparison, "verdict": "worse", "p_value": 0.001}
    rows = dict(re.findall(r"<tr><th>([^<]*)</th><td>(.*?)</td></tr>", section(report.render(doc), "heldout")))
    assert f"background:{RED}" in rows["verdict"] and rows["p-value"] == "0.001"
    assert "gives them no rate" in held


def test_bo_counts_carry_no_rate():
    cex = {"point": {"x": 0.0}, "violated": ["r"], "min_robustness": -1.0, "step": 1, "evaluation": 0,
           "signals": {"x": [0.0, 1.0]}}
    bo = report.render(verify_doc(verdict="falsified", counterexamples=[cex]))
    assert "their number carries no rate" in section(bo, "counterexamples")
    uniform = verify_doc(verdict="falsified", counterexamples=[cex])
    uniform["inputs"]["options"]["optimizer"] = "random"
    assert "carries no rate" not in report.render(uniform)
