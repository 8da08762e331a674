"""The paper's table, over seeds: prune and refine each zoo policy against its spec for
several seeds, then report the median and the range of every column.

    .venv/bin/python benchmarks/paper_table.py run --envs cartpole lunar_lander --seeds 0 1 2 3 4
        [--criterion activation] [--budget 100] [--rounds 5] [--heldout-uniform 1000] ...
    .venv/bin/python benchmarks/paper_table.py table [--out benchmarks/results/paper_table.md]

`run` writes one JSON report (and the sparse ONNX) per env and seed under
out/paper_table/<recipe>/<env>/ (or <recipe>@<label>/ with --label), skipping those already there, and records the command
and the machine beside them. `table` takes each run's columns from those reports into the
committed benchmarks/results/paper_table_runs.jsonl (out/ is not committed, and a lost
machine loses it), then writes the results file from that store: per env and recipe the
median and range over seeds of each column, then one row per run. The paper's figures are the floor: CartPole 94.6% (37 counterexamples at 95%),
LunarLander 39.48%, BipedalWalker 42.35%.
"""
from __future__ import annotations

import argparse
import itertools
import json
import re
import statistics
import sys
import time
from pathlib import Path

import _common as C

ROOT = C.ROOT
WORK = ROOT / "out" / "paper_table"
STORE = C.RESULTS / "paper_table_runs.jsonl"
ENVS = {
    "cartpole": ("", "94.6% (37 counterexamples at 95%)"),
    "cartpole_full": ("", "not in the paper (500 steps)"),
    "lunar_lander": ("", "39.48%"),
    "bipedal_walker": ("", "42.35%"),
    "sb3_ppo_cartpole": ("RL Zoo PPO ", "not in the paper"),
    "sb3_qrdqn_cartpole": ("RL Zoo QR-DQN ", "not in the paper"),
    "sb3_trpo_lander": ("RL Zoo TRPO ", "not in the paper"),
    "sb3_ppo_walker": ("RL Zoo PPO ", "not in the paper"),
}
"""Our zoo policies (with the paper's final sparsity) and the SB3 fixtures of
../shared/fixtures (their row label names the model)."""
CURRENT_INTRO = (
    "Each run is `sanp prune POLICY SPEC -o seedS.onnx --seed S --report seedS.json` at the CLI's defaults "
    "(recipe deep, criterion activation, margin 0.005, confidence 0.95) plus only the options its run set "
    "names (`benchmarks/paper_rerun.py prune`; commands below). 'Verdict ok' is the run's own verdict: "
    "non-inferior to the dense policy on its held-out points (Farrington-Manning at the run's share of "
    "alpha), exit 0. Fresh points: 2000 (BipedalWalker: 300) uniform points of the spec's search space, each with its own reset "
    "seed, from `sanp verify --optimizer random --all --seed 7` (`benchmarks/paper_rerun.py fresh`), a run "
    "seed and reset-seed namespace no prune phase draws from; the dense policy ran on the same points. "
    "'Worse' is the one-sided Fisher exact test of 'sparse violates more often' at 95% "
    "(`sanp.stats.compare_rates`); 'no worse' means the sparse rate is not above the dense one, "
    "'inconclusive' higher but not significantly. The full-episode column checks the same fresh points "
    "against specs/cartpole_full.stl (500 steps) whatever spec the run pruned against. Every figure is the "
    "median over seeds with its range (min - max).")
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
                                   finetune_steps=args.deep_finetune_steps, screen_looks=args.deep_screen_looks)


# ------------------------------------------------------------------------------ table


def _fresh(report: Path) -> dict:
    """Violations (violations, points) on the fresh points `benchmarks/paper_rerun.py fresh`
    ran beside this report, per spec checked: the prune's own ("spec") and any other
    (its file stem, e.g. the full-episode spec), for the sparse and the dense policy."""
    out: dict = {}
    for path in sorted((report.parent / "fresh").glob(f"{report.stem}*.json")):
        tag = path.stem.partition("@")[2] or "spec"
        dense = path.with_name("dense" + ("@" + tag if tag != "spec" else "") + ".json")
        if not dense.exists():
            continue
        counts = [(s["violations"], s["points"]) for s in (json.loads(f.read_text())["statistics"][0]
                                                          for f in (dense, path))]
        out[tag] = {"dense": list(counts[0]), "sparse": list(counts[1])}
    return out


def _record(doc: dict, env: str, recipe: str, report: Path | None = None) -> dict:
    """The stored columns of one run, from its JSON report (the comparison and the bound are
    derived from these when the table is written)."""
    hd, hs = doc["heldout"]["dense"], doc["heldout"]["sparse"]
    rounds = doc["rounds"]
    last = rounds[-1] if rounds else None
    return {
        "env": env, "recipe": recipe, "env_id": doc["inputs"]["env_id"], "options": doc["inputs"]["options"],
        "commands": [doc["benchmark"]["command"]] if "benchmark" in doc else [],
        "source": f"out/paper_table/{recipe}/{env}/seed{doc['inputs']['seed']}.json",
        "seed": doc["inputs"]["seed"],
        "step1": doc["step1"]["sparsity"],
        "cex1": len(rounds[0]["counterexamples"]) if rounds else 0,
        "final": doc["final"]["sparsity"],
        "reward": doc["final"]["mean_reward"],
        "rounds": len(rounds),
        "converged": doc["final"]["converged"],
        "last": [len(last["counterexamples"]), last["dense_also_violates"]] if last else [0, 0],
        "hd": hd["uniform_violations"], "hs": hs["uniform_violations"], "points": hs["uniform_points"],
        "bo": [hd["bo_counterexamples"], hs["bo_counterexamples"], hs["bo_evaluations"]],
        "reward_heldout": [hd["mean_reward"], hs["mean_reward"]],
        "load": doc.get("benchmark", {}).get("load_start"),
        "step1_dip": any(not h["passes"] for h in doc["step1"]["scan"] if h["k"] < doc["step1"]["k"]),
        "levels": _levels(doc["step1"]["scan"]),
        "p_nonmonotone": sum(_nonmonotone(r["p_trials"]) for r in rounds),
        "p_rounds": sum(bool(r["p_trials"]) for r in rounds),
        "wall": doc.get("benchmark", {}).get("wall_s", sum(v for k, v in doc["timing"].items()
                                                            if not k.startswith("step1_deep_"))),
        **_verdict(doc, report),
    }


def _verdict(doc: dict, report: Path | None) -> dict:
    """The run's verdict, its non-inferiority test and the fresh-point checks (reports
    written before the verdict existed have none of these)."""
    if not isinstance(doc.get("verdict"), dict):
        return {}
    ni = doc["verdict"].get("noninferiority") or {}
    return {"ok": doc["verdict"]["ok"], "headline": doc["verdict"]["headline"],
            "exit": doc.get("benchmark", {}).get("exit"),
            "horizon": doc["inputs"].get("horizon"), "ni": [ni.get("verdict"), ni.get("p_value"), ni.get("margin")],
            "fresh": _fresh(report) if report else {}}


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


def _spread(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    return f"{fmt.format(med)} ({fmt.format(min(values))} - {fmt.format(max(values))})"


def _load_store() -> tuple[list[dict], list[dict]]:
    """The committed runs and the per-row-set counts kept for runs whose reports are gone."""
    if not STORE.exists():
        return [], []
    lines = [json.loads(line) for line in STORE.read_text().splitlines() if line.strip()]
    return [x["run"] for x in lines if "run" in x], [x["aggregate"] for x in lines if "aggregate" in x]


def _merge(runs: list[dict], aggregates: list[dict]) -> tuple[list[dict], list[dict]]:
    """The stored runs with every report under out/paper_table/ in place of the stored run
    of its env, recipe and seed. A stored count that covered a replaced run is dropped: it
    cannot be split by seed."""
    fresh = {}
    for recipe_dir in (p for p in WORK.iterdir() if p.is_dir()) if WORK.exists() else []:
        for env in ENVS:
            for path in sorted((recipe_dir / env).glob("seed*.json")):
                r = _record(json.loads(path.read_text()), env, recipe_dir.name, path)
                fresh[r["env"], r["recipe"], r["seed"]] = r
    kept = [r for r in runs if (r["env"], r["recipe"], r["seed"]) not in fresh]
    aggregates = [a for a in aggregates if all((a["env"], a["recipe"], s) not in fresh for s in a["seeds"])]
    return kept + list(fresh.values()), aggregates


def _save_store(runs: list[dict], aggregates: list[dict]) -> None:
    runs = sorted(runs, key=lambda r: (list(ENVS).index(r["env"]), r["recipe"] != "paper", r["recipe"], r["seed"]))
    lines = [json.dumps({"run": r}) for r in runs] + [json.dumps({"aggregate": a}) for a in aggregates]
    tmp = STORE.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(STORE)


def _counts(rows: list[dict], aggregates: list[dict]) -> dict | None:
    """Step 1's dips, its tries and the repair's non-monotone rounds summed over a row set;
    runs whose reports are gone count through their stored aggregate (None: some run has neither)."""
    known = [r for r in rows if r["step1_dip"] is not None]
    lost = sorted(r["seed"] for r in rows if r["step1_dip"] is None)
    agg = [a for a in aggregates if (a["env"], a["recipe"]) == (rows[0]["env"], rows[0]["recipe"])]
    if lost and not (agg and agg[0]["seeds"] == lost):
        return None
    parts = known + agg[:1] if lost else known
    levels = [x["levels"] for x in parts]
    return {
        "dip": sum(int(x["step1_dip"]) for x in parts),
        "nonmonotone": sum(x["p_nonmonotone"] for x in parts),
        "p_rounds": sum(x["p_rounds"] for x in parts),
        "levels": [sum(x[i] for x in levels) for i in range(3)] if all(levels) else None,
    }


def _notes(rows: list[dict], aggregates: list[dict], label: str) -> list[str]:
    counts = _counts(rows, aggregates)
    notes = []
    if counts is None:
        notes.append(f"- {label}: step-1 dips and repair monotonicity not recorded (some reports were lost)")
    else:
        notes.append(f"- {label}: step-1 scans with a failing k below the chosen one (where a bisection could "
                     f"have stopped): {counts['dip']} of {len(rows)}; repair rounds whose p trials were not "
                     f"monotone (a larger p left more counterexamples unsafe): {counts['nonmonotone']} of "
                     f"{counts['p_rounds']}")
        if counts["levels"]:
            tried, reward, screen = counts["levels"]
            notes.append(f"- {label}: what stopped step 1: of {tried} tries of a level over the seeds (a retry "
                         f"is a try), {reward} missed the reward cutoff and {screen} met it but failed the safety "
                         f"screen")
    commands = list(dict.fromkeys(c for r in rows for c in r["commands"]))
    notes.append(f"- {label}: seeds {', '.join(str(r['seed']) for r in rows)}; options "
                 f"{json.dumps(rows[0]['options'])}; commands: " + "; ".join(f"`{c}`" for c in commands))
    return notes


def _run_row(r: dict, env_id: str) -> list:
    from sanp.stats import compare_rates, upper_bound

    verdict = compare_rates((r["hd"], r["points"]), (r["hs"], r["points"]), 0.95).verdict
    bound = upper_bound(r["hs"], r["points"], 0.95)
    return [
        env_id, r["recipe"], r["seed"], f"{r['step1']:.2%}", r["cex1"], f"{r['final']:.2%}",
        f"{r['reward']:.1f}", f"{r['rounds']}{'' if r['converged'] else ' (not converged)'}",
        f"{r['last'][0]} ({r['last'][1]} also dense)",
        (f"{r['hd']} / {r['hs']} of {r['points']} (sparse rate < {bound:.2%} at 95%); "
         f"BO {r['bo'][0]} / {r['bo'][1]} of {r['bo'][2]}"),
        verdict, f"{r['reward_heldout'][0]:.1f} / {r['reward_heldout'][1]:.1f}", f"{r['wall']:.0f} s",
        " / ".join(f"{x:.1f}" for x in r["load"]) if r["load"] else "not recorded",
    ]


def _fresh_comparison(r: dict, tag: str):
    """The one-sided Fisher comparison of a run's fresh points against the dense policy's
    (None: not run)."""
    from sanp.stats import compare_rates

    f = r["fresh"].get(tag)
    return compare_rates(tuple(f["dense"]), tuple(f["sparse"]), 0.95) if f else None


def _fresh_cell(r: dict, tag: str) -> str:
    c = _fresh_comparison(r, tag)
    if c is None:
        return "not run"
    f = r["fresh"][tag]
    return f"{f['sparse'][0]} vs {f['dense'][0]} of {f['sparse'][1]} ({c.verdict}, p = {c.p_value:.2g})"


def _worse(rows: list[dict], tag: str) -> str:
    done = [(r["seed"], _fresh_comparison(r, tag)) for r in rows if tag in r["fresh"]]
    if not done:
        return "not run"
    worse = [seed for seed, c in done if c.verdict == "worse"]
    return f"{len(worse)} of {len(done)}" + (f" (seeds {', '.join(map(str, worse))})" if worse else "")


def _current(runs: list[dict]) -> list[str]:
    """The section of runs made with per-episode reset seeds and the non-inferiority verdict."""
    summary, per_run, commands = [], [], []
    for env, (source, _) in ENVS.items():
        for recipe in sorted({r["recipe"] for r in runs if r["env"] == env}):
            rows = sorted((r for r in runs if (r["env"], r["recipe"]) == (env, recipe)), key=lambda r: r["seed"])
            env_id = f"{source}{rows[0]['env_id']} ({rows[0]['horizon']['checked']} of "
            env_id += f"{rows[0]['horizon']['episode_limit']} steps)"
            full = "cartpole_full" if any("cartpole_full" in r["fresh"] for r in rows) else None
            summary.append([
                env_id, recipe, len(rows), _spread([r["step1"] * 100 for r in rows], "{:.2f}%"),
                _spread([r["final"] * 100 for r in rows], "{:.2f}%"), _spread([r["reward"] for r in rows], "{:.1f}"),
                f"{sum(r['ok'] for r in rows)} of {len(rows)}",
                _spread([r["hs"] for r in rows], "{:g}") + f" vs {_spread([r['hd'] for r in rows], '{:g}')} of "
                f"{rows[0]['points']}", _worse(rows, "spec"), _worse(rows, full) if full else "-",
                _spread([r["wall"] for r in rows], "{:.0f} s")])
            per_run += [[env_id, recipe, r["seed"], f"{r['final']:.2%}", f"{r['reward']:.1f}",
                         "ok (exit 0)" if r["ok"] else f"NOT ok (exit {r['exit']}): {r['headline'].split(';')[0]}",
                         f"{r['ni'][0]} (p = {r['ni'][1]:.3g})" if r["ni"][1] is not None else str(r["ni"][0]),
                         f"{r['hs']} vs {r['hd']} of {r['points']}", _fresh_cell(r, "spec"),
                         _fresh_cell(r, full) if full else "-", f"{r['wall']:.0f} s",
                         " / ".join(f"{x:.1f}" for x in r["load"]) if r["load"] else "not recorded"]
                        for r in rows]
            shown = {re.sub(r"\S*/shared/fixtures/", "../shared/fixtures/", c)
                     .replace(f"seed{r['seed']}", "seedS").replace(f"--seed {r['seed']}", "--seed S")
                     for r in rows for c in r["commands"]}
            commands.append(f"- {env_id}, {recipe}, seeds {', '.join(str(r['seed']) for r in rows)}: "
                            + "; ".join(f"`{c}`" for c in sorted(shown)))
    return [
        *C.table(["env (steps checked of the episode)", "run set", "seeds", "sparsity after step 1",
                  "final sparsity", "final reward", "verdict ok", "held-out uniform violations sparse vs dense",
                  "seeds worse on fresh points", "seeds worse over the full 500-step episode", "wall time"],
                 summary),
        "", "Commands (S the seed; `benchmarks/paper_rerun.py fresh --env ENV [--spec specs/cartpole_full.stl]` "
        "ran the fresh points):", "", *commands, "", "Per run:", "",
        *C.table(["env", "run set", "seed", "final sparsity", "final reward", "verdict", "non-inferiority (held-out)",
                  "held-out violations sparse vs dense", "fresh points: sparse vs dense",
                  "fresh points, full 500-step episode", "wall time", "load at start (1/5/15 min)"], per_run),
    ]


def table(args: argparse.Namespace) -> int:
    runs, aggregates = _merge(*_load_store())
    _save_store(runs, aggregates)
    current = [r for r in runs if "ok" in r]
    runs = [r for r in runs if "ok" not in r]
    summary, per_run, notes, lost = [], [], [], []
    for env, (source, paper) in ENVS.items():  # per env, the recipes side by side (the paper's first)
        for recipe in sorted({r["recipe"] for r in runs if r["env"] == env}, key=lambda n: (n != "paper", n)):
            rows = sorted((r for r in runs if (r["env"], r["recipe"]) == (env, recipe)), key=lambda r: r["seed"])
            env_id = source + rows[0]["env_id"]
            summary.append([
                env_id, recipe, len(rows),
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
            notes += _notes(rows, aggregates, f"{env_id} ({recipe})")
            per_run += [_run_row(r, env_id) for r in rows]
            if any(not r["source"].startswith("out/") for r in rows):
                lost.append(f"{env_id} ({recipe})")
    body = [
        "## At the defaults, with per-episode reset seeds and the non-inferiority verdict",
        "",
        CURRENT_INTRO,
        "",
        *_current(current),
        "",
        "## Earlier runs (before per-episode reset seeds and the non-inferiority verdict)",
        "",
        ("These runs used reset seed 0 for every episode (one LunarLander terrain) and 'converged' (the last "
         "round found no counterexample) as their verdict; they are kept as a record, not as a claim about "
         "fresh terrain."),
        "",
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
                  "held-out reward dense / sparse", "wall time", "load at start (1/5/15 min)"], per_run),
        "",
        f"Every run's columns are kept in `{STORE.relative_to(ROOT)}` (committed), which `table` updates from the "
        "per-run JSON reports and sparse ONNX files under `out/paper_table/<recipe>[@<label>]/<env>/` (not "
        "committed). The reports of these row sets were lost with a machine and their runs come from the "
        "store alone: " + (", ".join(lost) if lost else "none") + ".",
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
    r.add_argument("--deep-screen-looks", type=int, help="batches the deep recipe's safety screen may use")
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
