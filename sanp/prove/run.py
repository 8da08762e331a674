"""Prove a list of properties (in parallel worker processes if asked), and their verdict.

Example:
    >>> results = prove_all(props, policy, reference, config=ProveConfig(timeout=30))
    >>> exit_code(results)          # 0 all proved, 1 one refuted, 3 unknown remains
"""
from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sanp.prove.bab import PropertyResult, ProveConfig, prove_property
from sanp.prove.properties import Property, validate
from sanp.prove.verifier import Verifier

if TYPE_CHECKING:
    from sanp.model import MLPPolicy

EXIT_PROVED, EXIT_REFUTED, EXIT_UNKNOWN = 0, 1, 3


def _worker_init() -> None:
    # Workers inherit the parent's SIGTERM -> KeyboardInterrupt handler; the parent
    # decides when they stop.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _one(args: tuple) -> PropertyResult:
    prop, policy, reference, verifier, config = args
    import torch

    torch.set_num_threads(1)
    return prove_property(prop, policy, reference, verifier=verifier, config=config)


def prove_all(props: Sequence[Property], policy: MLPPolicy, reference: MLPPolicy | None = None, *, verifier: Verifier | None = None,
              config: ProveConfig | None = None, workers: int = 1,
              on_start: Callable[[int, Property], None] | None = None) -> list[PropertyResult]:
    """Prove every property of `props` for `policy` (MLPPolicy); `reference` for `agrees`.
    `verifier` decides each query (default: the registry's default, `sanp.prove.verifiers`).
    Properties run in `workers` processes; results come back in order. `on_start(i, prop)`
    is told before each property when they run one after another."""
    if verifier is None:
        from sanp.prove.verifiers import make_verifier

        verifier = make_verifier()
    for p in props:
        validate(p, obs_dim=policy.obs_dim, out_dim=policy.out_dim, action_kind=policy.action_kind,
                 has_reference=reference is not None)
    config = config or ProveConfig()
    jobs = [(p, policy, reference, verifier, config) for p in props]
    if workers <= 1 or len(jobs) <= 1:
        results = []
        for i, job in enumerate(jobs):
            if on_start:
                on_start(i, job[0])
            results.append(_one(job))
        return results
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(min(workers, len(jobs)), initializer=_worker_init) as pool:
        return pool.map(_one, jobs, chunksize=1)


def exit_code(results: Sequence[PropertyResult], skipped: Sequence[Property] = ()) -> int:
    """1 when a property is refuted, else 3 when one is unknown or was skipped (not
    proved: e.g. 'agrees' without a reference policy), else 0."""
    verdicts = {r.verdict for r in results}
    if "refuted" in verdicts:
        return EXIT_REFUTED
    return EXIT_UNKNOWN if "unknown" in verdicts or skipped else EXIT_PROVED


def verdict(results: Sequence[PropertyResult], skipped: Sequence[Property] = ()) -> str:
    """"proved", "refuted" or "unknown": the exit code's word (reports record it)."""
    return {EXIT_PROVED: "proved", EXIT_REFUTED: "refuted", EXIT_UNKNOWN: "unknown"}[exit_code(results, skipped)]
