"""The figures of a verify run, drawn from its JSON report (a prune run's are in
`prune_plots`, a prove run's in `prove_plots`).

One set of functions serves both outputs: `--plots DIR` saves them as PNG files
(`plot_verify`, `prune_plots.plot_prune`) and `sanp report` embeds the same figures in
the page.
Each `*_figure` function returns a matplotlib Figure (no pyplot state) and a caption.

Drawing cost is bounded whatever the report's size: long series are thinned to at most
`MAX_DRAWN` points per line, keeping each bucket's minimum and maximum so that a
violation never disappears from a plot.

    >>> from sanp.report import plots
    >>> plots.plot_verify(doc, "out/plots")            # doctest: +SKIP
    [PosixPath('out/plots/robustness.png'), PosixPath('out/plots/cex_0.png')]
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sanp.report import comparisons
from sanp.report.drawing import (
    MAX_DRAWN,
    PALETTE,
    edge_values,
    new_figure,
    save,
    thin,
)
from sanp.report.values import fmt, num, records

MAX_GROUPS = 8
"""Target requirements drawn in colours of their own; the rest share one."""

# ---------------------------------------------------------------------------- verify


def _groups(targets: Sequence[Any]) -> list[tuple[str | None, np.ndarray]]:
    """(label, indices) per target requirement, in first-seen order; one group when
    the evaluations have no targets; past MAX_GROUPS, the rest as one 'other' group."""
    if not any(targets):
        return [(None, np.arange(len(targets)))]
    by: dict[str, list[int]] = {}
    for i, t in enumerate(targets):
        by.setdefault(str(t), []).append(i)
    names = list(by)
    out = [(n, np.array(by[n])) for n in names[:MAX_GROUPS]]
    if len(names) > MAX_GROUPS:
        rest = sorted(i for n in names[MAX_GROUPS:] for i in by[n])
        out.append((f"{len(names) - MAX_GROUPS} other targets", np.array(rest)))
    return out


def robustness_figure(doc: Mapping[str, Any]):
    """Each evaluation's robustness and the best so far (per target requirement)."""
    evs = records(doc.get("evaluations"))
    if not evs:
        return None
    x = np.array([(e.get("index") if isinstance(e.get("index"), int) else i) + 1
                  for i, e in enumerate(evs)], dtype=float)
    y = np.array([num(e.get("objective")) if num(e.get("objective")) is not None else np.nan
                  for e in evs])
    shown, bottom, top = edge_values(y)
    groups = _groups([e.get("target") for e in evs])
    fig, axes = new_figure(9, 3.8)
    ax = axes[0, 0]
    for gi, (g, idx) in enumerate(groups):
        colour = PALETTE[gi % len(PALETTE)]
        best = np.minimum.accumulate(np.where(np.isnan(shown[idx]), np.inf, shown[idx]))
        best[np.isinf(best)] = np.nan
        keep = thin(len(idx), shown[idx])
        xs, ys = x[idx][keep], shown[idx][keep]
        fin = np.isfinite(y[idx][keep])
        ax.plot(xs[fin], ys[fin], ".", color=colour, ms=6, label=f"{g}: evaluation" if g else "evaluation")
        ax.step(xs, best[keep], where="post", color=colour if g else "tab:red", lw=1.6,
                label=f"{g}: best so far" if g else "best so far")
    for mask, marker, colour, label in ((np.isneginf(y), "v", "darkred", "−∞ (non-finite episode)"),
                                        (np.isposinf(y), "^", "0.4", "+∞")):
        if mask.any():
            keep = thin(int(mask.sum()))
            ax.plot(x[mask][keep], shown[mask][keep], marker, color=colour, ms=7, label=label)
    cex_evals = {c.get("evaluation") for c in records(doc.get("counterexamples"))}
    hit = np.array([e.get("index") in cex_evals for e in evs])
    if hit.any():
        keep = thin(int(hit.sum()), shown[hit])
        ax.plot(x[hit][keep], shown[hit][keep], "o", mfc="none", mec="red", ms=11, mew=1.4,
                label="counterexample")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.axhspan(bottom, 0.0, color="red", alpha=0.06, lw=0)
    ax.set_ylim(bottom, top)
    ax.set_xlabel("evaluation")
    ax.set_ylabel("robustness of the target requirement" if groups[0][0]
                  else "robustness (min over requirements)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", ncol=2 if len(groups) > 1 else 1)
    caption = ("Robustness of each evaluation (one rollout) and the best so far; below the "
               "black line (shaded) a requirement is violated.")
    nonfin = int((~np.isfinite(y)).sum())
    if nonfin:
        caption += f" {nonfin} non-finite value(s) are drawn at the edge of the plot (NaN is not drawn)."
    if len(evs) > MAX_DRAWN:
        caption += f" Of {len(evs)} evaluations, each stretch's lowest and highest are drawn."
    return fig, caption


def _inside(n: int, windows: Sequence[tuple[int, int]]) -> np.ndarray:
    """Steps 0..n-1 that fall in `windows` (all of them when there are none)."""
    if not windows:
        return np.ones(n, dtype=bool)
    t = np.arange(n)
    return np.any([(t >= a) & (t <= b) for a, b in windows], axis=0)


def _draw_line(ax, t: np.ndarray, line: comparisons.Line, colour: str, panel: comparisons.Panel) -> None:
    arr = np.asarray(line.values, dtype=float)
    if arr.ndim == 0:
        arr = np.full(len(t), float(arr))
    arr = edge_values(arr.reshape(-1))[0]
    if line.kind == "right":  # the bound applies only where the requirement reads it
        arr = np.where(_inside(len(arr), panel.windows), arr, np.nan)
    keep = thin(len(arr), arr)
    if line.kind == "right":
        ax.plot(t[keep], arr[keep], "--", color="tab:red", lw=1.4, label=f"bound {line.label}")
        return
    fin = arr[np.isfinite(arr)]
    discrete = fin.size == arr.size and np.all(fin == np.round(fin)) and len(np.unique(fin)) <= 4
    ax.plot(t[keep], arr[keep], color=colour, lw=1.4, label=line.label,
            drawstyle="steps-post" if discrete else "default")
    step = panel.mark
    if panel.decides and isinstance(step, int) and 0 <= step < len(arr):
        ax.plot([step], [arr[step]], "o", color="red", ms=6, zorder=5)


def panel_marks(view: comparisons.CexView) -> list[dict[str, Any]]:
    """What each panel of a counterexample figure marks: its title, the shaded windows
    (the steps its requirement reads), the critical step (dotted line) and whether the
    red dot is drawn there (this comparison decides the requirement)."""
    return [{"title": p.title, "requirement": p.requirement, "windows": list(p.windows),
             "step": p.mark, "dot": p.decides and p.mark is not None} for p in view.panels]


def counterexample_figure(i: int, cex: Mapping[str, Any], view: comparisons.CexView):
    """The comparisons of the requirements counterexample `i` violates, over its episode:
    each requirement's window shaded, its bound drawn inside it, its own critical step
    marked (`panel_marks`)."""
    panels = view.panels
    fig, axes = new_figure(9, 1.2 + 1.9 * max(1, len(panels)), rows=max(1, len(panels)), sharex=True)
    length = max((np.size(ln.values) for p in panels for ln in p.lines), default=1)
    t = np.arange(length)
    for ax, panel in zip(axes[:, 0], panels):
        for gi, line in enumerate(panel.lines):
            colour = "tab:blue" if line.kind == "left" else PALETTE[gi % len(PALETTE)]
            _draw_line(ax, t[: max(1, np.size(line.values))], line, colour, panel)
        whole = [(0, length - 1)]
        if panel.windows and list(panel.windows) != whole:
            for gi, (a, b) in enumerate(panel.windows):
                ax.axvspan(a - 0.5, b + 0.5, color="tab:green", alpha=0.08, lw=0,
                           label="time window" if gi == 0 else None)
        if isinstance(panel.mark, int):
            ax.axvline(panel.mark, color="0.45", lw=0.9, ls=":")
        title = panel.title + (f" (decided at step {panel.mark})" if isinstance(panel.mark, int) else "")
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        if panel.lines:
            ax.legend(fontsize=8, loc="best")
    axes[-1, 0].set_xlabel("step")
    violated = ", ".join(str(v) for v in cex.get("violated") or [])
    steps = ", ".join(f"{n} at step {fmt(s)}" for n, s in view.steps.items())
    where = (f"critical step: {steps} (dotted line; red dot on the comparison that decides it)"
             if steps else f"critical step {fmt(cex.get('step'))}")
    caption = (f"Counterexample #{i + 1}: violates {violated or '–'}, robustness "
               f"{fmt(cex.get('min_robustness'))}; {where}; {fmt(cex.get('length'))} steps. "
               f"Shaded: the steps a requirement reads (its time window); its dashed limit is drawn "
               f"there only. Point: {fmt(cex.get('point'))}.")
    if view.note:
        caption += f" {view.note}"
    if view.dropped:
        caption += f" {view.dropped} more comparison(s) not drawn."
    if length > MAX_DRAWN:
        caption += f" Of {length} steps, each stretch's lowest and highest are drawn."
    return fig, caption


def plot_verify(doc: Mapping[str, Any], out_dir: str | os.PathLike) -> list[Path]:
    """robustness.png and cex_<i>.png (one per counterexample) of a verify report."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    robustness = robustness_figure(doc)
    if robustness:
        written.append(save(robustness[0], out / "robustness.png"))
    spec, note = comparisons.spec_of(doc)
    for i, cex in enumerate(records(doc.get("counterexamples"))):
        fig, _ = counterexample_figure(i, cex, comparisons.cex_view(cex, spec, note))
        written.append(save(fig, out / f"cex_{i}.png"))
    return written
