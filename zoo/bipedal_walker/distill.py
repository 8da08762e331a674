"""Fallback for BipedalWalker-v3: distil a teacher policy into the zoo's architecture.

    python zoo/bipedal_walker/distill.py TEACHER.zip TEACHER_VECNORMALIZE.pkl \
        [--iters K] [--seed S] [--out DIR] [--time-limit MINUTES]

Used only because RL from scratch (zoo/train.py) could not reach the target return on
the shared CPU within the session (see card.md). The teacher is an SB3 PPO model
(read with sanp.formats.load, its VecNormalize folded in); the student is a sanp
`MLPPolicy` 24-128-128-4 (ReLU, linear output clipped to the action box) with the
teacher's observation normaliser. DAgger (Ross et al., 2011): iteration 0 rolls the
teacher (with Gaussian action noise for state coverage), later iterations roll the
student; every visited state is labelled with the teacher's clipped action and added
to the data set; the student is refit on all of it (MSE). The student with the best
mean return over 10 evaluation episodes (reset seeds 1000..1009) is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np
import torch

import sanp.formats
from sanp.formats.torch_policy import save_checkpoint
from sanp.model import MLPPolicy


def rollouts(actor, steps: int, n_envs: int, seed: int, noise: float, rng) -> tuple[np.ndarray, list]:
    """Visited observations of `steps` env steps (n_envs envs), and finished returns."""
    envs = [gym.make("BipedalWalker-v3") for _ in range(n_envs)]
    obs = np.array([e.reset(seed=seed + i)[0] for i, e in enumerate(envs)], dtype=np.float32)
    ret = np.zeros(n_envs)
    seen, done_returns, k = [], [], n_envs
    for _ in range(steps // n_envs):
        seen.append(obs.copy())
        act = actor(obs)
        if noise > 0:
            act = np.clip(act + noise * rng.standard_normal(act.shape), -1, 1)
        for i, e in enumerate(envs):
            o, r, term, trunc, _ = e.step(act[i])
            ret[i] += r
            if term or trunc:
                done_returns.append(ret[i])
                ret[i] = 0.0
                o, _ = e.reset(seed=seed + k)
                k += 1
            obs[i] = o
    return np.concatenate(seen), done_returns


def evaluate(policy: MLPPolicy, seeds) -> float:
    env = gym.make("BipedalWalker-v3")
    out = []
    for s in seeds:
        o, _ = env.reset(seed=s)
        total, done = 0.0, False
        while not done:
            o, r, term, trunc, _ = env.step(policy.act(o))
            total += float(r)
            done = term or trunc
        out.append(total)
    return float(np.mean(out))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("teacher")
    p.add_argument("vecnormalize")
    p.add_argument("--iters", type=int, default=12)
    p.add_argument("--steps0", type=int, default=60_000)
    p.add_argument("--steps", type=int, default=30_000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "run_distill")
    p.add_argument("--time-limit", type=float, default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    env = gym.make("BipedalWalker-v3")
    teacher = sanp.formats.load(a.teacher, vecnormalize=a.vecnormalize,
                               observation_space=env.observation_space,
                               action_space=env.action_space)
    student = MLPPolicy([24, 128, 128, 4], "relu", action_kind="continuous",
                        action_low=env.action_space.low, action_high=env.action_space.high,
                        obs_mean=teacher.obs_mean.numpy(), obs_var=teacher.obs_var.numpy(),
                        obs_clip=teacher.obs_clip, obs_eps=teacher.obs_eps)
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    X = np.zeros((0, 24), dtype=np.float32)
    best, log = -np.inf, []
    for it in range(a.iters):
        if it == 0:
            new, rets = rollouts(teacher.act, a.steps0, 8, a.seed * 100_000, 0.1, rng)
        else:
            new, rets = rollouts(student.act, a.steps, 8, a.seed * 100_000 + it * 1000, 0.0, rng)
        X = np.concatenate([X, new])
        Y = teacher.act(X).astype(np.float32)
        xt, yt = torch.from_numpy(X), torch.from_numpy(Y)
        for _ in range(a.epochs):
            perm = torch.randperm(len(xt))
            for j in range(0, len(xt), 256):
                idx = perm[j:j + 256]
                loss = torch.nn.functional.mse_loss(student(xt[idx]), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        score = evaluate(student, range(1000, 1010))
        entry = {"iter": it, "data": len(X), "rollout_returns_mean": float(np.mean(rets)) if rets else None,
                 "loss": float(loss), "eval10": round(score, 1), "wall_s": round(time.time() - t0, 1)}
        log.append(entry)
        print(json.dumps(entry), flush=True)
        if score > best:
            best = score
            save_checkpoint(student, a.out / "best_student.pt")
        (a.out / "log.json").write_text(json.dumps(log, indent=1))
        if a.time_limit and time.time() - t0 > a.time_limit * 60:
            break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
