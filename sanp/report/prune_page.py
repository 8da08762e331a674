"""The data of a prune report's page (template `prune.html.j2`)."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from sanp.report import prune_plots
from sanp.report.cells import badge, cell, figure, limited
from sanp.report.drawing import AMBER, GREEN, GREY, RED
from sanp.report.values import basename, fmt, get, num, optimizer_label, pct, records, sort_key, verdict_text

MAX_ROUND_COLUMNS = 12
"""Rounds shown as columns of the requirements table (the last ones when there are more)."""


def _verdict(doc: Mapping[str, Any], rounds: list[Mapping[str, Any]]) -> dict[str, Any]:
    verdict = verdict_text(doc)
    converged = get(doc, "final", "converged")
    ok = get(doc, "verdict", "ok") if isinstance(doc.get("verdict"), Mapping) else None
    worse = "worse than dense" in verdict and "no worse" not in verdict
    colour = (GREEN if ok is True else RED if ok is False else
              GREEN if converged is True and not worse else RED if worse
              else AMBER if converged is False else GREY)
    step1, final = doc.get("step1") or {}, doc.get("final") or {}
    n_cex = [len(r.get("counterexamples") or []) for r in rounds]
    lines = [
        (f"Sparsity {pct(final.get('sparsity'))} after refinement ({pct(step1.get('sparsity'))} "
         f"after step 1, k = {fmt(step1.get('k'))})."),
        (f"Mean reward dense / pruned / refined: {fmt(doc.get('dense_reward'))} / "
         f"{fmt(step1.get('mean_reward'))} / {fmt(final.get('mean_reward'))}."),
        f"Counterexamples per round: {_counts(n_cex)}.",
    ]
    if step1.get("stop") == "time_limit":
        stop = doc.get("safety_stop") or {}
        lines.insert(1, "Not reproducible: step 1 " + str(stop.get("text") or "stopped by the safety time limit "
                        "(--deep-time-limit); the result depends on machine speed") + ".")
    hd, hs = get(doc, "heldout", "dense"), get(doc, "heldout", "sparse")
    if isinstance(hd, Mapping) and isinstance(hs, Mapping):
        lines.append(
            f"Held-out violations dense / sparse: {optimizer_label(doc)} {fmt(hd.get('bo_counterexamples'))} / "
            f"{fmt(hs.get('bo_counterexamples'))}, uniform {fmt(hd.get('uniform_violations'))} / "
            f"{fmt(hs.get('uniform_violations'))}.")
    comparison = get(doc, "heldout", "comparison")
    if isinstance(comparison, Mapping) and comparison.get("text"):
        lines.append(f"Dense vs sparse: {fmt(comparison.get('text'))}")
    ni = get(doc, "verdict", "noninferiority")
    if isinstance(ni, Mapping) and ni.get("text"):  # the verdict's statement (reports since issue 27)
        lines.append(f"Non-inferiority (margin {fmt(ni.get('margin'))}, confidence {fmt(ni.get('confidence'))}): "
                     f"{fmt(ni.get('text'))}")
    split = get(doc, "verdict", "alpha")
    if isinstance(split, Mapping) and split.get("text"):
        lines.append(f"Error budget: {fmt(split.get('text'))}.")
    lines.append("Falsification is evidence, not proof.")
    return {"text": verdict, "colour": colour, "lines": lines}


def _counts(n: list[int], limit: int = 30) -> str:
    if not n:
        return "no rounds run"
    if len(n) <= limit:
        return ", ".join(map(str, n))
    return f"{', '.join(map(str, n[:limit]))}, … ({len(n)} rounds, {sum(n)} in all)"


def _requirements(rounds: list[Mapping[str, Any]], hd: Mapping[str, Any], hs: Mapping[str, Any]) -> dict[str, Any] | None:
    per_round = [Counter(str(v) for c in records(r.get("counterexamples")) for v in c.get("violated") or [])
                 for r in rounds]
    names = list(dict.fromkeys([n for counts in per_round for n in counts]
                               + [str(k) for h in (hd, hs) for k in (h.get("per_requirement") or {})]))
    if not names:
        return None
    names, more = limited(names, "requirements")
    shown = list(range(len(rounds)))[-MAX_ROUND_COLUMNS:]
    rows = []
    for name in names:
        d, s = get(hd, "per_requirement", name), get(hs, "per_requirement", name)
        worse = num(d) is not None and num(s) is not None and num(s) > num(d)
        rows.append([cell(name, bold=True), *[str(per_round[i][name]) for i in shown], fmt(d),
                     [fmt(s), badge("more than dense", RED)] if worse else fmt(s)])
    heads = ["requirement", *[f"round {fmt(rounds[i].get('round', i + 1))}" for i in shown],
             "held-out uniform, dense", "held-out uniform, sparse"]
    if len(shown) < len(rounds):
        more = f"Only the last {len(shown)} of {len(rounds)} rounds are shown. {more}"
    return {"heads": heads, "rows": rows, "more": more}


def _sparsity(doc: Mapping[str, Any], rounds: list[Mapping[str, Any]], figs: dict[str, Any]) -> dict[str, Any] | None:
    s1, sf = get(doc, "step1", "layer_sparsity") or [], get(doc, "final", "layer_sparsity") or []
    if not (s1 or sf):
        return None
    restored = [0] * max(len(s1), len(sf))
    for r in rounds:
        for li, n in enumerate(r.get("restored_per_layer") or []):
            if li < len(restored) and isinstance(n, int):
                restored[li] += n
    rows = [[str(li + 1), pct(get(s1, li)), pct(get(sf, li)), str(n)] for li, n in enumerate(restored)]
    return {"figure": figs["sparsity"], "rows": rows}


def _step1(doc: Mapping[str, Any], figs: dict[str, Any]) -> dict[str, Any] | None:
    hist = records(get(doc, "step1", "scan")) or records(get(doc, "step1", "history"))
    if not hist:
        return None
    listed, more = limited(hist, "trials")
    badges = {"accepted": badge("passes", GREEN), "cutoff": badge("fails", RED),
              "screen": badge("screen rejects", AMBER)}
    rows = [[str(i + 1), fmt(h.get("k")), pct(h.get("sparsity")), fmt(h.get("mean_reward")),
             badges[prune_plots.step1_outcome(h)]]
            for i, h in enumerate(listed)]
    headers = ["trial", "k", "sparsity", "mean reward", "reward cutoff"]
    if any("screen_p" in h for h in listed):  # the deep recipe's safety screen
        headers[-1] = "reward cutoff and screen"
        headers.append("safety screen: violations, sparse vs dense (p)")
        for row, h in zip(rows, listed):
            row.append(_screen_cell(h))
    return {"figure": figs["step1"], "rows": rows, "more": more, "headers": headers}


def _screen_cell(h: Mapping[str, Any]) -> str:
    if "screen_p" not in h:
        return "not run"
    p = f"(p = {fmt(h.get('screen_p'), 3)})"
    if "screen_points" not in h:  # reports before the sequential screen: 100 points, no dense count
        return f"{fmt(h.get('screen_violations'))} {p}"
    text = (f"{fmt(h.get('screen_violations'))} vs {fmt(h.get('screen_dense_violations'))} of "
            f"{fmt(h.get('screen_points'))} {p}")
    if "confirm_points" in h:  # reports since issue 27: the confirmation on fresh points
        text += (f"; confirmation {fmt(h.get('confirm_violations'))} vs {fmt(h.get('confirm_dense_violations'))} "
                 f"of {fmt(h.get('confirm_points'))} fresh points"
                 f"{'' if h.get('confirm_passed') else ', beyond the margin'}")
    return text


def _rounds(rounds: list[Mapping[str, Any]], figs: dict[str, Any]) -> dict[str, Any] | None:
    if not rounds:
        return None
    listed, more = limited(rounds, "rounds")
    rows = [[fmt(r.get("round")), fmt(r.get("seed")), fmt(r.get("evaluations")),
             fmt(r.get("uniform_evaluations")), str(len(r.get("counterexamples") or [])),
             fmt(r.get("recovered")), fmt(r.get("unrecoverable")), fmt(r.get("p")),
             fmt(r.get("restored_per_layer")), fmt(r.get("unfixed")), pct(r.get("sparsity"))]
            for r in listed]
    worst = sorted((c for r in rounds for c in records(r.get("counterexamples"))),
                   key=lambda c: sort_key(c.get("min_robustness")))[:10]
    worst_rows = [[", ".join(map(str, c.get("violated") or [])), fmt(c.get("min_robustness")),
                   fmt(c.get("step")), cell(fmt(c.get("point")), code=True)] for c in worst]
    return {"figure": figs["rounds"], "rows": rows, "more": more, "repair": figs.get("repair"),
            "worst": worst_rows}


def _heldout_row(label: str, hd: Mapping[str, Any], hs: Mapping[str, Any], key: str, mark: bool = False) -> list[Any]:
    d, s = hd.get(key), hs.get(key)
    dn, sn = num(d), num(s)
    if mark and dn is not None and sn is not None and not (math.isnan(dn) or math.isnan(sn)):
        return [label, fmt(d), [fmt(s), badge("more than dense", RED) if sn > dn else badge("no more", GREEN)]]
    return [label, fmt(d), fmt(s)]


COMPARISON_COLOURS = {"no worse": GREEN, "worse": RED, "inconclusive": AMBER}


def _comparison(c: Any) -> list[tuple[str, Any]]:
    """The stated test of dense vs sparse violation rates, as key-value rows."""
    if not isinstance(c, Mapping):
        return []
    verdict = fmt(c.get("verdict"))
    return [("test", fmt(c.get("test"))), ("p-value", fmt(c.get("p_value"))),
            ("verdict", badge(verdict, COMPARISON_COLOURS.get(verdict, GREY))),
            ("points to decide", fmt(c.get("points_to_decide"))), ("statement", fmt(c.get("text")))]


def _heldout(hd: Mapping[str, Any], hs: Mapping[str, Any], figs: dict[str, Any],
             comparison: Any, who: str) -> dict[str, Any] | None:
    if not (hd or hs):
        return None
    rows = [_heldout_row(f"{who} rollouts", hd, hs, "bo_evaluations"),
            _heldout_row(f"{who} counterexamples", hd, hs, "bo_counterexamples", mark=True),
            _heldout_row(f"{who} min robustness", hd, hs, "bo_min_robustness"),
            _heldout_row("uniform points", hd, hs, "uniform_points"),
            _heldout_row("uniform violations", hd, hs, "uniform_violations", mark=True)]
    names, _ = limited(list(dict.fromkeys([*(hd.get("per_requirement") or {}), *(hs.get("per_requirement") or {})])),
                       "requirements")
    rows += [[["uniform violations of", cell(n, bold=True)], fmt(get(hd, "per_requirement", n)),
              fmt(get(hs, "per_requirement", n))] for n in names]
    rows.append(_heldout_row("mean reward", hd, hs, "mean_reward"))
    quiet = figs.get("heldout") is None
    return {"rows": rows, "figure": figs.get("heldout"), "comparison": _comparison(comparison),
            "note": "No held-out violation on either policy." if quiet else ""}


def _proof(proof: Any) -> dict[str, Any] | None:
    """The `prune --prove` block: one row per property (verdict and volume fractions)."""
    if not isinstance(proof, Mapping):
        return None
    colours = {"proved": GREEN, "refuted": RED, "unknown": AMBER}
    rows = [[cell(str(p.get("name", "–")), bold=True), fmt(p.get("text")),
             badge(str(p.get("verdict")), colours.get(p.get("verdict"), GREY)),
             pct(get(p, "fractions", "proved")), pct(get(p, "fractions", "refuted")),
             pct(get(p, "fractions", "unknown")), fmt(p.get("seconds"))]
            for p in records(proof.get("properties"))]
    from sanp.prove.verifiers import verifier_label

    note = (f"{verifier_label(proof.get('verifier'))}, {fmt(proof.get('timeout'))} s per property; "
            "fractions are of the region's volume.")
    if proof.get("error"):
        note = f"The proof failed after the prune was written: {fmt(proof.get('error'))}"
    return {"rows": rows, "note": " ".join(filter(None, [note, proof.get("note")]))}


def context(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The template's data for a prune report."""
    inp = doc.get("inputs") if isinstance(doc.get("inputs"), Mapping) else {}
    step1, final = doc.get("step1") or {}, doc.get("final") or {}
    rounds = records(doc.get("rounds"))
    hd, hs = (h if isinstance(h, Mapping) else {} for h in (get(doc, "heldout", "dense"), get(doc, "heldout", "sparse")))
    figs = {stem: figure(pair) for stem, pair in prune_plots.prune_figures(doc).items()}
    summary = [
        ("sparsity", f"step 1: {pct(step1.get('sparsity'))}   refined: {pct(final.get('sparsity'))}"),
        ("mean reward", (f"dense {fmt(doc.get('dense_reward'))}, pruned (step 1) "
                         f"{fmt(step1.get('mean_reward'))}, refined {fmt(final.get('mean_reward'))}")),
        ("converged", badge("yes", GREEN) if final.get("converged") else badge("no", AMBER)),
        ("rounds run", str(len(rounds))),
    ]
    return {
        "header": {"command": "prune", "policy": basename(inp.get("policy")), "joiner": "with",
                   "spec": basename(inp.get("spec"))},
        "title": f"sanp prune — {basename(inp.get('policy'))}",
        "verdict": _verdict(doc, rounds),
        "extra_inputs": [("output", cell(doc.get("output", "–"), code=True)),
                         ("masks SHA-256", cell(final.get("masks_sha256", "–"), hash=True))],
        "summary": summary,
        "requirements": _requirements(rounds, hd, hs),
        "sparsity": _sparsity(doc, rounds, figs),
        "step1": _step1(doc, figs),
        "rounds": _rounds(rounds, figs),
        "heldout": _heldout(hd, hs, figs, get(doc, "heldout", "comparison"), optimizer_label(doc)),
        "optimizer": optimizer_label(doc),
        "proof": _proof(doc.get("proof")),
    }

