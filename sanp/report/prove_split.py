"""The split of a region as a picture, drawn from a prove run's results (`sanp prove
--plots`): a 2-D slice through the leaves of branch and bound. (`prove_plots` draws the
same from a JSON report, for the page.)

Example:
    >>> plot_split(result, "push_right.png")            # the two most split dimensions
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sanp.prove.bab import PropertyResult
from sanp.report.drawing import new_figure, save

COLORS = {"proved": "#4caf50", "refuted": "#e53935", "unknown": "#bdbdbd", "vacuous": "#f5f5f5"}


def split_dims(result: PropertyResult) -> tuple[int, int]:
    """The two dimensions the leaves were cut most along (relative to the region)."""
    root = result.prop.region.widths()
    cuts = np.zeros(len(root))
    for leaf in result.leaves:
        w = leaf.box.widths()
        cuts += np.where(root > 0, np.log2(np.where(w > 0, root / np.where(w > 0, w, 1), 1)), -1)
    order = np.argsort(-cuts, kind="stable")
    return int(order[0]), int(order[1])


def plot_split(result: PropertyResult, path: str | os.PathLike, dims: tuple[int, int] | None = None,
               at: np.ndarray | None = None) -> Path:
    """Draw the leaves that meet the slice through `at` (default: the region's centre,
    or the first counterexample) over `dims`; counterexamples are marked with x."""
    from matplotlib.patches import Rectangle

    region = result.prop.region
    if region.dim < 2:
        raise ValueError("a slice needs a region of at least 2 dimensions")
    i, j = dims or split_dims(result)
    if at is None:
        at = np.array(result.counterexamples[0].obs) if result.counterexamples else region.center()
    others = [k for k in range(region.dim) if k not in (i, j)]
    fig, axes = new_figure(5.5, 4.5)
    ax = axes[0, 0]
    for leaf in result.leaves:
        b = leaf.box
        if all(b.lo[k] <= at[k] <= b.hi[k] for k in others):
            ax.add_patch(Rectangle((b.lo[i], b.lo[j]), b.hi[i] - b.lo[i], b.hi[j] - b.lo[j],
                                       facecolor=COLORS[leaf.status], edgecolor="white", linewidth=0.6))
    for c in result.counterexamples:
        ax.plot(c.obs[i], c.obs[j], "kx", markersize=5)
    ax.set_xlim(region.lo[i], region.hi[i] if region.hi[i] > region.lo[i] else region.lo[i] + 1)
    ax.set_ylim(region.lo[j], region.hi[j] if region.hi[j] > region.lo[j] else region.lo[j] + 1)
    ax.set_xlabel(region.label(i))
    ax.set_ylabel(region.label(j))
    fr = result.fractions()
    ax.set_title(f"{result.prop.name}: proved {fr['proved']:.1%}, refuted {fr['refuted']:.1%}, "
                 f"unknown {fr['unknown']:.1%}", fontsize=9)
    where = ", ".join(f"{region.label(k)}={at[k]:.3g}" for k in others)
    if where:
        fig.text(0.01, 0.01, f"slice at {where}", fontsize=7)
    handles = [Rectangle((0, 0), 1, 1, facecolor=COLORS[s]) for s in COLORS]
    ax.legend(handles, list(COLORS), fontsize=7, loc="upper right")
    out = Path(path)
    return save(fig, out)
