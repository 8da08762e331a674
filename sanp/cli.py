"""The `sanp` command line. One `main()` maps errors to exit codes:
0 success; 1 a counterexample was found or --target-rate not reached (verify), or the
prune verdict is not ok; 2 bad input; 130 interrupted."""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sanp.cli_parser import build_parser

EXIT_OK, EXIT_FOUND, EXIT_BAD, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors, --help, --version
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return EXIT_BAD
    import stl
    from sanp import backends
    from sanp.errors import SanpError

    # SIGTERM stops a run the way Ctrl-C does: cleanly, checkpoint intact. Pool workers
    # put SIGTERM back to its default action (sanp.backends.local says why).
    signal.signal(signal.SIGTERM, _raise_interrupt)
    commands = {
        "check": cmd_check, "verify": cmd_verify, "import": cmd_import, "export": cmd_export, "eval": cmd_eval,
        "prune": cmd_prune, "report": cmd_report, "prove": cmd_prove,
    }
    try:
        with backends.use(_backend_config(args)):
            return commands[args.command](args)
    except stl.SpecError as exc:
        if args.debug:
            raise
        print(exc.pretty(), file=sys.stderr)
        return EXIT_BAD
    except SanpError as exc:
        if args.debug:
            raise
        print(f"sanp {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD
    except KeyboardInterrupt:
        print(f"sanp {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


# ------------------------------------------------------------------------- helpers


def _backend_config(args: argparse.Namespace) -> Any:
    from sanp.backends import BackendConfig
    from sanp.errors import OptionError

    kind = getattr(args, "backend", "local")
    if getattr(args, "address", None) and kind != "ray":
        raise OptionError("--address is the address of a Ray cluster: add --backend ray")
    return BackendConfig(kind, getattr(args, "workers", None) or (None if kind == "ray" else 1),
                         getattr(args, "address", None))


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt




def _warn_if_below(returns: Any, expected: float | None) -> None:
    """A one-line warning when the first episodes' mean return is far (over a quarter of
    |R|, at least 1) below what the user expects of the model."""
    import numpy as np

    if expected is None or not len(returns):
        return
    first = float(np.mean(returns[:5]))
    if first < expected - max(0.25 * abs(expected), 1.0):
        print(f"warning: the first {min(5, len(returns))} episodes returned {first:.1f} on average, far "
              f"below the expected {expected:g}; check --vecnormalize and the env", file=sys.stderr)


def _check_output(path: str | None, *inputs: str | None) -> None:
    """Fail before any work when an output cannot be written or would replace an input."""
    from sanp.atomic import check_outputs

    if path is not None:
        check_outputs({"output": path}, inputs)


def _check_plot_dir(path: str | None) -> None:
    """Fail before any work unless PNG files can be written into `path` (or it can be made):
    a probe file proves it where permission bits cannot (root, read-only or pseudo file systems)."""
    import tempfile

    from sanp.errors import OutputError

    if path is None:
        return
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"--plots {p}: exists and is not a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not p.exists() and not parent.is_dir():
        raise OutputError(f"--plots {p}: directory {parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=p if p.exists() else parent, prefix=".sanp-probe-"):
            pass
    except OSError as exc:
        raise OutputError(f"--plots {p}: cannot write there ({exc.strerror or exc}); "
                          "choose another directory") from None


def load_policy(path: str, binding: Any, vecnormalize: str | None = None):
    """Load a policy and check that it fits the binding's observation and action spaces."""
    import torch

    from sanp import formats as policies
    from sanp.errors import PolicyError

    torch.set_num_threads(1)
    try:
        return policies.load(
            path,
            observation_space=binding.observation_space,
            action_space=binding.action_space,
            vecnormalize=vecnormalize,
        )
    except PolicyError as exc:
        from sanp.envs import fitting_variant

        fit = fitting_variant(binding, lambda b: policies.load(
            path, observation_space=b.observation_space, action_space=b.action_space,
            vecnormalize=vecnormalize))
        if fit is None:
            raise
        raise PolicyError(f"{exc} — it fits {fit}") from None


# ------------------------------------------------------------------------ commands


def cmd_check(args: argparse.Namespace) -> int:
    import stl
    from sanp.envs import bind

    for path in args.specs:
        spec = stl.load(path)
        binding = bind(spec)
        dims = ", ".join(d.name for d in binding.space) or "none"
        print(
            f"{path}: ok — env {spec.env_id}, horizon {binding.horizon}, "
            f"{len(spec.signals)} signals, {len(spec.requirements)} requirements "
            f"({', '.join(spec.requirements)}), search [{dims}]"
            + (f", {len(spec.regions)} regions, {len(spec.properties)} props "
               f"({', '.join(spec.properties)})" if spec.properties or spec.regions else "")
        )
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    import stl
    from sanp.console import fmt, print_verify, progress_bar
    from sanp.envs import bind
    from sanp.falsify import FalsifyConfig, falsify
    from sanp.report import plot_verify, verify_report, write_json
    from sanp.runtime import deployed

    _check_output(args.json, args.policy, args.spec)
    _check_plot_dir(args.plots)
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
    if args.json:
        write_json(doc, args.json)
        print(f"report: {args.json}")
    if args.plots:
        files = plot_verify(doc, args.plots)
        print(f"plots: {len(files)} PNG files in {args.plots}")
    missed = args.target_rate is not None and not result.target_reached
    return EXIT_FOUND if result.falsified or missed else EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from sanp.envs import bind
    from sanp.formats.onnx_writer import export_onnx

    _check_output(args.output, args.model, args.vecnormalize)
    binding = bind(env_id=args.env)
    policy = load_policy(args.model, binding, args.vecnormalize)
    if args.expect_return is not None:
        from sanp import rollout
        from sanp.runtime import deployed

        _warn_if_below([t.total_reward for t in rollout.run_episodes(deployed(policy), binding, 5, 0)],
                       args.expect_return)
    export_onnx(policy, args.output, metadata={"env_id": binding.env_text, "source": Path(args.model).name})
    print(f"{args.output}: {policy.obs_dim} inputs -> {policy.out_dim} {policy.action_kind} outputs; "
          + (f"observation normalisation folded in from {args.vecnormalize}" if args.vecnormalize else
             "no observation normalisation folded in (no --vecnormalize, and no zoo config.yml "
             "beside the model asks for one)"))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    import hashlib

    from sanp.compact import compact, compaction_metadata
    from sanp.envs import bind
    from sanp.errors import OutputError
    from sanp.formats import SAVE_SUFFIXES, load, save
    from sanp.formats.onnx_reader import onnx_metadata

    if Path(args.output).suffix.lower() not in SAVE_SUFFIXES:
        raise OutputError(f"{args.output}: unknown output type; name it .onnx, .c or .pt")
    for out in {args.output, str(Path(args.output).with_suffix(".h"))}:
        _check_output(out, args.policy, args.vecnormalize)
    if args.env:
        policy = load_policy(args.policy, bind(env_id=args.env), args.vecnormalize)
    else:
        policy = load(args.policy, vecnormalize=args.vecnormalize)
    small = policy if args.no_compact else compact(policy)
    meta = {k: v for k, v in onnx_metadata(args.policy).items() if k != "produced_by"}
    if small.sizes != policy.sizes or "compaction" not in meta:  # keep the record of an earlier compaction
        meta.update(compaction_metadata(policy, small))
    meta.update(source=Path(args.policy).name, produced_by="sanp export",
                source_sha256=hashlib.sha256(Path(args.policy).read_bytes()).hexdigest())
    print(save(small, args.output, metadata=meta, storage=args.storage, source=args.policy,
               compacted_from=policy.sizes))
    print(f"compaction: {meta['compaction']}")
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np

    import stl
    from sanp import rollout
    from sanp.envs import bind
    from sanp.errors import OptionError
    from sanp.runtime import deployed

    if args.spec and args.env:
        raise OptionError("give either SPEC or --env, not both")
    if args.spec:
        binding = bind(stl.load(args.spec), horizon=args.horizon)
    elif args.env:
        binding = bind(env_id=args.env, horizon=args.horizon)
    else:
        raise OptionError("give a SPEC file or --env ENV_ID to evaluate the policy on")
    policy = load_policy(args.policy, binding, args.vecnormalize)
    trajs = rollout.run_episodes(deployed(policy), binding, args.episodes, args.seed)
    rets = np.array([t.total_reward for t in trajs])
    lens = np.array([t.length for t in trajs])
    bad = sum(t.nonfinite for t in trajs)
    print(
        f"{binding.env_text}, {args.episodes} episodes (seeds {args.seed}..{args.seed + args.episodes - 1}, "
        f"horizon {binding.horizon}): return mean {rets.mean():.2f} ± {rets.std():.2f}, "
        f"min {rets.min():.2f}, max {rets.max():.2f}; length mean {lens.mean():.1f}, "
        f"min {lens.min()}, max {lens.max()}"
        + (f"; {bad} episode(s) produced NaN/inf" if bad else "")
    )
    _warn_if_below(rets, args.expect_return)
    return EXIT_OK


def _deep_config(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from sanp.errors import OptionError
    from sanp.method.deep import DeepConfig

    if (args.deep_max_sparsity is not None or args.deep_time_limit is not None) and args.recipe != "deep":
        raise OptionError("--deep-max-sparsity and --deep-time-limit need --recipe deep")
    if args.deep_time_limit is not None and not args.deep_time_limit > 0:
        raise OptionError(f"--deep-time-limit must be positive, got {args.deep_time_limit}")
    cfg = DeepConfig(time_limit=args.deep_time_limit)
    return cfg if args.deep_max_sparsity is None else replace(cfg, max_sparsity=args.deep_max_sparsity)


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
                   "the checkpoint": f"{args.output}.ckpt.npz"},
                  (args.policy, args.spec, args.vecnormalize))
    _check_plot_dir(args.plots)
    hold_lock(args.output)
    spec = stl.load(args.spec)
    binding = bind(spec)
    dense = load_policy(args.policy, binding, args.vecnormalize)
    if args.prove:
        from sanp.prove.after_prune import check_provable

        check_provable(spec, dense.action_kind)
    config = _prune_config(args)
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
    try:
        result = prune_and_refine(dense, binding, spec, config, log=log, checkpoint=checkpoint)
    except KeyboardInterrupt:
        if checkpoint.path.exists():
            resume = " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--resume")
            err.print(f"interrupted; the run so far is saved in {checkpoint.path}. Resume with:\n"
                      f"  sanp {resume} --resume")
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

    return run(args, load_policy, _check_output, _check_plot_dir)


def cmd_report(args: argparse.Namespace) -> int:
    from sanp import report

    images = {}
    for item in args.image:
        caption, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        images[caption or Path(path).name] = Path(path)
    _check_output(args.output, args.run, *images.values())
    doc = report.load(args.run, max_mb=args.max_mb)
    report.write_html(doc, args.output, images=images or None)
    print(f"{args.output}: {doc.get('command', 'sanp')} report, verdict: {report.verdict_text(doc)}")
    return EXIT_OK


def entry() -> None:
    """The console script. An interrupted run leaves at once: its checkpoint is already
    on disk, and tearing down native thread pools (onnxruntime, torch) that the signal
    caught mid-call is not worth the risk of a crash on the way out."""
    code = main()
    if code == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
