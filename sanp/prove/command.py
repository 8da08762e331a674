"""`sanp prove POLICY SPEC`: the command behind `sanp.cli.cmd_prove`.

Properties come from the spec (its `region` / `prop` statements, through
`properties_from_spec`) or, with the `--properties FILE.json` option, from a JSON file
of the same declarations (`sanp.prove.declarations`).

Exit codes: 0 every property proved, 1 a property refuted, 3 one unknown or skipped (none
refuted; 'agrees' is skipped without --reference), 2 bad input (raised as a SanpError,
mapped by `sanp.cli.main`).
"""
from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path
from typing import Any

from sanp.prove.limits import MAX_DEPTH, MAX_TIMEOUT, MAX_VISITED_EPISODES


def _positive(kind: type, most: float | None = None, unit: str = "") -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be positive and finite, got {text}")
        if most is not None and value > most:
            raise argparse.ArgumentTypeError(f"{text} is over the maximum of {most:g}{unit}")
        return value

    return parse


positive_seconds = _positive(float, MAX_TIMEOUT, " seconds (a day)")
"""argparse type of a timeout: a positive float of at most a day."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `sanp prove` (imports nothing heavy: it runs for every command)."""
    from sanp.cli_options import add_json_option, workers

    p.add_argument("policy", metavar="POLICY", help=".onnx, sanp .pt checkpoint, or SB3 .zip")
    p.add_argument("spec", metavar="SPEC", help="the .stl spec whose region and prop statements to prove")
    p.add_argument("--reference", metavar="REF",
                   help="the reference policy of 'agrees' properties and of the 'visited' region "
                   "(default: POLICY itself for 'visited')")
    p.add_argument("--timeout", type=positive_seconds, default=60.0, metavar="S",
                   help="seconds per property, branch and bound included (default 60, at most 86400)")
    p.add_argument("--depth", type=_positive(int, MAX_DEPTH), default=8, metavar="N",
                   help=f"most halvings of a region in branch and bound (default 8, at most {MAX_DEPTH})")
    p.add_argument("--no-split", action="store_true", help="one query per property, no branch and bound")
    p.add_argument("--workers", type=workers, default=1, metavar="N",
                   help="properties proved in parallel processes (default 1; at most SANP_MAX_WORKERS, 64)")
    p.add_argument("--visited-episodes", type=_positive(int, MAX_VISITED_EPISODES), default=200, metavar="N",
                   help="episodes of the reference policy behind the 'visited' region "
                   f"(default 200, at most {MAX_VISITED_EPISODES:,})")
    p.add_argument("--seed", type=int, default=0, help="seed of the visited episodes and box samples")
    p.add_argument("--vecnormalize", metavar="FILE", help="VecNormalize .pkl for an SB3 zip")
    add_json_option(p)
    p.add_argument("--plots", metavar="DIR", help="a PNG of the split for each property that was split")
    p.add_argument("--properties", metavar="FILE.json",
                   help="prove these JSON declarations instead of the spec's prop statements")
    p.add_argument("--horizon", type=_positive(int, 100_000), metavar="N",
                   help="prove the spec's requirements over the closed loop for N steps, from the whole "
                   "search box (the env's declared dynamics; --timeout: seconds in all, --depth D: at most "
                   "2^D cells)")


def run(args: argparse.Namespace, load_policy: Any, check_output: Any, check_plot_dir: Any) -> int:
    """Load, prove, print, write the report and plots; the exit code."""
    if getattr(args, "horizon", None):
        from sanp.reach.command import run as run_closed_loop

        return run_closed_loop(args, load_policy, check_output, check_plot_dir)
    import stl
    from sanp.commands.common import write_report
    from sanp.envs import bind
    from sanp.extras import require
    from sanp.progress import Phases
    from sanp.prove.run import exit_code

    require("maraboupy", "proving")
    check_output(None if args.json == "-" else args.json, args.policy, args.spec, args.reference)
    check_plot_dir(args.plots)
    spec = stl.load(args.spec)
    binding = bind(spec)
    policy = load_policy(args.policy, binding, args.vecnormalize)
    reference = load_policy(args.reference, binding) if args.reference else None
    phases = Phases("sanp prove")
    with phases:  # ends (its live line gone) before the results print
        results, skipped, doc = prove_run(args, policy, reference, spec, binding, phases=phases)
    print_results(results, prove_config(args))
    for p in skipped:
        print(f"skipped {p.name}: compares with a reference policy; pass --reference REF.onnx to prove it")
    write_report(doc, args)
    if args.plots:
        _plots(results, Path(args.plots))
    return exit_code(results, skipped)


def prove_config(args: argparse.Namespace) -> Any:
    """The ProveConfig of `sanp prove`'s options."""
    from sanp.prove.bab import ProveConfig

    return ProveConfig(timeout=args.timeout, max_depth=args.depth, split=not args.no_split, seed=args.seed)


def prove_run(args: argparse.Namespace, policy: Any, reference: Any, spec: Any, binding: Any, *,
              digests: tuple[str | None, str | None] = (None, None), phases: Any = None
              ) -> tuple[list, list, dict[str, Any]]:
    """Prove the properties of `spec` (or of --properties) for `policy` (MLPPolicy) with
    `sanp prove`'s options `args`: the PropertyResults, the properties skipped for want of
    a reference policy, and the JSON report (`--json`). The CLI and `sanp.prove` both
    build their result here; `digests` stand for the SHA-256 of `args.policy` and
    `args.reference` when they are not files; `phases` (sanp.progress.Phases) is told of
    each property."""
    from sanp.prove.declarations import load_json
    from sanp.prove.domain import Resolver, obs_names, visited_box
    from sanp.prove.from_spec import properties_from_spec
    from sanp.prove.network import check_encodable
    from sanp.prove.run import prove_report
    from sanp.report import file_sha256
    from sanp.runtime import deployed

    check_encodable(policy)  # before any phase starts: a policy Marabou cannot read is one line
    names = obs_names(spec, policy.obs_dim)

    def visited():  # no progress line here: a bad region found after it must stay one line
        return visited_box(deployed(reference or policy), binding, episodes=args.visited_episodes,
                           seed=args.seed, names=names)

    resolver = Resolver(spec, binding, policy.obs_dim, visited=visited)
    props = load_json(args.properties, resolver) if args.properties else properties_from_spec(spec, resolver)
    props, skipped = needs_reference(props) if reference is None else (props, [])
    results = _prove(props, policy, reference, prove_config(args), args.workers, phases)
    inputs = {
        "policy": str(args.policy), "policy_sha256": digests[0] or file_sha256(args.policy),
        "spec": str(args.spec), "spec_sha256": spec.sha256,
        "reference": None if args.reference is None else str(args.reference),
        "reference_sha256": (digests[1] or file_sha256(args.reference)) if args.reference else None,
        "properties_file": args.properties,
        "options": {"timeout": args.timeout, "depth": args.depth, "split": not args.no_split,
                    "seed": args.seed, "visited_episodes": args.visited_episodes},
        "verifier": f"marabou (maraboupy {metadata.version('maraboupy')})",
    }
    return results, skipped, prove_report(results, inputs, skipped)


def _prove(props: list, policy: Any, reference: Any, config: Any, workers: int, phases: Any) -> list:
    """prove_all, with a phase per property (or one for all, when they run in parallel)."""
    import math

    from sanp.prove.run import prove_all

    n = len(props)
    if phases is None:
        return prove_all(props, policy, reference, config=config, workers=workers)
    if workers > 1 and n > 1:
        rounds = math.ceil(n / min(workers, n))
        phases.start(1, 1, "prove", f"{n} properties in {min(workers, n)} processes",
                     at_most=rounds * config.timeout)
        return prove_all(props, policy, reference, config=config, workers=workers)

    def start(i: int, prop: Any) -> None:
        phases.start(i + 1, n, "prove", f"property {prop.name}", at_most=config.timeout)

    return prove_all(props, policy, reference, config=config, workers=workers, on_start=start)


def needs_reference(props: list) -> tuple[list, list]:
    """(the properties provable without a reference policy, the `agrees` ones); a
    PropertyError when none is left, as there is then nothing to prove."""
    from sanp.prove.properties import Agrees, PropertyError

    keep = [p for p in props if not isinstance(p.conclusion, Agrees)]
    if props and not keep:
        raise PropertyError(f"every property ({', '.join(p.name for p in props)}) compares with a "
                            "reference policy; pass --reference REF.onnx")
    return keep, [p for p in props if isinstance(p.conclusion, Agrees)]


def _plots(results: list, out: Path) -> None:
    from sanp.prove.plot import plot_split

    out.mkdir(exist_ok=True)
    files = [plot_split(r, out / f"{r.prop.name}.png") for r in results if r.split and r.prop.region.dim >= 2]
    print(f"plots: {len(files)} PNG files in {out}")


def print_results(results: list, config: Any) -> None:
    """One table row per property, then each counterexample and what is unknown."""
    from rich.table import Table

    from sanp.console import console

    con = console()
    t = Table(title=f"sanp prove (timeout {config.timeout:g} s per property)")
    for col in ("property", "verdict", "proved", "refuted", "unknown", "queries", "time"):
        t.add_column(col)
    for r in results:
        f = r.fractions()
        t.add_row(r.prop.name, r.verdict + (f" ({r.reason})" if r.reason else ""), f"{f['proved']:.1%}",
                  f"{f['refuted']:.1%}", f"{f['unknown']:.1%}", str(r.queries), f"{r.seconds:.2f}s")
    con.print(t)
    for r in results:
        con.print(f"{r.prop.text()}\n  over {r.prop.region_name or 'region'}: {r.prop.region.text()}")
        if r.counterexamples:
            c = r.counterexamples[0]
            obs = ", ".join(f"{r.prop.region.label(i)}={v:.6g}" for i, v in enumerate(c.obs))
            outs = ", ".join(f"{v:.6g}" for v in c.values)
            ref = "" if c.reference_values is None else \
                f"; reference outputs {', '.join(f'{v:.6g}' for v in c.reference_values)}"
            con.print(f"  REFUTED at {obs}: outputs {outs}{ref} (onnxruntime float32, margin {c.margin:.4g}); "
                      f"{len(r.counterexamples)} counterexample(s) in all")
        if r.split:
            f = r.fractions()
            con.print(f"  split into {len(r.leaves)} boxes: proved {f['proved']:.1%}, refuted {f['refuted']:.1%}, "
                      f"unknown {f['unknown']:.1%}, vacuous {f['vacuous']:.1%} of the region's volume")
