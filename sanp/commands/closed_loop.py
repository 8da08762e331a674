"""`sanp prove POLICY SPEC --horizon N`: closed-loop proofs of the spec's requirements.

`sanp prove`'s options keep their meaning where they apply: --timeout is the time budget
of the partition (seconds in all), --depth N allows at most 2^N cells, --no-split
propagates the whole search box as one cell, --json and --plots write the report and
one PNG per requirement (its reach tube against the requirement's bounds).

Exit codes: 0 every requirement proved over the horizon, 1 one refuted (a replayed
trajectory of the real env violates it), 3 one unknown, 2 bad input.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sanp.reach.run import ReachConfig, ReachResult

MAX_CELLS_DEPTH = 20
"""--depth above this still allows at most 2^20 cells (memory)."""
FLOATING_POINT = (
    "dynamics: interval arithmetic in float64 rounded outward (nextafter) after every "
    "operation, sin/cos/sqrt widened by 4 ulp, float32 casts the model declares taken exactly; "
    "network: CROWN bounds in float64 widened by an a-priori bound on the deployed float32 "
    "network's rounding error (gamma_n per dot product); the env's other float arithmetic is "
    "taken as real arithmetic"
)
FLOATING_POINT_ZONOTOPE = (
    "dynamics: affine arithmetic in float64, each operation adding a bound of its rounding error "
    "(2^-52 to 2^-50 of the coefficients' magnitudes) and of its linearisation remainder to the "
    "form's error term, radii rounded up; the Taylor remainder in interval arithmetic rounded outward; "
    "float32 casts the model declares as a relative error 2^-24; network: CROWN on zonotopes in float64 "
    "with a slack of 2^-30 of the summed magnitudes, plus the a-priori bound of the deployed float32 "
    "network's rounding error; the env's other float arithmetic is taken as real arithmetic"
)


def config_of(args: argparse.Namespace) -> ReachConfig:
    cells = 1 if args.no_split else 2 ** min(int(args.depth), MAX_CELLS_DEPTH)
    return ReachConfig(horizon=int(args.horizon), max_cells=cells, timeout=float(args.timeout),
                       sets=getattr(args, "sets", "auto"))


def run(args: argparse.Namespace, load_policy: Any, check_output: Any, check_plot_dir: Any) -> int:
    """Load, prove over the horizon, print, write the report and plots; the exit code."""
    import stl
    from sanp.commands.common import write_report
    from sanp.envs import bind
    from sanp.errors import OptionError
    from sanp.reach.run import prove_closed_loop

    if args.properties or args.reference:
        raise OptionError("--horizon proves the spec's requirements over the closed loop; "
                          "--properties and --reference belong to one-step proofs (drop one side)")
    check_output(None if args.json == "-" else args.json, args.policy, args.spec)
    check_plot_dir(args.plots)
    spec = stl.load(args.spec)
    binding = bind(spec)
    policy = load_policy(args.policy, binding, args.vecnormalize)
    config = config_of(args)
    result = prove_closed_loop(policy, spec, binding, config)
    print_result(result, str(args.policy), str(args.spec))
    write_report(report(result, args, spec), args)
    if args.plots:
        from sanp.report.reach_plots import plot_tube

        out = Path(args.plots)
        out.mkdir(exist_ok=True)
        files = [plot_tube(r, spec, out / f"{r.name}_tube.png") for r in result.requirements]
        print(f"plots: {sum(f is not None for f in files)} PNG files in {out}")
    return exit_code(result)


def exit_code(result: ReachResult) -> int:
    verdicts = {r.verdict for r in result.requirements}
    return 1 if "refuted" in verdicts else (3 if "unknown" in verdicts else 0)


def replay_command(policy: str, spec: str, horizon: int, point: dict[str, float]) -> str:
    """The command that replays `point` in the real env (`sanp.commands.reach_replay`)."""
    import shlex

    text = ",".join(f"{k}={v!r}" for k, v in point.items())
    return (f"python -m sanp.commands.reach_replay {shlex.quote(policy)} {shlex.quote(spec)} --horizon {horizon} "
            f"--point '{text}'")


def closed_loop_block(result: ReachResult, spec: Any, policy_path: str, spec_path: str) -> dict[str, Any]:
    """The `closed_loop` block of a prove (or prune) report."""
    from stl.printer import format_node

    return {
        "horizon": result.horizon, "method": result.method, "sets": result.sets,
        "floating_point": FLOATING_POINT_ZONOTOPE if result.sets == "zonotope" else FLOATING_POINT,
        "cells": result.cells, "seconds": result.seconds, "stopped_by": result.stopped_by,
        "requirements": [{
            "name": r.name, "text": format_node(spec.requirements[r.name].formula), "verdict": r.verdict,
            "horizon": result.horizon, "fractions": r.fractions,
            "largest_horizon_99": r.largest_horizon(0.99),
            "proved_by_horizon": [float(v) for v in r.proved_by_horizon],
            "counterexamples": [{"point": c.point, "robustness": c.robustness, "cell": c.cell_status,
                                 "replay": replay_command(policy_path, spec_path, result.horizon, c.point)}
                                for c in r.counterexamples],
        } for r in result.requirements],
    }


def print_result(result: ReachResult, policy_path: str, spec_path: str) -> None:
    from rich.table import Table

    from sanp.console import console

    con = console()
    t = Table(title=f"sanp prove --horizon {result.horizon} (closed loop, {result.cells} cells, "
                    f"{result.seconds:.1f} s, stopped: {result.stopped_by})")
    for col in ("requirement", "verdict", "proved", "refuted", "unknown", "99% up to step"):
        t.add_column(col)
    for r in result.requirements:
        f = r.fractions
        t.add_row(r.name, r.verdict, f"{f['proved']:.1%}", f"{f['refuted']:.1%}", f"{f['unknown']:.1%}",
                  str(r.largest_horizon(0.99)))
    con.print(t)
    for r in result.requirements:
        for c in r.counterexamples[:3]:
            con.print(f"  {r.name} REFUTED from {', '.join(f'{k}={v:.6g}' for k, v in c.point.items())} "
                      f"(robustness {c.robustness:.4g}); replay: "
                      f"{replay_command(policy_path, spec_path, result.horizon, c.point)}", soft_wrap=True)
        if len(r.counterexamples) > 3:
            con.print(f"  ... {len(r.counterexamples)} counterexamples in all (the JSON report lists them)")


def report(result: ReachResult, args: argparse.Namespace, spec: Any) -> dict[str, Any]:
    """The `sanp.prove/1` report of a closed-loop proof: no one-step properties, and a
    `closed_loop` block."""
    from importlib import metadata

    from sanp.report import file_sha256, jsonable, versions

    verdict = {0: "proved", 1: "refuted", 3: "unknown"}[exit_code(result)]
    return jsonable({
        "schema": "sanp.prove/1",
        "command": "prove",
        "inputs": {
            "policy": str(args.policy), "policy_sha256": file_sha256(args.policy),
            "spec": str(args.spec), "spec_sha256": spec.sha256,
            "reference": None, "reference_sha256": None, "properties_file": None,
            "options": {"timeout": args.timeout, "depth": args.depth, "split": not args.no_split,
                        "seed": args.seed, "visited_episodes": args.visited_episodes,
                        "horizon": int(args.horizon)},
            "verifier": f"sanp.reach (numpy {metadata.version('numpy')})",
            "versions": versions(),
        },
        "verdict": verdict,
        "properties": [],
        "skipped": [],
        "closed_loop": closed_loop_block(result, spec, str(args.policy), str(args.spec)),
    })
