"""`sanp prune` (prune and refine, then write the compacted ONNX, report and plots) and
`sanp prove`."""
from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from sanp.commands.common import EXIT_FOUND, EXIT_OK, check_output, check_plot_dir, load_policy


def cmd_prune(args: argparse.Namespace) -> int:
    import time
    from dataclasses import asdict

    import stl
    from sanp.atomic import check_outputs, hold_lock
    from sanp.console import console
    from sanp.envs import bind
    from sanp.method import prune_and_refine
    from sanp.method.checkpoint import Checkpoint
    from sanp.report import file_sha256, jsonable

    check_outputs({"-o": args.output, "--report": args.report,
                   "the checkpoint": f"{args.output}.ckpt.npz", "the checkpoint's key": f"{args.output}.sanp-key"},
                  (args.policy, args.spec, args.vecnormalize))
    check_plot_dir(args.plots)
    config = _prune_config(args)
    hold_lock(args.output)
    spec = stl.load(args.spec)
    binding = bind(spec)
    dense = load_policy(args.policy, binding, args.vecnormalize)
    if args.prove:
        from sanp.prove.after_prune import check_provable

        check_provable(spec, dense.action_kind)
    err = console(stderr=True)
    start = time.perf_counter()

    def log(msg: str) -> None:
        err.print(f"[{time.perf_counter() - start:7.1f}s] {msg}")

    checkpoint = Checkpoint.beside(args.output, {
        "policy_sha256": file_sha256(args.policy),
        "vecnormalize_sha256": file_sha256(args.vecnormalize) if args.vecnormalize else None,
        "spec_sha256": spec.sha256,
        "config": jsonable(asdict(config)),
    }, args.resume)
    if args.resume and not checkpoint.path.exists():
        # A retry loop passes --resume whether or not the last try got far enough to save.
        err.print(f"--resume: there is no checkpoint {checkpoint.path} to resume (nothing was saved); "
                  "starting from scratch", soft_wrap=True, markup=False)
    try:
        result = prune_and_refine(dense, binding, spec, config, log=log, checkpoint=checkpoint)
    except KeyboardInterrupt:
        if checkpoint.path.exists():
            resume = " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--resume")
            # unwrapped and without markup: a command to copy as it is
            err.print(f"interrupted; the run so far is saved in {checkpoint.path} (key {checkpoint.key_path.name}). "
                      f"Resume with:\n  sanp {resume} --resume", soft_wrap=True, markup=False)
        else:
            checkpoint.remove()  # a key drawn for a checkpoint the interrupt stopped
            err.print("interrupted before the first checkpoint: nothing is saved, a rerun starts from scratch")
        raise
    _write_prune_outputs(args, result, spec, binding, dense, log)
    checkpoint.remove()
    return EXIT_OK if result.verdict.ok else EXIT_FOUND


def _prune_config(args: argparse.Namespace) -> Any:
    from sanp.method import PruneConfig

    return PruneConfig(
        criterion=args.criterion, scope=args.scope, episodes=args.episodes, budget=args.budget,
        sparsity=args.sparsity,
        rounds=args.rounds, round_uniform=args.round_uniform, heldout_budget=args.heldout_budget,
        heldout_uniform=args.heldout_uniform, seed=args.seed, confidence=args.confidence,
        recipe=args.recipe, deep=_deep_config(args),
    )


def _deep_config(args: argparse.Namespace) -> Any:
    from sanp.errors import OptionError
    from sanp.method.deep import DeepConfig

    names = ("max_sparsity", "time_limit", "screen", "screen_looks", "collect_points", "finetune_steps")
    given = {a: v for a in names if (v := getattr(args, f"deep_{a}")) is not None}
    if given and args.recipe != "deep":
        raise OptionError(f"--deep-{next(iter(given)).replace('_', '-')} needs --recipe deep")
    if args.deep_time_limit is not None and not args.deep_time_limit > 0:
        raise OptionError(f"--deep-time-limit must be positive, got {args.deep_time_limit}")
    return DeepConfig.from_options(**given)


def _write_prune_outputs(args: argparse.Namespace, result: Any, spec: Any, binding: Any, dense: Any,
                         log: Any) -> None:
    """The compacted ONNX (with the proof, under --prove), the summary, the report and plots."""
    from sanp.compact import compact, compaction_metadata, compaction_summary
    from sanp.console import print_prune
    from sanp.formats.onnx_writer import export_onnx
    from sanp.report import plot_prune, prune_metadata, prune_report, write_json

    final = result.policy if args.no_compact else compact(result.policy)
    meta = {**prune_metadata(result, spec), **compaction_metadata(result.policy, final)}
    proof = _prove_pruned(args, spec, binding, final, dense, log) if args.prove else None
    if proof is not None:
        meta["proof"] = proof["summary"]
    export_onnx(final, args.output, metadata=meta, storage=args.storage)
    print_prune(result)
    print(f"sparse policy: {args.output} (network {compaction_summary(result.policy, final)['network']})")
    doc = prune_report(result, spec, policy_path=args.policy, spec_path=args.spec,
                       output_path=args.output)
    doc = {**doc, "compaction": compaction_summary(result.policy, final)}
    if proof is not None:
        from sanp.prove.after_prune import refuted_details

        verdict = {**doc["verdict"], "details": [*doc["verdict"]["details"], *refuted_details(proof)]}
        doc = {**doc, "verdict": verdict, "proof": proof}
    if args.report:
        write_json(doc, args.report)
        print(f"report: {args.report}")
    if args.plots:
        nets = [("dense", dense), ("pruned (step 1)", result.step1.policy), ("refined", result.policy)]
        files = plot_prune(doc, nets, args.plots)
        print(f"plots: {len(files)} PNG files in {args.plots}")


def _prove_pruned(args: argparse.Namespace, spec, binding, refined, dense, log) -> dict:
    """`prune --prove`: the proof block of the report, printed as `sanp prove` prints."""
    from sanp.prove.after_prune import prove_pruned
    from sanp.prove.bab import ProveConfig
    from sanp.prove.command import print_results

    log(f"proving the spec's properties on the refined policy (timeout {args.prove_timeout:g} s each)")
    proof, results = prove_pruned(spec, binding, refined, dense, timeout=args.prove_timeout, seed=args.seed)
    print_results(results, ProveConfig(timeout=args.prove_timeout))
    if proof["note"]:
        print(f"proof: {proof['note']}")
    return proof


def cmd_prove(args: argparse.Namespace) -> int:
    from sanp.prove.command import run

    return run(args, load_policy, check_output, check_plot_dir)
