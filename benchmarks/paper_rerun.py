"""The paper table through the CLI, as a user runs it: `sanp prune` per env and seed at the
defaults (plus only the options given after `--`), then every sparse policy and the dense
one on fresh uniform points with fresh reset seeds (`sanp verify --optimizer random --all`).

    .venv/bin/python benchmarks/paper_rerun.py prune --env lunar_lander --seeds 0 1 2 [-- --criterion sensitivity]
    .venv/bin/python benchmarks/paper_rerun.py fresh --env lunar_lander [--points 2000] [--seed 7]

`prune` writes out/paper_table/deep@<label>/<env>/seed<S>.json (the prune report, with a
`benchmark` block: command, wall time, load at start) and seed<S>.onnx, where
`benchmarks/paper_table.py table` picks them up. `fresh` writes fresh/<policy>.json beside
them. The fresh points come from `sanp verify --seed 7`: a run seed no prune stream uses,
and every point's reset seed is hashed from the verify run's own namespace and the
point's values, so neither the points nor the terrains are ones a prune saw.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import _common as C

SANP = str(C.ROOT / ".venv" / "bin" / "sanp")
WORK = C.ROOT / "out" / "paper_table"


def _case(name: str) -> C.Case:
    cases, missing = C.zoo([name])
    if not cases:
        sys.exit(f"{name}: {'; '.join(missing) or 'unknown case'}")
    return cases[0]


def _policy_args(case: C.Case, policy: Path, spec: Path | None = None) -> list[str]:
    """The policy and spec arguments, with the case's VecNormalize for a dense SB3 model
    (a sparse ONNX carries its normalisation inside)."""
    extra = ["--vecnormalize", str(case.vecnormalize)] if case.vecnormalize and policy.suffix == ".zip" else []
    return [str(policy), str(spec or case.spec), *extra]


def prune(args: argparse.Namespace) -> int:
    case = _case(args.env)
    out = WORK / f"deep@{args.label}" / case.name
    out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        report, onnx = out / f"seed{seed}.json", out / f"seed{seed}.onnx"
        if report.exists() and not args.force:
            print(f"{report}: exists, skipped", flush=True)
            continue
        cmd = [SANP, "prune", *_policy_args(case, case.policy), "-o", str(onnx), "--seed", str(seed),
               "--report", str(report), *args.extra]
        load = os.getloadavg()
        t0 = time.perf_counter()
        log = out / f"seed{seed}.log"
        with log.open("w") as f:
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False).returncode
        wall = time.perf_counter() - t0
        print(f"{case.name} seed {seed}: exit {rc} in {wall:.0f} s (log {log})", flush=True)
        if not report.exists():
            print(f"  no report written: see {log}", flush=True)
            continue
        doc = json.loads(report.read_text())
        shown = " ".join(shlex.quote(str(Path(c).relative_to(C.ROOT)) if c.startswith(str(C.ROOT)) else c)
                         for c in [".venv/bin/sanp", *cmd[1:]])
        doc["benchmark"] = {"wall_s": wall, "recipe": "deep", "command": shown, "exit": rc,
                            "load_start": list(load)}
        report.write_text(json.dumps(doc, indent=1))
    return 0


def fresh(args: argparse.Namespace) -> int:
    case = _case(args.env)
    out = WORK / f"deep@{args.label}" / case.name
    (out / "fresh").mkdir(parents=True, exist_ok=True)
    spec = Path(args.spec) if args.spec else case.spec
    tag = "" if args.spec is None else f"@{spec.stem}"
    policies = [("dense", case.policy)] + [(p.stem, p) for p in sorted(out.glob("seed*.onnx"))]
    for name, policy in policies:
        target = out / "fresh" / f"{name}{tag}.json"
        if target.exists() and not args.force:
            continue
        cmd = [SANP, "verify", *_policy_args(case, policy, spec), "--optimizer", "random", "--budget",
               str(args.points), "--all", "--seed", str(args.seed), "--json", str(target)]
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        print(f"{case.name} {name}: exit {rc.returncode} in {time.perf_counter() - t0:.0f} s"
              + (f": {rc.stderr.strip().splitlines()[-1]}" if rc.returncode not in (0, 1) else ""), flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    for name in ("prune", "fresh"):
        p = sub.add_parser(name)
        p.add_argument("--env", required=True)
        p.add_argument("--label", default="rerun", help="the run set: out/paper_table/deep@<label>/")
        p.add_argument("--force", action="store_true")
    pr = sub.choices["prune"]
    pr.add_argument("--seeds", type=int, nargs="+", required=True)
    pr.add_argument("extra", nargs=argparse.REMAINDER, help="-- then options passed to sanp prune")
    fr = sub.choices["fresh"]
    fr.add_argument("--points", type=int, default=2000)
    fr.add_argument("--seed", type=int, default=7)
    fr.add_argument("--spec", help="check against this spec instead of the case's (e.g. the full episode): "
                                   "results go to fresh/<policy>@<spec stem>.json")
    args = ap.parse_args()
    if args.what == "prune":
        args.extra = [a for a in args.extra if a != "--"]
        return prune(args)
    return fresh(args)


if __name__ == "__main__":
    sys.exit(main())
