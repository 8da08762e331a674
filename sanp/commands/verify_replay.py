"""`sanp verify POLICY SPEC --replay REPORT.json [--index K]`: re-run the counterexamples
a verify or prune report recorded — the same searched values, reset seed and
disturbance pieces — with POLICY, and say for each whether its violation reproduces.

Exit codes: 0 every replay violates its requirements again with the recorded
robustness (to --tolerance); 1 one does not; 2 bad input (no such report, a report of
another spec or env, an index out of range).
"""
from __future__ import annotations

import argparse
import shlex
from typing import Any

from sanp.commands.common import EXIT_FOUND, EXIT_OK, check_output, check_plot_dir, json_path, write_report


def replay_command(policy: str, spec: str, report: str) -> str:
    """The command that replays every counterexample of `report`."""
    return f"sanp verify {shlex.quote(policy)} {shlex.quote(spec)} --replay {shlex.quote(report)}"


def cmd_verify_replay(args: argparse.Namespace) -> int:
    import stl
    from sanp import report
    from sanp.commands.common import load_policy
    from sanp.envs import bind
    from sanp.console import print_replay
    from sanp.errors import OptionError
    from sanp.falsify.replay import DEFAULT_TOLERANCE, replay
    from sanp.jsonio import file_sha256
    from sanp.report.recorded import check_same_spec, policy_note, recorded_counterexamples, replay_report
    from sanp.runtime import deployed

    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    if tolerance < 0:
        raise OptionError(f"--tolerance must be at least 0, got {tolerance:g}")
    check_output(json_path(args), args.policy, args.spec, args.replay)
    check_plot_dir(args.plots)
    doc = report.load(args.replay)
    spec = stl.load(args.spec)
    check_same_spec(doc, spec)  # before the env and the policy: a report of another env says so
    binding = bind(spec)
    cases = recorded_counterexamples(doc, spec, binding, args.index)
    policy = load_policy(args.policy, binding, args.vecnormalize)
    digest = file_sha256(args.policy)
    note = policy_note(doc, digest)
    outcomes = replay(deployed(policy), binding, spec, cases, tolerance)
    print_replay(outcomes, args.replay, note)
    if args.json or args.plots:
        out = replay_report(doc, outcomes, spec, report_path=args.replay, policy_path=args.policy,
                            spec_path=args.spec, policy_sha256=digest)
        if args.json:
            write_report(out, args)
        if args.plots:
            from sanp.report import plot_verify

            files = plot_verify(out, args.plots)
            print(f"plots: {len(files)} PNG files in {args.plots}")
    return _exit(outcomes, note)


def _exit(outcomes: Any, note: str | None) -> int:
    """0 when every violation reproduces; with a policy other than the report's, being
    violated again is what reproduces (its robustness is not expected to match)."""
    if note is None:
        return EXIT_OK if all(r.reproduced for r in outcomes) else EXIT_FOUND
    return EXIT_OK if all(r.violates for r in outcomes) else EXIT_FOUND
