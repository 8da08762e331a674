"""Rare-failure cases for the falsifier benchmark: zoo policies (and one SB3 fixture for
a classic-control env) pruned one-shot with sanp's own `step1.prune` until a small
fraction (0.5-5%) of uniformly drawn search-space points violate the spec.

    nice -n 10 .venv/bin/python benchmarks/falsify_cases.py --scan lunar_lander

`--scan ENV` prints the violation rate over k (to choose the case); `CASES` records the
chosen k of each env and `load(name)` rebuilds the pruned policy.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import numpy as np

from sanp import rollout
from sanp.falsify import score
from sanp.method.step1 import importance, prune
from sanp.runtime import deployed


@dataclass(frozen=True)
class RareCase:
    name: str
    case: C.Case
    criterion: str
    k: float
    note: str = ""


PENDULUM = C.Case("pendulum_sac", C.FIXTURES / "sb3-sac-Pendulum-v1.zip", C.ROOT / "specs/pendulum.stl")

CASES = {
    "cartpole": RareCase("cartpole", C.ZOO[0], "activation", 0.55),
    "lunar_lander": RareCase("lunar_lander", C.ZOO[1], "magnitude", 0.35),
    "bipedal_walker": RareCase("bipedal_walker", C.ZOO[2], "magnitude", 0.1),
    "pendulum": RareCase("pendulum", PENDULUM, "magnitude", 0.42),
}


def scores_for(dense, binding, criterion: str):
    if criterion == "magnitude":
        return importance(dense, "magnitude")
    visits = rollout.run_batch(dense, binding, [None] * 20, list(range(20)), record_states=False)
    states = np.concatenate([t.observations for t in visits])
    return importance(dense, criterion, states)


def load(name: str, k: float | None = None):
    """(spec, binding, pruned MLPPolicy, onnxruntime actor) of a rare-failure case."""
    rc = CASES[name]
    if not rc.case.available:
        raise FileNotFoundError(rc.case.missing())
    spec, binding, dense = C.load_case(rc.case)
    pol = prune(dense, rc.k if k is None else k, scores_for(dense, binding, rc.criterion), scope="global")
    return spec, binding, pol, deployed(pol)


def uniform_objectives(actor, binding, spec, n: int, seed: int, batch: int = 250) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    U = rng.uniform(size=(n, len(binding.space)))
    lo, hi = binding.bounds[:, 0], binding.bounds[:, 1]
    names = list(spec.requirements)
    ys = []
    for start in range(0, n, batch):
        pts = [binding.point(lo + u * (hi - lo)) for u in U[start:start + batch]]
        for tr in rollout.run_batch(actor, binding, pts, record_states=False):
            ys.append(min(score(spec, names, tr).values()))
    return U, np.array(ys)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scan", required=True, choices=sorted(CASES))
    ap.add_argument("--ks", type=float, nargs="+", required=True)
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--criterion", default=None)
    args = ap.parse_args()
    C.one_thread()
    rc = CASES[args.scan]
    spec, binding, dense = C.load_case(rc.case)
    scores = scores_for(dense, binding, args.criterion or rc.criterion)
    for k in args.ks:
        t0 = time.perf_counter()
        actor = deployed(prune(dense, k, scores, scope="global"))
        _, y = uniform_objectives(actor, binding, spec, args.points, seed=12345)
        print(f"{args.scan} {args.criterion or rc.criterion} k={k}: violation rate {np.mean(~(y >= 0)):.4f} "
              f"over {args.points} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
