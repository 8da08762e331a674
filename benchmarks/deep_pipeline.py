"""Where `sanp prune --recipe deep` spends its time on the LunarLander zoo policy, at the
command's default settings (100 episodes per reward estimate, BO budget 100, 1000 uniform
points per round, up to 5 rounds, held-out BO 200 + 1000 uniform points).

    .venv/bin/python benchmarks/deep_pipeline.py [--seed 0] [--extra ARG ...]

Runs the real command in a subprocess (as a user would), then reads the phase times from
its JSON report and writes them into benchmarks/results/pipeline.md, between the markers
below (the rest of that file is `benchmarks/pipeline.py`'s and is kept).
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import _common as C

BEGIN, END = "<!-- deep recipe: benchmarks/deep_pipeline.py -->", "<!-- end of deep recipe -->"
PHASES = {
    "step1_deep_collect": "step 1: collecting DAgger states",
    "step1_deep_finetune": "step 1: fine-tuning (distillation)",
    "step1_deep_evaluate": "step 1: mean-reward estimates",
    "step1_deep_screen": "step 1: safety screen (the dense policy once, then every level whose reward passes)",
}


def section(doc: dict, wall: float, command: str, mach: C.Machine) -> str:
    timing = doc["timing"]
    rows = [(PHASES[k], timing[k]) for k in PHASES if k in timing]
    rest = timing.get("step1_deep", 0.0) - sum(t for _, t in rows)
    rows.append(("step 1: pruning, path guard, bookkeeping", rest))
    rows += [(k.replace("_", " "), v) for k, v in timing.items() if not k.startswith("step1_deep")]
    other = wall - sum(v for k, v in timing.items() if not k.startswith("step1_deep_"))
    rows.append(("loading, compaction, writing the outputs (wall minus the phases)", other))
    table = C.table(["phase", "seconds", "share"], [[n, f"{t:.1f}", f"{t / wall:.0%}"] for n, t in rows])
    final, rounds = doc["final"], doc["rounds"]
    used = ", ".join(f"round {r['round']}: {r['repair'] or 'none'} ({len(r['counterexamples'])} counterexamples)"
                     for r in rounds)
    return "\n".join([
        BEGIN,
        "## The deep recipe, end to end (LunarLander)",
        "",
        f"Command: `{command}`",
        "",
        " ".join(mach.describe()),
        "",
        f"Wall time {wall:.0f} s ({wall / 60:.1f} min; the issue's budget is 30 min on 2 cores). Final sparsity "
        f"{final['sparsity']:.2%}, mean reward {final['mean_reward']:.1f}, verdict: {doc['verdict']['headline']}. "
        f"Rounds: {used or 'none'}.",
        "",
        *table,
        "",
        END,
    ])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra", nargs="*", default=[], help="more `sanp prune` options")
    ap.add_argument("--out", default=str(C.RESULTS / "pipeline.md"))
    args = ap.parse_args()
    work = C.ROOT / "out" / "deep_pipeline"
    work.mkdir(parents=True, exist_ok=True)
    report = work / f"seed{args.seed}.json"
    argv = [str(Path(sys.executable).parent / "sanp"), "prune", "zoo/lunar_lander/dense.onnx",
            "specs/lunar_lander.stl", "-o", str(work / f"seed{args.seed}.onnx"), "--report", str(report),
            "--recipe", "deep", "--seed", str(args.seed), *args.extra]
    mach = C.machine()
    t = time.perf_counter()
    proc = subprocess.run(argv, cwd=C.ROOT)
    wall = time.perf_counter() - t
    if not report.exists():
        print(f"sanp prune exited {proc.returncode} without a report", file=sys.stderr)
        return 1
    shown = "sanp " + " ".join(shlex.quote(a) for a in argv[1:])
    text = section(json.loads(report.read_text()), wall, shown, mach)
    out = Path(args.out)
    old = out.read_text() if out.exists() else ""
    if BEGIN in old:
        old = old[: old.index(BEGIN)] + old[old.index(END) + len(END):].lstrip("\n")
    out.write_text(old.rstrip("\n") + "\n\n" + text + "\n")
    print(f"wrote {out} (sanp prune exited {proc.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
