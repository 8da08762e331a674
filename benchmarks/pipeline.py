"""Where `sanp prune` spends its time, and the two changes that made its slowest phases
on Box2D faster: recovery states by batched bisection instead of walking back state by
state, and p by doubling-then-bisection instead of bisection from the middle.

    .venv/bin/python benchmarks/pipeline.py [--walk 6]

Both the old and the new algorithm run here on the same counterexamples (LunarLander zoo
policy pruned one-shot to k=0.63, global, activation criterion; round-1 falsification: BO
100 rollouts + 400 uniform points, seed 1). Writes benchmarks/results/pipeline.md.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

import stl
from sanp import formats as policies
from sanp.envs import bind
from sanp.falsify import FalsifyConfig, falsify, merge
from sanp.method.recover import _bisect, _walk_back, is_safe
from sanp.method.repair import gradient_scores, repair, restore
from sanp.method.step1 import importance, prune
from sanp.runtime import deployed
from sanp.rollout import run_batch

sys.path.insert(0, str(Path(__file__).parent))
from paper_table import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def old_repair(sparse, dense, binding, spec, states, resolution=0.001):
    """The first version: bisection on p over [0, 1] from the middle."""
    usable = [s for s in states if s.step is not None]
    grads = gradient_scores(sparse, dense, np.stack([s.obs for s in usable]))
    cexs = [s.counterexample for s in usable]

    def ok(p):
        pol, counts = restore(sparse, dense, grads, p)
        trajs = run_batch(deployed(pol), binding, [c.point for c in cexs])
        return all(is_safe(spec, t) for t in trajs), pol, counts

    lo, hi, trials = 0.0, 1.0, 1
    best = ok(1.0)
    while hi - lo > resolution:
        mid = round((lo + hi) / 2 / resolution) * resolution
        if mid <= lo or mid >= hi:
            break
        trials += 1
        good, pol, counts = ok(mid)
        if good:
            hi, best = mid, (good, pol, counts)
        else:
            lo = mid
    return hi, sum(best[2]), best[1].sparsity(), trials


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--walk", type=int, default=6, help="counterexamples the slow walk-back is timed on")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipeline.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    command = "python benchmarks/pipeline.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    header = machine()
    spec = stl.load(ROOT / "specs" / "lunar_lander.stl")
    b = bind(spec)
    dense = policies.load(ROOT / "zoo" / "lunar_lander" / "dense.onnx")
    d_actor = deployed(dense)
    visits = run_batch(d_actor, b, [None] * 20, list(range(20)), record_states=False)
    sparse = prune(dense, 0.63, importance(dense, "activation", np.concatenate([t.observations for t in visits])),
                   "global")
    actor = deployed(sparse)
    f1 = falsify(actor, b, spec, FalsifyConfig(budget=100, seed=1, collect_all=True))
    f2 = falsify(actor, b, spec, FalsifyConfig(budget=400, optimizer="random", seed=1, collect_all=True))
    cexs = merge(list(f1.counterexamples) + list(f2.counterexamples), b)
    thr = spec.reward_threshold

    sub = cexs[: args.walk]
    t = time.perf_counter()
    walked = [_walk_back(d_actor, b, spec, c, thr, 32) for c in sub]
    t_walk = (time.perf_counter() - t) / len(sub)
    t = time.perf_counter()
    bis_sub = _bisect(d_actor, b, spec, sub, thr)
    t_bis_sub = (time.perf_counter() - t) / len(sub)
    t = time.perf_counter()
    bis_all = _bisect(d_actor, b, spec, cexs, thr)
    t_bis_all = time.perf_counter() - t
    agree = sum(w.step == s.step for w, s in zip(walked, bis_sub))
    gaps = [w.step - s.step for w, s in zip(walked, bis_sub) if w.step is not None and s.step is not None]

    t = time.perf_counter()
    p_old, n_old, sp_old, tr_old = old_repair(sparse, dense, b, spec, bis_all)
    t_old = time.perf_counter() - t
    t = time.perf_counter()
    new = repair(sparse, dense, b, spec, bis_all)
    t_new = time.perf_counter() - t

    text = f"""# Pipeline: where `sanp prune` spends its time, before and after

Command: `{command}`

Machine: {header}.

## Wall time per phase (from `benchmarks/paper_table.py`, default settings)

See `benchmarks/results/paper_table.md` for the full rows. On CartPole the held-out check
(two BO runs of 200 rollouts, where the GP's overhead dominates) is the slowest phase;
on LunarLander, recovery states and repair were, and are what this file measures.

## Recovery states (LunarLander, {len(cexs)} counterexamples of the one-shot pruned policy)

Restoring a Box2D state means replaying its prefix, so every candidate state costs a
replay plus a dense continuation of up to 1000 steps.

| algorithm | time per counterexample | for all {len(cexs)} |
|---|---|---|
| walk back from the last state, 32 states per batch (the paper's definition, first version) | {t_walk:.2f} s (measured on {len(sub)}) | {t_walk * len(cexs):.0f} s (extrapolated) |
| batched bisection over the step, all counterexamples together (now) | {t_bis_sub:.2f} s (same {len(sub)}) | {t_bis_all:.1f} s (measured) |

Speed-up on all counterexamples: {t_walk * len(cexs) / t_bis_all:.0f}x. The two find the same
recovery step for {agree} of {len(sub)} (walk minus bisection, in steps: {gaps}). Bisection
assumes recoverability holds up to some step and not after; in a chaotic env a later,
isolated recoverable state can exist, which only the walk would find.

## Repair: choosing p (same counterexamples and recovery states)

| algorithm | p | weights restored | sparsity after | rollout batches | time |
|---|---|---|---|---|---|
| bisection on [0, 1] from the middle (first version) | {p_old:.3f} | {n_old} | {sp_old:.2%} | {tr_old} | {t_old:.1f} s |
| doubling from 0.001, then bisection (now) | {new.p:.3f} | {sum(new.restored)} | {new.policy.sparsity():.2%} | {len(new.trials)} | {t_new:.1f} s |

Safety is not monotone in p here (restoring more weights can break what fewer fixed), so
bisection from the middle can settle on a p far above the smallest one that works; growing
p from below finds the first that passes.

In the paper-table run, the change of the repair step also changed round 2 of LunarLander
from p = 0.813 (6985 weights restored, 48.3 s, final sparsity 9.08%) to p = 0.001 (11
weights, 7.8 s, final sparsity 48.25%): that run also moved from a gradient over every
recovery state seen so far to this round's recovery states (earlier counterexamples are
still checked).

Tried and rejected: restoring iteratively (1% of the pruned weights per step, gradient
recomputed on the still-failing counterexamples): on 119 counterexamples it needed 40
steps and ended at 41.8% sparsity against 47.9% for the one-shot p, because the set of
failing counterexamples jumps around as weights come back.
"""
    from deep_pipeline import BEGIN, END

    old = Path(args.out).read_text() if Path(args.out).exists() else ""
    if BEGIN in old:  # benchmarks/deep_pipeline.py's section stays
        text += "\n" + old[old.index(BEGIN): old.index(END) + len(END)] + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
