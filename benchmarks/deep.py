"""The deep recipe (gradual pruning + sparse distillation) against the paper's one-shot
step 1, per zoo policy and seed: the sparsity each reaches with the mean reward at the
spec's cutoff, and the reward on held-out episode seeds the loop never used.

One (case, seed) per process, so runs can go side by side on a shared machine:

    python benchmarks/deep.py run --case lunar_lander --seed 0 --out out/deep/lunar_lander_0.json
    python benchmarks/deep.py report out/deep/*.json --out benchmarks/results/deep.md

Seeds: the loop draws from the run's seed tree (sanp.seeds: reward episodes, the deep
recipe's collect rounds, ...); this script's own held-out reward uses reset seeds
HELDOUT + 1000*seed .. +99, which the tree's 52-bit bases practically never reach.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from _common import SB3, ZOO, load_case, machine, one_thread

HELDOUT = 50_000_000
TARGETS = {"cartpole": 0.99, "lunar_lander": 0.90, "bipedal_walker": 0.85}


def _cpu() -> float:
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def _load(case: str):
    return load_case(next(c for c in ZOO + SB3 if c.name == case))


def run(args: argparse.Namespace) -> int:
    from sanp.method.deep import DeepConfig, deep_compress, mean_reward
    from sanp.method.finetune import FinetuneConfig

    one_thread()
    spec, binding, dense = _load(args.case)
    mach = machine()
    threshold = float(spec.reward_threshold)
    held = HELDOUT + 1000 * args.seed
    out = {"case": args.case, "seed": args.seed, "command": " ".join(["python"] + sys.argv),
           "machine": mach.describe(), "cutoff": threshold}

    if args.only == "paper":
        return _paper(args, out, dense, binding, threshold, held)
    cfg = DeepConfig(seed=args.seed, episodes=args.episodes, step=args.step, min_step=args.min_step, retries=1,
                     finetune=FinetuneConfig(steps=args.finetune_steps, lr=3e-3), time_limit=args.time_limit)
    t, c = time.perf_counter(), _cpu()
    res = deep_compress(dense, binding, spec, cfg, log=lambda m: print(f"[{time.perf_counter() - t:7.1f}] {m}", flush=True))
    wall, cpu = time.perf_counter() - t, _cpu() - c
    out["deep"] = {
        "sparsity": res.sparsity, "reward": res.mean_reward, "dense_reward": res.dense_reward,
        "heldout_reward": mean_reward(res.policy, binding, 100, held),
        "kept_per_layer": [int(m.sum()) for m in res.policy.masks],
        "wall": wall, "cpu": cpu, "times": res.times,
        "time_limit_hit": res.stop == "time_limit", "stop": res.stop,
        "levels": len(res.history),
        "history": [s.__dict__ for s in res.history],
        "config": {"step": cfg.step, "min_step": cfg.min_step, "retries": cfg.retries,
                   "finetune_steps": cfg.finetune.steps, "episodes": cfg.episodes, "lr": cfg.finetune.lr, "time_limit": cfg.time_limit},
    }
    out["load_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print("deep:", {k: v for k, v in out["deep"].items() if k != "history"}, flush=True)
    return 0 if args.only == "deep" else _paper(args, out, dense, binding, threshold, held)


def _paper(args, out, dense, binding, threshold, held) -> int:
    """The paper's step 1 (sanp.prune.search_sparsity, activation criterion over 20 dense
    episodes, global scope, as sanp.pipeline runs it, bisection to 1%), and the dense
    policy's held-out reward."""
    import numpy as np

    from sanp.method.deep import mean_reward
    from sanp.method.step1 import importance, search_sparsity
    from sanp.rollout import run_batch

    t, c = time.perf_counter(), _cpu()
    visits = run_batch(dense.to_ort(), binding, [None] * 20, list(range(args.seed, args.seed + 20)), record_states=False)
    scores = importance(dense, "activation", np.concatenate([v.observations for v in visits]))
    paper = search_sparsity(dense, scores, lambda p: mean_reward(p, binding, 100, args.seed), threshold, scope="global",
                            resolution=0.01)
    out["paper"] = {"sparsity": paper.policy.sparsity(), "reward": paper.mean_reward,
                    "heldout_reward": mean_reward(paper.policy, binding, 100, held),
                    "wall": time.perf_counter() - t, "cpu": _cpu() - c,
                    "heldout_dense_reward": mean_reward(dense, binding, 100, held)}
    print("paper step 1:", out["paper"], flush=True)
    out["load_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    return 0


def _med(xs: list[float], fmt: str) -> str:
    if any(math.isnan(x) for x in xs):
        return "not run"
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"


def _met(sparsity: float, target: float | None, cut_short: bool) -> str:
    if target is None:
        return "-"
    if sparsity >= target:
        return "yes"
    return "not reached: stopped by the time limit" if cut_short else "no"


def report(args: argparse.Namespace) -> int:
    merged: dict[tuple[str, int], dict] = {}
    for p in args.files:  # a deep run and a paper run of one case and seed may be separate files
        r = json.loads(Path(p).read_text())
        prev = merged.get((r["case"], r["seed"]), {})
        merged[(r["case"], r["seed"])] = {**r, **prev, **{k: r[k] for k in ("deep", "paper") if k in r},
                                          "commands": prev.get("commands", []) + [r["command"]]}
    by: dict[str, list[dict]] = {}
    for r in merged.values():
        if "deep" in r:
            by.setdefault(r["case"], []).append(r)
    lines = ["# The deep recipe against the paper's step 1", "",
             "Median (min-max) over seeds. Sparsity counts Linear weights (biases kept). Rewards: mean over 100",
             "episodes; 'loop' = the reset seeds the schedule's acceptance test used (seed .. seed+99),",
             f"'held-out' = reset seeds {HELDOUT} + 1000*seed .. +99, used by nothing else. CPU = user+system",
             "seconds of the process; wall = elapsed, on a machine shared with ~9 other agents (see load).", "",
             ("| policy | seeds | paper step 1 sparsity | its held-out reward | deep sparsity | deep loop reward "
              "| deep held-out reward | dense held-out reward | cutoff | target | met | deep wall s | deep CPU s |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for case, rs in by.items():
        rs.sort(key=lambda r: r["seed"])
        d = [r["deep"] for r in rs]
        nan = float("nan")
        p = [r["paper"] for r in rs if "paper" in r] or [{"sparsity": nan, "heldout_reward": nan, "heldout_dense_reward": nan}]
        tgt = TARGETS.get(case)
        med = statistics.median(x["sparsity"] for x in d)
        lines.append(
            f"| {case} | {', '.join(str(r['seed']) for r in rs)} | {_med([x['sparsity'] * 100 for x in p], '{:.2f}%')} "
            f"| {_med([x['heldout_reward'] for x in p], '{:.1f}')} | {_med([x['sparsity'] * 100 for x in d], '{:.2f}%')} "
            f"| {_med([x['reward'] for x in d], '{:.1f}')} | {_med([x['heldout_reward'] for x in d], '{:.1f}')} "
            f"| {_med([x['heldout_dense_reward'] for x in p], '{:.1f}')} | {rs[0]['cutoff']:g} "
            f"| {'-' if tgt is None else f'{tgt:.0%}'} | {_met(med, tgt, any(x['time_limit_hit'] for x in d))} "
            f"| {_med([x['wall'] for x in d], '{:.0f}')} | {_med([x['cpu'] for x in d], '{:.0f}')} |")
    lines += ["", "## Per run", ""]
    for case, rs in by.items():
        for r in rs:
            d = r["deep"]
            lines.append(f"- {case} seed {r['seed']}: deep {d['sparsity']:.2%} (kept per layer {d['kept_per_layer']}), "
                         f"loop reward {d['reward']:.1f} over {d['config']['episodes']} episodes, held-out "
                         f"{d['heldout_reward']:.1f}; {d['levels']} levels evaluated; "
                         f"time {d['wall']:.0f} s wall / {d['cpu']:.0f} s CPU (collect {d['times']['collect']:.0f}, "
                         f"fine-tune {d['times']['finetune']:.0f}, evaluate {d['times']['evaluate']:.0f} s wall)"
                         + ("; **stopped by the time limit**" if d["time_limit_hit"] else "")
                         + (f"; paper step 1 {r['paper']['sparsity']:.2%}" if "paper" in r else "; paper step 1 not run")
                         + ". Commands: " + "; ".join(f"`{c}`" for c in sorted(r["commands"])))
            lines.append(f"  - {r['machine'][1]}")
    Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--case", required=True, choices=[c.name for c in ZOO + SB3])
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", required=True)
    r.add_argument("--only", choices=["deep", "paper", "both"], default="both")
    r.add_argument("--episodes", type=int, default=100, help="episodes per reward estimate of the schedule")
    r.add_argument("--step", type=float, default=0.5)
    r.add_argument("--min-step", type=float, default=0.1)
    r.add_argument("--finetune-steps", type=int, default=500)
    r.add_argument("--time-limit", type=float, default=None, help="wall seconds for the schedule")
    rep = sub.add_parser("report")
    rep.add_argument("files", nargs="+")
    rep.add_argument("--out", required=True)
    a = ap.parse_args()
    return run(a) if a.cmd == "run" else report(a)


if __name__ == "__main__":
    sys.exit(main())
