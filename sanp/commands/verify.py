"""`sanp check` (read specs and bind their envs) and `sanp verify` (falsify a policy)."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sanp.commands.common import (
    EXIT_FOUND,
    EXIT_OK,
    check_output,
    check_plot_dir,
    count,
    json_path,
    load_policy,
    warn_short_horizon,
    write_report,
)


def cmd_check(args: argparse.Namespace) -> int:
    import stl
    from sanp.envs import bind

    for path in args.specs:
        spec = stl.load(path)
        binding = bind(spec)
        dims = ", ".join(d.name for d in binding.state_space) or "none"
        env = binding.env_text.replace("(", " (", 1)  # LunarLander-v3 (continuous=true)
        print(
            f"{path}: ok — env {env}, horizon {binding.horizon}, {_seeds_text(binding)}, "
            f"{count(len(spec.signals), 'signal')}, {count(len(spec.requirements), 'requirement')} "
            f"({', '.join(spec.requirements)}), search [{dims}]" + _disturbances_text(binding)
            + (f", {count(len(spec.regions), 'region')}, {count(len(spec.properties), 'prop')} "
               f"({', '.join(spec.properties)})" if spec.properties or spec.regions else "")
        )
        warn_short_horizon(spec, binding, path)
    return EXIT_OK


def _disturbances_text(binding: Any) -> str:
    """`, disturb [wind in [-15, 15] over 5 pieces of 200 steps]` (empty without any)."""
    if not binding.disturbances:
        return ""
    from stl.printer import format_number

    parts = []
    for d in binding.disturbances:
        steps = -(-binding.horizon // d.pieces)  # the longest piece
        size = f"of {steps} steps" if binding.horizon % d.pieces == 0 else f"of up to {steps} steps"
        parts.append(f"{d.name} in [{format_number(d.lo)}, {format_number(d.hi)}] over "
                     f"{count(d.pieces, 'piece')} {size}")
    return f", disturb [{'; '.join(parts)}]"


def _seeds_text(binding: Any) -> str:
    if binding.reset_seed is None:
        return "reset seed drawn per episode"
    return f"reset seed {binding.reset_seed} for every episode"


def cmd_verify(args: argparse.Namespace) -> int:
    from sanp.console import print_verify, progress_bar
    from sanp.report import plot_verify
    from sanp.report.values import fmt

    if getattr(args, "replay", None):
        from sanp.commands.verify_replay import cmd_verify_replay

        return cmd_verify_replay(args)
    _check_replay_options(args)
    check_output(json_path(args), args.policy, args.spec)
    check_plot_dir(args.plots)
    spec, binding, policy = load_inputs(args)
    with progress_bar("falsifying") as bar:
        task = bar.add_task(f"{args.optimizer} falsification", total=None, best="-")

        def tick(done: int, total: int, best: float) -> None:
            bar.update(task, completed=done, total=total, best=fmt(best, plain=True))

        result, doc = run_verify(args, policy, spec, binding, progress=tick)
    print_verify(result, spec)
    warn_short_horizon(spec, binding, args.spec)
    write_report(doc, args)
    if result.falsified and json_path(args):
        from sanp.commands.verify_replay import replay_command

        print(f"replay: {replay_command(args.policy, args.spec, args.json)}")
    if args.plots:
        files = plot_verify(doc, args.plots)
        print(f"plots: {len(files)} PNG files in {args.plots}")
    missed = args.target_rate is not None and not result.target_reached
    return EXIT_FOUND if result.falsified or missed else EXIT_OK


def _check_replay_options(args: argparse.Namespace) -> None:
    from sanp.errors import OptionError

    for option in ("index", "tolerance"):
        if getattr(args, option, None) is not None:
            raise OptionError(f"--{option} is an option of --replay REPORT.json: add --replay")


def load_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The spec, its env binding and the policy (checked against the env) of a run."""
    import stl
    from sanp.envs import bind

    spec = stl.load(args.spec)
    binding = bind(spec)
    return spec, binding, load_policy(args.policy, binding, args.vecnormalize)


def falsify_config(args: argparse.Namespace) -> Any:
    """The FalsifyConfig of `sanp verify`'s options."""
    from sanp.falsify import FalsifyConfig

    return FalsifyConfig(
        budget=args.budget,
        optimizer=args.optimizer,
        seed=args.seed,
        collect_all=args.all,
        requirements=tuple(args.requirement) if args.requirement else None,
        mode=args.mode,
        confidence=args.confidence,
        target_rate=args.target_rate,
    )


def run_verify(args: argparse.Namespace, policy: Any, spec: Any, binding: Any, *,
               progress: Callable[[int, int, float], None] | None = None,
               policy_sha256: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Falsify `policy` (MLPPolicy) with `sanp verify`'s options `args`: the FalsifyResult
    and the JSON report (`--json`). The CLI and `sanp.verify` both build their result here;
    `policy_sha256` stands for the digest of `args.policy` when the policy is not a file."""
    from sanp.falsify import falsify
    from sanp.report import verify_report
    from sanp.runtime import deployed

    # the points' reset seeds in the namespace of this seed (sanp.seeds, stream "reset")
    result = falsify(deployed(policy), binding.for_run(args.seed), spec, falsify_config(args), progress=progress)
    options = {
        "budget": args.budget, "optimizer": args.optimizer, "all": args.all,
        "mode": args.mode, "requirements": list(result.requirements),
        "confidence": args.confidence, "target_rate": args.target_rate,
    }
    doc = verify_report(result, spec, policy_path=args.policy, spec_path=args.spec, options=options,
                        policy_sha256=policy_sha256)
    return result, doc
