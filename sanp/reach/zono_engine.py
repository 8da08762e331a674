"""The closed loop over zonotopes: each cell of initial states is carried as one
zonotope c + G e (`sanp.reach.zonotope`) instead of a box, so that the dependence
between the state variables, and between the state and the action, survives the steps.

At each step the observation is the declared `observe` in affine arithmetic
(`sanp.reach.affine`), the network's output an affine form in the same symbols (CROWN's
linear bounds concretised on the zonotope, `sanp.reach.zbounds`), and the next set:
continuous time, the Taylor integrator with the action held as extra rows of the set
(`sanp.reach.taylor`); discrete time, the declared `step` in affine arithmetic. A
discrete action that is ambiguous over a set steps every candidate and takes the box
hull of the results (a zonotope again, without the dependence). Networks with tanh or
sigmoid layers are bounded over the set's box hull (the action is then an interval).
Requirements are checked on the interval hulls of the observation and action sets, at
the control instants, as in `sanp.reach.engine`, whose checks and verdicts this reuses.

Example:
    >>> loop = ZonoLoop(net, ToraDynamics(), False, signals, reqs, 20, order=4)
    >>> res = loop.run(lo, hi)        # BatchResult, as ClosedLoop.run
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sanp.envs.dynamics import Dynamics
from sanp.reach import zbounds
from sanp.reach import zonotope as zn
from sanp.reach.affine import AFFINE_OPS, Affine, lift
from sanp.reach.bounds import Segmented, Whole
from sanp.reach.engine import NEVER, BatchResult, ClosedLoop, Requirement, _any_by
from sanp.reach.taylor import TaylorIntegrator


def _finite_hull(c: np.ndarray, G: np.ndarray, r: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = zn.hull(c, G, r)
    return np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi)


class ZonoLoop(ClosedLoop):
    """The closed loop of one network and one declared dynamics, over zonotopes."""

    def __init__(self, net: Any, dyn: Dynamics, discrete: bool, signals: Mapping[str, Any],
                 requirements: Sequence[Requirement], horizon: int, *, order: int = 4,
                 max_generators: int = 40, substeps: int | None = None):
        super().__init__(net, dyn, discrete, signals, requirements, horizon)
        self.integrator = None
        self.max_gens = int(max_generators)
        self.taylor = TaylorIntegrator(dyn, order, substeps, max_generators) if dyn.time == "continuous" else None
        self.plnet = _one_relu_net(net)

    # ---------------------------------------------------------------- one step
    def observe_sets(self, c: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        forms = self.dyn.observe(zn.to_affine(c, G), AFFINE_OPS)
        return zn.from_affine([lift(f) for f in forms], G.shape[2], n=c.shape[0])

    def actions(self, oc: np.ndarray, oG: np.ndarray, orr: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
        """What the policy does over each observation set: (continuous) the action's
        affine form (c_u, G_u, r_u), or (discrete) the [n, actions] possible choices;
        and the action's interval bounds."""
        lo, hi = _finite_hull(oc, oG, orr)
        if self.plnet is None:  # tanh / sigmoid segments: bounds over the box hull
            safe_lo, safe_hi = np.where(np.isfinite(lo), lo, -1e300), np.where(np.isfinite(hi), hi, 1e300)
            if self.discrete:
                possible = self.net.argmax_possible(safe_lo, safe_hi)
                return possible, *_index_bounds(possible)
            a_lo, a_hi = self.net.output_bounds(safe_lo, safe_hi)
            act = lift(_interval(a_lo, a_hi))
            return (np.broadcast_to(act.c, a_lo.shape).copy(), np.zeros(a_lo.shape + (oG.shape[2],)),
                    np.broadcast_to(act.r, a_lo.shape).copy()), a_lo, a_hi
        if self.discrete:
            possible = zbounds.argmax_possible(self.plnet, oc, oG, orr)
            return possible, *_index_bounds(possible)
        uc, uG, ur = zbounds.affine_outputs(self.plnet, oc, oG, orr)
        a_lo, a_hi = _finite_hull(uc, uG, ur)
        return (uc, uG, ur), a_lo, a_hi

    def step_sets(self, c: np.ndarray, G: np.ndarray, action: Any) -> tuple[np.ndarray, np.ndarray]:
        """The sets after one step under `action` (the affine form of a continuous action
        over the same symbols, or one discrete action for every set)."""
        d = c.shape[1]
        if self.taylor is not None:
            if isinstance(action, tuple):
                uc, uG, ur = action
            else:
                uc, uG, ur = np.full((len(c), 1), float(action)), np.zeros((len(c), 1, G.shape[2])), np.zeros((len(c), 1))
            cc, GG = zn.fold(np.concatenate([c, uc], axis=1), np.concatenate([G, uG], axis=1),
                             np.concatenate([np.zeros_like(c), ur], axis=1))
            cc, GG = self.taylor.period(cc, GG)
            return cc[:, :d], GG[:, :d]
        if isinstance(action, tuple):
            uc, uG, ur = action
            act: Any = tuple(Affine(a.c, a.G, ur[:, i]) for i, a in enumerate(zn.to_affine(uc, uG)))
        else:
            act = int(action)
        forms = self.dyn.step(zn.to_affine(c, G), act, AFFINE_OPS)
        c2, G2, r2 = zn.from_affine([lift(f) for f in forms], G.shape[2], n=c.shape[0])
        return zn.reduce(*zn.fold(c2, G2, r2), self.max_gens)

    def advance(self, c: np.ndarray, G: np.ndarray, action: Any) -> tuple[np.ndarray, np.ndarray]:
        if not self.discrete:
            return self.step_sets(c, G, action)
        possible = action
        results: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for a in np.flatnonzero(possible.any(axis=0)):
            idx = np.flatnonzero(possible[:, a])
            results[int(a)] = (idx, *self.step_sets(c[idx], G[idx], int(a)))
        m = max([r[2].shape[2] for r in results.values()] + [c.shape[1]])
        out_c, out_G = np.zeros_like(c), np.zeros(c.shape + (m,))
        lo, hi = np.full(c.shape, np.inf), np.full(c.shape, -np.inf)
        for idx, ca, Ga in results.values():
            out_c[idx], out_G[idx] = ca, zn.pad(Ga, m)
            a_lo, a_hi = _finite_hull(ca, Ga)
            lo[idx], hi[idx] = np.minimum(lo[idx], a_lo), np.maximum(hi[idx], a_hi)
        several = possible.sum(axis=1) > 1
        if several.any():  # the union of the successors: their box hull
            bc, bG = zn.box(lo[several], hi[several])
            out_c[several], out_G[several] = bc, zn.pad(bG, m)
        return out_c, out_G

    # -------------------------------------------------------------- the run
    def run(self, lo: np.ndarray, hi: np.ndarray) -> BatchResult:
        """Propagate N cells (state boxes [N, d]) over the horizon."""
        N, T, R = lo.shape[0], self.horizon, len(self.requirements)
        d_obs, d_act = self.net.in_dim, 1 if self.discrete else self.net.out_dim
        obs_lo, obs_hi = np.full((N, T + 1, d_obs), -np.inf), np.full((N, T + 1, d_obs), np.inf)
        act_lo, act_hi = np.full((N, T + 1, d_act), -np.inf), np.full((N, T + 1, d_act), np.inf)
        first_end, stopped, done = np.full(N, NEVER), np.full(N, T), np.zeros(N, bool)
        first_fail, first_viol, witness = (np.full((R, N), NEVER) for _ in range(3))
        c, G = zn.box(lo, hi)
        owner = np.arange(N)
        for t in range(T + 1):
            if not len(owner):
                break
            oc, oG, orr = self.observe_sets(c, G)
            o_lo, o_hi = _finite_hull(oc, oG, orr)
            obs_lo[owner, t], obs_hi[owner, t] = o_lo, o_hi
            finite = np.isfinite(o_lo).all(axis=1) & np.isfinite(o_hi).all(axis=1)
            if t < T:
                action, a_lo, a_hi = self.actions(oc, oG, orr)
                act_lo[owner, t], act_hi[owner, t] = a_lo, a_hi
            else:
                act_lo[owner, t], act_hi[owner, t] = act_lo[owner, t - 1], act_hi[owner, t - 1]
                a_lo, a_hi = act_lo[owner, t], act_hi[owner, t]
            if t > 0 and (term := self.dyn.terminated(zn.to_affine(c, G), AFFINE_OPS)) is not None:
                may = np.broadcast_to(term.may, owner.shape)
                first_end[owner[may]] = np.minimum(first_end[owner[may]], t)
            sig = self._signals_at(o_lo, o_hi, a_lo, a_hi)
            stop = _any_by(~finite, owner, N)
            if R:
                stop |= self._check(t, sig, owner, owner, first_fail, first_viol, witness)
            if t == T:
                break
            stopped[stop & ~done & np.isin(np.arange(N), owner)] = t
            done |= stop
            keep = ~done[owner]
            if not keep.any():
                break
            act = action[keep] if self.discrete else tuple(a[keep] for a in action)
            c, G = self.advance(c[keep], G[keep], act)
            owner = owner[keep]
        for r, req in enumerate(self.requirements):
            if req.shape.kind == "eventually":
                first_fail[r] = witness[r]
        return self._verdicts(first_fail, first_viol, first_end, obs_lo, obs_hi, act_lo, act_hi, stopped)


def _one_relu_net(net: Any) -> Any:
    """The network as one ReLU PLNet (CROWN on zonotopes), None when it has other parts."""
    if isinstance(net, Whole):
        return net.net
    if not isinstance(net, Segmented) or len(net.parts) != 1:
        return None
    if net.low is None or not (np.isfinite(net.low).any() or np.isfinite(np.asarray(net.high)).any()):
        return net.parts[0]  # ReLU layers only, the last one a ReLU (TORA's controller)
    return None


def _index_bounds(possible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(possible.shape[1])
    return (np.where(possible, idx, np.inf).min(axis=1)[:, None].astype(np.float64),
            np.where(possible, idx, -np.inf).max(axis=1)[:, None].astype(np.float64))


def _interval(lo: np.ndarray, hi: np.ndarray) -> Any:
    from sanp.reach.interval import Interval

    return Interval(lo, hi)
