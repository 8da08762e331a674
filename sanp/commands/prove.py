"""`sanp prove POLICY SPEC`: prove the one-step properties of a spec for a policy.

Properties come from the spec (its `region` / `prop` statements, through
`properties_from_spec`) or, with the `--properties FILE.json` option, from a JSON file
of the same declarations (`sanp.prove.declarations`); `--verifier` names the verifier
(`sanp.prove.verifiers`).

Exit codes: 0 every property proved, 1 a property refuted, 3 one unknown or skipped (none
refuted; 'agrees' is skipped without --reference), 2 bad input (raised as a SanpError,
mapped by `sanp.cli.main`).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanp.commands.common import check_output, check_plot_dir, load_policy, write_report

if TYPE_CHECKING:
    from sanp.envs.binding import Binding
    from sanp.model import MLPPolicy
    from sanp.progress import Phases
    from sanp.prove.bab import PropertyResult, ProveConfig
    from sanp.prove.properties import Property
    from sanp.prove.verifier import Verifier
    from stl import SpecFile


def cmd_prove(args: argparse.Namespace) -> int:
    """Load, prove, print, write the report and plots; the exit code."""
    if getattr(args, "horizon", None):
        from sanp.commands.closed_loop import run as run_closed_loop

        return run_closed_loop(args, load_policy, check_output, check_plot_dir)
    import stl
    from sanp.console import print_prove
    from sanp.envs import bind
    from sanp.progress import Phases
    from sanp.prove.run import exit_code
    from sanp.prove.verifiers import check_verifier

    check_verifier(args.verifier, "proving")
    check_output(None if args.json == "-" else args.json, args.policy, args.spec, args.reference)
    check_plot_dir(args.plots)
    spec = stl.load(args.spec)
    binding = bind(spec)
    policy = load_policy(args.policy, binding, args.vecnormalize)
    reference = load_policy(args.reference, binding) if args.reference else None
    phases = Phases("sanp prove")
    with phases:  # ends (its live line gone) before the results print
        results, skipped, doc = prove_run(args, policy, reference, spec, binding, phases=phases)
    print_prove(results, args.timeout)
    for p in skipped:
        print(f"skipped {p.name}: compares with a reference policy; pass --reference REF.onnx to prove it")
    write_report(doc, args)
    if args.plots:
        _plots(results, Path(args.plots))
    return exit_code(results, skipped)


def prove_config(args: argparse.Namespace) -> ProveConfig:
    """The ProveConfig of `sanp prove`'s options."""
    from sanp.prove.bab import ProveConfig

    return ProveConfig(timeout=args.timeout, max_depth=args.depth, split=not args.no_split, seed=args.seed)


def prove_run(args: argparse.Namespace, policy: MLPPolicy, reference: MLPPolicy | None, spec: SpecFile,
              binding: Binding, *, digests: tuple[str | None, str | None] = (None, None),
              phases: Phases | None = None) -> tuple[list[PropertyResult], list[Property], dict[str, Any]]:
    """Prove the properties of `spec` (or of --properties) for `policy` (MLPPolicy) with
    `sanp prove`'s options `args`: the PropertyResults, the properties skipped for want of
    a reference policy, and the JSON report (`--json`). The CLI and `sanp.prove` both
    build their result here; `digests` stand for the SHA-256 of `args.policy` and
    `args.reference` when they are not files; `phases` (sanp.progress.Phases) is told of
    each property."""
    from sanp.jsonio import file_sha256
    from sanp.prove.declarations import load_json
    from sanp.prove.domain import Resolver, obs_names, visited_box
    from sanp.prove.from_spec import properties_from_spec
    from sanp.prove.network import check_encodable
    from sanp.prove.verifiers import make_verifier
    from sanp.report.documents import prove_report
    from sanp.runtime import deployed

    verifier = make_verifier(args.verifier, "proving")
    check_encodable(policy)  # before any phase starts: a policy the verifier cannot read is one line
    names = obs_names(spec, policy.obs_dim)

    def visited():  # no progress line here: a bad region found after it must stay one line
        return visited_box(deployed(reference or policy), binding, episodes=args.visited_episodes,
                           seed=args.seed, names=names)

    resolver = Resolver(spec, binding, policy.obs_dim, visited=visited)
    props = load_json(args.properties, resolver) if args.properties else properties_from_spec(spec, resolver)
    props, skipped = needs_reference(props) if reference is None else (props, [])
    results = _prove(props, policy, reference, verifier, prove_config(args), args.workers, phases)
    inputs = {
        "policy": str(args.policy), "policy_sha256": digests[0] or file_sha256(args.policy),
        "spec": str(args.spec), "spec_sha256": spec.sha256,
        "reference": None if args.reference is None else str(args.reference),
        "reference_sha256": (digests[1] or file_sha256(args.reference)) if args.reference else None,
        "properties_file": args.properties,
        "options": {"timeout": args.timeout, "depth": args.depth, "split": not args.no_split,
                    "seed": args.seed, "visited_episodes": args.visited_episodes},
        "verifier": verifier.describe(),
    }
    return results, skipped, prove_report(results, inputs, skipped)


def _prove(props: list[Property], policy: MLPPolicy, reference: MLPPolicy | None, verifier: Verifier,
           config: ProveConfig, workers: int, phases: Phases | None) -> list[PropertyResult]:
    """prove_all, with a phase per property (or one for all, when they run in parallel)."""
    import math

    from sanp.prove.run import prove_all

    n = len(props)
    if phases is None:
        return prove_all(props, policy, reference, verifier=verifier, config=config, workers=workers)
    if workers > 1 and n > 1:
        rounds = math.ceil(n / min(workers, n))
        phases.start(1, 1, "prove", f"{n} properties in {min(workers, n)} processes",
                     at_most=rounds * config.timeout)
        return prove_all(props, policy, reference, verifier=verifier, config=config, workers=workers)

    def start(i: int, prop: Property) -> None:
        phases.start(i + 1, n, "prove", f"property {prop.name}", at_most=config.timeout)

    return prove_all(props, policy, reference, verifier=verifier, config=config, workers=workers, on_start=start)


def needs_reference(props: list[Property]) -> tuple[list[Property], list[Property]]:
    """(the properties provable without a reference policy, the `agrees` ones); a
    PropertyError when none is left, as there is then nothing to prove."""
    from sanp.prove.properties import Agrees, PropertyError

    keep = [p for p in props if not isinstance(p.conclusion, Agrees)]
    if props and not keep:
        raise PropertyError(f"every property ({', '.join(p.name for p in props)}) compares with a "
                            "reference policy; pass --reference REF.onnx")
    return keep, [p for p in props if isinstance(p.conclusion, Agrees)]


def _plots(results: list[PropertyResult], out: Path) -> None:
    from sanp.report.prove_split import plot_split

    out.mkdir(exist_ok=True)
    files = [plot_split(r, out / f"{r.prop.name}.png") for r in results if r.split and r.prop.region.dim >= 2]
    print(f"plots: {len(files)} PNG files in {out}")
