"""Prove a list of properties (in parallel worker processes if asked), and report.

Example:
    >>> results = prove_all(props, policy, reference, config=ProveConfig(timeout=30))
    >>> exit_code(results)          # 0 all proved, 1 one refuted, 3 unknown remains
"""
from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Sequence
from typing import Any

from sanp.prove.bab import PropertyResult, ProveConfig, prove_property
from sanp.prove.properties import Property, validate
from sanp.prove.verifier import Verifier

EXIT_PROVED, EXIT_REFUTED, EXIT_UNKNOWN = 0, 1, 3
SCHEMA = "sanp.prove/1"


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


def prove_all(props: Sequence[Property], policy, reference=None, *, verifier: Verifier | None = None,
              config: ProveConfig | None = None, workers: int = 1,
              on_start: Callable[[int, Property], None] | None = None) -> list[PropertyResult]:
    """Prove every property of `props` for `policy` (MLPPolicy); `reference` for `agrees`.
    Properties run in `workers` processes; results come back in order. `on_start(i, prop)`
    is told before each property when they run one after another."""
    if verifier is None:
        from sanp.prove.marabou import MarabouVerifier

        verifier = MarabouVerifier()
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


def result_dict(r: PropertyResult) -> dict[str, Any]:
    """One property's outcome as JSON-able data."""
    region = r.prop.region
    return {
        "name": r.prop.name,
        "text": r.prop.text(),
        "region": {"name": r.prop.region_name, "names": list(region.names), "lo": list(region.lo),
                   "hi": list(region.hi)},
        "verdict": r.verdict,
        "reason": r.reason,
        "seconds": r.seconds,
        "queries": r.queries,
        "networks": list(r.nets),
        "fractions": r.fractions(),
        "counterexamples": [
            {"obs": list(c.obs), "margin": c.margin, "outputs": list(c.values),
             "reference_outputs": None if c.reference_values is None else list(c.reference_values)}
            for c in r.counterexamples
        ],
        "leaves": [{"lo": list(leaf.box.lo), "hi": list(leaf.box.hi), "status": leaf.status,
                    "depth": leaf.depth, "note": leaf.note} for leaf in r.leaves],
    }


def prove_report(results: Sequence[PropertyResult], inputs: dict[str, Any],
                 skipped: Sequence[Property] = ()) -> dict[str, Any]:
    """The JSON report of `sanp prove`: schema sanp.prove/1. `skipped`: properties not
    run (they need a reference policy), listed by name with the reason."""
    from sanp.report import jsonable, versions

    verdict = exit_code(results, skipped)
    return jsonable({
        "schema": SCHEMA,
        "command": "prove",
        "inputs": {**inputs, "versions": versions()},
        "verdict": {EXIT_PROVED: "proved", EXIT_REFUTED: "refuted", EXIT_UNKNOWN: "unknown"}[verdict],
        "properties": [result_dict(r) for r in results],
        "skipped": [{"name": p.name, "text": p.text(), "reason": "needs a reference policy (--reference)"}
                    for p in skipped],
    })
