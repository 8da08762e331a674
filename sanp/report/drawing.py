"""Drawing helpers shared by the figures: a figure without pyplot state, PNG bytes and
data URIs, and `thin`, which bounds the points drawn per line.

    >>> thin(10).tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    >>> len(thin(10**6, np.zeros(10**6))) <= MAX_DRAWN
    True
"""
from __future__ import annotations

import base64
import io
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from sanp.atomic import write_bytes

MAX_DRAWN = 2000
"""Points drawn per line; longer series are thinned to their bucket minima and maxima."""
GREEN, RED, AMBER, GREY = "#1a7f37", "#cf222e", "#9a6700", "#57606a"
PALETTE = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink",
           "tab:olive", "tab:cyan", "tab:gray"]


def new_figure(width: float, height: float, rows: int = 1, cols: int = 1, **kw: Any):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False, **kw)


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def thin(n: int, y: np.ndarray | None = None, limit: int = MAX_DRAWN) -> np.ndarray:
    """Indices of at most ~`limit` of `n` points: all of them when few; else, per bucket,
    the first point and (given `y`) the finite minimum and maximum."""
    if n <= limit:
        return np.arange(n)
    buckets = max(1, limit // 3)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    keep = [edges[:-1], [n - 1]]
    if y is not None:
        for lo, hi in itertools.pairwise(edges):
            seg = np.where(np.isnan(y[lo:hi]), np.inf, y[lo:hi])
            keep.append([lo + int(np.argmin(seg)), lo + int(np.argmax(np.where(np.isinf(seg), -np.inf, seg)))])
    return np.unique(np.concatenate([np.asarray(k, dtype=int) for k in keep]))


def edge_values(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(y with ±inf moved to just beyond the finite range, bottom, top)."""
    finite = y[np.isfinite(y)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    out = y.copy()
    out[np.isneginf(y)] = lo - pad
    out[np.isposinf(y)] = hi + pad
    return out, lo - 2 * pad, hi + 2 * pad


def save(fig, path: Path) -> Path:
    """Write the figure as a PNG file (atomically)."""
    write_bytes(path, png_bytes(fig))
    return path
