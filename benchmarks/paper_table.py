"""The paper's table, reproduced: prune and refine each zoo policy against its spec.

    .venv/bin/python benchmarks/paper_table.py [--envs cartpole lunar_lander bipedal_walker]
        [--criterion activation] [--scope global] [--budget 100] [--rounds 5] [--seed 0]

Writes benchmarks/results/paper_table.md (and a JSON report and the sparse ONNX per env
under out/paper_table/). The paper's figures are the floor: CartPole 94.6% (37
counterexamples at 95%), LunarLander 39.48%, BipedalWalker 42.35%.
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
from _common import cpu_model

import stl
from _common import cpu_model
from sanp import formats as policies
from sanp.backends import BackendConfig, use
from sanp.envs import bind
from sanp.formats.onnx_writer import export_onnx
from sanp.method import PruneConfig, prune_and_refine
from sanp.report import prune_metadata, prune_report, write_json

ROOT = Path(__file__).resolve().parents[1]
ENVS = {
    "cartpole": ("specs/cartpole.stl", "94.6% (37 counterexamples at 95%)"),
    "lunar_lander": ("specs/lunar_lander.stl", "39.48%"),
    "bipedal_walker": ("specs/bipedal_walker.stl", "42.35%"),
}


def machine() -> str:
    cpu = cpu_model()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, load average {load:.2f} at start"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    ap.add_argument("--criterion", default="activation", choices=["magnitude", "activation"])
    ap.add_argument("--scope", default="global", choices=["global", "layer"])
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--round-uniform", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--heldout-budget", type=int, default=200)
    ap.add_argument("--heldout-uniform", type=int, default=1000)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="processes for Box2D rollout batches")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "paper_table.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    command = "python benchmarks/paper_table.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    header = machine()
    rows, notes = [], []
    work = ROOT / "out" / "paper_table"
    work.mkdir(parents=True, exist_ok=True)
    for env in args.envs:
        spec_path, paper = ENVS[env]
        dense_path = ROOT / "zoo" / env / "dense.onnx"
        if not dense_path.exists() or not (ROOT / spec_path).exists():
            notes.append(f"- {env}: skipped, {dense_path.relative_to(ROOT)} or {spec_path} missing")
            continue
        spec = stl.load(ROOT / spec_path)
        binding = bind(spec)
        dense = policies.load(dense_path, observation_space=binding.observation_space,
                              action_space=binding.action_space)
        config = PruneConfig(criterion=args.criterion, scope=args.scope, episodes=args.episodes,
                             budget=args.budget, round_uniform=args.round_uniform, rounds=args.rounds,
                             heldout_budget=args.heldout_budget, heldout_uniform=args.heldout_uniform,
                             seed=args.seed)
        t0 = time.perf_counter()
        with use(BackendConfig("local", args.workers)):
            result = prune_and_refine(
                dense, binding, spec, config,
                log=lambda m, e=env: print(f"[{e} {time.perf_counter() - t0:7.1f}s] {m}", flush=True))
        wall = time.perf_counter() - t0
        export_onnx(result.policy, work / f"{env}.onnx", metadata=prune_metadata(result, spec))
        write_json(prune_report(result, spec, policy_path=str(dense_path), spec_path=str(ROOT / spec_path),
                                output_path=str(work / f"{env}.onnx")), work / f"{env}.json")
        hd, hs = result.heldout_dense, result.heldout_sparse
        r1 = len(result.rounds[0].counterexamples) if result.rounds else 0
        rows.append(
            f"| {spec.env_id} | {result.dense_reward:.1f} | {result.step1.policy.sparsity():.2%} | "
            f"{result.step1.mean_reward:.1f} | {r1} | {result.policy.sparsity():.2%} | "
            f"{result.final_reward:.1f} | {len(result.rounds)}{'' if result.converged else ' (not converged)'} | "
            f"{hd.uniform_violations} / {hs.uniform_violations} of {hs.uniform_points}; "
            f"BO {hd.bo_counterexamples} / {hs.bo_counterexamples} of {hs.bo_evaluations} | "
            f"{hd.mean_reward:.1f} / {hs.mean_reward:.1f} | {wall:.0f} s | {paper} |"
        )
        times = ", ".join(f"{k} {v:.1f} s" for k, v in result.times.items())
        notes.append(f"- {spec.env_id}: wall time per phase: {times}")
    text = f"""# The paper's table, reproduced

Command: `{command}`

Machine: {header}.

Settings: criterion {args.criterion}, scope {args.scope}, reward cutoff from each spec,
{args.episodes} episodes per reward estimate, per round BO {args.budget} rollouts +
{args.round_uniform} uniform points, at most {args.rounds} rounds, seed {args.seed};
held-out check: BO {args.heldout_budget} rollouts (another seed) + {args.heldout_uniform}
uniform points + {args.episodes} reward episodes, on the dense and the sparse policy.

| env | dense reward | sparsity after step 1 | step-1 reward | counterexamples round 1 | final sparsity | final reward | rounds | held-out violations dense / sparse | held-out reward dense / sparse | wall time | paper's final sparsity |
|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{chr(10).join(notes)}

Per-env JSON reports and sparse ONNX files: `out/paper_table/` (not committed).
"""
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
