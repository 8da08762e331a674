"""The settings of one falsification run.

Example:
    >>> FalsifyConfig(budget=50, optimizer="random", target_rate=0.05).budget
    50
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sanp.errors import OptionError
from sanp.falsify.proposers.bo import BOConfig
from sanp.falsify.proposers.cmaes import CMAESConfig
from sanp.falsify.proposers.corners import CornersConfig
from sanp.falsify.proposers.reseed import ReseedConfig
from sanp.falsify.registry import DEFAULT, PROPOSERS, is_uniform
from sanp.stats import check_confidence, points_for_rate


@dataclass(frozen=True)
class FalsifyConfig:
    """One falsification run."""

    budget: int = 100
    """Rollouts (evaluations) per search; per requirement in "each" mode."""
    optimizer: str = DEFAULT
    """A name in `sanp.falsify.registry.PROPOSERS` ("bo", "random", or a plug-in's)."""
    seed: int = 0
    collect_all: bool = False
    """Spend the whole budget and keep every counterexample (else stop at the first)."""
    requirements: tuple[str, ...] | None = None
    """Requirements to falsify; None means all of the spec's."""
    mode: Literal["joint", "each"] = "joint"
    merge_tol: float = 1e-3
    """Counterexamples whose points differ by less than this fraction of each range merge."""
    bo: BOConfig = field(default_factory=BOConfig)
    cmaes: CMAESConfig = field(default_factory=CMAESConfig)
    """Settings of optimiser "cmaes"."""
    corners: CornersConfig = field(default_factory=CornersConfig)
    """Settings of optimiser "corners"."""
    reseed: ReseedConfig = field(default_factory=ReseedConfig)
    """Settings of optimiser "reseed"."""
    confidence: float = 0.95
    """Confidence level of the violation-rate bound of uniform sampling."""
    target_rate: float | None = None
    """Uniform sampling only: stop once the exact upper bound on the violation rate is at
    most this (at `confidence`); with no violation that takes
    ceil(ln(1 - confidence) / ln(1 - target_rate)) rollouts."""

    def __post_init__(self) -> None:
        if self.budget <= 0:
            raise OptionError(f"budget must be a positive number of rollouts, got {self.budget}")
        if self.optimizer not in PROPOSERS.names():
            raise OptionError(f"optimizer must be one of {', '.join(PROPOSERS.names())}, got {self.optimizer!r}")
        if self.mode not in ("joint", "each"):
            raise OptionError(f"mode must be 'joint' or 'each', got {self.mode!r}")
        check_confidence(self.confidence)
        if self.target_rate is not None:
            points_for_rate(self.target_rate, self.confidence)  # checks the range
            if not is_uniform(self.optimizer) or self.mode != "joint":
                raise OptionError("a target rate needs uniform sampling of all requirements together: "
                                  "use --optimizer random without --mode each")
