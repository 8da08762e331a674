"""Evaluate a zoo policy: 100 episodes (reset seeds 0..99), deterministic actions.

    python zoo/evaluate.py probe SPEC POLICY [--points N] [--fixed-seed]

    python zoo/evaluate.py ENV MODEL [--vecnormalize PKL] [--episodes N] [--horizon H]
                                     [--export-to ONNX --trained-by TEXT]

MODEL is an SB3 zip (evaluated with SB3 itself, observations normalised with the
VecNormalize statistics if given) or an ONNX file (evaluated through
`sanp.formats.load(...).act`, which is what the rest of sanp sees). Prints a JSON line
with mean, std, min and max return.

`probe` runs the policy (through sanp's env binding and rollouts) from N points drawn
uniformly from the spec's search space, with reset seeds 0..N-1 (or the falsifier's
fixed reset seed 0 with `--fixed-seed`), and prints each signal's range over all
trajectories, each requirement's robustness (min and quantiles over trajectories) and
how many trajectories violate it: the measurements behind the bounds of a spec.

With `--export-to`, the SB3 zip (and its VecNormalize statistics) is first read by
`sanp.formats.load` and written by `sanp.formats.onnx_writer.export_onnx`; then both the SB3 model and
the ONNX file are evaluated on the same seeds and their returns compared. TD3 actors
(`actor.mu`: Linear-ReLU-Linear-ReLU-Linear-Tanh), which `sanp.formats.load` does not
read, are built as an `MLPPolicy` with a tanh output layer from the zip's
`policy.pth` (read with `torch.load(weights_only=True)`).
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np
import torch

ENVS = {
    "cartpole": ("CartPole-v1", {}),
    "lunar_lander": ("LunarLander-v3", {"continuous": True}),
    "bipedal_walker": ("BipedalWalker-v3", {}),
}


def sb3_actor(zip_path: str, vecnormalize: str | None) -> Callable[[np.ndarray], np.ndarray]:
    """Deterministic SB3 actor on raw observations (normalisation done here)."""
    from stable_baselines3 import PPO, SAC, TD3

    algo = None
    for cls in (PPO, TD3, SAC):
        try:
            model = cls.load(zip_path, device="cpu")
            algo = cls
            break
        except Exception:  # wrong class for this zip
            continue
    if algo is None:
        raise SystemExit(f"cannot load {zip_path} as PPO, TD3 or SAC")
    norm = None
    if vecnormalize:
        with open(vecnormalize, "rb") as f:  # our own training output, trusted
            norm = pickle.load(f)

    if norm is not None:
        # float32 arithmetic, as the folded normaliser of sanp's MLPPolicy / the ONNX
        # graph; SB3's VecNormalize computes in float64 and casts afterwards, and in
        # chaotic episodes (BipedalWalker) that rounding alone changes the return
        mean32 = norm.obs_rms.mean.astype(np.float32)
        std32 = np.sqrt(norm.obs_rms.var + norm.epsilon).astype(np.float32)
        clip = np.float32(norm.clip_obs)

    def act(obs: np.ndarray) -> np.ndarray:
        if norm is not None:
            obs = np.clip((np.asarray(obs, np.float32) - mean32) / std32, -clip, clip)
        action, _ = model.predict(obs, deterministic=True)
        return action

    return act


def onnx_actor(path: str) -> Callable[[np.ndarray], np.ndarray]:
    import sanp.formats

    policy = sanp.formats.load(path)

    def act(obs: np.ndarray) -> np.ndarray:
        return policy.act(np.asarray(obs, dtype=np.float32)[None])[0]

    return act


def clean_vecnormalize(src: str, dst: str) -> None:
    """Re-pickle a VecNormalize file without the spaces' random generators.

    gymnasium >= 1.0 spaces keep a seeded `np.random.Generator` (PCG64), which SB3
    pickles along with the VecNormalize statistics; sanp's restricted unpickler
    refuses that global. The statistics are unchanged and SB3 still loads the file.
    """
    with open(src, "rb") as f:  # our own training output, trusted
        norm = pickle.load(f)
    for space in (norm.observation_space, norm.action_space):
        if space is not None and hasattr(space, "_np_random"):
            space._np_random = None
    # what VecNormalize.__getstate__ deletes must exist on a pickle-loaded instance
    norm.__dict__.setdefault("venv", None)
    norm.__dict__.setdefault("class_attributes", {})
    norm.__dict__.setdefault("returns", None)
    with open(dst, "wb") as f:
        pickle.dump(norm, f)


def sb3_to_policy(zip_path: str, vecnormalize: str | None, env_name: str):
    """The deterministic actor of an SB3 zip as a sanp MLPPolicy."""
    import io
    import zipfile

    import sanp.formats
    import sanp.model

    env_id, kwargs = ENVS[env_name]
    env = gym.make(env_id, **kwargs)
    with zipfile.ZipFile(zip_path) as z:
        data = json.loads(z.read("data"))
        raw = z.read("policy.pth")
    policy_class = str(data.get("policy_class", {}).get(":type:", "")) + str(
        data.get("policy_class", {}).get("__module__", ""))
    if "td3" not in policy_class.lower():
        return sanp.formats.load(zip_path, vecnormalize=vecnormalize,
                                observation_space=env.observation_space,
                                action_space=env.action_space)
    sd = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    idx = sorted({int(k.split(".")[2]) for k in sd if k.startswith("actor.mu.")})
    ws = [(sd[f"actor.mu.{i}.weight"], sd[f"actor.mu.{i}.bias"]) for i in idx]
    sizes = [ws[0][0].shape[1]] + [w.shape[0] for w, _ in ws]
    low, high = env.action_space.low, env.action_space.high
    # SB3 TD3 maps the tanh output from [-1, 1] to the box; identity for a [-1, 1] box
    assert np.all(low == -1) and np.all(high == 1), "TD3 export assumes a [-1, 1] action box"
    pol = sanp.model.MLPPolicy(sizes, ["relu"] * (len(ws) - 1) + ["tanh"],
                                action_kind="continuous", action_low=low, action_high=high)
    with torch.no_grad():
        for lin, (w, b) in zip(pol.layers, ws):
            lin.weight.copy_(w.float())
            lin.bias.copy_(b.float())
    if vecnormalize:
        from sanp.formats.vecnormalize import fold_vecnormalize

        pol = fold_vecnormalize(pol, vecnormalize)
    return pol


def evaluate(env_name: str, act: Callable[[np.ndarray], np.ndarray], episodes: int = 100,
             horizon: int | None = None, first_seed: int = 0) -> dict:
    env_id, kwargs = ENVS[env_name]
    extra = {"max_episode_steps": horizon} if horizon else {}
    returns, lengths = [], []
    for seed in range(first_seed, first_seed + episodes):
        # a fresh env per episode: Box2D envs reuse their world across resets and an
        # episode then depends on the instance's history, not only on the seed
        env = gym.make(env_id, **kwargs, **extra)
        obs, _ = env.reset(seed=seed)
        total, n, done = 0.0, 0, False
        while not done:
            obs, r, term, trunc, _ = env.step(act(obs))
            total += float(r)
            n += 1
            done = term or trunc
        env.close()
        returns.append(total)
        lengths.append(n)
    r = np.array(returns)
    return {"returns": r.tolist(), "env_id": env_id, "episodes": episodes, "seeds": f"{first_seed}..{first_seed + episodes - 1}",
            "horizon": horizon or env.spec.max_episode_steps,
            "mean": round(float(r.mean()), 2), "std": round(float(r.std()), 2),
            "min": round(float(r.min()), 2), "max": round(float(r.max()), 2),
            "mean_length": round(float(np.mean(lengths)), 1)}


def probe(spec_path: str, policy_path: str, points: int, fixed_seed: bool) -> dict:
    import sanp.formats
    import stl
    from sanp.envs import bind
    from sanp.rollout import run_batch

    spec = stl.load(spec_path)
    binding = bind(spec)
    policy = sanp.formats.load(policy_path)
    rng = np.random.default_rng(12345)
    lo, hi = binding.bounds[:, 0], binding.bounds[:, 1]
    xs = lo + (hi - lo) * rng.random((points, len(lo)))
    pts = [binding.point(x) for x in xs]
    seeds = [0] * points if fixed_seed else list(range(points))
    trajs = []
    for i in range(0, points, 50):
        trajs += run_batch(policy, binding, pts[i:i + 50], seeds[i:i + 50], record_states=False)
    sigs = [t.signals(spec) for t in trajs]
    out: dict = {"spec": spec_path, "policy": policy_path, "points": points,
                 "space": {d.name: [d.lo, d.hi] for d in binding.space},
                 "reset_seeds": "0" if fixed_seed else f"0..{points - 1}"}
    rets = np.array([t.total_reward for t in trajs])
    out["return"] = {"mean": round(float(rets.mean()), 1), "min": round(float(rets.min()), 1),
                     "below_cutoff": int(np.sum(rets < (spec.reward_threshold or -np.inf)))}
    out["length"] = {"mean": float(np.mean([t.length for t in trajs])),
                     "terminated": int(sum(t.terminated for t in trajs))}
    out["signals"] = {}
    for name in spec.signals:
        mins = np.array([s[name].min() for s in sigs])
        maxs = np.array([s[name].max() for s in sigs])
        out["signals"][name] = {
            "min": round(float(mins.min()), 3), "q01_of_min": round(float(np.quantile(mins, 0.01)), 3),
            "q50_of_min": round(float(np.median(mins)), 3),
            "q50_of_max": round(float(np.median(maxs)), 3),
            "q99_of_max": round(float(np.quantile(maxs, 0.99)), 3), "max": round(float(maxs.max()), 3)}
    out["requirements"] = {}
    for name, req in spec.requirements.items():
        rob = np.array([float(stl.robustness_at0(req, {k: s[k] for k in req.signal_names}))
                        for s in sigs])
        out["requirements"][name] = {
            "violations": int(np.sum(rob < 0)), "min": round(float(rob.min()), 4),
            "q05": round(float(np.quantile(rob, 0.05)), 4),
            "median": round(float(np.median(rob)), 4)}
        worst = int(np.argmin(rob))
        out["requirements"][name]["worst_point"] = {k: round(v, 2) for k, v in pts[worst].items()}
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "probe":
        q = argparse.ArgumentParser(prog="evaluate.py probe")
        q.add_argument("spec")
        q.add_argument("policy")
        q.add_argument("--points", type=int, default=300)
        q.add_argument("--fixed-seed", action="store_true")
        b = q.parse_args(argv[1:])
        torch.set_num_threads(1)
        print(json.dumps(probe(b.spec, b.policy, b.points, b.fixed_seed), indent=1))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("env", choices=sorted(ENVS))
    p.add_argument("model", help="SB3 .zip or .onnx")
    p.add_argument("--vecnormalize", default=None)
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--horizon", type=int, default=None)
    p.add_argument("--first-seed", type=int, default=0, help="reset seeds start here")
    p.add_argument("--export-to", default=None, help="write the SB3 actor to this ONNX file")
    p.add_argument("--trained-by", default="", help="the training command, for the metadata")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    if a.export_to:
        from sanp.formats.onnx_writer import export_onnx

        pol = sb3_to_policy(a.model, a.vecnormalize, a.env)
        export_onnx(pol, a.export_to, metadata={
            "env_id": ENVS[a.env][0],
            "env_kwargs": json.dumps(ENVS[a.env][1]),
            "trained_by": a.trained_by or "zoo/train.py",
        })
        results = {}
        for name, act in (("sb3", sb3_actor(a.model, a.vecnormalize)),
                          ("onnx", onnx_actor(a.export_to))):
            t0 = time.time()
            results[name] = evaluate(a.env, act, a.episodes, a.horizon, a.first_seed)
            results[name]["eval_wall_s"] = round(time.time() - t0, 1)
        diff = np.abs(np.subtract(results["sb3"].pop("returns"), results["onnx"].pop("returns")))
        for name in results:
            print(name, json.dumps(results[name]), flush=True)
        # SB3 normalises observations in float64, the ONNX graph in float32: a chaotic
        # episode may then drift apart by rounding alone
        print(json.dumps({"export": a.export_to,
                          "episodes_differing": int(np.sum(diff > 1e-3)),
                          "max_abs_return_diff": round(float(diff.max()), 4)}), flush=True)
        return 0
    if a.model.endswith(".onnx"):
        act = onnx_actor(a.model)
    else:
        act = sb3_actor(a.model, a.vecnormalize)
    t0 = time.time()
    res = evaluate(a.env, act, a.episodes, a.horizon, a.first_seed)
    res.pop("returns")
    res |= {"model": a.model, "eval_wall_s": round(time.time() - t0, 1)}
    print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
