"""Run a policy in a bound env: trajectories, the signals a spec evaluates, and
restoring an env into any state of a trajectory.

Many episodes run together: one policy call per step for the whole batch. CartPole
steps as numpy arrays (the env's own equations, bit for bit); other envs step a bank of
env instances in turn.

Example:
    >>> traj = run(policy, binding, {"x": 0.01, "x_dot": 0.0, "theta": 0.02, "theta_dot": 0.0})
    >>> traj.total_reward, traj.signals(spec)["theta"].shape
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from sanp import backends, banks
from sanp.envs import Binding
from sanp.errors import EnvError
from sanp.types import Actor, Point


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One episode. `observations` has one more row than `actions` and `rewards`:
    the initial observation and every observation after a step, the terminal one
    included."""

    point: Point | None
    seed: int
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    truncated: bool
    nonfinite: bool = False
    """The env or the policy produced NaN/inf: never to be scored as safe."""
    states: np.ndarray | None = field(default=None, repr=False)
    """Exact env states at every observation, where the env allows it (CartPole)."""

    @property
    def length(self) -> int:
        """Number of steps taken."""
        return len(self.rewards)

    @property
    def total_reward(self) -> float:
        return float(np.sum(self.rewards, dtype=np.float64))

    def signals(self, spec: Any) -> dict[str, np.ndarray]:
        """The spec's signals over the T+1 observations of this episode.

        `obs[i]` is the observation at each time; `action[i]` / `action` is the action
        taken at that observation, the last one held at the final observation (no action
        is taken there); `reward` is the reward received on arriving at that observation
        (0 at the initial one), so a terminal penalty shows at the terminal observation.
        """
        out: dict[str, np.ndarray] = {}
        n = len(self.observations)
        for name, sig in spec.signals.items():
            if sig.source == "obs":
                values = self.observations[:, sig.index]
            elif sig.source == "reward":
                values = np.concatenate([[0.0], self.rewards])
            else:
                acts = self.actions if self.actions.ndim > 1 else self.actions[:, None]
                column = acts[:, sig.index or 0]
                values = np.concatenate([column, column[-1:]]) if len(column) else np.zeros(n)
            out[name] = np.asarray(values, dtype=np.float64)
        return out


# ------------------------------------------------------------------------- the loop


def _simulate(
    actor: Actor,
    binding: Binding,
    bank,
    obs0: np.ndarray,
    starts: Sequence[int],
    prefixes: Sequence[tuple],
    points: Sequence[Point | None],
    seeds: Sequence[int],
    record_states: bool,
    already_terminated: Sequence[bool] | None = None,
) -> list[Trajectory]:
    """Step every env of `bank` from its current state until it terminates or reaches
    the horizon; `prefixes[n]` holds the (obs, actions, rewards, states) before it."""
    n = len(obs0)
    obs_log: list[list[np.ndarray]] = [[o] for o in obs0]
    act_log: list[list[Any]] = [[] for _ in range(n)]
    rew_log: list[list[float]] = [[] for _ in range(n)]
    st_log: list[list[Any]] = [[bank.state(i)] if record_states else [] for i in range(n)]
    remaining = np.array([binding.horizon - s for s in starts])
    terminated = np.zeros(n, dtype=bool) if already_terminated is None else np.array(already_terminated, dtype=bool)
    nonfinite = ~np.all(np.isfinite(obs0), axis=1)
    active = (remaining > 0) & ~nonfinite & ~terminated
    current = np.array(obs0, dtype=np.float32)
    while active.any():
        idx = np.flatnonzero(active)
        actions = np.asarray(actor.act(current[idx]))
        if actions.dtype.kind == "f":
            bad = ~np.all(np.isfinite(actions.reshape(len(idx), -1)), axis=1)
            if bad.any():
                nonfinite[idx[bad]] = True
                active[idx[bad]] = False
                keep = ~bad
                idx, actions = idx[keep], actions[keep]
                if not len(idx):
                    continue
        obs, rew, term = bank.step(idx, actions)
        for j, i in enumerate(idx):
            obs_log[i].append(obs[j])
            act_log[i].append(actions[j])
            rew_log[i].append(float(rew[j]))
            if record_states:
                st_log[i].append(bank.state(i))
        current[idx] = obs
        remaining[idx] -= 1
        terminated[idx] = term
        finite = np.all(np.isfinite(obs), axis=1) & np.isfinite(rew)
        nonfinite[idx[~finite]] = True
        active[idx] = (remaining[idx] > 0) & ~term & finite
    logs = (obs_log, act_log, rew_log, st_log if record_states and bank.exact else None)
    return [_trajectory(binding, prefixes[i], [log[i] if log else None for log in logs], points[i], seeds[i],
                        bool(terminated[i]), bool(nonfinite[i])) for i in range(n)]


def _trajectory(binding: Binding, prefix: tuple, logs: list, point: Point | None, seed: int,
                terminated: bool, nonfinite: bool) -> Trajectory:
    """One episode: the prefix before the simulated part, then what the loop logged
    (observations, actions, rewards, and exact states or None)."""
    p_obs, p_act, p_rew, p_st = prefix
    obs_log, act_log, rew_log, st_log = logs
    acts = np.array(act_log) if act_log else np.zeros((0,) + p_act.shape[1:])
    if binding.action_kind == "discrete":
        acts = acts.astype(np.int64)
    else:
        acts = acts.astype(np.float32).reshape((len(acts),) + p_act.shape[1:])
    states = None
    if st_log is not None:
        states = np.concatenate([p_st, np.array(st_log[: len(obs_log)])]) if len(p_st) else np.array(st_log)
    return Trajectory(
        point=point,
        seed=seed,
        observations=np.concatenate([p_obs, np.array(obs_log, dtype=np.float32)]),
        actions=np.concatenate([p_act, acts]) if len(p_act) else acts,
        rewards=np.concatenate([p_rew, np.array(rew_log, dtype=np.float64)]),
        terminated=terminated,
        truncated=not terminated and not nonfinite,
        nonfinite=nonfinite,
        states=states,
    )


def _empty_prefix(binding: Binding) -> tuple:
    d = binding.observation_space.shape[0]
    if binding.action_kind == "discrete":
        acts = np.zeros((0,), dtype=np.int64)
    else:
        acts = np.zeros((0, binding.action_space.shape[0]), dtype=np.float32)
    return np.zeros((0, d), dtype=np.float32), acts, np.zeros(0), np.zeros((0, 4))


# Episodes per task when a batch is spread over workers: each task carries about this
# many env steps at the full horizon (16 LunarLander episodes, ~0.2 s; 10 BipedalWalker
# episodes, ~1.4 s). Smaller tasks cost CPU: one policy call per step serves fewer
# episodes (measured in one process: LunarLander +55% CPU per episode in tasks of 4,
# +31% in tasks of 8; benchmarks/results/scaling.md). CartPole's array stepper runs
# batches of up to 256 episodes per task. The cut depends on the batch alone, never on
# the backend or the number of workers: every backend runs the same tasks.
TASK_STEPS = 16000
CARTPOLE_TASK = 256


def task_slices(binding: Binding, n: int) -> list[slice]:
    """How a batch of `n` episodes is cut into tasks for parallel backends."""
    if banks.is_array_bank(binding):
        per = CARTPOLE_TASK
    else:
        per = max(1, -(-TASK_STEPS // binding.horizon))
    k = max(1, -(-n // per))
    cuts = np.linspace(0, n, k + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]


def _spread(fn: Any, shared: tuple, binding: Binding, items: Sequence[Any]) -> list[Trajectory] | None:
    """Run `fn(shared, items[s])` for the task slices of the batch on the current backend;
    None when the batch is one task or there is no backend (the caller runs it here).
    Results equal the in-process run for actors whose outputs do not depend on the batch
    size (onnxruntime's, which every safety decision uses)."""
    backend = backends.current()
    slices = task_slices(binding, len(items))
    if backend is None or len(slices) < 2:
        return None
    parts = backend.map(fn, shared, [items[s] for s in slices])
    return [t for part in parts for t in part]


def _run_task(shared: tuple, jobs: Sequence[tuple[Point | None, int]]) -> list[Trajectory]:
    actor, binding, record_states = shared
    points, seeds = zip(*jobs)
    return run_batch(actor, binding, list(points), list(seeds), record_states=record_states)


def run_batch(
    actor: Actor,
    binding: Binding,
    points: Sequence[Point | None],
    seeds: Sequence[int] | int | None = None,
    *,
    record_states: bool = True,
) -> list[Trajectory]:
    """Run one episode per point, all together. `points[i] = None` uses the env's own
    initial distribution with seed `seeds[i]` (reward estimates); for a point the
    seed defaults to its own (`Binding.seed_of`: falsification). Inside a
    `backends.use(...)` block the batch is spread over that backend's workers."""
    n = len(points)
    if seeds is None:
        seeds = [binding.seed_of(p) for p in points]
    elif isinstance(seeds, int):
        seeds = [seeds] * n
    if n == 0:
        return []
    spread = _spread(_run_task, (actor, binding, record_states), binding, list(zip(points, seeds)))
    if spread is not None:
        return spread
    bank = banks.make_bank(binding, n)
    try:
        obs0 = np.array([bank.reset(i, points[i], seeds[i]) for i in range(n)], dtype=np.float32)
        empty = _empty_prefix(binding)
        return _simulate(
            actor, binding, bank, obs0, [0] * n, [empty] * n, list(points), list(seeds), record_states
        )
    finally:
        bank.close()


def run(actor: Actor, binding: Binding, point: Point | None, seed: int | None = None) -> Trajectory:
    """Run one episode from `point` (None: the env's own reset with `seed`)."""
    return run_batch(actor, binding, [point], None if seed is None else [seed])[0]


def run_episodes(actor: Actor, binding: Binding, n: int = 100, seed: int = 0, batch: int = 100) -> list[Trajectory]:
    """`n` episodes of the env's own initial distribution, reset seeds
    `seed .. seed+n-1`, run `batch` at a time."""
    out: list[Trajectory] = []
    for start in range(0, n, batch):
        seeds = list(range(seed + start, seed + min(n, start + batch)))
        out += run_batch(actor, binding, [None] * len(seeds), seeds, record_states=False)
    return out


def returns(actor: Actor, binding: Binding, episodes: int = 100, seed: int = 0, batch: int = 100) -> np.ndarray:
    """Episode returns of `run_episodes(...)`; NaN for an episode that went non-finite."""
    trajs = run_episodes(actor, binding, episodes, seed, batch)
    return np.array([t.total_reward if not t.nonfinite else float("nan") for t in trajs])


def continue_batch(
    actor: Actor, binding: Binding, starts: Sequence[tuple[Trajectory, int]]
) -> list[Trajectory]:
    """For each (trajectory, i): put an env into the trajectory's state at step i and
    let `actor` run it to the end. The result keeps the first i steps of the trajectory.

    Exact state restore where the env allows it (CartPole); otherwise a replay of the
    same reset and the recorded action prefix (Box2D envs are deterministic), checked
    against the recorded observation.
    """
    n = len(starts)
    if n == 0:
        return []
    spread = _spread(_continue_task, (actor, binding), binding, list(starts))
    if spread is not None:
        return spread
    bank = banks.make_bank(binding, n)
    try:
        obs0 = []
        for k, (traj, i) in enumerate(starts):
            if not 0 <= i <= traj.length:
                raise EnvError(f"cannot restore step {i} of a {traj.length}-step trajectory")
            if traj.states is not None and bank.exact:
                obs0.append(bank.set_state(k, traj.states[i]))
                bank.seek(k, traj.point, i)
            else:
                obs0.append(_replay(bank, k, traj, i))
        prefixes = []
        for traj, i in starts:
            st = traj.states[:i] if traj.states is not None else np.zeros((0, 4))
            prefixes.append((traj.observations[:i], traj.actions[:i], traj.rewards[:i], st))
        return _simulate(
            actor,
            binding,
            bank,
            np.array(obs0, dtype=np.float32),
            [i for _, i in starts],
            prefixes,
            [t.point for t, _ in starts],
            [t.seed for t, _ in starts],
            record_states=True,
            # A terminal state stays terminal: nothing follows it.
            already_terminated=[t.terminated and i == t.length for t, i in starts],
        )
    finally:
        bank.close()


def _continue_task(shared: tuple, starts: Sequence[tuple[Trajectory, int]]) -> list[Trajectory]:
    actor, binding = shared
    return continue_batch(actor, binding, starts)


def _replay(bank, k: int, traj: Trajectory, i: int) -> np.ndarray:
    obs = bank.reset(k, traj.point, traj.seed)
    for t in range(i):
        o, _, _ = bank.step(np.array([k]), traj.actions[t : t + 1])
        obs = o[0]
    if not np.array_equal(obs, traj.observations[i]):
        raise EnvError(
            f"replay of {traj.length}-step trajectory diverged at step {i}: "
            "the env is not deterministic under a fixed seed and action prefix"
        )
    return obs


def restore(binding: Binding, env: gym.Env, traj: Trajectory, i: int) -> np.ndarray:
    """Put a single `env` (from `binding.make()`) into the state of `traj` at step i and
    return the observation there. Step it on with `binding.step(env, a, traj.point, t)`
    (t = i, i+1, ...), which applies the point's disturbance."""
    if traj.states is not None and binding.adapter.exact_state:
        return np.asarray(binding.adapter.set_state(env, (traj.states[i], None)))
    obs = binding.reset(env, traj.point, traj.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(i):
            obs, *_ = binding.step(env, traj.actions[t], traj.point, t)
    return np.asarray(obs)
