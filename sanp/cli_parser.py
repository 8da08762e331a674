"""The `sanp` command line: its options and their checks (sanp.cli runs the commands).

    >>> build_parser().parse_args(["check", "specs/cartpole.stl"]).specs
    ['specs/cartpole.stl']
"""
from __future__ import annotations

import argparse
from typing import Any


def _whole(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        need = "a positive whole number" if minimum == 1 else f"{minimum} or more"
        raise argparse.ArgumentTypeError(f"must be {need}, got {value}")
    return value


def _positive_int(text: str) -> int:
    return _whole(text, 1)


def _natural(text: str) -> int:
    return _whole(text, 0)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {value}")
    return value


def _capped(name: str, what: str):
    """argparse type: a positive whole number of at most sanp's limit SANP_<name>."""
    def parse(text: str) -> int:
        from sanp.errors import SanpError
        from sanp.limits import limit

        value = _positive_int(text)
        try:
            most = limit(name)
        except SanpError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if value > most:
            raise argparse.ArgumentTypeError(
                f"{value:,} is over sanp's limit of {most:,} {what}; raise it with SANP_{name}=N")
        return value

    return parse


def _finite(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _workers(text: str) -> int:
    from sanp.errors import SanpError
    from sanp.limits import limit

    value = _positive_int(text)
    try:
        most = limit("MAX_WORKERS")
    except SanpError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value > most:
        raise argparse.ArgumentTypeError(
            f"{value} is over sanp's limit of {most} worker processes; raise it with SANP_MAX_WORKERS=N")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage errors exit 2 with one line
        self.exit(2, f"{self.prog}: error: {message}\n")  # sanp.cli.EXIT_BAD


ENV_HELP = "env id, with keyword arguments as on a spec's env line: 'LunarLander-v3(continuous=true)'"


def _backend_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where rollouts run")
    g.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local: this machine (default); ray: Ray tasks (pip install 'sanp[ray]')")
    g.add_argument("--address", metavar="HOST:PORT",
                   help="with --backend ray: join this running Ray cluster (default: start a "
                   "private local instance for the run)")
    g.add_argument("--workers", type=_workers, metavar="N",
                   help="local: worker processes for batches of Box2D rollouts (default 1); "
                   "ray without --address: CPUs of the local instance (default: all cores)")


def _storage_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", choices=["dense", "sparse"], default="dense",
                   help="ONNX weights as plain dense initializers (default; every consumer reads them) "
                   "or as sparse initializers where smaller")
    p.add_argument("--no-compact", action="store_true",
                   help="keep every hidden unit (default: remove units that no longer matter)")


EXPECT_HELP = ("the mean return the model is known to reach: warn when its first 5 episodes fall far "
               "below (a forgotten --vecnormalize, the wrong env)")


def _add_verify(sub: Any) -> None:
    v = sub.add_parser("verify", help="search for episodes that violate a spec")
    v.add_argument("policy", metavar="POLICY", help=".onnx, sanp .pt checkpoint, or SB3 .zip")
    v.add_argument("spec", metavar="SPEC")
    v.add_argument("--budget", type=_positive_int, default=100, help="rollouts (default 100)")
    v.add_argument("--optimizer", choices=["bo", "random"], default="bo")
    v.add_argument("--seed", type=_natural, default=0)
    v.add_argument("--confidence", type=_fraction, default=0.95, metavar="C",
                   help="confidence level of the violation-rate bound of uniform sampling (default 0.95)")
    v.add_argument("--target-rate", type=_fraction, metavar="EPS",
                   help="with --optimizer random: sample until the violation-rate bound is at most EPS, "
                   "a violation is found, or the budget ends")
    v.add_argument("--requirement", action="append", metavar="NAME",
                   help="falsify only this requirement (repeatable)")
    v.add_argument("--all", action="store_true",
                   help="spend the whole budget and collect every counterexample")
    v.add_argument("--mode", choices=["joint", "each"], default="joint",
                   help="joint: one search minimising the worst requirement; each: one "
                   "search per requirement (budget each)")
    _backend_options(v)
    v.add_argument("--vecnormalize", metavar="FILE", help="VecNormalize .pkl for an SB3 zip")
    v.add_argument("--json", metavar="FILE", help="write the JSON report here")
    v.add_argument("--plots", metavar="DIR", help="write PNG plots into this directory")


def _add_export(sub: Any) -> None:
    x = sub.add_parser("export", help="write a policy compacted, as ONNX or as C for a microcontroller")
    x.add_argument("policy", metavar="POLICY")
    x.add_argument("-o", "--output", required=True, metavar="OUT.onnx|OUT.c|OUT.pt")
    x.add_argument("--env", metavar="ENV", help="the env, for files that do not say their action space")
    x.add_argument("--vecnormalize", metavar="FILE", help="VecNormalize .pkl for an SB3 zip")
    _storage_options(x)


def _add_import(sub: Any) -> None:
    i = sub.add_parser("import", help="convert a Stable-Baselines3 zip to ONNX")
    i.add_argument("model", metavar="MODEL")
    i.add_argument("--vecnormalize", metavar="FILE")
    i.add_argument("--env", required=True, metavar="ENV", help=ENV_HELP)
    i.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    i.add_argument("--expect-return", type=_finite, metavar="R", help=EXPECT_HELP)


def _add_eval(sub: Any) -> None:
    e = sub.add_parser("eval", help="mean, min, max return and episode length")
    e.add_argument("policy", metavar="POLICY")
    e.add_argument("spec", nargs="?", metavar="SPEC")
    e.add_argument("--env", metavar="ENV", help=ENV_HELP)
    e.add_argument("--episodes", type=_capped("MAX_EPISODES", "episodes"), default=100)
    e.add_argument("--seed", type=_natural, default=0)
    e.add_argument("--horizon", type=_capped("MAX_HORIZON", "steps"), help="cap on steps (default: spec or env)")
    _backend_options(e)
    e.add_argument("--vecnormalize", metavar="FILE")
    e.add_argument("--expect-return", type=_finite, metavar="R", help=EXPECT_HELP)


def _add_deep(pr: Any) -> None:
    """The deep recipe's options of `sanp prune`."""
    pr.add_argument("--deep-max-sparsity", type=_fraction, metavar="K",
                    help="deep recipe: stop the schedule at this sparsity (default 0.999)")
    pr.add_argument("--deep-time-limit", type=float, metavar="SECONDS",
                    help="deep recipe: stop the schedule after this long, keeping the sparsest "
                    "passing policy (default: none)")
    pr.add_argument("--deep-screen", type=_natural, metavar="POINTS",
                    help="deep recipe: uniform points per batch of the safety screen a level "
                    "must pass (default 100; 0: no screen)")
    pr.add_argument("--deep-screen-looks", type=_positive_int, metavar="N",
                    help="deep recipe: batches of --deep-screen points the screen may use, one more "
                    "while a policy looks worse than the dense one and the test has not rejected it "
                    "(default 4; each look tests at (1 - confidence) / N)")
    pr.add_argument("--deep-collect-points", type=_natural, metavar="N",
                    help="deep recipe: episodes from uniform points of the search space that each "
                    "policy of the schedule runs for training states (default 10)")
    pr.add_argument("--deep-finetune-steps", type=_natural, metavar="N",
                    help="deep recipe: gradient steps of each fine-tune of the schedule (default 500)")


def _add_prune(sub: Any) -> None:
    from sanp.prove.command import positive_seconds

    pr = sub.add_parser("prune", help="prune a policy and repair it until the falsifier finds nothing")
    pr.add_argument("policy", metavar="POLICY")
    pr.add_argument("spec", metavar="SPEC")
    pr.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    pr.add_argument("--recipe", choices=["paper", "deep"], default="deep",
                    help="deep (default): gradual pruning with sparse fine-tuning, and a repair that "
                    "fine-tunes before it restores; paper: one-shot pruning and restoration of dense "
                    "weights (the AAAI 2023 method)")
    _add_deep(pr)
    pr.add_argument("--criterion", choices=["magnitude", "activation", "sensitivity"],
                    help="weight importance: |w|; |w| times the mean |input|; or the first-order change of "
                    "the outputs when the weight is removed (default: magnitude with --recipe paper, as the paper; "
                    "activation with --recipe deep)")
    pr.add_argument("--scope", choices=["layer", "global"], default="global",
                    help="paper recipe: prune the same fraction of every layer, or one global "
                    "threshold (default); the deep recipe is always global")
    pr.add_argument("--sparsity", type=_fraction, metavar="K",
                    help="paper recipe: prune exactly this fraction in step 1 (default: the "
                    "largest whose mean reward reaches the spec's cutoff)")
    pr.add_argument("--budget", type=_positive_int, default=100,
                    help="falsifier rollouts per refinement round (default 100)")
    pr.add_argument("--rounds", type=_positive_int, default=5, help="round limit (default 5)")
    pr.add_argument("--round-uniform", type=_natural, default=1000,
                    help="uniform points per round beside BO (default 1000; 0 for BO only)")
    pr.add_argument("--episodes", type=_positive_int, default=100,
                    help="episodes per mean-reward estimate (default 100)")
    pr.add_argument("--heldout-budget", type=_positive_int, default=200,
                    help="held-out BO rollouts per policy (default 200)")
    pr.add_argument("--heldout-uniform", type=_positive_int, default=1000,
                    help="held-out uniform points per policy (default 1000)")
    pr.add_argument("--seed", type=_natural, default=0)
    pr.add_argument("--confidence", type=_fraction, default=0.95, metavar="C",
                    help="confidence level of violation-rate bounds and the dense-vs-sparse test "
                    "(default 0.95)")
    _backend_options(pr)
    pr.add_argument("--vecnormalize", metavar="FILE")
    pr.add_argument("--report", metavar="FILE.json", help="write the JSON report here")
    pr.add_argument("--resume", action="store_true",
                    help="continue an interrupted run from OUT.onnx.ckpt.npz")
    pr.add_argument("--plots", metavar="DIR", help="write PNG plots into this directory")
    pr.add_argument("--prove", action="store_true",
                    help="after refinement, prove the spec's props and agreement with the dense "
                    "policy over its visited region (Marabou); the outcome goes into the report")
    pr.add_argument("--prove-timeout", type=positive_seconds, default=30.0, metavar="S",
                    help="seconds per property for --prove (default 30)")
    _storage_options(pr)


def _add_report(sub: Any) -> None:
    rp = sub.add_parser("report", help="render a verify or prune JSON report as one HTML page")
    rp.add_argument("run", metavar="RUN.json")
    rp.add_argument("-o", "--output", required=True, metavar="report.html")
    rp.add_argument("--image", action="append", default=[], metavar="[CAPTION=]PNG",
                    help="embed an existing PNG, e.g. a prune run's weights.png (repeatable)")
    rp.add_argument("--max-mb", type=_positive_int, default=64, metavar="MB",
                    help="largest report read, in MiB (default 64)")


def build_parser() -> argparse.ArgumentParser:
    from sanp import __version__

    p = _Parser(
        prog="sanp",
        description="Falsify deep-RL policies against STL safety specs, and prune them "
        "without losing safety.",
    )
    p.add_argument("--version", action="version", version=f"sanp {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    c = sub.add_parser("check", help="parse and type-check spec files")
    c.add_argument("specs", nargs="+", metavar="SPEC")

    for add in (_add_verify, _add_export, _add_import, _add_eval, _add_prune):
        add(sub)
    from sanp.prove.command import add_arguments as add_prove_arguments

    add_prove_arguments(sub.add_parser("prove", help="prove one-step properties of a policy over "
                                       "observation boxes (exit 0 proved, 1 refuted, 3 unknown)"))
    _add_report(sub)
    return p
