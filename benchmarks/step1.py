"""Step 1 over seeds: the whole k scan of `sanp prune`'s step 1, per seed, as a prune run
computes it (the same function, `sanp.method.paper_recipe.PaperRecipe.step1`).

    .venv/bin/python benchmarks/step1.py [--env cartpole] [--seeds 0 1 ... 9] [--episodes 100]

Writes benchmarks/results/step1_<env>.md: per seed the step-1 k and sparsity, whether
the scan saw a dip (a failing k below the chosen one: where a bisection could stop), and
the mean reward at every k evaluated.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import _common as C

from sanp.method import PruneConfig
from sanp.method.paper_recipe import PaperRecipe
from sanp.method.recipes import Step1Job


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="cartpole", choices=[c.name for c in C.ZOO])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--criterion", default="activation", choices=["magnitude", "activation"])
    ap.add_argument("--scope", default="global", choices=["global", "layer"])
    args = ap.parse_args()
    C.one_thread()
    mach = C.machine()
    t_all = time.perf_counter()
    (case,), _ = C.zoo([args.env])
    spec, binding, dense = C.load_case(case)
    threshold = float(spec.reward_threshold)
    rows, scans = [], []
    for seed in args.seeds:
        config = PruneConfig(criterion=args.criterion, scope=args.scope, episodes=args.episodes, seed=seed,
                             recipe="paper")
        t = time.perf_counter()
        run = PaperRecipe().step1(Step1Job(dense, binding, spec, config, threshold, lambda _m: None))
        wall = time.perf_counter() - t
        s1 = run.step1
        dips = [s for s in s1.scan if s.k < s1.k and not s.passes]
        rows.append([seed, f"{s1.k:.3f}", f"{s1.policy.sparsity():.2%}", f"{s1.mean_reward:.2f}", len(s1.scan),
                     (f"{len(dips)} failing k below it ({min(d.k for d in dips):.2f}-{max(d.k for d in dips):.2f})"
                      if dips else "none"), f"{wall:.1f} s"])
        scans.append((seed, s1))
        print(rows[-1], flush=True)
    sparsities = [s1.policy.sparsity() for _, s1 in scans]
    body = [
        (f"Step 1 of `sanp prune` on `{case.policy.relative_to(C.ROOT)}` against `{case.spec.relative_to(C.ROOT)}` "
         f"(cutoff {threshold:g}): criterion {args.criterion}, scope {args.scope}, {args.episodes} episodes per "
         f"mean-reward estimate with reset seeds seed..seed+{args.episodes - 1}, activation states from 20 dense "
         "episodes (reset seeds seed..seed+19). The scan evaluates k = 0.05, 0.10, ..., 0.95, 0.99, 0.999, then "
         "steps of 0.01 and 0.001 above the largest passing k (`sanp.method.step1.search_sparsity`)."),
        "",
        (f"Step-1 sparsity over seeds {args.seeds[0]}..{args.seeds[-1]}: median "
         f"{statistics.median(sparsities):.2%}, range {min(sparsities):.2%} - {max(sparsities):.2%}. Sparsity counts "
         "weights (biases are kept)."),
        "",
        *C.table(["seed", "k", "sparsity", "mean reward", "k evaluated", "dip below the chosen k", "wall time"], rows),
        "",
        "## The scan per seed (k: mean reward; `*` = below the cutoff)",
        "",
    ]
    for seed, s1 in scans:
        cells = ", ".join(f"{s.k:g}: {s.mean_reward:.1f}{'' if s.passes else '*'}" for s in sorted(s1.scan, key=lambda s: s.k))
        body += [f"- seed {seed}: {cells}", ""]
    C.write_results(C.RESULTS / f"step1_{args.env}.md", f"Step 1 over seeds ({spec.env_id})", mach,
                    [], body, wall=time.perf_counter() - t_all)
    return 0


if __name__ == "__main__":
    sys.exit(main())
