"""Replay one initial state of a closed-loop proof in the real env:

    python -m sanp.commands.reach_replay POLICY SPEC --horizon N --point 'x=0.01,x_dot=-0.02,...'

runs the policy (deployed: onnxruntime, float32) from that point with sanp's rollout and
prints each requirement's robustness and the step that decides it; exit 1 when one is
violated, 0 when none is, 2 on bad input.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sanp.commands.reach_replay", description=__doc__.split("\n\n")[0])
    p.add_argument("policy")
    p.add_argument("spec")
    p.add_argument("--horizon", type=int, required=True)
    p.add_argument("--point", required=True, help="NAME=VALUE,... over the spec's search dimensions")
    p.add_argument("--vecnormalize")
    args = p.parse_args(argv)
    from sanp.errors import SanpError

    try:
        return _run(args)
    except SanpError as exc:
        print(f"sanp.commands.reach_replay: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import stl
    from sanp.commands.common import load_policy
    from sanp.envs import bind
    from sanp.errors import OptionError
    from sanp.falsify import critical_step, score
    from sanp.rollout import run
    from sanp.runtime import deployed

    spec = stl.load(args.spec)
    binding = dataclasses.replace(bind(spec), horizon=args.horizon)
    try:
        given = {k.strip(): float(v) for k, v in (kv.split("=") for kv in args.point.split(","))}
    except ValueError:
        raise OptionError(f"--point {args.point!r}: write NAME=VALUE,NAME=VALUE") from None
    missing = [d.name for d in binding.space if d.name not in given]
    if missing:
        raise OptionError(f"--point lacks {', '.join(missing)} (the spec searches {', '.join(d.name for d in binding.space)})")
    policy = load_policy(args.policy, binding, args.vecnormalize)
    traj = run(deployed(policy), binding, binding.point([given[d.name] for d in binding.space]))
    names = list(spec.requirements)
    rob = score(spec, names, traj)
    for n in names:
        mark = "VIOLATED" if rob[n] < 0 else "holds"
        print(f"{n}: {mark} (robustness {rob[n]:.6g}, decided at step {critical_step(spec, n, traj)})")
    print(f"{traj.length} steps, terminated: {traj.terminated}")
    return 1 if any(v < 0 for v in rob.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
