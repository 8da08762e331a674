"""The three ARCH-COMP AINNCS benchmarks (single pendulum, TORA, ACC): falsification
(GP-BO and uniform sampling) and the closed-loop proof over the full horizon from the
whole initial set, each through the `sanp` command, timed.

    nice .venv/bin/python benchmarks/closed_loop_arch.py --out /tmp/arch.json
    nice .venv/bin/python benchmarks/closed_loop_arch.py --only prove --depth 12
    nice .venv/bin/python benchmarks/closed_loop_arch.py --only prove --sets box --cases tora,acc

The controllers are the competition's files in ../shared/fixtures/arch (not shipped with
sanp). Prints one line per run and writes the rows as JSON; the results page
(benchmarks/results/closed_loop.md) is written by hand from them.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "arch"
CASES = {"single_pendulum": ("arch_single_pendulum", 20), "tora": ("arch_tora", 20), "acc": ("arch_acc", 50)}


def sanp(*args: str) -> tuple[int, float, dict]:
    """Run `sanp ARGS --json FILE`; (exit code, wall seconds, the JSON report or {})."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "sanp.cli", *args, "--json", str(out)],
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 1, 3):  # proved or none found, refuted or found, unknown
            print(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
        return proc.returncode, wall, json.loads(out.read_text()) if out.exists() else {}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", choices=["verify", "prove"], default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--depth", type=int, default=12, help="sanp prove --depth (at most 2^depth cells)")
    p.add_argument("--timeout", type=float, default=600.0, help="sanp prove --timeout, seconds in all")
    p.add_argument("--sets", choices=["auto", "box", "zonotope"], default="auto", help="sanp prove --sets")
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated benchmarks to run")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    rows = []
    for name, (spec, horizon) in CASES.items():
        if name not in args.cases.split(","):
            continue
        policy, spec_path = str(FIXTURES / name / "controller.onnx"), str(ROOT / "specs" / f"{spec}.stl")
        runs = []
        if args.only != "prove":
            runs += [("bo", ["verify", policy, spec_path, "--budget", "100", "--seed", str(args.seed)]),
                     ("uniform", ["verify", policy, spec_path, "--optimizer", "random", "--budget", "1000",
                                  "--all", "--seed", str(args.seed)])]
        if args.only != "verify":
            runs.append(("prove", ["prove", policy, spec_path, "--horizon", str(horizon), "--depth", str(args.depth),
                                   "--timeout", str(args.timeout), "--sets", args.sets]))
        for kind, cli in runs:
            code, wall, report = sanp(*cli)
            req = (report.get("closed_loop") or report).get("requirements", [{}])[0] if report else {}
            row = {"benchmark": name, "run": kind, "exit": code, "wall_s": round(wall, 2),
                   "verdict": req.get("verdict", report.get("verdict")),
                   "min_robustness": req.get("min_robustness"), "fractions": req.get("fractions"),
                   "largest_horizon_99": req.get("largest_horizon_99"),
                   "cells": (report.get("closed_loop") or {}).get("cells"),
                   "engine_s": (report.get("closed_loop") or {}).get("seconds"),
                   "sets": (report.get("closed_loop") or {}).get("sets"), "load": os.getloadavg()}
            rows.append(row)
            print(json.dumps(row))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
