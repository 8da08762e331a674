"""Train zoo/highway's dense policy: DQN (Stable-Baselines3) on highway-fast-v0 as sanp
sees it (the Kinematics observation flattened, plus the adapter's five safety signals).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python zoo/highway/train.py \
        --steps 15000 --seed 0 --out zoo/highway/run

Recipe: highway-env's own DQN example for highway-fast-v0 (scripts/sb3_highway_dqn.py:
lr 5e-4, buffer 15 000, learning_starts 200, batch 32, gamma 0.8, train_freq 1,
target_update_interval 50, exploration_fraction 0.7) with a smaller network (64-64 ReLU,
so that pruning has something to show and a falsifier run stays cheap) and two changes
for safety:
- half the training episodes start from a point drawn uniformly from the search space
  of specs/highway.stl (ego speed, gap and speed of the vehicle ahead, traffic speed),
  the other half from the env's own initial distribution;
- the reward is shaped by -0.3 * clip(1 - headway, 0, 1): tailgating under 1 s costs.
Outputs in OUT: model.zip (the final model), checkpoints/, monitor.csv, train.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np
import torch

from sanp.envs.highway import HighwayAdapter

SEARCH = {"ego_speed": (20.0, 30.0), "lead_gap": (20.0, 60.0), "lead_speed": (18.0, 28.0),
          "traffic_speed": (20.0, 26.0)}
HEADWAY_PENALTY = 0.3


class TrainEnv(gym.Wrapper):
    """The adapter's env with randomised initial traffic and the headway shaping."""

    def __init__(self, seed: int):
        self.adapter = HighwayAdapter("highway-fast-v0", {})
        super().__init__(self.adapter.make())
        self.rng = np.random.default_rng(seed)

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        point = None
        if self.rng.random() < 0.5:
            point = {k: float(self.rng.uniform(lo, hi)) for k, (lo, hi) in SEARCH.items()}
        obs = self.adapter.reset(self.env, point, int(self.rng.integers(2**31)))
        return obs, {}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        shaped = reward - HEADWAY_PENALTY * float(np.clip(1.0 - obs[27], 0.0, 1.0))
        info["env_reward"] = reward
        return obs, shaped, terminated, truncated, info


def main() -> int:
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import CheckpointCallback
    from stable_baselines3.common.monitor import Monitor

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=15_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "run")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    env = Monitor(TrainEnv(args.seed), str(args.out / "monitor.csv"), info_keywords=("env_reward",))
    model = DQN(
        "MlpPolicy", env, policy_kwargs={"net_arch": [64, 64]}, learning_rate=5e-4,
        buffer_size=15_000, learning_starts=200, batch_size=32, gamma=0.8, train_freq=1,
        gradient_steps=1, target_update_interval=50, exploration_fraction=0.7,
        seed=args.seed, verbose=1,
    )
    start = time.time()
    model.learn(args.steps, callback=CheckpointCallback(2_500, str(args.out / "checkpoints"), "dqn"))
    model.save(args.out / "model.zip")
    meta = {"command": " ".join(sys.argv), "steps": args.steps, "seed": args.seed,
            "wall_s": round(time.time() - start, 1), "search": SEARCH,
            "headway_penalty": HEADWAY_PENALTY}
    (args.out / "train.json").write_text(json.dumps(meta, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
