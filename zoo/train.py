"""Train the dense policies of sanp's zoo with Stable-Baselines3.

    python zoo/train.py ENV [--algo ppo|td3|sac] [--steps N] [--seed S] [--out DIR]
                            [--time-limit MINUTES]

ENV is one of `cartpole`, `lunar_lander`, `bipedal_walker`. Hyperparameters are the
rl-baselines3-zoo recipes (hyperparams/ppo.yml, td3.yml, sac.yml) for CartPole-v1,
LunarLanderContinuous (here LunarLander-v3 with continuous=True) and BipedalWalker-v3,
with one change imposed by the project: every actor is an MLP with two hidden layers
of 128 ReLU units.

Outputs in DIR (default zoo/<ENV>/run):
    best_model.zip         best deterministic eval return seen so far (EvalCallback)
    best_vecnormalize.pkl  the VecNormalize statistics that go with best_model.zip
    final_model.zip        the model at the end of training (or when time ran out)
    final_vecnormalize.pkl
    checkpoints/           periodic checkpoints (model + VecNormalize)
    evaluations.npz        EvalCallback history

One thread per process: torch.set_num_threads(1); set OMP_NUM_THREADS=1 as well.

BipedalWalker: the TD3 and SAC recipes here did not reach the target within the
session's CPU budget; the committed walker was distilled from a pre-trained PPO
teacher and fine-tuned with PPO (zoo/bipedal_walker/distill.py, finetune.py, card.md).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np
import torch
from torch import nn

ZOO = Path(__file__).resolve().parent


def linear(start: float) -> Callable[[float], float]:
    """rl-zoo's `lin_<start>`: decays linearly from `start` to 0 over training."""

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * start

    return schedule


@dataclass(frozen=True)
class Recipe:
    """One env's training recipe."""

    env_id: str
    algo: str
    steps: int
    """Default number of environment steps."""
    n_envs: int = 1
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    normalize: bool = False
    """Wrap in VecNormalize (obs and reward), as rl-zoo's `normalize: true`."""
    hyperparams: dict[str, Any] = field(default_factory=dict)
    eval_freq: int = 10_000
    """Evaluate the deterministic policy every this many env steps (total over envs)."""
    n_eval_episodes: int = 10
    checkpoint_freq: int = 100_000
    source: str = ""


PPO_NET = dict(net_arch=dict(pi=[128, 128], vf=[128, 128]), activation_fn=nn.ReLU)

RECIPES: dict[tuple[str, str], Recipe] = {
    ("cartpole", "ppo"): Recipe(
        env_id="CartPole-v1",
        algo="ppo",
        steps=100_000,
        n_envs=8,
        hyperparams=dict(
            n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
            ent_coef=0.0, learning_rate=linear(1e-3), clip_range=linear(0.2),
            policy_kwargs=PPO_NET,
        ),
        eval_freq=5_000,
        checkpoint_freq=25_000,
        source="rl-zoo3 hyperparams/ppo.yml CartPole-v1",
    ),
    ("lunar_lander", "ppo"): Recipe(
        env_id="LunarLander-v3",
        algo="ppo",
        steps=1_000_000,
        n_envs=16,
        env_kwargs=dict(continuous=True),
        normalize=True,
        hyperparams=dict(
            n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4,
            ent_coef=0.01, policy_kwargs=PPO_NET,
        ),
        eval_freq=25_000,
        checkpoint_freq=100_000,
        source="rl-zoo3 hyperparams/ppo.yml LunarLanderContinuous-v2/-v3",
    ),
    ("bipedal_walker", "ppo"): Recipe(
        env_id="BipedalWalker-v3",
        algo="ppo",
        steps=5_000_000,
        n_envs=32,
        normalize=True,
        hyperparams=dict(
            n_steps=2048, batch_size=64, gae_lambda=0.95, gamma=0.999, n_epochs=10,
            ent_coef=0.0, learning_rate=2.5e-4, clip_range=0.2, policy_kwargs=PPO_NET,
        ),
        eval_freq=50_000,
        checkpoint_freq=250_000,
        source="rl-zoo3 hyperparams/ppo.yml BipedalWalker-v3",
    ),
    ("bipedal_walker", "td3"): Recipe(
        env_id="BipedalWalker-v3",
        algo="td3",
        steps=1_000_000,
        n_envs=1,
        hyperparams=dict(
            gamma=0.98, buffer_size=200_000, learning_starts=10_000,
            action_noise_std=0.1, gradient_steps=-1, train_freq=(1, "episode"),
            learning_rate=1e-3,
            # rl-zoo uses 400x300 for both; here the actor is 128x128 as the project
            # asks and the critics too: on a shared CPU core the gradient step
            # dominates the wall time and a 256x256 critic costs ~3x more per step
            policy_kwargs=dict(net_arch=dict(pi=[128, 128], qf=[128, 128]),
                               activation_fn=nn.ReLU),
        ),
        eval_freq=20_000,
        n_eval_episodes=5,
        checkpoint_freq=50_000,
        source="rl-zoo3 hyperparams/td3.yml BipedalWalker-v3",
    ),
    ("bipedal_walker", "sac"): Recipe(
        env_id="BipedalWalker-v3",
        algo="sac",
        steps=500_000,
        n_envs=1,
        hyperparams=dict(
            learning_rate=7.3e-4, buffer_size=300_000, batch_size=256, ent_coef="auto",
            gamma=0.98, tau=0.02, train_freq=64, gradient_steps=64, learning_starts=10_000,
            # rl-zoo adds use_sde=True, log_std_init=-3; gSDE puts a Hardtanh(-2, 2)
            # between the mean layer and the tanh squashing, which sanp's MLPPolicy
            # (Linear + one activation per layer) cannot express: plain SAC here.
            policy_kwargs=dict(net_arch=dict(pi=[128, 128], qf=[128, 128]),
                               activation_fn=nn.ReLU),
        ),
        eval_freq=20_000,
        n_eval_episodes=5,
        checkpoint_freq=50_000,
        source="rl-zoo3 hyperparams/sac.yml BipedalWalker-v3 (without gSDE)",
    ),
}

DEFAULT_ALGO = {"cartpole": "ppo", "lunar_lander": "ppo", "bipedal_walker": "td3"}


def describe(recipe: Recipe) -> dict[str, Any]:
    """The recipe as JSON-friendly text (for the card and the run's config.json)."""

    def show(v: Any) -> Any:
        if callable(v) and getattr(v, "__name__", "") == "schedule":
            return f"lin_{v(1.0):g}"
        if isinstance(v, dict):
            return {k: show(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [show(x) for x in v]
        if isinstance(v, type):
            return v.__name__
        return v

    return {
        "env_id": recipe.env_id, "algo": recipe.algo, "n_envs": recipe.n_envs,
        "env_kwargs": recipe.env_kwargs, "normalize": recipe.normalize,
        "hyperparams": show(recipe.hyperparams), "source": recipe.source,
    }


class TimeLimit:
    """Callback factory: stop training cleanly after a wall-clock budget."""

    @staticmethod
    def make(minutes: float | None):
        from stable_baselines3.common.callbacks import BaseCallback

        class _Stop(BaseCallback):
            def _on_training_start(self) -> None:
                self.t0 = time.monotonic()

            def _on_step(self) -> bool:
                if minutes is None:
                    return True
                if time.monotonic() - self.t0 > minutes * 60:
                    print(f"time limit of {minutes} min reached at "
                          f"{self.num_timesteps} steps", flush=True)
                    return False
                return True

        return _Stop()


def train(env: str, algo: str, steps: int | None, seed: int, out: Path,
          time_limit: float | None) -> None:
    from stable_baselines3 import PPO, SAC, TD3
    from stable_baselines3.common.callbacks import (
        BaseCallback,
        CallbackList,
        CheckpointCallback,
        EvalCallback,
    )
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    set_random_seed(seed)
    recipe = RECIPES[(env, algo)]
    steps = steps or recipe.steps
    out.mkdir(parents=True, exist_ok=True)

    venv = make_vec_env(recipe.env_id, n_envs=recipe.n_envs, seed=seed,
                        env_kwargs=recipe.env_kwargs)
    eval_env = make_vec_env(recipe.env_id, n_envs=1, seed=seed + 10_000,
                            env_kwargs=recipe.env_kwargs)
    if recipe.normalize:
        gamma = recipe.hyperparams.get("gamma", 0.99)
        venv = VecNormalize(venv, gamma=gamma)
        eval_env = VecNormalize(eval_env, gamma=gamma, training=False, norm_reward=False)

    hp = dict(recipe.hyperparams)
    if algo == "ppo":
        model = PPO("MlpPolicy", venv, seed=seed, verbose=1, device="cpu", **hp)
    elif algo == "td3":
        std = hp.pop("action_noise_std")
        n = venv.action_space.shape[0]
        hp["action_noise"] = NormalActionNoise(np.zeros(n), std * np.ones(n))
        model = TD3("MlpPolicy", venv, seed=seed, verbose=1, device="cpu", **hp)
    elif algo == "sac":
        model = SAC("MlpPolicy", venv, seed=seed, verbose=1, device="cpu", **hp)
    else:
        raise SystemExit(f"unknown algo {algo!r}")

    class SaveNormOnBest(BaseCallback):
        def _on_step(self) -> bool:
            if recipe.normalize:
                venv.save(str(out / "best_vecnormalize.pkl"))
            return True

    per_env = lambda n: max(n // recipe.n_envs, 1)
    eval_cb = EvalCallback(
        eval_env, n_eval_episodes=recipe.n_eval_episodes, eval_freq=per_env(recipe.eval_freq),
        best_model_save_path=str(out), log_path=str(out), deterministic=True,
        callback_on_new_best=SaveNormOnBest(), verbose=1)
    ckpt_cb = CheckpointCallback(
        save_freq=per_env(recipe.checkpoint_freq), save_path=str(out / "checkpoints"),
        name_prefix="model", save_vecnormalize=recipe.normalize)

    config = describe(recipe) | {
        "command": " ".join(["python", "zoo/train.py", *sys.argv[1:]]),
        "seed": seed, "steps": steps, "time_limit_min": time_limit,
        "versions": versions(),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    t0 = time.time()
    model.learn(total_timesteps=steps,
                callback=CallbackList([eval_cb, ckpt_cb, TimeLimit.make(time_limit)]))
    wall = time.time() - t0
    model.save(str(out / "final_model.zip"))
    if recipe.normalize:
        venv.save(str(out / "final_vecnormalize.pkl"))
    summary = {"steps_done": int(model.num_timesteps), "wall_s": round(wall, 1),
               "best_eval_mean": float(eval_cb.best_mean_reward)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary), flush=True)


def versions() -> dict[str, str]:
    import stable_baselines3

    return {"stable_baselines3": stable_baselines3.__version__, "torch": torch.__version__,
            "gymnasium": gym.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("env", choices=sorted(DEFAULT_ALGO))
    p.add_argument("--algo", choices=["ppo", "td3", "sac"], default=None,
                   help="default: ppo for cartpole and lunar_lander, td3 for bipedal_walker")
    p.add_argument("--steps", type=int, default=None, help="env steps (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default: zoo/<env>/run")
    p.add_argument("--time-limit", type=float, default=None,
                   help="stop after this many wall-clock minutes (the best model is kept)")
    a = p.parse_args(argv)
    algo = a.algo or DEFAULT_ALGO[a.env]
    if (a.env, algo) not in RECIPES:
        p.error(f"no recipe for {a.env} with {algo}")
    train(a.env, algo, a.steps, a.seed, a.out or ZOO / a.env / "run", a.time_limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
