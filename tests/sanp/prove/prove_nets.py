"""Hand-built ReLU networks with answers known on paper, for the prove tests
(imported by name: pytest puts this directory on sys.path)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sanp.extras import available
from sanp.model import MLPPolicy

ROOT = Path(__file__).resolve().parents[3]
needs_marabou = pytest.mark.skipif(not available("maraboupy"),
                                   reason="the prover's tests need the extra: pip install 'sanp[prove]'")


def mlp(weights, biases, *, kind="discrete", low=None, high=None, activations="relu"):
    """An MLPPolicy with exactly these weights ([out, in] per layer) and biases."""
    sizes = [np.shape(weights[0])[1]] + [np.shape(w)[0] for w in weights]
    kw = {"action_low": low, "action_high": high} if kind == "continuous" else {}
    pi = MLPPolicy(sizes, activations, action_kind=kind, **kw)
    with torch.no_grad():
        for lin, w, b in zip(pi.layers, weights, biases):
            lin.weight.copy_(torch.tensor(np.asarray(w, np.float32)))
            lin.bias.copy_(torch.tensor(np.asarray(b, np.float32)))
    return pi


# h0 = relu(x0 + x1), h1 = relu(x0 - x1); y0 = h0 - h1, y1 = h1 + 0.25, so
# y0 - y1 = h0 - 2 h1 - 0.25. Every constant is dyadic: float32 computes the corners exactly.
W1, B1 = [[1.0, 1.0], [1.0, -1.0]], [0.0, 0.0]
W2, B2 = [[1.0, -1.0], [0.0, 1.0]], [0.0, 0.25]


def grid(lo, hi, n=401):
    """Every point of an n x n grid over [lo, hi] (float32)."""
    axes = [np.linspace(a, b, n) for a, b in zip(lo, hi)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(lo)).astype(np.float32)
