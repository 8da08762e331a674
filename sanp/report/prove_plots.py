"""The figure of a prove run, drawn from its JSON report: how branch and bound split a
property's region, each box coloured by its outcome.

    >>> fig, caption = split_figure(doc["properties"][0])            # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sanp.report.drawing import MAX_DRAWN, new_figure
from sanp.report.values import floats, fmt, get, records

SPLIT_COLOURS = {"proved": "#4caf50", "refuted": "#e53935", "unknown": "#bdbdbd", "vacuous": "#f5f5f5"}
MAX_LEAVES_DRAWN = 5000
"""Boxes drawn per split picture (the fractions in the table count them all)."""


def _leaf_boxes(prop: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    lo, hi, status = [], [], []
    for leaf in records(prop.get("leaves")):
        a, b = floats(leaf.get("lo")), floats(leaf.get("hi"))
        if a.size and a.shape == b.shape:
            lo.append(a)
            hi.append(b)
            status.append(str(leaf.get("status")))
    if not lo or len({a.size for a in lo}) != 1:
        return np.zeros((0, 0)), np.zeros((0, 0)), []
    return np.array(lo), np.array(hi), status


def split_figure_possible(prop: Mapping[str, Any]) -> bool:
    """The property was split into several boxes over a region of >= 2 dimensions."""
    lo, _, _ = _leaf_boxes(prop)
    return len(lo) > 1 and lo.shape[1] >= 2


def split_figure(prop: Mapping[str, Any]):
    """A prove report's property: its boxes of branch and bound coloured by outcome, on a
    2-D slice over the two most split dimensions through the first counterexample (or the
    region's centre); counterexamples marked x."""
    from matplotlib.patches import Rectangle

    lo, hi, status = _leaf_boxes(prop)
    rlo, rhi = floats(get(prop, "region", "lo")), floats(get(prop, "region", "hi"))
    if rlo.shape != (lo.shape[1],) or rhi.shape != rlo.shape:
        rlo, rhi = lo.min(axis=0), hi.max(axis=0)
    names = [str(n) for n in get(prop, "region", "names", default=[]) or []]
    names = names if len(names) == len(rlo) else [f"obs[{i}]" for i in range(len(rlo))]
    root = np.where(rhi > rlo, rhi - rlo, 1.0)
    widths = np.where(hi > lo, hi - lo, root)
    cuts = np.log2(root / widths).sum(axis=0)
    i, j = (int(d) for d in np.argsort(-cuts, kind="stable")[:2])
    cexs = [floats(c.get("obs")) for c in records(prop.get("counterexamples"))]
    cexs = [c for c in cexs if c.shape == rlo.shape]
    at = cexs[0] if cexs else (rlo + rhi) / 2
    others = [k for k in range(len(rlo)) if k not in (i, j)]
    meets = np.all([(lo[:, k] <= at[k]) & (at[k] <= hi[:, k]) for k in others], axis=0) if others \
        else np.ones(len(lo), dtype=bool)
    fig, axes = new_figure(5.5, 4.5)
    ax = axes[0, 0]
    for n in np.flatnonzero(meets)[:MAX_LEAVES_DRAWN]:
        ax.add_patch(Rectangle((lo[n, i], lo[n, j]), hi[n, i] - lo[n, i], hi[n, j] - lo[n, j],
                               facecolor=SPLIT_COLOURS.get(status[n], "white"), edgecolor="white", lw=0.6))
    for c in cexs[:MAX_DRAWN]:
        ax.plot(c[i], c[j], "kx", ms=5)
    ax.set_xlim(rlo[i], rhi[i] if rhi[i] > rlo[i] else rlo[i] + 1)
    ax.set_ylim(rlo[j], rhi[j] if rhi[j] > rlo[j] else rlo[j] + 1)
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    fractions = prop.get("fractions")
    fr: Mapping[str, Any] = fractions if isinstance(fractions, Mapping) else {}
    name = fmt(prop.get("name", "property"))
    ax.set_title(f"{name}: proved {fmt(fr.get('proved'))}, refuted {fmt(fr.get('refuted'))}, "
                 f"unknown {fmt(fr.get('unknown'))}", fontsize=9)
    ax.legend([Rectangle((0, 0), 1, 1, facecolor=c) for c in SPLIT_COLOURS.values()], list(SPLIT_COLOURS),
              fontsize=7, loc="upper right")
    where = ", ".join(f"{names[k]}={fmt(at[k])}" for k in others)
    caption = (f"{name}: the {len(lo)} boxes of branch and bound over {names[i]} and {names[j]}"
               + (f", on the slice at {where}" if where else "")
               + " (green proved, red refuted, grey unknown, light vacuous; x: counterexamples).")
    return fig, caption
