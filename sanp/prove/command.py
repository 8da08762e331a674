"""`sanp prove POLICY SPEC`: the command behind `sanp.cli.cmd_prove`.

Properties come from the spec (its `region` / `prop` statements, through
`properties_from_spec`) or, with the `--properties FILE.json` option, from a JSON file
of the same declarations (`sanp.prove.declarations`).

Exit codes: 0 every property proved, 1 a property refuted, 3 unknown remains (none
refuted), 2 bad input (raised as a SanpError, mapped by `sanp.cli.main`).
"""
from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path
from typing import Any


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be positive and finite, got {text}")
        return value

    return parse


positive_seconds = _positive(float)
"""argparse type of a timeout: a positive, finite float."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `sanp prove` (imports nothing heavy: it runs for every command)."""
    positive_int, positive_float = _positive(int), _positive(float)
    p.add_argument("policy", metavar="POLICY", help=".onnx, sanp .pt checkpoint, or SB3 .zip")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--reference", metavar="REF",
                   help="the reference policy of 'agrees' properties and of the 'visited' region "
                   "(default: POLICY itself for 'visited')")
    p.add_argument("--timeout", type=positive_float, default=60.0, metavar="S",
                   help="seconds per property, branch and bound included (default 60)")
    p.add_argument("--depth", type=positive_int, default=8, metavar="N",
                   help="most halvings of a region in branch and bound (default 8)")
    p.add_argument("--no-split", action="store_true", help="one query per property, no branch and bound")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="properties proved in parallel processes (default 1)")
    p.add_argument("--visited-episodes", type=positive_int, default=200, metavar="N",
                   help="episodes of the reference policy behind the 'visited' region (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the visited episodes and box samples")
    p.add_argument("--vecnormalize", metavar="FILE", help="VecNormalize .pkl for an SB3 zip")
    p.add_argument("--json", metavar="FILE", help="write the JSON report here")
    p.add_argument("--plots", metavar="DIR", help="a PNG of the split for each property that was split")
    p.add_argument("--properties", metavar="FILE.json",
                   help="prove these JSON declarations instead of the spec's prop statements")


def run(args: argparse.Namespace, load_policy: Any, check_output: Any, check_plot_dir: Any) -> int:
    """Load, prove, print, write the report and plots; the exit code."""
    import stl
    from sanp.envs import bind
    from sanp.extras import require
    from sanp.prove.bab import ProveConfig
    from sanp.prove.declarations import load_json
    from sanp.prove.domain import Resolver, obs_names, visited_box
    from sanp.prove.from_spec import properties_from_spec
    from sanp.prove.run import exit_code, prove_all, prove_report
    from sanp.report import file_sha256, write_json
    from sanp.runtime import deployed

    require("maraboupy", "proving")
    check_output(args.json, args.policy, args.spec, args.reference)
    check_plot_dir(args.plots)
    spec = stl.load(args.spec)
    binding = bind(spec)
    policy = load_policy(args.policy, binding, args.vecnormalize)
    reference = load_policy(args.reference, binding) if args.reference else None
    names = obs_names(spec, policy.obs_dim)

    def visited():
        return visited_box(deployed(reference or policy), binding, episodes=args.visited_episodes,
                           seed=args.seed, names=names)

    resolver = Resolver(spec, binding, policy.obs_dim, visited=visited)
    props = load_json(args.properties, resolver) if args.properties else properties_from_spec(spec, resolver)
    config = ProveConfig(timeout=args.timeout, max_depth=args.depth, split=not args.no_split, seed=args.seed)
    results = prove_all(props, policy, reference, config=config, workers=args.workers)
    print_results(results, config)
    if args.json:
        inputs = {
            "policy": str(args.policy), "policy_sha256": file_sha256(args.policy),
            "spec": str(args.spec), "spec_sha256": spec.sha256,
            "reference": args.reference,
            "reference_sha256": file_sha256(args.reference) if args.reference else None,
            "properties_file": args.properties,
            "options": {"timeout": args.timeout, "depth": args.depth, "split": not args.no_split,
                        "seed": args.seed, "visited_episodes": args.visited_episodes},
            "verifier": f"marabou (maraboupy {metadata.version('maraboupy')})",
        }
        write_json(prove_report(results, inputs), args.json)
        print(f"report: {args.json}")
    if args.plots:
        _plots(results, Path(args.plots))
    return exit_code(results)


def _plots(results: list, out: Path) -> None:
    from sanp.prove.plot import plot_split

    out.mkdir(exist_ok=True)
    files = [plot_split(r, out / f"{r.prop.name}.png") for r in results if r.split and r.prop.region.dim >= 2]
    print(f"plots: {len(files)} PNG files in {out}")


def print_results(results: list, config: Any) -> None:
    """One table row per property, then each counterexample and what is unknown."""
    from rich.console import Console
    from rich.table import Table

    con = Console(highlight=False)
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
