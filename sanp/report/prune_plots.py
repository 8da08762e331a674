"""The figures of a prune run, drawn from its JSON report: per-layer sparsity, step 1
(labelled by recipe and by what rejected a level), the refinement rounds, the repair's
trials, the held-out check, and the weights of the networks themselves.

    >>> from sanp.report import prune_plots
    >>> prune_plots.plot_prune(doc, [("dense", dense), ("refined", sparse)], "out/plots")  # doctest: +SKIP
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sanp.report.drawing import (
    AMBER,
    GREEN,
    PALETTE,
    RED,
    edge_values,
    new_figure,
    save,
    thin,
)
from sanp.report.values import fmt, get, num, optimizer_label, records

MAX_GROUPS = 8
"""Repair rounds drawn in colours of their own; the rest share one."""
MAX_LABELLED = 30
"""Bars that get a value label and a tick label of their own; past it, plain bars."""
MAX_CATEGORIES = 12
"""Requirements drawn in the held-out figure (all of them are in the table)."""


def _bars(ax, x: np.ndarray, series: Sequence[tuple[float, Sequence[Any], str, str]], labels) -> None:
    """Side-by-side bars (offset, values, legend label, colour), each labelled."""
    for off, vals, label, colour in series:
        v = np.array([np.nan if num(u) is None else num(u) for u in vals], dtype=float)
        bars = ax.bar(x + off, np.nan_to_num(v, posinf=0, neginf=0), 0.4, label=label, color=colour)
        if len(vals) <= MAX_LABELLED:
            ax.bar_label(bars, labels=[labels(u) for u in vals], fontsize=7, padding=2)


def sparsity_figure(s1: Sequence[Any], sf: Sequence[Any]):
    """Weights kept per layer after step 1 and after refinement, on a log axis (so that
    96%, 99% and 99.9% sparsity are apart), each bar labelled with its sparsity."""
    n = max(len(s1), len(sf))
    pad = lambda s: [num(u) if num(u) is not None else None for u in s] + [None] * (n - len(s))
    a, b = pad(s1), pad(sf)
    kept = [100 * (1 - u) for u in a + b if u is not None and math.isfinite(u) and u < 1]
    floor = 10 ** math.floor(math.log10(min(kept + [1.0]) / 2))  # below the smallest bar
    fig, axes = new_figure(min(max(5.0, 1.4 * n + 2.5), 14), 3.4)
    ax = axes[0, 0]
    x = np.arange(n)
    for off, vals, label, colour in ((-0.2, a, "after step 1", "tab:orange"),
                                     (0.2, b, "after refinement", "tab:blue")):
        height = np.array([np.nan if u is None or not math.isfinite(u) else max(100 * (1 - u), floor)
                           for u in vals]) - floor
        bars = ax.bar(x + off, np.nan_to_num(height), 0.4, bottom=floor, label=label, color=colour)
        if n <= MAX_LABELLED:
            ax.bar_label(bars, labels=[f"{100 * u:.2f}%" if u is not None and math.isfinite(u) else ""
                                       for u in vals], fontsize=7, padding=2)
    if n <= MAX_LABELLED:
        ax.set_xticks(x, [f"layer {i + 1}" for i in x])
    ax.set_xlabel("layer" if n > MAX_LABELLED else "")
    ax.set_yscale("log")
    ax.set_ylim(floor, 400)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:g}%")
    ax.set_ylabel("weights kept (log scale)")
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return fig, ("Weights kept per layer after step 1 and after refinement, on a log scale "
                 "(kept = 100% − sparsity); each bar is labelled with its sparsity.")


def _hline(ax, value: Any, label: str, **kw: Any) -> None:
    v = num(value)
    if v is not None and math.isfinite(v):
        ax.axhline(v, label=label.format(fmt(v)), **kw)


def step1_outcome(h: Mapping[str, Any]) -> str:
    """How a step-1 trial ended: "accepted", "cutoff" (the mean reward missed the cutoff)
    or "screen" (the deep recipe's safety screen rejected it; the screen runs only on
    levels whose reward reaches the cutoff)."""
    if h.get("passes", h.get("accepted")):
        return "accepted"
    p, alpha = num(h.get("screen_p")), num(h.get("screen_alpha"))
    if p is not None and (alpha is None or p < alpha):
        return "screen"
    return "cutoff"


def _deep(doc: Mapping[str, Any]) -> bool:
    return get(doc, "inputs", "options", "recipe") == "deep" or any(
        "screen_p" in h for h in records(get(doc, "step1", "scan")))


STEP1_STYLE = {  # marker, colour, size, legend label
    "accepted": ("o", GREEN, 6, "reward ≥ cutoff (accepted)"),
    "cutoff": ("x", RED, 8, "reward below the cutoff (rejected)"),
    "screen": ("s", AMBER, 7, "rejected by the safety screen"),
}


def step1_figure(doc: Mapping[str, Any], hist: Sequence[Mapping[str, Any]]):
    """Step 1: each trial's k and mean reward, the cutoff and the chosen k; titled for the
    recipe that ran (the paper's one-shot search on k, or the deep recipe's gradual
    schedule), each trial marked by how it ended (`step1_outcome`)."""
    k = np.array([np.nan if num(h.get("k")) is None else num(h.get("k")) for h in hist])
    r = np.array([np.nan if num(h.get("mean_reward")) is None else num(h.get("mean_reward")) for h in hist])
    outcome = np.array([step1_outcome(h) for h in hist])
    idx = thin(len(hist), r)
    trial, k, r, outcome = idx + 1, k[idx], r[idx], outcome[idx]
    deep = _deep(doc)
    fig, axes = new_figure(9, 3.3, cols=2)
    ax = axes[0, 0]
    shown = edge_values(r)[0]
    kept = np.clip(1.0 - k, 1e-4, 1.0)  # log scale spreads the trials near k = 1
    for kind, (marker, colour, size, label) in STEP1_STYLE.items():
        sel = outcome == kind
        if sel.any() or kind != "screen":
            ax.plot(kept[sel], shown[sel], marker, color=colour, ms=size, mew=2 if marker == "x" else 1,
                    label=label)
    _hline(ax, doc.get("dense_reward"), "dense policy", color="0.4", ls=":", lw=1)
    _hline(ax, get(doc, "inputs", "reward_threshold"), "cutoff δ = {}", color=RED, ls="--", lw=1)
    kk = num(get(doc, "step1", "k"))
    if kk is not None and math.isfinite(kk):
        ax.axvline(min(max(1.0 - kk, 1e-4), 1.0), color="tab:blue", lw=1,
                   label=f"chosen {'level' if deep else 'k'} = {fmt(kk)}")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("1 − k (fraction of weights kept; log scale)")
    ax.set_ylabel("mean reward")
    ax.set_title("mean reward of each level of the gradual schedule (pruned, then fine-tuned)" if deep
                 else "mean reward of the one-shot pruned policy", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[0, 1]
    ax.plot(trial, k, "-", color="0.7", lw=1)
    for kind, (marker, colour, size, _) in STEP1_STYLE.items():
        sel = outcome == kind
        ax.plot(trial[sel], k[sel], marker, color=colour, ms=size, mew=2 if marker == "x" else 1)
    ax.set_xlabel("level" if deep else "trial")
    ax.set_ylabel("k (fraction of weights pruned)")
    ax.set_title("the levels of the schedule, in order" if deep else "the trials of the search on k, in order",
                 fontsize=9)
    ax.grid(alpha=0.3)
    if deep:
        caption = ("Step 1 (deep recipe): each level of the gradual schedule, pruned and fine-tuned "
                   "on the dense policy's actions; the sparsest level whose mean reward reaches the "
                   "cutoff and which passes the safety screen is kept (green: passes, red: reward "
                   "below the cutoff, amber square: rejected by the safety screen).")
    else:
        caption = ("Step 1: the largest k whose one-shot pruned policy keeps the mean reward at or "
                   "above the cutoff, from a scan of k (green: passes, red: fails).")
    return fig, caption


def rounds_figure(rounds: Sequence[Mapping[str, Any]], who: str):
    """Counterexamples found in each refinement round (`who`: the optimiser's label)."""
    labels = [fmt(r.get("round", i + 1)) for i, r in enumerate(rounds)]
    counts = [len(r.get("counterexamples") or []) for r in rounds]
    fig, axes = new_figure(max(4.5, min(0.8 * len(rounds) + 3, 12)), 3.0)
    ax = axes[0, 0]
    colours = [RED if c else GREEN for c in counts]
    if len(rounds) <= MAX_LABELLED:
        bars = ax.bar(range(len(labels)), counts, color=colours)
        ax.set_xticks(range(len(labels)), labels)
        ax.bar_label(bars, fontsize=8, padding=2)
    else:  # one line per round (a bar each would cost a patch each)
        keep = thin(len(counts), np.asarray(counts, dtype=float))
        ax.vlines(keep + 1, 0, np.asarray(counts)[keep], colors=[colours[i] for i in keep])
    ax.set_xlabel("round")
    ax.set_ylabel("counterexamples")
    ax.set_ylim(0, max(counts + [1]) * 1.18)
    ax.grid(axis="y", alpha=0.3)
    return fig, ("Counterexamples found on the pruned policy in each refinement round "
                 f"({who} plus uniform points).")


def repair_figure(rounds: Sequence[Mapping[str, Any]]):
    """Repair: each trial of p and the counterexamples that still fail."""
    fig, axes = new_figure(7, 3.0)
    ax = axes[0, 0]
    positive, others = False, ([], [])
    for gi, r in enumerate(rounds):
        trials = [t for t in r.get("p_trials") or [] if isinstance(t, list) and len(t) >= 2]
        p = np.array([num(t[0]) if num(t[0]) is not None else np.nan for t in trials])
        bad = np.array([num(t[1]) if num(t[1]) is not None else np.nan for t in trials])
        positive = positive or bool((p > 0).any())
        if gi >= MAX_GROUPS:  # drawn together, in grey
            others[0].extend(p)
            others[1].extend(bad)
        elif trials:
            colour = PALETTE[gi % len(PALETTE)]
            ax.plot(p, bad, "o", color=colour, label=f"round {fmt(r.get('round', gi + 1))}")
            if num(r.get("p")) is not None:
                ax.axvline(num(r.get("p")), color=colour, ls="--", lw=1)
    if others[0]:
        keep = thin(len(others[0]), np.asarray(others[1], dtype=float))
        ax.plot(np.asarray(others[0])[keep], np.asarray(others[1])[keep], ".", color="0.6",
                label=f"rounds {MAX_GROUPS + 1}-{len(rounds)}")
    if positive:
        ax.set_xscale("log")
    ax.set_xlabel("p (fraction of pruned weights restored)")
    ax.set_ylabel("counterexamples still failing")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig, ("Repair: each trial of p with the number of counterexamples that still fail, "
                 "and the chosen p (dashed).")


def heldout_figure(hd: Mapping[str, Any], hs: Mapping[str, Any], who: str):
    """Held-out violations of the dense and the sparse policy (`who`: the optimiser's label)."""
    keys = ["bo_counterexamples", "uniform_violations"]
    names = list(dict.fromkeys([*(hd.get("per_requirement") or {}), *(hs.get("per_requirement") or {})]))
    names = names[:MAX_CATEGORIES]
    d = [hd.get(k) for k in keys] + [get(hd, "per_requirement", n) for n in names]
    s = [hs.get(k) for k in keys] + [get(hs, "per_requirement", n) for n in names]
    labels = [f"{who} counterexamples", "uniform violations"] + [f"uniform: {n}" for n in names]
    fig, axes = new_figure(max(6.0, 1.2 * len(labels) + 2), 3.2)
    ax = axes[0, 0]
    x = np.arange(len(labels))
    _bars(ax, x, [(-0.2, d, "dense", "0.55"), (0.2, s, "sparse", "tab:blue")], fmt)
    ax.set_xticks(x, labels, fontsize=8)
    top = max([num(u) for u in d + s if num(u) is not None and math.isfinite(num(u))] + [1])
    ax.set_ylim(0, top * 1.2)
    ax.set_ylabel("violations")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig, ("Held-out check with a seed the loop never used: violations found on the dense "
                 f"and on the sparse policy (lower is better). {who} counts show that violations "
                 "exist; they are not rates.")


SCATTER_LIMIT = 20_000
"""Layers with at most this many non-zero weights draw one marker per weight; denser
layers are drawn as an image (where their weights cannot vanish between pixels)."""


def weights_figure(nets: Sequence[tuple[str, Any]]):
    """log10 |w| of each network's layers (the paper's Figure 2), pruned weights white.

    A sparse layer is drawn as one marker per surviving weight (at its row and column),
    so that a few weights in a large matrix stay visible at 99.9% sparsity, where an
    image would lose them between pixels; a dense one as an image."""
    from matplotlib.colors import LogNorm

    mats = [(title, [np.abs(np.asarray(w.detach().cpu(), dtype=float)) for w in net.effective_weights()])
            for title, net in nets]
    nonzero = np.concatenate([a[a > 0] for _, layers in mats for a in layers] or [np.ones(1)])
    norm = LogNorm(float(nonzero.min()), float(max(nonzero.max(), nonzero.min() * 10)))
    rows = max(len(m) for _, m in mats)
    fig, axes = new_figure(11, 2.6 * rows, rows=rows, cols=len(mats))
    im = None
    for col, (title, layers) in enumerate(mats):
        for row, a in enumerate(layers):
            ax = axes[row, col]
            r, c = np.nonzero(a)
            if len(r) <= SCATTER_LIMIT:
                size = float(np.clip(4000 / max(len(r), 1), 4, 36))
                im = ax.scatter(c, r, c=a[r, c], s=size, marker="s", cmap="viridis", norm=norm,
                                linewidths=0)
                ax.set_xlim(-0.5, a.shape[1] - 0.5)
                ax.set_ylim(a.shape[0] - 0.5, -0.5)
            else:
                im = ax.imshow(np.ma.masked_where(a == 0, a), aspect="auto", cmap="viridis", norm=norm,
                               interpolation="nearest")
            ax.set_facecolor("white")  # zeros show as white
            ax.set_title(f"{title}, layer {row + 1}: {len(r)} of {a.size} kept "
                         f"({(a == 0).mean():.2%} zero)", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        for row in range(len(layers), rows):
            axes[row, col].set_visible(False)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.02, label="|w| (log scale)")
    fig.suptitle("|weights| (log colour scale); pruned (zero) weights white, each kept weight "
                 "of a sparse layer one square")
    return fig, ("|weights| of the dense, pruned and refined networks on a log colour scale; pruned "
                 "weights white; in sparse layers each kept weight is one square.")


def prune_figures(doc: Mapping[str, Any]) -> dict[str, tuple[Any, str]]:
    """The figures a prune report can draw, by file stem, in page order."""
    step1, final = doc.get("step1") or {}, doc.get("final") or {}
    rounds = records(doc.get("rounds"))
    out = {}
    if step1.get("layer_sparsity") or final.get("layer_sparsity"):
        out["sparsity"] = sparsity_figure(step1.get("layer_sparsity") or [], final.get("layer_sparsity") or [])
    scan = records(step1.get("scan")) or records(step1.get("history"))
    if scan:
        out["step1"] = step1_figure(doc, scan)
    if rounds:
        out["rounds"] = rounds_figure(rounds, optimizer_label(doc))
    if any(r.get("p_trials") for r in rounds):
        out["repair"] = repair_figure(rounds)
    hd, hs = (h if isinstance(h, Mapping) else {} for h in (get(doc, "heldout", "dense"), get(doc, "heldout", "sparse")))
    counts = [num(h.get(k)) for h in (hd, hs) for k in ("bo_counterexamples", "uniform_violations")]
    if (hd or hs) and not all(c == 0 for c in counts):
        out["heldout"] = heldout_figure(hd, hs, optimizer_label(doc))
    return out


def plot_prune(doc: Mapping[str, Any], nets: Sequence[tuple[str, Any]], out_dir: str | os.PathLike) -> list[Path]:
    """weights.png (from the networks `nets`: (title, MLPPolicy) pairs) and the figures
    of the prune report: sparsity.png, step1.png, rounds.png, repair.png, heldout.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [save(weights_figure(nets)[0], out / "weights.png")]
    for stem, (fig, _) in prune_figures(doc).items():
        written.append(save(fig, out / f"{stem}.png"))
    return written
