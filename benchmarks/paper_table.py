"""The paper's table, over seeds: prune and refine each zoo policy against its spec for
several seeds, then report the median and the range of every column.

    .venv/bin/python benchmarks/paper_table.py run --envs cartpole lunar_lander --seeds 0 1 2 3 4
        [--criterion activation] [--budget 100] [--rounds 5] [--heldout-uniform 1000] ...
    .venv/bin/python benchmarks/paper_table.py table [--out benchmarks/results/paper_table.md]

`run` writes one JSON report (and the sparse ONNX) per env and seed under
out/paper_table/<recipe>/<env>/ (or <recipe>@<label>/ with --label), skipping those already there, and records the command
and the machine beside them. `table` reads every report there and writes the results
file: per env and recipe the median and range over seeds of each column, then one row
per run. The paper's figures are the floor: CartPole 94.6% (37 counterexamples at 95%),
LunarLander 39.48%, BipedalWalker 42.35%.
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import _common as C

ROOT = C.ROOT
WORK = ROOT / "out" / "paper_table"
ENVS = {
    "cartpole": ("", "94.6% (37 counterexamples at 95%)"),
    "lunar_lander": ("", "39.48%"),
    "bipedal_walker": ("", "42.35%"),
    "sb3_ppo_cartpole": ("RL Zoo PPO ", "not in the paper"),
    "sb3_trpo_lander": ("RL Zoo TRPO ", "not in the paper"),
    "sb3_ppo_walker": ("RL Zoo PPO ", "not in the paper"),
}
"""Our zoo policies (with the paper's final sparsity) and the SB3 fixtures of
../shared/fixtures (their row label names the model)."""
RECIPES = ("paper", "deep")
"""`sanp prune --recipe` values; a row's recipe is part of its path."""


def run(args: argparse.Namespace) -> int:
    from sanp.backends import BackendConfig, use
    from sanp.formats.onnx_writer import export_onnx
    from sanp.method import PruneConfig, prune_and_refine
    from sanp.report import prune_metadata, prune_report, write_json

    C.one_thread()
    mach = C.machine()
    cases, missing = C.zoo(args.envs)
    for note in missing:
        print(f"skipped: {note}")
    for case in cases:
        out = WORK / (args.recipe + (f"@{args.label}" if args.label else "")) / case.name
        out.mkdir(parents=True, exist_ok=True)
        with (out / "commands.txt").open("a") as f:  # seeds may be split over several processes
            f.write(f"{C.command()}\n    " + " ".join(mach.describe()) + "\n")
        spec, binding, dense = C.load_case(case)
        for seed in args.seeds:
            report = out / f"seed{seed}.json"
            if report.exists() and not args.force:
                print(f"{report}: exists, skipped (--force reruns it)")
                continue
            config = PruneConfig(criterion=args.criterion, scope=args.scope, episodes=args.episodes,
                                 budget=args.budget, round_uniform=args.round_uniform, rounds=args.rounds,
                                 heldout_budget=args.heldout_budget, heldout_uniform=args.heldout_uniform,
                                 seed=seed, recipe=args.recipe,
                                 deep=_deep(args))
            t0 = time.perf_counter()
            with use(BackendConfig("local", args.workers)):
                result = prune_and_refine(
                    dense, binding, spec, config,
                    log=lambda m, n=case.name, s=seed, t=t0: print(
                        f"[{n} seed {s} {time.perf_counter() - t:7.1f}s] {m}", flush=True))
            onnx = out / f"seed{seed}.onnx"
            export_onnx(result.policy, onnx, metadata=prune_metadata(result, spec))
            doc = prune_report(result, spec, policy_path=str(case.policy), spec_path=str(case.spec),
                               output_path=str(onnx))
            doc["benchmark"] = {"wall_s": time.perf_counter() - t0, "recipe": args.recipe,
                                "command": C.command(), "load_start": list(mach.load_start)}
            write_json(doc, report)
    return 0


def _deep(args: argparse.Namespace):
    """The deep recipe's settings: its defaults but for the options given."""
    from sanp.method.deep import DeepConfig

    return DeepConfig.from_options(time_limit=args.deep_time_limit, collect_points=args.deep_collect_points,
                                   finetune_steps=args.deep_finetune_steps)


# ------------------------------------------------------------------------------ table


def _row(doc: dict) -> dict:
    """The columns of one run, from its JSON report."""
    from sanp.stats import compare_rates, upper_bound

    hd, hs = doc["heldout"]["dense"], doc["heldout"]["sparse"]
    rounds = doc["rounds"]
    last = rounds[-1] if rounds else None
    cmp = compare_rates((hd["uniform_violations"], hd["uniform_points"]),
                        (hs["uniform_violations"], hs["uniform_points"]), 0.95)
    return {
        "seed": doc["inputs"]["seed"],
        "step1": doc["step1"]["sparsity"],
        "cex1": len(rounds[0]["counterexamples"]) if rounds else 0,
        "final": doc["final"]["sparsity"],
        "reward": doc["final"]["mean_reward"],
        "rounds": len(rounds),
        "converged": doc["final"]["converged"],
        "last": (len(last["counterexamples"]), last["dense_also_violates"]) if last else (0, 0),
        "hd": hd["uniform_violations"], "hs": hs["uniform_violations"], "points": hs["uniform_points"],
        "bo": (hd["bo_counterexamples"], hs["bo_counterexamples"], hs["bo_evaluations"]),
        "reward_heldout": (hd["mean_reward"], hs["mean_reward"]),
        "comparison": cmp.verdict,
        "bound": upper_bound(hs["uniform_violations"], hs["uniform_points"], 0.95),
        "load": doc.get("benchmark", {}).get("load_start"),
        "step1_dip": any(not h["passes"] for h in doc["step1"]["scan"] if h["k"] < doc["step1"]["k"]),
        "levels": _levels(doc["step1"]["scan"]),
        "p_nonmonotone": sum(_nonmonotone(r["p_trials"]) for r in rounds),
        "p_rounds": sum(bool(r["p_trials"]) for r in rounds),
        "wall": doc.get("benchmark", {}).get("wall_s", sum(v for k, v in doc["timing"].items()
                                                            if not k.startswith("step1_deep_"))),
    }


def _levels(scan: list[dict]) -> tuple[int, int, int] | None:
    """Step 1's tries past the dense policy: all, those whose reward missed the cutoff, and
    those whose reward met it but which the safety screen rejected (None: no screen)."""
    tries = scan[1:]
    if not any("screen_p" in h for h in scan):
        return None
    failed = [h for h in tries if not h["passes"]]
    return len(tries), sum("screen_p" not in h for h in failed), sum("screen_p" in h for h in failed)


def _nonmonotone(trials: list) -> bool:
    """Some larger p left more counterexamples unsafe than a smaller p did."""
    unsafe = [u for _, u in sorted(trials)]
    return any(b > a for a, b in itertools.pairwise(unsafe))


def _commands(docs: list[dict]) -> list[str]:
    """The commands that made these reports (each report records its own), in order."""
    return list(dict.fromkeys(d["benchmark"]["command"] for d in docs))


def _spread(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    return f"{fmt.format(med)} ({fmt.format(min(values))} - {fmt.format(max(values))})"


def table(args: argparse.Namespace) -> int:
    summary, runs, notes = [], [], []
    recipe_dirs = sorted((p for p in WORK.iterdir() if p.is_dir()), key=lambda p: p.name != "paper") \
        if WORK.exists() else []
    for env, (source, paper) in ENVS.items():  # per env, the recipes side by side (the paper's first)
        for recipe_dir in recipe_dirs:
            docs = [json.loads(p.read_text()) for p in sorted((recipe_dir / env).glob("seed*.json"))]
            if not docs:
                continue
            rows = sorted((_row(d) for d in docs), key=lambda r: r["seed"])
            env_id = source + docs[0]["inputs"]["env_id"]
            opts = docs[0]["inputs"]["options"]
            summary.append([
                env_id, recipe_dir.name, len(rows),
                _spread([r["step1"] * 100 for r in rows], "{:.2f}%"),
                _spread([r["cex1"] for r in rows], "{:g}"),
                _spread([r["final"] * 100 for r in rows], "{:.2f}%"),
                _spread([r["reward"] for r in rows], "{:.1f}"),
                _spread([r["hs"] for r in rows], "{:g}") + f" of {rows[0]['points']}",
                _spread([r["hd"] for r in rows], "{:g}"),
                f"{sum(r['converged'] for r in rows)} of {len(rows)}",
                _spread([r["wall"] for r in rows], "{:.0f} s"),
                paper,
            ])
            notes.append(f"- {env_id} ({recipe_dir.name}): step-1 scans with a failing k below the chosen one "
                         f"(where a bisection could have stopped): {sum(r['step1_dip'] for r in rows)} of {len(rows)}; "
                         f"repair rounds whose p trials were not monotone (a larger p left more counterexamples "
                         f"unsafe): {sum(r['p_nonmonotone'] for r in rows)} of {sum(r['p_rounds'] for r in rows)}")
            if all(r["levels"] for r in rows):
                tried, reward, screen = (sum(r["levels"][i] for r in rows) for i in range(3))
                notes.append(f"- {env_id} ({recipe_dir.name}): what stopped step 1: of {tried} tries of a level "
                             f"over the seeds (a retry is a try), {reward} missed the reward cutoff and {screen} met it "
                             f"but failed the safety screen")
            notes.append(f"- {env_id} ({recipe_dir.name}): seeds {', '.join(str(r['seed']) for r in rows)}; "
                         f"options {json.dumps(opts)}; commands: "
                         + "; ".join(f"`{c}`" for c in _commands(docs)))
            for r in rows:
                runs.append([
                    env_id, recipe_dir.name, r["seed"], f"{r['step1']:.2%}", r["cex1"], f"{r['final']:.2%}",
                    f"{r['reward']:.1f}", f"{r['rounds']}{'' if r['converged'] else ' (not converged)'}",
                    f"{r['last'][0]} ({r['last'][1]} also dense)",
                    f"{r['hd']} / {r['hs']} of {r['points']} (sparse rate < {r['bound']:.2%} at 95%); "
                    f"BO {r['bo'][0]} / {r['bo'][1]} of {r['bo'][2]}",
                    r["comparison"],
                    f"{r['reward_heldout'][0]:.1f} / {r['reward_heldout'][1]:.1f}", f"{r['wall']:.0f} s",
                    " / ".join(f"{x:.1f}" for x in r["load"]) if r["load"] else "not recorded",
                ])
    body = [
        ("Every figure is the median over seeds with its range (min - max) in brackets. Sparsity counts "
         "weights (biases are kept, never pruned). Held-out violations are uniform points (never seen by the "
         "loop) violating the spec; the comparison is a one-sided Fisher exact test of 'sparse worse than "
         "dense' at 95% (`sanp.stats.compare_rates`); each run's row gives the exact (Clopper-Pearson) 95% upper "
         "bound on the sparse policy's held-out violation rate. Wall time is the whole `prune_and_refine` run "
         "on a shared machine; rows come from different runs at different loads (each row's load at start is "
         "given), so wall times are not a side-by-side comparison of the recipes."),
        "",
        *C.table(["env", "recipe", "seeds", "sparsity after step 1", "counterexamples round 1", "final sparsity",
                  "final reward", "held-out violations sparse", "held-out violations dense", "converged",
                  "wall time", "paper's final sparsity"], summary),
        "",
        "## Runs and their commands",
        "",
        *notes,
        "",
        *C.table(["env", "recipe", "seed", "step 1", "cex round 1", "final sparsity", "final reward", "rounds",
                  "last round found", "held-out violations dense / sparse", "held-out comparison",
                  "held-out reward dense / sparse", "wall time", "load at start (1/5/15 min)"], runs),
        "",
        "Per-run JSON reports and sparse ONNX files: `out/paper_table/<recipe>[@<label>]/<env>/` (not committed).",
    ]
    C.write_results(Path(args.out), "The paper's table, over seeds", C.machine(), [], body)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run")
    r.add_argument("--envs", nargs="+", default=list(ENVS)[:3], choices=list(ENVS))
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    r.add_argument("--recipe", default="paper", choices=RECIPES)
    r.add_argument("--criterion", default="activation", choices=["magnitude", "activation", "sensitivity"])
    r.add_argument("--scope", default="global", choices=["global", "layer"])
    r.add_argument("--budget", type=int, default=100)
    r.add_argument("--round-uniform", type=int, default=1000)
    r.add_argument("--rounds", type=int, default=5)
    r.add_argument("--heldout-budget", type=int, default=200)
    r.add_argument("--heldout-uniform", type=int, default=1000)
    r.add_argument("--episodes", type=int, default=100)
    r.add_argument("--deep-time-limit", type=float, help="seconds for the deep recipe's schedule")
    r.add_argument("--deep-collect-points", type=int, help="uniform-point episodes per DAgger round")
    r.add_argument("--deep-finetune-steps", type=int, help="gradient steps per fine-tune of the schedule")
    r.add_argument("--workers", type=int, default=1, help="processes for Box2D rollout batches")
    r.add_argument("--force", action="store_true", help="rerun seeds whose report exists")
    r.add_argument("--label", help="a run set of its own beside the recipe's (e.g. other budgets): its "
                                   "reports go to out/paper_table/<recipe>@<label>/ and its rows are labelled so")
    t = sub.add_parser("table")
    t.add_argument("--out", default=str(C.RESULTS / "paper_table.md"))
    args = ap.parse_args()
    return run(args) if args.what == "run" else table(args)


if __name__ == "__main__":
    sys.exit(main())
