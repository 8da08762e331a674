"""Bounds of a ReLU network's outputs over many boxes of observations at once.

`linear_bounds` is CROWN (Zhang et al. 2018): each ReLU between its pre-activation
bounds l < 0 < u is relaxed by a line below (slope 0 or 1, whichever is closer) and
the chord above, and the bound of `C @ f(x)` is carried backwards to the input box,
where a linear function is minimised exactly. Pre-activation bounds of every layer
come from the same backward pass (so they are as tight as CROWN's, not interval
arithmetic's). Everything is vectorised over the N boxes.

Floating point: the bounds are computed in float64 and then widened by `margin`, an
a-priori bound on the float32 rounding error of the deployed network on the same boxes
(gamma_n = n u / (1 - n u) with u = 2^-24 per dot product of n terms, carried through
the layers). The float64 rounding of CROWN itself is some 10^9 times smaller than that
margin; it is covered by the margin, not by directed rounding.

Example:
    >>> lo, hi = output_bounds(net, box_lo, box_hi)             # [N, out] each
    >>> diff_lo = linear_bounds(net, box_lo, box_hi, C)         # lower bounds of C @ f(x)
"""
from __future__ import annotations

import numpy as np

from sanp.prove.network import PLNet

_U32 = 2.0**-24


def _gamma(n: int) -> float:
    return n * _U32 / (1 - n * _U32)


def _relax(l: np.ndarray, u: np.ndarray, relu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit: lower slope, upper slope, upper intercept of relu on [l, u] (identity
    units: slope 1)."""
    active = l >= 0
    dead = u <= 0
    unstable = ~active & ~dead
    with np.errstate(divide="ignore", invalid="ignore"):
        chord = np.where(unstable, u / (u - l), 0.0)
    up_slope = np.where(active, 1.0, np.where(dead, 0.0, chord))
    up_icpt = np.where(unstable, -chord * l, 0.0)
    low_slope = np.where(active, 1.0, np.where(dead, 0.0, (u > -l).astype(np.float64)))
    ident = ~relu
    return (np.where(ident, 1.0, low_slope), np.where(ident, 1.0, up_slope), np.where(ident, 0.0, up_icpt))


def _backward(net: PLNet, k: int, C: np.ndarray, pre: list, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Lower bounds [N, m] of C @ z_k over the boxes, z_k the pre-activation of layer
    k; C is [m, n_k]; `pre` holds the bounds of layers < k."""
    A, const = backward_linear(net, k, C, pre, lo.shape[0])
    center, radius = (lo + hi) / 2, (hi - lo) / 2
    if A.ndim == 2:
        return const + center @ A.T - radius @ np.abs(A).T
    return const + np.einsum("nmi,ni->nm", A, center) - np.einsum("nmi,ni->nm", np.abs(A), radius)


def backward_linear(net: PLNet, k: int, C: np.ndarray, pre: list, n_boxes: int) -> tuple[np.ndarray, np.ndarray]:
    """CROWN's linear lower bound of C @ z_k in terms of the network's input x:
    C @ z_k >= A x + const over each of the N input sets `pre` was computed on; A is
    [m, d] (shared by every set) or [N, m, d], const [N, m]."""
    layer = net.layers[k]
    A = C @ layer.W  # shared by every box until the first relaxation
    const = np.broadcast_to(C @ layer.b, (n_boxes, C.shape[0]))
    for j in range(k - 1, -1, -1):
        l, u = pre[j]
        W, b = net.layers[j].W, net.layers[j].b
        low, up, icpt = _relax(l, u, net.layers[j].relu)
        pos, neg = np.maximum(A, 0.0), np.minimum(A, 0.0)
        if A.ndim == 2:  # diagonal slopes: fold them into the next weights, not into A
            const = const + (icpt @ neg.T) + (low * b) @ pos.T + (up * b) @ neg.T
            if A.shape[0] > W.shape[1]:  # many rows, few inputs: scale the weights
                A = _shared_times(pos, low, W) + _shared_times(neg, up, W)
            else:
                A = (pos[None] * low[:, None, :] + neg[None] * up[:, None, :]) @ W
        else:
            const = const + np.einsum("nmj,nj->nm", neg, icpt)
            A = pos * low[:, None, :] + neg * up[:, None, :]
            const = const + A @ b
            A = A @ W
    return A, const


def _shared_times(P: np.ndarray, slope: np.ndarray, W: np.ndarray) -> np.ndarray:
    """P @ diag(slope[n]) @ W for every box n, as one matrix product: [N, m, d]."""
    n, k = slope.shape
    scaled = slope[:, :, None] * W[None]  # [N, k, d]
    flat = P @ scaled.transpose(1, 0, 2).reshape(k, -1)  # [m, N * d]
    return flat.reshape(P.shape[0], n, W.shape[1]).transpose(1, 0, 2)


def pre_activations(net: PLNet, lo: np.ndarray, hi: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """CROWN bounds of every layer's pre-activation over each box."""
    pre: list[tuple[np.ndarray, np.ndarray]] = []
    for k, layer in enumerate(net.layers[:-1]):
        eye = np.eye(layer.W.shape[0])
        both = _backward(net, k, np.concatenate([eye, -eye]), pre, lo, hi)
        n = layer.W.shape[0]
        pre.append((both[:, :n], -both[:, n:]))
    return pre


def margin(net: PLNet, lo: np.ndarray, hi: np.ndarray, pre: list) -> np.ndarray:
    """[N, out]: a bound on |float32 evaluation - exact value| of each output over the
    boxes (the error of each dot product, gamma_n * sum |w x|, carried forwards)."""
    mag = np.maximum(np.abs(lo), np.abs(hi))
    err = np.zeros_like(mag)
    for k, layer in enumerate(net.layers):
        absW = np.abs(layer.W)
        n = layer.W.shape[1] + 1
        err = err @ absW.T + _gamma(n) * (mag @ absW.T + np.abs(layer.b))
        if k < len(net.layers) - 1:
            l, u = pre[k]
            mag = np.where(layer.relu, np.maximum(u, 0.0), np.maximum(np.abs(l), np.abs(u)))
            mag = np.maximum(mag, 0.0) + err
    return err


def linear_bounds(net: PLNet, lo: np.ndarray, hi: np.ndarray, C: np.ndarray,
                  pre: list | None = None) -> np.ndarray:
    """Lower bounds [N, m] of C @ f(x) over each box [lo, hi] ([N, d] each), widened by
    the float32 margin of the outputs the rows of C read."""
    pre = pre_activations(net, lo, hi) if pre is None else pre
    raw = _backward(net, len(net.layers) - 1, C, pre, lo, hi)
    return raw - margin(net, lo, hi, pre) @ np.abs(C).T


def output_bounds(net: PLNet, lo: np.ndarray, hi: np.ndarray, pre: list | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds [N, out] of the outputs over each box."""
    n = net.out_dim
    eye = np.eye(n)
    both = linear_bounds(net, lo, hi, np.concatenate([eye, -eye]), pre)
    return both[:, :n], -both[:, n:]


def argmax_possible(net: PLNet, lo: np.ndarray, hi: np.ndarray, pre: list | None = None) -> np.ndarray:
    """[N, out] booleans: which actions argmax may choose somewhere in each box (an
    action is ruled out only where another output surely exceeds it)."""
    n = net.out_dim
    pairs = [(a, b) for a in range(n) for b in range(n) if a != b]
    C = np.zeros((len(pairs), n))
    for r, (a, b) in enumerate(pairs):
        C[r, b], C[r, a] = 1.0, -1.0  # out_b - out_a
    beats = linear_bounds(net, lo, hi, C, pre) > 0
    possible = np.ones((lo.shape[0], n), dtype=bool)
    for r, (a, _) in enumerate(pairs):
        possible[:, a] &= ~beats[:, r]
    return possible


class Segmented:
    """A network with monotone activations (tanh, sigmoid) between ReLU parts: each
    ReLU part is bounded by CROWN, each monotone activation maps the bounds of its input
    to bounds of its output (widened by 1e-6 for its float32 evaluation), and a
    continuous policy's outputs are clipped to the action box (monotone too)."""

    def __init__(self, parts: list, action_low: np.ndarray | None, action_high: np.ndarray | None):
        self.parts = parts  # PLNet or ("tanh" | "sigmoid")
        self.low, self.high = action_low, action_high
        nets = [p for p in parts if isinstance(p, PLNet)]
        self.in_dim, self.out_dim = nets[0].in_dim, nets[-1].out_dim

    def output_bounds(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for part in self.parts:
            if isinstance(part, PLNet):
                lo, hi = output_bounds(part, lo, hi)
            else:
                fn = np.tanh if part == "tanh" else (lambda z: 1.0 / (1.0 + np.exp(-z)))
                lo, hi = fn(lo) - 1e-6, fn(hi) + 1e-6
        if self.low is not None:
            lo, hi = np.clip(lo, self.low, self.high), np.clip(hi, self.low, self.high)
        return lo, hi

    def argmax_possible(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        L, U = self.output_bounds(lo, hi)
        return ~(L[:, None, :] > U[:, :, None]).any(axis=2)  # a is out where some b surely exceeds it


class Whole:
    """A ReLU network (PLNet) behind the same interface as `Segmented`."""

    def __init__(self, net: PLNet):
        self.net = net
        self.in_dim, self.out_dim = net.in_dim, net.out_dim

    def output_bounds(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return output_bounds(self.net, lo, hi)

    def argmax_possible(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return argmax_possible(self.net, lo, hi)


def bounded(policy) -> Whole | Segmented:
    """The network of an `MLPPolicy` as something whose outputs can be bounded over
    boxes: ReLU networks whole (CROWN over all layers, the action clip included),
    networks with tanh or sigmoid layers in ReLU segments."""
    from sanp.prove.network import Layer, _fold_affine, compact, from_policy
    from sanp.prove.properties import MAX_BOUND, Box

    acts = policy.activations
    if all(a in ("relu", "identity") for a in acts[:-1]) and acts[-1] == "identity":
        big = Box((-MAX_BOUND,) * policy.obs_dim, (MAX_BOUND,) * policy.obs_dim)
        return Whole(from_policy(policy, big, clip_actions=True))
    from sanp.reach.spec import ReachError

    if policy.has_normalizer:
        raise ReachError("closed-loop proofs of policies with tanh/sigmoid layers take no observation "
                         "normaliser yet; export the policy without it")
    Ws = [w.double().numpy() for w in policy.effective_weights()]
    bs = [lin.bias.detach().double().numpy() for lin in policy.layers]
    parts: list = []
    run: list = []
    for W, b, a in zip(Ws, bs, acts):
        if a in ("relu", "identity"):
            run.append(Layer(W, b, np.full(len(b), a == "relu")))
            continue
        run.append(Layer(W, b, np.zeros(len(b), bool)))
        parts += [compact(_fold_affine(run)), a]
        run = []
    if run:
        if run[-1].relu.any():  # a last ReLU layer: end with an identity layer
            n = len(run[-1].b)
            run.append(Layer(np.eye(n), np.zeros(n), np.zeros(n, bool)))
        parts.append(compact(_fold_affine(run)))
    low = None if policy.action_kind == "discrete" or policy.action_low is None else policy.action_low.astype(np.float64)
    high = None if low is None else policy.action_high.astype(np.float64)
    return Segmented(parts, low, high)
