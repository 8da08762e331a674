"""BipedalWalker-v3: PPO fine-tuning of the distilled student (see distill.py, card.md).

    python zoo/bipedal_walker/finetune.py STUDENT.pt TEACHER_VECNORMALIZE.pkl \
        [--steps N] [--seed S] [--out DIR] [--time-limit MINUTES]

An SB3 PPO model with the zoo's architecture (actor and critic 24-128-128, ReLU) starts
from the student's actor weights; the observation normaliser is the teacher's
VecNormalize statistics, held fixed (count 1e9) so that the folded-in normaliser of the
student stays valid; rewards are normalised as in rl-zoo. The actor is frozen for the
first `--warmup` PPO updates while the critic learns the student's values, then both
train. Hyperparameters otherwise follow rl-zoo's PPO BipedalWalker-v3 entry, with a
smaller learning rate and clip range for fine-tuning and a lower initial log std.
EvalCallback (10 deterministic episodes) keeps the best model and its VecNormalize.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from train import TimeLimit, versions


def main() -> int:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import (
        BaseCallback,
        CallbackList,
        CheckpointCallback,
        EvalCallback,
    )
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import VecNormalize

    import sanp.formats
    from sanp.formats.vecnormalize import read_vecnormalize

    p = argparse.ArgumentParser()
    p.add_argument("student")
    p.add_argument("vecnormalize")
    p.add_argument("--steps", type=int, default=3_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-envs", type=int, default=16)
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--log-std", type=float, default=-1.0)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "run_finetune")
    p.add_argument("--time-limit", type=float, default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    set_random_seed(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)

    student = sanp.formats.load(a.student)
    vn = read_vecnormalize(a.vecnormalize)
    assert np.allclose(student.obs_mean.numpy(), vn["obs_mean"])

    def normalized(venv, training: bool, norm_reward: bool) -> VecNormalize:
        v = VecNormalize(venv, gamma=0.999, clip_obs=float(vn["clip_obs"]),
                         epsilon=float(vn["epsilon"]), training=training, norm_reward=norm_reward)
        v.obs_rms.mean = np.array(vn["obs_mean"], dtype=np.float64)
        v.obs_rms.var = np.array(vn["obs_var"], dtype=np.float64)
        v.obs_rms.count = 1e9  # effectively frozen: the student's normaliser stays valid
        return v

    venv = normalized(make_vec_env("BipedalWalker-v3", n_envs=a.n_envs, seed=a.seed), True, True)
    eval_env = normalized(make_vec_env("BipedalWalker-v3", n_envs=1, seed=a.seed + 10_000),
                          False, False)
    hp = dict(n_steps=2048, batch_size=256, gae_lambda=0.95, gamma=0.999, n_epochs=10,
              ent_coef=0.0, learning_rate=a.lr, clip_range=0.1,
              policy_kwargs=dict(net_arch=dict(pi=[128, 128], vf=[128, 128]),
                                 activation_fn=nn.ReLU, log_std_init=a.log_std))
    model = PPO("MlpPolicy", venv, seed=a.seed, verbose=1, device="cpu", **hp)
    pol = model.policy
    with torch.no_grad():
        lin = student.linears if hasattr(student, "linears") else list(student.layers)
        targets = [pol.mlp_extractor.policy_net[0], pol.mlp_extractor.policy_net[2], pol.action_net]
        for src, dst in zip(lin, targets):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    actor_params = (list(pol.mlp_extractor.policy_net.parameters())
                    + list(pol.action_net.parameters()) + [pol.log_std])

    class Warmup(BaseCallback):
        """Actor frozen for the first `warmup` updates (the critic learns first)."""

        def _on_training_start(self) -> None:
            self.rollouts = 0
            for q in actor_params:
                q.requires_grad_(a.warmup <= 0)

        def _on_rollout_end(self) -> None:
            self.rollouts += 1
            if self.rollouts == a.warmup + 1:
                for q in actor_params:
                    q.requires_grad_(True)
                print(f"actor unfrozen after {a.warmup} critic-only updates", flush=True)

        def _on_step(self) -> bool:
            return True

    class SaveNormOnBest(BaseCallback):
        def _on_step(self) -> bool:
            venv.save(str(a.out / "best_vecnormalize.pkl"))
            return True

    per_env = lambda n: max(n // a.n_envs, 1)
    eval_cb = EvalCallback(eval_env, n_eval_episodes=10, eval_freq=per_env(65_536),
                           best_model_save_path=str(a.out), log_path=str(a.out),
                           deterministic=True, callback_on_new_best=SaveNormOnBest(), verbose=1)
    ckpt = CheckpointCallback(save_freq=per_env(200_000), save_path=str(a.out / "checkpoints"),
                              name_prefix="model", save_vecnormalize=True)
    config = {"command": " ".join(["python", "zoo/bipedal_walker/finetune.py", *sys.argv[1:]]),
              "seed": a.seed, "n_envs": a.n_envs, "warmup_updates": a.warmup,
              "hyperparams": {k: v for k, v in hp.items() if k != "policy_kwargs"}
              | {"net_arch": "pi [128,128], vf [128,128], ReLU", "log_std_init": a.log_std},
              "versions": versions()}
    (a.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    t0 = time.time()
    model.learn(total_timesteps=a.steps,
                callback=CallbackList([Warmup(), eval_cb, ckpt, TimeLimit.make(a.time_limit)]))
    model.save(str(a.out / "final_model.zip"))
    venv.save(str(a.out / "final_vecnormalize.pkl"))
    summary = {"steps_done": int(model.num_timesteps), "wall_s": round(time.time() - t0, 1),
               "best_eval_mean": float(eval_cb.best_mean_reward)}
    (a.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
