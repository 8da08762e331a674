"""What several commands share: loading a policy for an env, checking outputs before any
work, and the warning when a model returns far less than its user expects."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FOUND, EXIT_BAD, EXIT_INTERRUPTED = 0, 1, 2, 130
"""Exit codes: success; a counterexample found or a verdict not ok; bad input; interrupted."""


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


def warn_short_horizon(spec: Any, binding: Any, spec_path: str) -> None:
    """A one-line warning on stderr when a requirement depends on steps the spec's
    horizon leaves out of every episode the env would still run."""
    from sanp.horizon import coverage

    warning = coverage(spec).warning(binding.env_text)
    if warning:
        print(f"{spec_path}: warning: {warning}", file=sys.stderr)


def warn_if_below(returns: Any, expected: float | None) -> None:
    """A one-line warning when the first episodes' mean return is far (over a quarter of
    |R|, at least 1) below what the user expects of the model."""
    import numpy as np

    if expected is None or not len(returns):
        return
    first = float(np.mean(returns[:5]))
    if first < expected - max(0.25 * abs(expected), 1.0):
        print(f"warning: the first {min(5, len(returns))} episodes returned {first:.1f} on average, far "
              f"below the expected {expected:g}; check --vecnormalize and the env", file=sys.stderr)


def check_output(path: str | None, *inputs: str | None) -> None:
    """Fail before any work when an output cannot be written or would replace an input."""
    from sanp.atomic import check_outputs

    if path is not None:
        check_outputs({"output": path}, inputs)


def check_plot_dir(path: str | None) -> None:
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


def backend_config(args: argparse.Namespace) -> Any:
    """Where a command's rollouts run (--backend, --address, --workers)."""
    from sanp.backends import BackendConfig
    from sanp.errors import OptionError

    kind = getattr(args, "backend", "local")
    if getattr(args, "address", None) and kind != "ray":
        raise OptionError("--address is the address of a Ray cluster: add --backend ray")
    return BackendConfig(kind, getattr(args, "workers", None) or (None if kind == "ray" else 1),
                         getattr(args, "address", None))


def count(n: int, noun: str) -> str:
    """`1 region`, `3 regions`."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def json_path(args: Any) -> str | None:
    """The --json file to check before any work (None for none, or for `-`: stdout)."""
    return None if getattr(args, "json", None) in (None, "-") else args.json


def write_report(doc: Any, args: Any) -> None:
    """The JSON report to `--json FILE` (and a line naming it), or alone on stdout for `--json -`."""
    import json

    from sanp.jsonio import write_json

    if args.json == "-":
        out = getattr(args, "stdout", None) or sys.stdout
        out.write(json.dumps(doc, indent=1, allow_nan=False) + "\n")
        out.flush()
    elif args.json:
        write_json(doc, args.json)
        print(f"report: {args.json}")
