"""The policy-file commands: `sanp import` (an SB3 model to ONNX), `sanp export` (compacted
ONNX, C or a checkpoint) and `sanp eval` (mean return over seeded episodes)."""
from __future__ import annotations

import argparse
from pathlib import Path

from sanp.commands.common import EXIT_OK, check_output, count, load_policy, warn_if_below


def cmd_import(args: argparse.Namespace) -> int:
    from sanp.envs import bind
    from sanp.formats.onnx_writer import export_onnx

    check_output(args.output, args.model, args.vecnormalize)
    binding = bind(env_id=args.env)
    policy = load_policy(args.model, binding, args.vecnormalize)
    if args.expect_return is not None:
        from sanp import rollout
        from sanp.runtime import deployed

        warn_if_below([t.total_reward for t in rollout.run_episodes(deployed(policy), binding, 5, 0)],
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
    from sanp.formats.onnx_graph import onnx_metadata

    if Path(args.output).suffix.lower() not in SAVE_SUFFIXES:
        raise OutputError(f"{args.output}: unknown output type; name it "
                          f"{', '.join(SAVE_SUFFIXES[:-1])} or {SAVE_SUFFIXES[-1]}")
    if Path(args.output).suffix.lower() == ".c":
        from sanp.formats.c_writer import check_c_name

        check_c_name(Path(args.output).stem)  # before the work, not after it
    for out in {args.output, str(Path(args.output).with_suffix(".h"))}:
        check_output(out, args.policy, args.vecnormalize)
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
        binding = bind(env_id=recorded_env(args.policy), horizon=args.horizon)
    policy = load_policy(args.policy, binding, args.vecnormalize)
    trajs = rollout.run_episodes(deployed(policy), binding, args.episodes, args.seed)
    rets = np.array([t.total_reward for t in trajs])
    lens = np.array([t.length for t in trajs])
    bad = sum(t.nonfinite for t in trajs)
    print(
        f"{binding.env_text}, {count(args.episodes, 'episode')} (seeds {args.seed}..{args.seed + args.episodes - 1}, "
        f"horizon {binding.horizon}): return mean {rets.mean():.2f} ± {rets.std():.2f}, "
        f"min {rets.min():.2f}, max {rets.max():.2f}; length mean {lens.mean():.1f}, "
        f"min {lens.min()}, max {lens.max()}"
        + (f"; {bad} episode(s) produced NaN/inf" if bad else "")
    )
    warn_if_below(rets, args.expect_return)
    return EXIT_OK


def recorded_env(path: str) -> str:
    """The env a sanp-written ONNX file records (`env_id`, with `env_kwargs` where
    `sanp prune` wrote them apart), in `--env`'s form: `LunarLander-v3(continuous=true)`."""
    import json

    from sanp.envs import env_text, parse_env_text
    from sanp.errors import OptionError
    from sanp.formats.onnx_graph import onnx_metadata

    meta = onnx_metadata(path) if Path(path).suffix.lower() == ".onnx" else {}
    if not meta.get("env_id"):
        raise OptionError(f"{path} does not record its env: give a SPEC file or --env ENV_ID to "
                          "evaluate the policy on")
    env_id, kwargs = parse_env_text(meta["env_id"])
    try:
        kwargs.update(json.loads(meta.get("env_kwargs") or "{}"))
    except (ValueError, TypeError):
        raise OptionError(f"{path}: its env_kwargs metadata is not JSON; give --env ENV_ID") from None
    return env_text(env_id, kwargs)
