"""The `sanp` command line: its options and their checks (sanp.cli runs the commands).

    >>> build_parser().parse_args(["check", "specs/cartpole.stl"]).specs
    ['specs/cartpole.stl']
"""
from __future__ import annotations

import argparse
import difflib
import re
import sys
from typing import Any

from sanp.cli_options import FormatsHelp, add_json_option
from sanp.cli_options import capped as _capped
from sanp.cli_options import finite as _finite
from sanp.cli_options import fraction as _fraction
from sanp.cli_options import natural as _natural
from sanp.cli_options import positive as _positive
from sanp.cli_options import positive_int as _positive_int
from sanp.cli_options import seconds as _seconds
from sanp.cli_options import workers as _workers

_CHOICE = re.compile(r"argument (?P<arg>.+?): invalid choice: '(?P<value>.*?)' \(choose from (?P<choices>.*)\)$")


class _Parser(argparse.ArgumentParser):
    """argparse with sanp's errors: one line, exit 2, and a "did you mean" for a
    mistyped command, option or choice (difflib, as the spec errors)."""

    def error(self, message: str):  # argparse's usage errors exit 2 with one line
        m = _CHOICE.match(message)
        if m:
            choices = re.findall(r"'([^']*)'", m["choices"])
            close = difflib.get_close_matches(m["value"], choices, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"choose from {', '.join(choices)}"
            message = (f"unknown command '{m['value']}' ({hint})" if m["arg"] == "COMMAND" else
                       f"argument {m['arg']}: invalid choice '{m['value']}' ({hint})")
        elif message.startswith("the following arguments are required"):
            # `--outptu x.onnx` leaves -o/--output missing: the typo is the thing to report
            typo = next((x for x in getattr(self, "_argv", ()) if not self._knows(x)), None)
            if typo is not None:
                message = self._unknown_option(typo)
        self.exit(2, f"{self.prog}: error: {message}\n")  # sanp.cli.EXIT_BAD

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._argv = [str(a) for a in args] if args is not None else sys.argv[1:]
        return super().parse_known_args(args, namespace)

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            self._unknown(ns, extras)
        return ns

    def _unknown(self, ns: argparse.Namespace, extras: list[str]) -> None:
        """Exit 2 naming the first unknown option and the closest known one."""
        parser = self
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and getattr(ns, "command", None):
                parser = action.choices[ns.command]
        option = next((x for x in extras if x.startswith("-") and len(x) > 1), None)
        if option is None:
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        parser.error(parser._unknown_option(option))

    def _options(self) -> list[str]:
        return [s for a in self._actions for s in a.option_strings if s.startswith("--")]

    def _knows(self, token: str) -> bool:
        """False for a token that looks like a long option none of ours starts with."""
        if not token.startswith("--") or token == "--":
            return True
        name = token.split("=", 1)[0]
        return any(o.startswith(name) for o in self._options())

    def _unknown_option(self, option: str) -> str:
        close = difflib.get_close_matches(option.split("=", 1)[0], self._options(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; see {self.prog} --help"
        return f"unknown option '{option}'{hint}"


ENV_HELP = "env id, with keyword arguments as on a spec's env line: 'LunarLander-v3(continuous=true)'"
POLICY_HELP = FormatsHelp()
SPEC_HELP = "the .stl spec: env, horizon, signals, requirements, search space"
SEED_HELP = "seed of the whole run; the same seed repeats the run on one machine (default 0)"
VECNORM_HELP = "VecNormalize .pkl for an SB3 zip"


def _verifier(text: str) -> str:
    from sanp.prove.verifiers import verifier_option

    return verifier_option(text)


VERIFIER_HELP = ("the verifier that decides each query: marabou (default; pip install 'sanp[prove]'), or one "
                 "a package adds through the 'sanp.verifiers' entry-point group")


def _backend_options(p: argparse.ArgumentParser, title: str = "where rollouts run") -> Any:
    g = p.add_argument_group(title)
    g.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local: this machine (default); ray: Ray tasks (pip install 'sanp[ray]')")
    g.add_argument("--address", metavar="HOST:PORT",
                   help="with --backend ray: join this running Ray cluster (default: start a "
                   "private local instance for the run)")
    g.add_argument("--workers", type=_workers, metavar="N",
                   help="local: worker processes for batches of Box2D rollouts (default 1); "
                   "ray without --address: CPUs of the local instance (default: all cores)")
    return g


def _storage_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", choices=["dense", "sparse"], default="dense",
                   help="ONNX weights as plain dense initializers (default; every consumer reads them) "
                   "or as sparse initializers where smaller")
    p.add_argument("--no-compact", action="store_true",
                   help="keep every hidden unit (default: remove units that no longer matter)")


EXPECT_HELP = ("the mean return the model is known to reach: warn when its first 5 episodes fall far "
               "below (a forgotten --vecnormalize, the wrong env)")


def _optimizer_option(parser: Any, prune: bool = False) -> None:
    from sanp.falsify.registry import DEFAULT, PROPOSERS, PRUNE_DEFAULT, UNIFORM

    default = PRUNE_DEFAULT if prune else DEFAULT
    parser.add_argument("--optimizer", choices=PROPOSERS.names(), default=default,
                        help=f"the falsifier's optimiser (default {default}); {UNIFORM}: "
                        "uniform sampling, which gives a violation-rate bound")


def _add_verify(sub: Any) -> None:
    v = sub.add_parser("verify", help="search for episodes that violate a spec")
    v.add_argument("policy", metavar="POLICY", help=POLICY_HELP)
    v.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    v.add_argument("--budget", type=_positive_int, default=100,
                   help="total rollouts of the search (default 100; with --mode each: per requirement)")
    _optimizer_option(v)
    v.add_argument("--seed", type=_natural, default=0, help=SEED_HELP)
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
    v.add_argument("--vecnormalize", metavar="FILE", help=VECNORM_HELP)
    add_json_option(v)
    v.add_argument("--plots", metavar="DIR", help="write PNG plots into this directory")
    r = v.add_argument_group("replay (instead of a search)")
    r.add_argument("--replay", metavar="REPORT.json",
                   help="re-run the counterexamples a verify or prune report recorded (point, reset seed, "
                   "disturbance) with POLICY and compare their robustness with the recorded one")
    r.add_argument("--index", type=_positive_int, metavar="K",
                   help="with --replay: only the K-th counterexample (numbered from 1; a prune report's "
                   "across its rounds)")
    r.add_argument("--tolerance", type=_finite, metavar="TOL",
                   help="with --replay: largest difference from the recorded robustness, relative to "
                   "max(1, |recorded|), that still matches (default 1e-6; 0: bit-identical only)")


def _add_export(sub: Any) -> None:
    x = sub.add_parser("export", help="write a policy compacted, as ONNX or as C for a microcontroller")
    x.add_argument("policy", metavar="POLICY", help=POLICY_HELP)
    x.add_argument("-o", "--output", required=True, metavar="OUT.onnx|OUT.c|OUT.pt",
                   help="the file to write; its suffix picks the format (.c also writes OUT.h)")
    x.add_argument("--env", metavar="ENV", help="the env, for files that do not say their action space "
                   "(e.g. an ONNX file not written by sanp): " + ENV_HELP)
    x.add_argument("--vecnormalize", metavar="FILE", help=VECNORM_HELP)
    _storage_options(x)


def _add_import(sub: Any) -> None:
    i = sub.add_parser("import", help="convert a Stable-Baselines3 zip to ONNX")
    i.add_argument("model", metavar="MODEL", help="a Stable-Baselines3 .zip")
    i.add_argument("--vecnormalize", metavar="FILE",
                   help="VecNormalize .pkl, folded into the ONNX as observation normalisation")
    i.add_argument("--env", required=True, metavar="ENV", help=ENV_HELP)
    i.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="the ONNX file to write")
    i.add_argument("--expect-return", type=_finite, metavar="R", help=EXPECT_HELP)


def _add_eval(sub: Any) -> None:
    e = sub.add_parser("eval", help="mean, min, max return and episode length")
    e.add_argument("policy", metavar="POLICY", help=POLICY_HELP)
    e.add_argument("spec", nargs="?", metavar="SPEC",
                   help="a .stl spec whose env and horizon to use (or give --env)")
    e.add_argument("--env", metavar="ENV", help=ENV_HELP + " (default: the env an ONNX file written "
                   "by sanp records)")
    e.add_argument("--episodes", type=_capped("MAX_EPISODES", "episodes"), default=100,
                   help="episodes to run (default 100, at most SANP_MAX_EPISODES)")
    e.add_argument("--seed", type=_natural, default=0, help="reset seed of the first episode; episode i "
                   "uses SEED + i (default 0)")
    e.add_argument("--horizon", type=_capped("MAX_HORIZON", "steps"),
                   help="cap on steps (default: spec or env; at most SANP_MAX_HORIZON)")
    _backend_options(e)
    e.add_argument("--vecnormalize", metavar="FILE", help=VECNORM_HELP)
    e.add_argument("--expect-return", type=_finite, metavar="R", help=EXPECT_HELP)


def _add_deep(pr: Any) -> None:
    """The deep recipe's options of `sanp prune`."""
    pr = pr.add_argument_group("deep recipe", "the gradual schedule of --recipe deep")
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
                    "(default 4; each look tests at the screen's share of the run's error, 0.1 x (1 - confidence), / N)")
    pr.add_argument("--deep-confirm", type=_natural, metavar="POINTS",
                    help="deep recipe: fresh uniform points on which a level that passed the screen "
                    "must violate at most the dense policy's rate + --margin to be adopted (default 200; "
                    "0: no confirmation)")
    pr.add_argument("--deep-collect-points", type=_natural, metavar="N",
                    help="deep recipe: episodes from uniform points of the search space that each "
                    "policy of the schedule runs for training states (default 10)")
    pr.add_argument("--deep-finetune-steps", type=_natural, metavar="N",
                    help="deep recipe: gradient steps of each fine-tune of the schedule (default 500)")


def _add_evidence(m: Any) -> None:
    """What an ok verdict of `sanp prune` claims: its confidence and margin."""
    m.add_argument("--confidence", type=_fraction, default=0.95, metavar="C",
                   help="confidence level of violation-rate bounds and the dense-vs-sparse test "
                   "(default 0.95)")
    m.add_argument("--margin", type=_fraction, default=0.005, metavar="EPS",
                   help="non-inferiority margin: ok needs, with the confidence C, the sparse policy's "
                   "violation rate at most the dense one's + EPS (absolute; default 0.005, half a "
                   "percentage point)")


def _budget_options(b: Any) -> None:
    b.add_argument("--budget", type=_positive_int, default=100, metavar="N",
                   help="falsifier (BO) rollouts per refinement round (default 100)")
    _optimizer_option(b, prune=True)
    b.add_argument("--rounds", type=_positive_int, default=5, metavar="N",
                   help="most refinement rounds (default 5)")
    b.add_argument("--round-uniform", type=_natural, default=1000, metavar="N",
                   help="uniform points per round beside BO (default 1000; 0 for BO only)")
    b.add_argument("--episodes", type=_positive_int, default=100, metavar="N",
                   help="episodes per mean-reward estimate (default 100)")


def _add_proof(pr: Any) -> None:
    """The proof options of `sanp prune`."""
    p = pr.add_argument_group("proof", "formal one-step properties after refinement (pip install 'sanp[prove]')")
    p.add_argument("--prove", action="store_true",
                   help="after refinement, prove the spec's props and agreement with the dense "
                   "policy over its visited region (with --verifier); the outcome goes into the report")
    p.add_argument("--prove-timeout", type=_seconds, default=30.0, metavar="S",
                   help="seconds per property for --prove (default 30)")
    p.add_argument("--verifier", type=_verifier, metavar="NAME", help=VERIFIER_HELP)
    p.add_argument("--prove-horizon", type=_positive_int, metavar="N",
                   help="after refinement, prove the spec's requirements over the closed loop for N steps "
                   "from the whole search box (the env's declared dynamics; --prove-timeout: its time "
                   "budget); the outcome goes into the report's closed_loop block")


def _add_prune(sub: Any) -> None:
    pr = sub.add_parser("prune", help="prune a policy and repair it until the falsifier finds nothing")
    io = pr.add_argument_group("inputs and outputs")
    io.add_argument("policy", metavar="POLICY", help=FormatsHelp("the dense policy: "))
    io.add_argument("spec", metavar="SPEC", help=SPEC_HELP + "; it must have a `reward >= D` line")
    io.add_argument("--vecnormalize", metavar="FILE", help=VECNORM_HELP)
    io.add_argument("-o", "--output", required=True, metavar="OUT.onnx",
                    help="the sparse policy to write (compacted ONNX with its provenance)")
    add_json_option(io, "--report")
    io.add_argument("--plots", metavar="DIR", help="write PNG plots into this directory")
    _storage_options(io)

    m = pr.add_argument_group("method")
    m.add_argument("--recipe", default="deep", metavar="NAME",
                   help="deep (default): gradual pruning with sparse fine-tuning, and a repair that "
                   "fine-tunes before it restores; paper: one-shot pruning and restoration of dense "
                   "weights (the AAAI 2023 method); or one a package adds (entry points sanp.recipes)")
    m.add_argument("--criterion", choices=["magnitude", "activation", "sensitivity"],
                   help="weight importance: |w|; |w| times the mean |input|; or the first-order change of "
                   "the outputs when the weight is removed (default: magnitude with --recipe paper, as the paper; "
                   "activation with --recipe deep)")
    m.add_argument("--scope", choices=["layer", "global"], default="global",
                   help="paper recipe: prune the same fraction of every layer, or one global "
                   "threshold (default); the deep recipe is always global")
    m.add_argument("--sparsity", type=_fraction, metavar="K",
                   help="paper recipe: prune exactly this fraction in step 1 (default: the "
                   "largest whose mean reward reaches the spec's cutoff)")
    _add_evidence(m)

    _budget_options(pr.add_argument_group("budgets",
                                          "per refinement round, unlike verify's --budget (the whole search)"))
    _add_deep(pr)

    h = pr.add_argument_group("held-out check", "fresh points, after refinement, on the dense and the sparse policy")
    h.add_argument("--heldout-budget", type=_positive_int, default=200, metavar="N",
                   help="held-out BO rollouts per policy (default 200)")
    h.add_argument("--heldout-uniform", type=_positive_int, default=2000, metavar="N",
                   help="held-out uniform points per policy (default 2000: enough to show non-inferiority "
                   "at the default margin where the dense policy violates on a few tenths of a percent)")

    _add_proof(pr)

    x = _backend_options(pr, "execution")
    x.add_argument("--seed", type=_natural, default=0, help=SEED_HELP)
    x.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from OUT.onnx.ckpt.npz")


def _add_prove(sub: Any) -> None:
    from sanp.prove.limits import MAX_DEPTH, MAX_VISITED_EPISODES

    p = sub.add_parser("prove", help="prove one-step properties of a policy over observation boxes "
                       "(exit 0 all proved, 1 refuted, 3 unknown or skipped)")
    p.add_argument("policy", metavar="POLICY", help=POLICY_HELP)
    p.add_argument("spec", metavar="SPEC", help="the .stl spec whose region and prop statements to prove")
    p.add_argument("--reference", metavar="REF",
                   help="the reference policy of 'agrees' properties and of the 'visited' region "
                   "(default: POLICY itself for 'visited')")
    p.add_argument("--verifier", type=_verifier, metavar="NAME", help=VERIFIER_HELP)
    p.add_argument("--timeout", type=_seconds, default=60.0, metavar="S",
                   help="seconds per property, branch and bound included (default 60, at most 86400)")
    p.add_argument("--depth", type=_positive(int, MAX_DEPTH), default=8, metavar="N",
                   help=f"most halvings of a region in branch and bound (default 8, at most {MAX_DEPTH})")
    p.add_argument("--no-split", action="store_true", help="one query per property, no branch and bound")
    p.add_argument("--workers", type=_workers, default=1, metavar="N",
                   help="properties proved in parallel processes (default 1; at most SANP_MAX_WORKERS, 64)")
    p.add_argument("--visited-episodes", type=_positive(int, MAX_VISITED_EPISODES), default=200, metavar="N",
                   help="episodes of the reference policy behind the 'visited' region "
                   f"(default 200, at most {MAX_VISITED_EPISODES:,})")
    p.add_argument("--seed", type=int, default=0, help="seed of the visited episodes and box samples")
    p.add_argument("--vecnormalize", metavar="FILE", help=VECNORM_HELP)
    add_json_option(p)
    p.add_argument("--plots", metavar="DIR", help="a PNG of the split for each property that was split")
    p.add_argument("--properties", metavar="FILE.json",
                   help="prove these JSON declarations instead of the spec's prop statements")
    p.add_argument("--horizon", type=_positive(int, 100_000), metavar="N",
                   help="prove the spec's requirements over the closed loop for N steps, from the whole "
                   "search box (the env's declared dynamics; --timeout: seconds in all, --depth D: at most "
                   "2^D cells)")
    p.add_argument("--sets", choices=("auto", "box", "zonotope"), default="auto",
                   help="with --horizon: how a cell's states are carried (auto: zonotopes for continuous-time "
                   "dynamics, boxes otherwise)")


def _add_report(sub: Any) -> None:
    rp = sub.add_parser("report", help="render a verify, prune or prove JSON report as one HTML page")
    rp.add_argument("run", metavar="RUN.json", help="a JSON report of sanp verify, prune or prove (--json)")
    rp.add_argument("-o", "--output", required=True, metavar="report.html", help="the HTML page to write")
    rp.add_argument("--image", action="append", default=[], metavar="[CAPTION=]PNG",
                    help="embed an existing PNG, e.g. a prune run's weights.png (repeatable)")
    rp.add_argument("--max-mb", type=_positive_int, default=64, metavar="MB",
                    help="largest report read, in MiB (default 64)")
    rp.add_argument("--replay", type=int, action="append", default=[], metavar="N",
                    help="embed an animated replay of counterexample N of a verify report (repeatable)")
    rp.add_argument("--replay-stride", type=_positive_int, default=1, metavar="K",
                    help="render every K-th step of an embedded replay (default 1)")


def build_parser() -> argparse.ArgumentParser:
    from sanp.version import __version__

    p = _Parser(
        prog="sanp",
        description="Falsify deep-RL policies against STL safety specs, and prune them "
        "without losing safety.",
    )
    p.add_argument("--version", action="version", version=f"sanp {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    c = sub.add_parser("check", help="parse and type-check spec files")
    c.add_argument("specs", nargs="+", metavar="SPEC", help="one or more .stl spec files")

    for add in (_add_verify, _add_export, _add_import, _add_eval, _add_prune, _add_prove, _add_report):
        add(sub)
    from sanp.commands.replay import add_arguments as add_replay_arguments

    add_replay_arguments(sub.add_parser("replay", help="render a verify report's counterexample as a "
                                        "GIF or MP4, the env beside the violated requirement's signals"))
    for command in sub.choices.values():  # --debug after the command too; SUPPRESS keeps one given before
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show tracebacks on errors (also accepted before the command)")
    return p
