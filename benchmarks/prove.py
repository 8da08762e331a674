"""Proof time, dense against pruned, for the CartPole properties that matter and one
LunarLander property; the fraction of the CartPole operating domain on which the pruned
policy provably chooses the dense policy's action, before and after refinement.

    .venv/bin/python benchmarks/prove.py --refined out/cartpole_refined.onnx

`--refined` is the output of
`sanp prune zoo/cartpole/dense.onnx specs/cartpole.stl -o OUT --recipe paper --criterion activation`;
the one-shot pruned policy "before refinement" is step 1 of that run, rebuilt here
(activation importance over 20 dense episodes, global scope, k = `--k`, 0.994 in the
run measured). Writes benchmarks/results/prove.md.
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

from _common import RESULTS, ROOT, machine, one_thread, other_jobs

import stl
from sanp import formats as policies
from sanp.envs import bind
from sanp.runtime import deployed
from sanp.prove.bab import ProveConfig, prove_property
from sanp.prove.domain import Resolver, obs_names, visited_box
from sanp.prove.marabou import MarabouVerifier
from sanp.prove.properties import ActionBound, ActionIs, Agrees, Property

# The CartPole properties. "push_right": leaning far right (theta 0.1-0.2 rad, the env
# fails at 0.21) with the pole falling right (theta_dot >= 0.5) and the cart not moving
# left => push right; "push_left" its mirror; "push_right_centre": the same near the
# centre of the track from a smaller lean (0.05) and any cart speed up to 0.5.
CARTPOLE = {
    "push_right": ({"x": (-2.4, 2.4), "x_dot": (0.0, 2.0), "theta": (0.1, 0.2), "theta_dot": (-2.0, 2.0)},
                   ({"theta_dot": 1.0}, ">=", 0.5), ActionIs(1)),
    "push_left": ({"x": (-2.4, 2.4), "x_dot": (-2.0, 0.0), "theta": (-0.2, -0.1), "theta_dot": (-2.0, 2.0)},
                  ({"theta_dot": 1.0}, "<=", -0.5), ActionIs(0)),
    "push_right_centre": ({"x": (-0.5, 0.5), "x_dot": (-0.5, 0.5), "theta": (0.05, 0.2), "theta_dot": (0.5, 2.0)},
                          None, ActionIs(1)),
}


def cartpole_properties(resolver: Resolver) -> list[Property]:
    out = []
    for name, (ranges, cond, concl) in CARTPOLE.items():
        assume = (resolver.linear(*cond),) if cond else ()
        out.append(Property(name, resolver.region(ranges), concl, assume, name))
    return out


def one_shot(dense, binding, k: float):
    """Step 1 of `sanp prune --recipe paper --criterion activation` at sparsity k (global scope)."""
    import numpy as np

    from sanp.method.step1 import importance, prune
    from sanp.rollout import run_batch

    visits = run_batch(deployed(dense), binding, [None] * 20, list(range(20)), record_states=False)
    states = np.concatenate([t.observations for t in visits])
    return prune(dense, k, importance(dense, "activation", states), scope="global")


def timed_proof(prop, pol, ref, config, repeats):
    runs = []
    for _ in range(repeats):
        runs.append(prove_property(prop, pol, ref, verifier=MarabouVerifier(), config=config))
    return runs


def row(label, prop, runs) -> str:
    r = runs[-1]
    times = [x.seconds for x in runs]
    cex = ""
    if r.counterexamples:
        c = r.counterexamples[0]
        cex = ", ".join(f"{prop.region.label(i)}={v:.4g}" for i, v in enumerate(c.obs)) + \
            f" (outputs {', '.join(f'{v:.4g}' for v in c.values)}; margin {c.margin:.3g})"
    fr = r.fractions()
    split = "" if not r.split else f"{len(r.leaves)} boxes: proved {fr['proved']:.1%}, refuted {fr['refuted']:.1%}, unknown {fr['unknown']:.1%}"
    relus = "+".join(str(n["relus"]) for n in r.nets)
    return (f"| {label} | {prop.name} | {r.verdict}{' (' + r.reason + ')' if r.reason else ''} | "
            f"{statistics.median(times):.2f} | {min(times):.2f}-{max(times):.2f} | {r.queries} | {relus} | "
            f"{split or '-'} | {cex or '-'} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refined", required=True, help="the refined CartPole policy (sanp prune output)")
    ap.add_argument("--k", type=float, default=0.994, help="step-1 k of that prune run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per one-step property")
    ap.add_argument("--domain-timeout", type=float, default=300.0, help="seconds per differential property")
    ap.add_argument("--out", default=str(RESULTS / "prove.md"))
    args = ap.parse_args()
    one_thread()
    m = machine()
    start = time.perf_counter()
    lines: list[str] = []
    cfg = ProveConfig(timeout=args.timeout)

    spec = stl.load(ROOT / "specs/cartpole.stl")
    binding = bind(spec)
    dense = policies.load(ROOT / "zoo/cartpole/dense.onnx", observation_space=binding.observation_space,
                          action_space=binding.action_space)
    refined = policies.load(args.refined, observation_space=binding.observation_space,
                            action_space=binding.action_space)
    pruned = one_shot(dense, binding, args.k)
    names = obs_names(spec, 4)
    domain = visited_box(deployed(dense), binding, episodes=200, seed=0, names=names)
    resolver = Resolver(spec, binding, 4, visited=lambda: domain)
    policies_ = [("dense", dense), (f"one-shot pruned ({pruned.sparsity():.2%})", pruned),
                 (f"refined ({refined.sparsity():.2%})", refined)]

    header = ("| policy | property | verdict | median s | range s | queries | ReLUs seen | split | counterexample (onnxruntime) |\n"
              "|---|---|---|---|---|---|---|---|---|")
    lines += ["## CartPole one-step properties", "", header]
    totals = {}
    for label, pol in policies_:
        total = 0.0
        for prop in cartpole_properties(resolver):
            runs = timed_proof(prop, pol, None, cfg, args.repeats)
            total += statistics.median(x.seconds for x in runs)
            lines.append(row(label, prop, runs))
            print(lines[-1], flush=True)
        totals[label] = total
    lines += ["", "Total median proof time per policy: "
              + "; ".join(f"{k} {v:.2f} s" for k, v in totals.items()) + ".", ""]

    lines += ["## CartPole: the pruned policy chooses the dense policy's action over the operating domain", "",
              f"Operating domain (bounding box of the states the dense policy visits from 200 uniform points and the "
              f"16 corners of the spec's search space): {domain.text()}. Branch and bound, budget "
              f"{args.domain_timeout:g} s per policy, at most 8 halvings.", "", header]
    same = Property("same_as_dense", domain, Agrees(), (), "domain")
    for label, pol in policies_[1:]:
        runs = timed_proof(same, pol, dense, ProveConfig(timeout=args.domain_timeout), 1)
        lines.append(row(label, same, runs))
        print(lines[-1], flush=True)

    lines += ["", "## LunarLander (continuous)", "", header]
    lspec = stl.load(ROOT / "specs/lunar_lander.stl")
    lbind = bind(lspec)
    lander = policies.load(ROOT / "zoo/lunar_lander/dense.onnx", observation_space=lbind.observation_space,
                           action_space=lbind.action_space)
    lres = Resolver(lspec, lbind, 8)
    # upright, high above the pad, sinking slowly, legs off the ground: the main engine
    # stays below 90% throttle (no panic burn where none is needed)
    lregion = lres.region({"x": (-0.2, 0.2), "obs[2]": (-0.2, 0.2), "y": (0.8, 1.2), "vy": (-0.3, 0.0),
                           "angle": (-0.1, 0.1), "omega": (-0.1, 0.1), "leg1": (0.0, 0.0), "leg2": (0.0, 0.0)})
    lprop = Property("main_engine_bounded", lregion, ActionBound(0, "<=", 0.9), (), "hover")
    for label, pol in [("dense", lander), ("one-shot pruned 50% (magnitude)", _magnitude(lander, 0.5))]:
        runs = timed_proof(lprop, pol, None, cfg, args.repeats)
        lines.append(row(label, lprop, runs))
        print(lines[-1], flush=True)

    wall = time.perf_counter() - start
    cmd = " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/prove.py", *sys.argv[1:]])
    head = ["# sanp prove: proof time dense vs pruned", "", f"Command (from the repository root): `{cmd}`", "",
            *m.describe(os.getloadavg(), other_jobs()), f"Wall time of the whole script: {wall:.0f} s.", "",
            "Verifier: Marabou (maraboupy 2.0.0) through `sanp.prove`, one query per box, each box first "
            "tried at 257 random points through onnxruntime. Times are wall-clock seconds per property "
            f"(median of {args.repeats} runs for one-step properties, one run for the differential ones), "
            "Marabou single-threaded. Every counterexample listed was re-checked through onnxruntime in "
            "float32: the margin is how far its outputs violate the property there. 'ReLUs seen' counts the "
            "ReLUs the verifier gets after units a pruned network no longer reads are removed "
            "(policy + reference for the differential property).", ""]
    Path(args.out).write_text("\n".join(head + lines) + "\n")
    print(f"wrote {args.out}")
    return 0


def _magnitude(pol, k):
    from sanp.method.step1 import importance, prune

    return prune(pol, k, importance(pol, "magnitude"), scope="global")


if __name__ == "__main__":
    sys.exit(main())
