"""The reach tube of a closed-loop proof against the requirement's bounds, over time.

For each signal a requirement reads, the band between the lower and upper bound of the
signal over every proved cell (`RequirementResult.tube`), and the constant sides of the
requirement's comparisons as horizontal lines: a proof of `always (abs(x) <= 2.4)`
shows the band of x inside +-2.4 up to the step the proof reaches.

Example:
    >>> plot_tube(result.requirements[0], spec, "position_tube.png")
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

import stl.ast as A


def _bounds(node: Any, out: dict[str, list[float]]) -> None:
    """Constants compared with a signal (or its abs): `abs(x) <= 2.4` gives x: [2.4, -2.4]."""
    while isinstance(node, A.ReqRef):
        node = node.formula
    if isinstance(node, A.Compare):
        for sig_side, const_side in ((node.left, node.right), (node.right, node.left)):
            inner, mirrored = sig_side, False
            if isinstance(inner, A.Abs):
                inner, mirrored = inner.operand, True
            if isinstance(inner, A.SignalRef) and isinstance(const_side, (A.Num, A.ConstRef)):
                v = float(const_side.value)
                out.setdefault(inner.name, []).extend([v, -v] if mirrored else [v])
    for c in node.children():
        _bounds(c, out)


def plot_tube(result: Any, spec: Any, path: str | os.PathLike) -> Path | None:
    """One panel per signal of the requirement; None when no cell was proved (no tube)."""
    from sanp.report.drawing import new_figure, save

    if not result.tube:
        return None
    limits: dict[str, list[float]] = {}
    _bounds(spec.requirements[result.name].formula, limits)
    names = list(result.tube)
    fig, axes = new_figure(7.0, 2.2 * len(names), rows=len(names))
    for ax, name in zip(axes[:, 0], names):
        lo, hi = result.tube[name]
        t = np.arange(len(lo))
        ax.fill_between(t, lo, hi, color="#4caf50", alpha=0.4, step="mid", label="reach tube (proved cells)")
        for v in limits.get(name, []):
            ax.axhline(v, color="#e53935", lw=1.0, ls="--")
        ax.set_ylabel(name)
        ax.set_xlim(0, len(lo) - 1)
    f = result.fractions
    axes[0, 0].set_title(f"{result.name}: {result.verdict} (proved {f['proved']:.1%} of the search box, "
                         f"99% up to step {result.largest_horizon(0.99)})", fontsize=9)
    axes[-1, 0].set_xlabel("step")
    axes[0, 0].legend(loc="upper right", fontsize=7)
    return save(fig, Path(path))
