"""`sanp check` (read specs and bind their envs) and `sanp verify` (falsify a policy)."""
from __future__ import annotations

import argparse

from sanp.commands.common import (
    EXIT_FOUND,
    EXIT_OK,
    check_output,
    check_plot_dir,
    count,
    json_path,
    load_policy,
    write_report,
)


def cmd_check(args: argparse.Namespace) -> int:
    import stl
    from sanp.envs import bind

    for path in args.specs:
        spec = stl.load(path)
        binding = bind(spec)
        dims = ", ".join(d.name for d in binding.space) or "none"
        env = binding.env_text.replace("(", " (", 1)  # LunarLander-v3 (continuous=true)
        print(
            f"{path}: ok — env {env}, horizon {binding.horizon}, "
            f"{count(len(spec.signals), 'signal')}, {count(len(spec.requirements), 'requirement')} "
            f"({', '.join(spec.requirements)}), search [{dims}]"
            + (f", {count(len(spec.regions), 'region')}, {count(len(spec.properties), 'prop')} "
               f"({', '.join(spec.properties)})" if spec.properties or spec.regions else "")
        )
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    import stl
    from sanp.console import fmt, print_verify, progress_bar
    from sanp.envs import bind
    from sanp.falsify import FalsifyConfig, falsify
    from sanp.report import plot_verify, verify_report
    from sanp.runtime import deployed

    check_output(json_path(args), args.policy, args.spec)
    check_plot_dir(args.plots)
    spec = stl.load(args.spec)
    binding = bind(spec)
    policy = load_policy(args.policy, binding, args.vecnormalize)
    config = FalsifyConfig(
        budget=args.budget,
        optimizer=args.optimizer,
        seed=args.seed,
        collect_all=args.all,
        requirements=tuple(args.requirement) if args.requirement else None,
        mode=args.mode,
        confidence=args.confidence,
        target_rate=args.target_rate,
    )
    actor = deployed(policy)
    with progress_bar("falsifying") as bar:
        task = bar.add_task(f"{args.optimizer} falsification", total=None, best="-")

        def tick(done: int, total: int, best: float) -> None:
            bar.update(task, completed=done, total=total, best=fmt(best))

        result = falsify(actor, binding, spec, config, progress=tick)
    print_verify(result, spec)
    options = {
        "budget": args.budget, "optimizer": args.optimizer, "all": args.all,
        "mode": args.mode, "requirements": list(result.requirements),
        "confidence": args.confidence, "target_rate": args.target_rate,
    }
    doc = verify_report(result, spec, policy_path=args.policy, spec_path=args.spec, options=options)
    write_report(doc, args)
    if args.plots:
        files = plot_verify(doc, args.plots)
        print(f"plots: {len(files)} PNG files in {args.plots}")
    missed = args.target_rate is not None and not result.target_reached
    return EXIT_FOUND if result.falsified or missed else EXIT_OK
