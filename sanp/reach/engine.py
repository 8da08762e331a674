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
from sanp.prove.network import PLNet
from sanp.reach import spec as rs
from sanp.reach.bounds import argmax_possible, output_bounds, pre_activations
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
    """The closed loop of one network and one declared dynamics, over interval boxes."""

    def __init__(self, net: PLNet, dyn: Dynamics, discrete: bool, signals: Mapping[str, Any],
                 requirements: Sequence[Requirement], horizon: int):
        self.net, self.dyn, self.discrete = net, dyn, discrete
        self.signals = dict(signals)
        self.requirements = list(requirements)
        self.horizon = int(horizon)
        self.integrator = None
        if dyn.time == "continuous":
            from sanp.reach.integrate import Integrator

            self.integrator = Integrator(dyn)

    # ---------------------------------------------------------------- one step
    def _next(self, state: tuple, obs_lo: np.ndarray, obs_hi: np.ndarray) -> tuple[tuple, np.ndarray, np.ndarray]:
        """The next state box and the action interval of each cell."""
        pre = pre_activations(self.net, obs_lo, obs_hi)
        if self.discrete:
            possible = argmax_possible(self.net, obs_lo, obs_hi, pre)
            nxt = None
            for a in np.flatnonzero(possible.any(axis=0)):
                out = self._step(state, int(a))
                mask = possible[:, a]
                if nxt is None:
                    nxt = tuple(Interval(np.where(mask, c.lo, np.inf), np.where(mask, c.hi, -np.inf)) for c in out)
                else:
                    nxt = tuple(Interval(np.where(mask, np.minimum(n.lo, c.lo), n.lo),
                                         np.where(mask, np.maximum(n.hi, c.hi), n.hi)) for n, c in zip(nxt, out))
            idx = np.arange(possible.shape[1])
            a_lo = np.where(possible, idx, np.inf).min(axis=1)[:, None]
            a_hi = np.where(possible, idx, -np.inf).max(axis=1)[:, None]
            return nxt, a_lo, a_hi
        lo, hi = output_bounds(self.net, obs_lo, obs_hi, pre)
        action = tuple(Interval(lo[:, i], hi[:, i]) for i in range(lo.shape[1]))
        return self._step(state, action), lo, hi

    def _step(self, state: tuple, action: Any) -> tuple:
        if self.integrator is not None:
            return self.integrator.step(state, action)
        return tuple(Interval.of(c) for c in self.dyn.step(state, action, INTERVAL_OPS))

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
        state = tuple(Interval(lo[:, i].copy(), hi[:, i].copy()) for i in range(lo.shape[1]))
        d_obs = self.net.in_dim
        d_act = 1 if self.discrete else self.net.out_dim
        obs_lo = np.full((N, T + 1, d_obs), -np.inf)
        obs_hi = np.full((N, T + 1, d_obs), np.inf)
        act_lo = np.full((N, T + 1, d_act), -np.inf)
        act_hi = np.full((N, T + 1, d_act), np.inf)
        first_end = np.full(N, NEVER)  # first time the episode may end (its obs still recorded)
        first_fail = np.full((R, N), NEVER)  # always: P not certain; eventually: P certain (witness)
        first_viol = np.full((R, N), NEVER)  # always: P surely false; eventually: P possible
        stopped = np.full(N, T)
        alive = np.arange(N)
        for t in range(T + 1):
            if not len(alive):
                break
            obs = self.dyn.observe(state, INTERVAL_OPS)
            o_lo = np.stack([Interval.of(c).lo * np.ones(len(alive)) for c in obs], axis=1)
            o_hi = np.stack([Interval.of(c).hi * np.ones(len(alive)) for c in obs], axis=1)
            obs_lo[alive, t], obs_hi[alive, t] = o_lo, o_hi
            finite = np.isfinite(o_lo).all(axis=1) & np.isfinite(o_hi).all(axis=1)
            if t < T:
                safe_lo, safe_hi = np.where(np.isfinite(o_lo), o_lo, -1e300), np.where(np.isfinite(o_hi), o_hi, 1e300)
                nxt, a_lo, a_hi = self._next(state, safe_lo, safe_hi)
                act_lo[alive, t], act_hi[alive, t] = a_lo, a_hi
            else:
                act_lo[alive, t], act_hi[alive, t] = act_lo[alive, t - 1], act_hi[alive, t - 1]
            if t > 0 and (term := self.dyn.terminated(state, INTERVAL_OPS)) is not None:
                may = np.broadcast_to(term.may, (len(alive),))
                first_end[alive] = np.where(may & (first_end[alive] == NEVER), t, first_end[alive])
            sig = self._signals_at(obs_lo[alive, t], obs_hi[alive, t], act_lo[alive, t], act_hi[alive, t])
            done = ~finite
            for r, req in enumerate(self.requirements):
                a, b = req.shape.window
                if req.shape.kind == "general" or t < a or (b is not None and t > b):
                    done &= req.shape.kind != "general" and (b is not None and t > b)
                    continue
                p = rs.formula(req.shape.body, sig)
                ff, fv = first_fail[r, alive], first_viol[r, alive]
                if req.shape.kind == "always":
                    first_fail[r, alive] = np.where(~p.must & (ff == NEVER), t, ff)
                    first_viol[r, alive] = np.where(~p.may & (fv == NEVER), t, fv)
                    done &= first_fail[r, alive] < NEVER  # nothing more to prove here
                else:
                    first_fail[r, alive] = np.where(p.must & (ff == NEVER), t, ff)
                    first_viol[r, alive] = np.where(p.may & (fv == NEVER), t, fv)
                    done &= first_fail[r, alive] < NEVER  # met: proved, nothing more to see
            if t == T:
                break
            keep = ~done
            stopped[alive[done]] = t
            alive = alive[keep]
            state = tuple(Interval(c.lo[keep], c.hi[keep]) for c in nxt)
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
