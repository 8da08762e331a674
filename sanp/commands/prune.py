"""`sanp prune`: prune and refine, then write the compacted ONNX, report and plots."""
from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from typing import Any

from sanp.commands.common import (
    EXIT_BAD,
    EXIT_FOUND,
    EXIT_OK,
    check_plot_dir,
    json_path,
    load_policy,
    warn_short_horizon,
    write_report,
)


def cmd_prune(args: argparse.Namespace) -> int:
    import stl
    from sanp.atomic import check_outputs, hold_lock
    from sanp.envs import bind
    from sanp.progress import Phases

    check_outputs({"-o": args.output, getattr(args, "json_option", None) or "--json": json_path(args),
                   "the checkpoint": f"{args.output}.ckpt.npz", "the checkpoint's key": f"{args.output}.sanp-key"},
                  (args.policy, args.spec, args.vecnormalize))
    check_plot_dir(args.plots)
    prune_config(args)
    hold_lock(args.output)
    spec = stl.load(args.spec)
    binding = bind(spec)
    dense = load_policy(args.policy, binding, args.vecnormalize)
    checkpoint = prune_checkpoint(args, spec)
    phases = Phases("sanp prune", extra=1 if args.prove else 0)
    if args.resume and not checkpoint.path.exists():
        # A retry loop passes --resume whether or not the last try got far enough to save.
        phases.console.print(f"--resume: there is no checkpoint {checkpoint.path} to resume (nothing was "
                             "saved); starting from scratch", soft_wrap=True, markup=False)
    try:
        with phases:
            outcome = run_prune(args, dense, spec, binding, log=phases.log, checkpoint=checkpoint,
                                phases=phases, on_pruned=lambda final, meta: _write_onnx(args, final, meta))
    except KeyboardInterrupt:
        if checkpoint.path.exists():
            resume = " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--resume")
            # unwrapped and without markup: a command to copy as it is
            phases.console.print(f"interrupted; the run so far is saved in {checkpoint.path} (key "
                                 f"{checkpoint.key_path.name}). Resume with:\n  sanp {resume} --resume",
                                 soft_wrap=True, markup=False)
        else:
            checkpoint.remove()  # a key drawn for a checkpoint the interrupt stopped
            phases.console.print("interrupted before the first checkpoint: nothing is saved, a rerun starts "
                                 "from scratch", soft_wrap=True, markup=False)
        raise
    if outcome.proved is not None:  # after the live display, as `sanp prove` prints it
        _print_proof(args, *outcome.proved)
    if outcome.closed_loop is not None:
        from sanp.commands.closed_loop import print_result

        print_result(outcome.closed_loop, str(args.output), str(args.spec))
    _write_prune_outputs(args, outcome, dense)
    warn_short_horizon(spec, binding, args.spec)
    checkpoint.remove()  # the prune is on disk, whatever became of its proof
    if outcome.proof_error is not None:
        print(f"sanp prune: error: --prove failed after the prune was written to {args.output}: "
              f"{outcome.proof_error}", file=sys.stderr)
        return EXIT_BAD
    # a result the safety time limit cut short depends on the machine: never a plain "ok"
    return EXIT_OK if outcome.result.verdict.ok and outcome.report["reproducible"] else EXIT_FOUND


def prune_checkpoint(args: argparse.Namespace, spec: Any) -> Any:
    """The checkpoint beside `-o`, fingerprinted with the inputs and options."""
    from dataclasses import asdict

    from sanp.jsonio import file_sha256, jsonable
    from sanp.method.resume_file import Checkpoint

    return Checkpoint.beside(args.output, {
        "policy_sha256": file_sha256(args.policy),
        "vecnormalize_sha256": file_sha256(args.vecnormalize) if args.vecnormalize else None,
        "spec_sha256": spec.sha256,
        "config": jsonable(asdict(prune_config(args))),
    }, args.resume)


@dataclass(frozen=True)
class PruneOutcome:
    """What a prune run built: the method's PruneResult, the network written as ONNX
    (compacted unless --no-compact), its ONNX metadata, and the JSON report."""

    result: Any
    final: Any
    metadata: dict[str, str]
    report: dict[str, Any]
    proved: tuple[dict, Any] | None = None
    """Under --prove: the report's proof block and the prover's results, to print."""
    proof_error: str | None = None
    """Under --prove: why the proof failed (the prune itself stands)."""
    closed_loop: Any = None
    """Under --prove-horizon: the closed-loop proof (sanp.reach.ReachResult)."""


def run_prune(args: argparse.Namespace, dense: Any, spec: Any, binding: Any, *, log: Any = None,
              checkpoint: Any = None, phases: Any = None, policy_sha256: str | None = None,
              on_pruned: Any = None) -> PruneOutcome:
    """Prune and refine `dense` (MLPPolicy) with `sanp prune`'s options `args`, prove it
    under --prove, and build the ONNX metadata and the report (`--json`). The CLI and
    `sanp.prune` both build their result here; `phases` (sanp.progress.Phases) is told of
    each phase; `policy_sha256` stands for the digest of `args.policy` when it is not a file;
    `on_pruned(network, metadata)` is called before --prove starts, so that no failure or
    interrupt of the proof loses the prune (the CLI writes the ONNX there)."""
    from sanp.compact import compact, compaction_metadata, compaction_summary
    from sanp.errors import SanpError
    from sanp.method import prune_and_refine
    from sanp.report import prune_metadata, prune_report

    if args.prove:  # a proof that cannot run fails here, not after the whole prune
        from sanp.prove.after_prune import check_before_prune

        check_before_prune(spec, binding, dense, args.verifier)
    if getattr(args, "prove_horizon", None):  # the same: a missing model fails before the prune
        from sanp.reach.run import build

        build(dense, spec, binding, args.prove_horizon)
    result = prune_and_refine(dense, binding, spec, prune_config(args), log=log, checkpoint=checkpoint,
                              on_phase=phases.start if phases is not None else None)
    final = result.policy if args.no_compact else compact(result.policy)
    meta = {**prune_metadata(result, spec), **compaction_metadata(result.policy, final)}
    if on_pruned is not None:
        on_pruned(final, meta)
    proved, proof_error = None, None
    if args.prove:
        try:
            proved = _prove_pruned(args, spec, binding, final, dense, log, phases)
        except SanpError as exc:
            proof_error = str(exc)
    proof = proved[0] if proved is not None else None
    if proof is not None:
        meta["proof"] = proof["summary"]
    doc = prune_report(result, spec, policy_path=args.policy, spec_path=args.spec,
                       output_path=args.output, policy_sha256=policy_sha256)
    doc = {**doc, "compaction": compaction_summary(result.policy, final)}
    if proof is not None:
        from sanp.prove.after_prune import refuted_details

        verdict = {**doc["verdict"], "details": [*doc["verdict"]["details"], *refuted_details(proof)]}
        doc = {**doc, "verdict": verdict, "proof": proof}
    elif proof_error is not None:
        doc = {**doc, "proof": {"verdict": "error", "timeout": args.prove_timeout, "error": proof_error}}
    closed = None
    if getattr(args, "prove_horizon", None):
        from sanp.commands.closed_loop import closed_loop_block
        from sanp.reach.run import ReachConfig, prove_closed_loop

        closed = prove_closed_loop(final, spec, binding, ReachConfig(horizon=args.prove_horizon,
                                                                     timeout=args.prove_timeout))
        doc = {**doc, "closed_loop": closed_loop_block(closed, spec, str(args.output), str(args.spec))}
    return PruneOutcome(result, final, meta, doc, proved, proof_error, closed)


def prune_config(args: argparse.Namespace) -> Any:
    from sanp.errors import OptionError
    from sanp.method import PruneConfig

    if getattr(args, "verifier", None) is not None and not args.prove:
        raise OptionError("--verifier chooses the verifier of --prove: add --prove")

    return PruneConfig(
        criterion=args.criterion, scope=args.scope, episodes=args.episodes, budget=args.budget,
        optimizer=args.optimizer, sparsity=args.sparsity,
        rounds=args.rounds, round_uniform=args.round_uniform, heldout_budget=args.heldout_budget,
        heldout_uniform=args.heldout_uniform, seed=args.seed, confidence=args.confidence,
        margin=args.margin, recipe=args.recipe, deep=_deep_config(args),
    )


def _deep_config(args: argparse.Namespace) -> Any:
    from sanp.errors import OptionError
    from sanp.method.deep import DeepConfig

    names = ("max_sparsity", "time_limit", "screen", "screen_looks", "confirm", "collect_points", "finetune_steps")
    given = {a: v for a in names if (v := getattr(args, f"deep_{a}")) is not None}
    if given and args.recipe != "deep":
        raise OptionError(f"--deep-{next(iter(given)).replace('_', '-')} needs --recipe deep")
    if args.deep_time_limit is not None and not args.deep_time_limit > 0:
        raise OptionError(f"--deep-time-limit must be positive, got {args.deep_time_limit}")
    return DeepConfig.from_options(**given)


def _write_prune_outputs(args: argparse.Namespace, outcome: PruneOutcome, dense: Any) -> None:
    """The compacted ONNX (with the proof, under --prove), the summary, the report and plots."""
    from sanp.compact import compaction_summary
    from sanp.console import print_prune
    from sanp.formats.onnx_writer import export_onnx
    from sanp.report import plot_prune

    result, doc = outcome.result, outcome.report
    if outcome.proved is not None:  # again, now with the proof's summary
        export_onnx(outcome.final, args.output, metadata=outcome.metadata, storage=args.storage)
    print_prune(result)
    print(f"sparse policy: {args.output} (network {compaction_summary(result.policy, outcome.final)['network']})")
    write_report(doc, args)
    if args.plots:
        nets = [("dense", dense), ("pruned (step 1)", result.step1.policy), ("refined", result.policy)]
        files = plot_prune(doc, nets, args.plots)
        print(f"plots: {len(files)} PNG files in {args.plots}")


def _write_onnx(args: argparse.Namespace, network: Any, metadata: dict[str, str]) -> None:
    from sanp.formats.onnx_writer import export_onnx

    export_onnx(network, args.output, metadata=metadata, storage=args.storage)


def _prove_pruned(args: argparse.Namespace, spec, binding, refined, dense, log, phases) -> tuple[dict, Any]:
    """`prune --prove`: the proof block of the report and the prover's results."""
    from sanp.prove.after_prune import prove_pruned, summary
    from sanp.report.documents import proof_block

    message = f"proving the spec's properties on the refined policy (timeout {args.prove_timeout:g} s each)"
    if phases is not None:
        phases.next("prove", message)
    elif log is not None:
        log(message)
    proof = prove_pruned(spec, binding, refined, dense, timeout=args.prove_timeout, seed=args.seed,
                         verifier=args.verifier)
    block = proof_block(proof.results, verifier=proof.verifier, timeout=args.prove_timeout,
                        summary=summary(proof.results), note=proof.note)
    return block, proof.results


def _print_proof(args: argparse.Namespace, proof: dict, results: Any) -> None:
    """--prove's table, printed as `sanp prove` prints it."""
    from sanp.console import print_prove

    print_prove(results, args.prove_timeout)
    if proof["note"]:
        print(f"proof: {proof['note']}")
