"""Piecewise-linear networks: what a verifier sees of a policy.

`PLNet` is a chain of affine layers in float64, each unit followed by a ReLU or not
(`relu` mask), so that a clip (the observation normaliser's, the action box's) is
written exactly with ReLUs: clip(z, lo, hi) = lo + relu(z - lo) - relu(z - hi).
`from_policy` builds it from an `MLPPolicy` (its effective weights: masked positions
are zero and carry no term), and `compact` removes units that cannot matter, which is
where a pruned network gets its smaller case split.

Example:
    >>> net = from_policy(policy, box, clip_actions=False)
    >>> net(np.zeros((1, net.in_dim)))        # raw outputs, float64
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sanp.prove.properties import Box, PropertyError

if TYPE_CHECKING:
    from sanp.model import MLPPolicy


@dataclass(frozen=True, eq=False)
class Layer:
    """y = W x + b, then ReLU where `relu` is True."""

    W: np.ndarray
    b: np.ndarray
    relu: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x @ self.W.T + self.b
        return np.where(self.relu, np.maximum(y, 0.0), y)


@dataclass(frozen=True, eq=False)
class PLNet:
    """A piecewise-linear network (the last layer has no ReLU)."""

    layers: tuple[Layer, ...]

    @property
    def in_dim(self) -> int:
        return self.layers[0].W.shape[1]

    @property
    def out_dim(self) -> int:
        return self.layers[-1].W.shape[0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        for layer in self.layers:
            x = layer(x)
        return x

    def n_relus(self) -> int:
        return int(sum(layer.relu.sum() for layer in self.layers))

    def n_terms(self) -> int:
        """Non-zero weights: the size of the verifier's equations."""
        return int(sum(np.count_nonzero(layer.W) for layer in self.layers))


def _clip_layers(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """clip(z, lo, hi) per component as (A, a, relu) then (M, m): h = act(A z + a),
    clip = M h + m. Infinite bounds drop their ReLU; z passes as an identity unit when a
    side is open."""
    rows: list[np.ndarray] = []
    bias, relu, out_cols, out_bias = [], [], [], []
    n = len(lo)
    for i in range(n):
        e = np.eye(n)[i]
        cols = {}
        if np.isfinite(lo[i]) and np.isfinite(hi[i]):
            out_bias.append(lo[i])
            cols = {len(rows): 1.0, len(rows) + 1: -1.0}
            rows += [e, e]
            bias += [-lo[i], -hi[i]]
            relu += [True, True]
        else:
            out_bias.append(0.0)
            cols[len(rows)] = 1.0  # identity unit z
            rows.append(e)
            bias.append(0.0)
            relu.append(False)
            if np.isfinite(hi[i]):  # z - relu(z - hi)
                cols[len(rows)] = -1.0
                rows.append(e)
                bias.append(-hi[i])
                relu.append(True)
            elif np.isfinite(lo[i]):  # z + relu(lo - z)
                cols[len(rows)] = 1.0
                rows.append(-e)
                bias.append(lo[i])
                relu.append(True)
        out_cols.append(cols)
    M = np.zeros((n, len(rows)))
    for i, cols in enumerate(out_cols):
        for j, c in cols.items():
            M[i, j] = c
    return np.array(rows), np.array(bias), np.array(relu), M, np.array(out_bias)


def check_encodable(policy: MLPPolicy) -> None:
    """PropertyError unless the verifier can encode `policy` (an MLPPolicy): ReLU hidden
    layers and a linear output layer."""
    bad = [a for a in policy.activations[:-1] if a not in ("relu", "identity")]
    if bad or policy.activations[-1] != "identity":
        raise PropertyError(
            f"the verifier handles ReLU networks with a linear output layer; this policy uses "
            f"{', '.join(policy.activations)}"
        )


def from_policy(policy: MLPPolicy, box: Box, *, clip_actions: bool = False) -> PLNet:
    """The network of an `MLPPolicy` as a PLNet over observations in `box`.

    The observation normaliser is folded into the first layer; its clip is written with
    ReLUs only for the inputs whose normalised range over `box` reaches it. With
    `clip_actions` the outputs are the actions clipped to the action box.
    """
    check_encodable(policy)
    Ws = [w.double().numpy() for w in policy.effective_weights()]
    bs = [lin.bias.detach().double().numpy() for lin in policy.linears]
    layers = [Layer(W, b, np.full(len(b), a == "relu")) for W, b, a in zip(Ws, bs, policy.activations)]
    if policy.has_normalizer:
        layers = _normalizer(policy, box) + layers
    if clip_actions and policy.action_kind == "continuous":
        lo = np.full(policy.out_dim, -np.inf) if policy.action_low is None else policy.action_low.astype(np.float64)
        hi = np.full(policy.out_dim, np.inf) if policy.action_high is None else policy.action_high.astype(np.float64)
        A, a, relu, M, m = _clip_layers(lo, hi)
        last = layers[-1]
        layers[-1] = Layer(A @ last.W, A @ last.b + a, relu)
        layers.append(Layer(M, m, np.zeros(len(m), bool)))
    return compact(_fold_affine(layers))


def _normalizer(policy: MLPPolicy, box: Box) -> list[Layer]:
    """z = (x - mean) / std, then clip(z, -c, c) where the box can reach +-c."""
    mean = policy.obs_mean.double().numpy()
    std = policy.obs_std.double().numpy()
    n = len(mean)
    A, a = np.diag(1.0 / std), -mean / std
    if policy.obs_clip is None:
        return [Layer(A, a, np.zeros(n, bool))]
    c = float(policy.obs_clip)
    z_lo, z_hi = (box.lo_array - mean) / std, (box.hi_array - mean) / std
    lo = np.where(z_lo < -c, -c, -np.inf)
    hi = np.where(z_hi > c, c, np.inf)
    C, cb, relu, M, m = _clip_layers(lo, hi)
    return [Layer(C @ A, C @ a + cb, relu), Layer(M, m, np.zeros(len(m), bool))]


def _fold_affine(layers: list[Layer]) -> list[Layer]:
    """Merge a layer without ReLUs into the next one (affine maps compose)."""
    out: list[Layer] = []
    for layer in layers:
        if out and not out[-1].relu.any():
            prev = out.pop()
            layer = Layer(layer.W @ prev.W, layer.W @ prev.b + layer.b, layer.relu)
        out.append(layer)
    return out


def compact(net: PLNet | list[Layer]) -> PLNet:
    """Remove hidden units that cannot change the output: units no later weight reads,
    and units with no incoming weight (a constant, folded into the next layer's bias),
    with the same removal as a pruned policy's compaction (`sanp.compact`)."""
    from sanp.compact import remove_dead_units

    layers = list(net.layers if isinstance(net, PLNet) else net)
    W = [layer.W for layer in layers]
    b = [np.asarray(layer.b, dtype=float) for layer in layers]
    kept = remove_dead_units(W, b, [lambda v, units, r=layer.relu: np.where(r[units], np.maximum(v, 0.0), v)
                                    for layer in layers[:-1]])
    relu = [layer.relu[k] for layer, k in zip(layers[:-1], kept)] + [layers[-1].relu]
    return PLNet(tuple(Layer(w, bb, r) for w, bb, r in zip(W, b, relu)))
