"""Falsification: search a spec's search space for episodes that violate its
requirements, with an optimiser from the registry (`PROPOSERS`: "corners", "bo",
"random", "cmaes", "reseed" — which searches the reset seed too — or a plug-in's).

    config.py     FalsifyConfig, the settings of one run
    registry.py   the Proposer protocol and the one registry of optimisers
    proposers/    the built-in optimisers, one module each
    run.py        falsify(): propose, roll out, score, stop; merge(), score()
    results.py    Evaluation, Counterexample, FalsifyResult

Example:
    >>> result = falsify(policy, binding, spec, FalsifyConfig(budget=50, seed=1))
    >>> [c.point for c in result.counterexamples]
"""
from __future__ import annotations

from sanp.falsify.config import FalsifyConfig
from sanp.falsify.proposers.bo import BOConfig, BOProposer
from sanp.falsify.proposers.uniform import RandomProposer
from sanp.falsify.registry import (
    DEFAULT,
    PROPOSERS,
    PRUNE_DEFAULT,
    UNIFORM,
    Proposer,
    SeedSearch,
    is_uniform,
    label,
    proposer_class,
)
from sanp.falsify.results import Counterexample, Evaluation, FalsifyResult
from sanp.falsify.run import critical_step, falsify, merge, score

__all__ = [
    "DEFAULT",
    "PROPOSERS",
    "PRUNE_DEFAULT",
    "UNIFORM",
    "BOConfig",
    "BOProposer",
    "Counterexample",
    "Evaluation",
    "FalsifyConfig",
    "FalsifyResult",
    "Proposer",
    "RandomProposer",
    "SeedSearch",
    "critical_step",
    "falsify",
    "is_uniform",
    "label",
    "merge",
    "proposer_class",
    "score",
]
