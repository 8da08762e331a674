"""The closed loop over sets: policy and declared dynamics, step by step, from boxes of
initial states (cells), each cell propagated as a box of states.

At each step the observation box is computed from the state box (`Dynamics.observe`
over intervals), the network's outputs are bounded over it (CROWN, `sanp.reach.bounds`),
and the next state box is the union, over every action the policy may take somewhere
in the box (a discrete argmax may be ambiguous: every candidate is stepped), of the
declared step over intervals. A continuous action enters the step as its interval.
Continuous-time dynamics are integrated by `sanp.reach.integrate`.

Requirements shaped `always[a:b] P` / `eventually[a:b] P` are checked at every step, so
that a cell stops as soon as nothing more can be learnt from it; other formulas are
evaluated on the whole tube (`sanp.reach.spec`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sanp.envs.dynamics import Dynamics
from sanp.reach import spec as rs
from sanp.reach.interval import INTERVAL_OPS, Interval, hull

NEVER = np.iinfo(np.int64).max // 2


@dataclass(frozen=True, eq=False)
class Requirement:
    """A requirement as the engine checks it."""

    name: str
    formula: Any
    shape: rs.Shape


@dataclass(frozen=True, eq=False)
class BatchResult:
    """What a batch of N cells showed, per requirement r: status[r] (1 proved, -1 refuted,
    0 unknown), and the horizons n of the proof: proved for every n in
    [proved_from[r], proved_to[r]] (an empty range when proved_from > proved_to)."""

    status: np.ndarray
    """[R, N]"""
    proved_from: np.ndarray
    proved_to: np.ndarray
    obs_lo: np.ndarray
    """[N, T+1, d_obs] the observation tube (+-inf after a cell stopped)."""
    obs_hi: np.ndarray
    act_lo: np.ndarray
    """[N, T+1, d_act] the action tube."""
    act_hi: np.ndarray
    stopped: np.ndarray
    """[N] the time after which a cell was no longer propagated (T: never stopped)."""


class ClosedLoop:
    """The closed loop of one network and one declared dynamics, over interval boxes.

    Each cell is carried as a union of boxes (at most `max_boxes`): where the argmax is
    ambiguous over a box, the box is bisected (`split_ambiguous` times at most) and every
    action still possible over a piece is stepped separately, so the successors are
    several small boxes rather than their hull; when a cell holds too many boxes,
    neighbouring ones are merged into their hull."""

    def __init__(self, net: Any, dyn: Dynamics, discrete: bool, signals: Mapping[str, Any],
                 requirements: Sequence[Requirement], horizon: int, *, max_boxes: int = 16,
                 split_ambiguous: int = 0):
        self.net, self.dyn, self.discrete = net, dyn, discrete
        self.signals = dict(signals)
        self.requirements = list(requirements)
        self.horizon = int(horizon)
        self.max_boxes = int(max_boxes)
        self.split_ambiguous = int(split_ambiguous)
        self.integrator = None
        if dyn.time == "continuous":
            from sanp.reach.integrate import Integrator

            self.integrator = Integrator(dyn)

    # ---------------------------------------------------------------- one step
    def _observe(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        state = tuple(Interval(lo[:, i], hi[:, i]) for i in range(lo.shape[1]))
        obs = self.dyn.observe(state, INTERVAL_OPS)
        n = lo.shape[0]
        o_lo = np.stack([Interval.of(c).lo * np.ones(n) for c in obs], axis=1)
        o_hi = np.stack([Interval.of(c).hi * np.ones(n) for c in obs], axis=1)
        return o_lo, o_hi

    def _possible(self, o_lo: np.ndarray, o_hi: np.ndarray) -> np.ndarray:
        safe_lo = np.where(np.isfinite(o_lo), o_lo, -1e300)
        safe_hi = np.where(np.isfinite(o_hi), o_hi, 1e300)
        return self.net.argmax_possible(safe_lo, safe_hi)

    def _advance(self, lo: np.ndarray, hi: np.ndarray, owner: np.ndarray, o_lo: np.ndarray, o_hi: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The successor boxes (and their owners), and each box's action interval."""
        if not self.discrete:
            safe_lo = np.where(np.isfinite(o_lo), o_lo, -1e300)
            safe_hi = np.where(np.isfinite(o_hi), o_hi, 1e300)
            a_lo, a_hi = self.net.output_bounds(safe_lo, safe_hi)
            action = tuple(Interval(a_lo[:, i], a_hi[:, i]) for i in range(a_lo.shape[1]))
            nxt = self._step(lo, hi, action)
            return nxt[0], nxt[1], owner, a_lo, a_hi
        possible = self._possible(o_lo, o_hi)
        idx = np.arange(possible.shape[1])
        a_lo = np.where(possible, idx, np.inf).min(axis=1)[:, None]
        a_hi = np.where(possible, idx, -np.inf).max(axis=1)[:, None]
        # bisect the boxes where the choice is ambiguous, and look again
        for _ in range(self.split_ambiguous):
            amb = possible.sum(axis=1) > 1
            if not amb.any():
                break
            c_lo, c_hi = _bisect(lo[amb], hi[amb])
            co_lo, co_hi = self._observe(c_lo, c_hi)
            lo = np.concatenate([lo[~amb], c_lo])
            hi = np.concatenate([hi[~amb], c_hi])
            owner = np.concatenate([owner[~amb], np.tile(owner[amb], 2)])
            possible = np.concatenate([possible[~amb], self._possible(co_lo, co_hi)])
        out_lo, out_hi, out_owner = [], [], []
        for a in np.flatnonzero(possible.any(axis=0)):
            m = possible[:, a]
            n_lo, n_hi = self._step(lo[m], hi[m], int(a))
            out_lo.append(n_lo)
            out_hi.append(n_hi)
            out_owner.append(owner[m])
        return np.concatenate(out_lo), np.concatenate(out_hi), np.concatenate(out_owner), a_lo, a_hi

    def _step(self, lo: np.ndarray, hi: np.ndarray, action: Any) -> tuple[np.ndarray, np.ndarray]:
        state = tuple(Interval(lo[:, i], hi[:, i]) for i in range(lo.shape[1]))
        if self.integrator is not None:
            out = self.integrator.step(state, action)
        else:
            out = tuple(Interval.of(c) for c in self.dyn.step(state, action, INTERVAL_OPS))
        n = lo.shape[0]
        return (np.stack([c.lo * np.ones(n) for c in out], axis=1), np.stack([c.hi * np.ones(n) for c in out], axis=1))

    def _signals_at(self, obs_lo, obs_hi, act_lo, act_hi) -> dict[str, Interval]:
        out = {}
        for name, (source, i) in self.signals.items():
            lo, hi = (obs_lo, obs_hi) if source == "obs" else (act_lo, act_hi)
            out[name] = Interval(lo[..., i], hi[..., i])
        return out

    # -------------------------------------------------------------- the run
    def run(self, lo: np.ndarray, hi: np.ndarray) -> BatchResult:
        """Propagate N cells (state boxes [N, d]) over the horizon."""
        N, T = lo.shape[0], self.horizon
        R = len(self.requirements)
        d_obs = self.net.in_dim
        d_act = 1 if self.discrete else self.net.out_dim
        obs_lo = np.full((N, T + 1, d_obs), -np.inf)
        obs_hi = np.full((N, T + 1, d_obs), np.inf)
        act_lo = np.full((N, T + 1, d_act), -np.inf)
        act_hi = np.full((N, T + 1, d_act), np.inf)
        first_end = np.full(N, NEVER)  # first time the episode may end (its obs still recorded)
        first_fail = np.full((R, N), NEVER)  # always: P not certain in some box
        first_viol = np.full((R, N), NEVER)  # always: P surely false in every box
        witness = np.full((R, 0), NEVER)  # eventually: per box, when P became certain
        stopped = np.full(N, T)
        done = np.zeros(N, bool)
        b_lo, b_hi, owner = lo.copy(), hi.copy(), np.arange(N)
        witness = np.full((R, N), NEVER)
        for t in range(T + 1):
            if not len(owner):
                break
            o_lo, o_hi = self._observe(b_lo, b_hi)
            cells = np.unique(owner)
            _hull_into(obs_lo[:, t], obs_hi[:, t], owner, o_lo, o_hi, cells)
            finite = np.isfinite(o_lo).all(axis=1) & np.isfinite(o_hi).all(axis=1)
            if t < T:
                n_lo, n_hi, n_owner, a_lo, a_hi = self._advance(b_lo, b_hi, owner, o_lo, o_hi)
                _hull_into(act_lo[:, t], act_hi[:, t], owner, a_lo, a_hi, cells)
            else:
                act_lo[cells, t], act_hi[cells, t] = act_lo[cells, t - 1], act_hi[cells, t - 1]
                a_lo, a_hi = act_lo[owner, t], act_hi[owner, t]
            if t > 0 and (term := self.dyn.terminated(_state(b_lo, b_hi), INTERVAL_OPS)) is not None:
                may = np.broadcast_to(term.may, owner.shape)
                ends = np.unique(owner[may])
                first_end[ends] = np.minimum(first_end[ends], t)
            sig = self._signals_at(o_lo, o_hi, a_lo, a_hi)
            cell_done = np.ones(N, bool)
            cell_done[cells] = _any_by(~finite, owner, N)[cells]
            stop = _any_by(~finite, owner, N)
            for r, req in enumerate(self.requirements):
                a, b = req.shape.window
                if req.shape.kind == "general" or t < a or (b is not None and t > b):
                    if req.shape.kind == "general" or t < a:
                        stop_r = np.zeros(N, bool)
                    else:
                        stop_r = np.ones(N, bool)
                else:
                    p = rs.formula(req.shape.body, sig)
                    must = np.broadcast_to(p.must, owner.shape)
                    may = np.broadcast_to(p.may, owner.shape)
                    if req.shape.kind == "always":
                        fail = _any_by(~must, owner, N)
                        first_fail[r] = np.where(fail & (first_fail[r] == NEVER), t, first_fail[r])
                        viol = _all_by(~may, owner, N) & np.isin(np.arange(N), cells)
                        first_viol[r] = np.where(viol & (first_viol[r] == NEVER), t, first_viol[r])
                        stop_r = first_fail[r] < NEVER
                    else:
                        got = _all_by(must, owner, N) & np.isin(np.arange(N), cells)
                        witness[r] = np.where(got & (witness[r] == NEVER), t, witness[r])
                        poss = _any_by(may, owner, N)
                        first_viol[r] = np.where(poss & (first_viol[r] == NEVER), t, first_viol[r])
                        stop_r = witness[r] < NEVER
                if r == 0:
                    all_stop = stop_r.copy()
                else:
                    all_stop &= stop_r
            if R:
                stop |= all_stop
            if t == T:
                break
            newly = stop & ~done
            stopped[newly & np.isin(np.arange(N), cells)] = t
            done |= stop
            keep = ~done[n_owner]
            b_lo, b_hi, owner = _merge(n_lo[keep], n_hi[keep], n_owner[keep], self.max_boxes)
        for r, req in enumerate(self.requirements):
            if req.shape.kind == "eventually":
                first_fail[r] = witness[r]
        return self._verdicts(first_fail, first_viol, first_end, obs_lo, obs_hi, act_lo, act_hi, stopped)

    def _verdicts(self, first_fail, first_viol, first_end, obs_lo, obs_hi, act_lo, act_hi, stopped) -> BatchResult:
        T, N = self.horizon, obs_lo.shape[0]
        R = len(self.requirements)
        status = np.zeros((R, N), dtype=np.int8)
        p_from = np.zeros((R, N), dtype=np.int64)
        p_to = np.full((R, N), -1, dtype=np.int64)
        never_ends = first_end > T
        for r, req in enumerate(self.requirements):
            ff, fv = first_fail[r], first_viol[r]
            if req.shape.kind == "always":
                status[r] = np.where(ff > T, 1, np.where((fv <= T) & (fv <= first_end), -1, 0))
                p_to[r] = np.minimum(ff - 1, T)
            elif req.shape.kind == "eventually":
                a, b = req.shape.window
                end = T if b is None else min(b, T)
                met = (ff <= end) & (ff <= first_end)
                # never possible inside the window (cells that stopped early saw the whole window)
                never = (fv > end) & (stopped >= end)
                status[r] = np.where(met, 1, np.where(never & (b is not None) & (b <= T), -1, 0))
                p_from[r] = np.where(met, ff, 0)
                p_to[r] = np.where(met, T, -1)
            else:
                sig = self._signals_at(obs_lo, obs_hi, act_lo, act_hi)
                v = rs.formula(req.formula, sig)
                status[r] = np.where(v.must[:, 0] & never_ends, 1, np.where(~v.may[:, 0] & never_ends, -1, 0))
                p_from[r] = np.where(status[r] == 1, T, 0)
                p_to[r] = np.where(status[r] == 1, T, -1)
        return BatchResult(status, p_from, p_to, obs_lo, obs_hi, act_lo, act_hi, stopped)


def _state(lo: np.ndarray, hi: np.ndarray) -> tuple:
    return tuple(Interval(lo[:, i], hi[:, i]) for i in range(lo.shape[1]))


def _any_by(x: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(owner, weights=x.astype(np.float64), minlength=n) > 0


def _all_by(x: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(owner, weights=(~x).astype(np.float64), minlength=n) == 0


def _hull_into(out_lo: np.ndarray, out_hi: np.ndarray, owner: np.ndarray, lo: np.ndarray, hi: np.ndarray,
               cells: np.ndarray) -> None:
    """out[cell] = the hull of the boxes `owner` assigns to it."""
    acc_lo = np.full((out_lo.shape[0], lo.shape[1]), np.inf)
    acc_hi = np.full((out_lo.shape[0], lo.shape[1]), -np.inf)
    np.minimum.at(acc_lo, owner, lo)
    np.maximum.at(acc_hi, owner, hi)
    out_lo[cells], out_hi[cells] = acc_lo[cells], acc_hi[cells]


def _bisect(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each box halved along its widest dimension relative to its own centre's scale."""
    w = (hi - lo) / np.maximum(np.abs(lo) + np.abs(hi), 1e-3)
    dim = np.argmax(w, axis=1)
    rows = np.arange(len(lo))
    mid = (lo[rows, dim] + hi[rows, dim]) / 2
    left_hi, right_lo = hi.copy(), lo.copy()
    left_hi[rows, dim] = mid
    right_lo[rows, dim] = mid
    return np.concatenate([lo, right_lo]), np.concatenate([left_hi, hi])


def _merge(lo: np.ndarray, hi: np.ndarray, owner: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop boxes inside another box of the same cell (exact duplicates at least), and
    where a cell holds more than `cap` boxes, merge neighbours (in the order of their
    centres along the cell's widest dimension) into hulls."""
    order = np.lexsort(tuple(lo.T[::-1]) + tuple(hi.T[::-1]) + (owner,))
    lo, hi, owner = lo[order], hi[order], owner[order]
    if len(owner) > 1:
        same = np.r_[False, (owner[1:] == owner[:-1]) & (lo[1:] == lo[:-1]).all(axis=1) & (hi[1:] == hi[:-1]).all(axis=1)]
        lo, hi, owner = lo[~same], hi[~same], owner[~same]
    counts = np.bincount(owner)
    over = np.flatnonzero(counts > cap)
    if not len(over):
        return lo, hi, owner
    keep = ~np.isin(owner, over)
    parts_lo, parts_hi, parts_owner = [lo[keep]], [hi[keep]], [owner[keep]]
    for c in over:
        m = owner == c
        cl, ch = _reduce(lo[m], hi[m], max(1, cap // 2))
        parts_lo.append(cl)
        parts_hi.append(ch)
        parts_owner.append(np.full(len(cl), c))
    return np.concatenate(parts_lo), np.concatenate(parts_hi), np.concatenate(parts_owner)


def _reduce(lo: np.ndarray, hi: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge boxes into hulls until at most `target` remain: rounds of merging mutual
    nearest pairs, the distance of two boxes being how much their hull is wider than the
    wider of the two, summed over dimensions in log scale."""
    inside = ((lo[:, None] >= lo[None]) & (hi[:, None] <= hi[None])).all(axis=2)
    np.fill_diagonal(inside, False)
    dup = np.triu(inside & inside.T)  # equal boxes: keep one
    drop = (inside & ~inside.T).any(axis=1) | dup.any(axis=0)
    lo, hi = lo[~drop], hi[~drop]
    while len(lo) > target:
        w = np.maximum(hi - lo, 1e-12)
        h_lo = np.minimum(lo[:, None], lo[None])
        h_hi = np.maximum(hi[:, None], hi[None])
        cost = np.log((h_hi - h_lo + 1e-12) / np.maximum(w[:, None], w[None])).sum(axis=2)
        np.fill_diagonal(cost, np.inf)
        best = np.argmin(cost, axis=1)
        rows = np.arange(len(lo))
        mutual = (best[best] == rows) & (rows < best)
        if not mutual.any():
            mutual[np.argmin(cost[rows, best])] = True
        a, b = rows[mutual], best[mutual]
        excess = len(lo) - target
        if len(a) > excess:  # merge only as many pairs as needed, the cheapest first
            pick = np.argsort(cost[a, b])[:excess]
            a, b = a[pick], b[pick]
        lo[a], hi[a] = np.minimum(lo[a], lo[b]), np.maximum(hi[a], hi[b])
        gone = np.zeros(len(lo), bool)
        gone[b] = True
        lo, hi = lo[~gone], hi[~gone]
    return lo, hi
