"""Bounds of a ReLU network's outputs over zonotopes of observations, as affine forms
in the zonotope's symbols (the symbolic-interval / DeepZ-style view of CROWN).

CROWN's backward pass (`sanp.reach.bounds.backward_linear`) gives, for every output,
linear functions L(x) <= f(x) <= U(x) valid over the input set; here they are
concretised over the zonotope x = c + G e (a linear function's minimum over it is
exact: a.c - |a G| 1), for every layer's pre-activation bounds too. The output is then
    f(x) = M x + b + eta,   M = (L + U) / 2,  |eta| <= max over the set of (U - L) / 2,
and substituting x = c + G e gives an affine form of the action in the symbols e that
the state's zonotope uses: the dependence of the action on the state is kept through the
network, so the closed loop's next set does not wrap.

Floating point: as `sanp.reach.bounds`, the float32 rounding of the deployed network is
bounded a priori (`margin`) and added; the float64 arithmetic of CROWN and of this
substitution gets a stated slack of 2^-30 of the magnitudes of the terms it sums
(float64 sums of n <= 10^5 terms are off by at most n 2^-53 of them, below 2^-36).

Example:
    >>> c_u, G_u, r_u = affine_outputs(net, obs_c, obs_G, obs_r)   # u in c_u + G_u e +- r_u
"""
from __future__ import annotations

import numpy as np

from sanp.prove.network import PLNet
from sanp.reach.affine import up
from sanp.reach.bounds import backward_linear, margin
from sanp.reach.zonotope import diag, hull

SLACK = 2.0**-30


def augmented(c: np.ndarray, G: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The generators of c + G e + [-r, r] with r's components as extra symbols."""
    return np.concatenate([G, diag(r)], axis=2)


def _per_set(A: np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(A, (n,) + A.shape) if A.ndim == 2 else A


def concretise(A: np.ndarray, const: np.ndarray, c: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Lower bounds [N, rows] of A x + const over x in c + G e."""
    A = _per_set(A, c.shape[0])
    AG = np.einsum("nmi,nik->nmk", A, G)
    Ac = np.einsum("nmi,ni->nm", A, c)
    low = const + Ac - np.abs(AG).sum(axis=2)
    slack = SLACK * (np.abs(const) + np.einsum("nmi,ni->nm", np.abs(A), np.abs(c)) + np.abs(AG).sum(axis=2))
    return low - slack


def pre_activations(net: PLNet, c: np.ndarray, G: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every layer's pre-activation bounds over each zonotope (CROWN, concretised on it)."""
    pre: list[tuple[np.ndarray, np.ndarray]] = []
    for k, layer in enumerate(net.layers[:-1]):
        n = layer.W.shape[0]
        eye = np.eye(n)
        A, const = backward_linear(net, k, np.concatenate([eye, -eye]), pre, c.shape[0])
        both = concretise(A, const, c, G)
        pre.append((both[:, :n], -both[:, n:]))
    return pre


def affine_outputs(net: PLNet, c: np.ndarray, G: np.ndarray, r: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The outputs over the observation sets c + G e + [-r, r] ([N, d], [N, d, m], [N, d])
    as affine forms c_u + G_u e + [-r_u, r_u] in the same m symbols."""
    n, m = c.shape[0], G.shape[2]
    Ga = augmented(c, G, r)
    pre = pre_activations(net, c, Ga)
    o = net.out_dim
    eye = np.eye(o)
    A, const = backward_linear(net, len(net.layers) - 1, np.concatenate([eye, -eye]), pre, n)
    A = _per_set(A, n)
    lo_A, lo_b, hi_A, hi_b = A[:, :o], const[:, :o], -A[:, o:], -const[:, o:]
    M, b = (lo_A + hi_A) / 2, (lo_b + hi_b) / 2
    D, db = (hi_A - lo_A) / 2, (hi_b - lo_b) / 2
    MG = np.einsum("noi,nik->nok", M, Ga)
    DG = np.einsum("noi,nik->nok", D, Ga)
    c_u = np.einsum("noi,ni->no", M, c) + b
    eta = np.einsum("noi,ni->no", D, c) + db + np.abs(DG).sum(axis=2)
    box_lo, box_hi = hull(c, Ga)
    slack = SLACK * (np.einsum("noi,ni->no", np.abs(M) + np.abs(D), np.abs(c)) + np.abs(b) + np.abs(db)
                     + np.abs(MG).sum(axis=2) + np.abs(DG).sum(axis=2))
    r_u = up(np.abs(MG[:, :, m:]).sum(axis=2) + np.maximum(eta, 0.0) + margin(net, box_lo, box_hi, pre) + slack)
    return c_u, MG[:, :, :m], r_u


def argmax_possible(net: PLNet, c: np.ndarray, G: np.ndarray, r: np.ndarray) -> np.ndarray:
    """[N, out]: which actions argmax may choose somewhere in each observation set."""
    Ga = augmented(c, G, r)
    pre = pre_activations(net, c, Ga)
    o = net.out_dim
    pairs = [(a, b) for a in range(o) for b in range(o) if a != b]
    C = np.zeros((len(pairs), o))
    for row, (a, b) in enumerate(pairs):
        C[row, b], C[row, a] = 1.0, -1.0  # out_b - out_a
    A, const = backward_linear(net, len(net.layers) - 1, C, pre, c.shape[0])
    box_lo, box_hi = hull(c, Ga)
    beats = concretise(A, const, c, Ga) - margin(net, box_lo, box_hi, pre) @ np.abs(C).T > 0
    possible = np.ones((c.shape[0], o), dtype=bool)
    for row, (a, _) in enumerate(pairs):
        possible[:, a] &= ~beats[:, row]
    return possible
