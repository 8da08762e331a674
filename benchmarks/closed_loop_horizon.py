"""The largest horizon a closed-loop proof reaches on >= 99% of the search box's volume,
for a dense and a compressed policy: `prove_closed_loop` at growing horizons, each with
the same budget of cells and time, until a requirement falls below 99%.

    nice .venv/bin/python benchmarks/closed_loop_horizon.py POLICY SPEC --label dense \
        --horizons 10,15,20,25,30,40,50 --cells 4096 --timeout 300 --out /tmp/dense.json

Prints one line per horizon and writes the rows as JSON (the results page is written by
hand from them: benchmarks/results/closed_loop_cartpole.md).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import stl
from sanp.commands.common import load_policy
from sanp.envs import bind
from sanp.reach import ReachConfig, prove_closed_loop


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("policy")
    p.add_argument("spec")
    p.add_argument("--label", required=True)
    p.add_argument("--horizons", default="10,15,20,25,30,40,50,60,80,100,150,200")
    p.add_argument("--cells", type=int, default=4096)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--requirements", default=None, help="comma-separated names (default: all)")
    p.add_argument("--sets", choices=["auto", "box", "zonotope"], default="auto", help="ReachConfig.sets")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    spec = stl.load(args.spec)
    binding = bind(spec)
    policy = load_policy(args.policy, binding)
    names = args.requirements.split(",") if args.requirements else None
    rows = []
    for h in (int(x) for x in args.horizons.split(",")):
        load = os.getloadavg()[0]
        t0 = time.monotonic()
        r = prove_closed_loop(policy, spec, binding, ReachConfig(horizon=h, max_cells=args.cells,
                                                                 timeout=args.timeout, replays=16, sets=args.sets),
                              requirements=names)
        row = {"label": args.label, "sets": r.sets, "horizon": h, "seconds": time.monotonic() - t0, "cells": r.cells,
               "stopped_by": r.stopped_by, "load": load,
               "requirements": {q.name: {"verdict": q.verdict, **q.fractions, "largest_99": q.largest_horizon(0.99),
                                         "counterexamples": len(q.counterexamples)} for q in r.requirements}}
        rows.append(row)
        print(json.dumps(row), flush=True)
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
        if all(q.fractions["proved"] < 0.99 for q in r.requirements):
            break


if __name__ == "__main__":
    main()
