"""The settings of a prune run (`sanp prune`'s options).

Example:
    >>> PruneConfig(criterion="activation", budget=50, seed=3).rounds
    5
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from sanp.errors import OptionError
from sanp.falsify import PROPOSERS, BOConfig
from sanp.falsify.registry import PRUNE_DEFAULT
from sanp.method.deep import DeepConfig
from sanp.method.recipes import Recipe, recipe
from sanp.method.step1 import CRITERIA, Criterion
from sanp.stats import DEFAULT_MARGIN, check_confidence, check_margin


@dataclass(frozen=True)
class PruneConfig:
    """Settings of `sanp prune`."""

    criterion: Criterion | None = None
    """Weight importance: |w|, |w| times the mean |input| over dense-visited states, or
    the first-order change of the outputs when the weight is removed
    (`sanp.method.step1.importance`). None: the recipe's own, magnitude for "paper" (as
    the paper) and activation for "deep" (its schedule's default)."""
    scope: Literal["layer", "global"] = "global"
    """Prune the same fraction of every layer, or by one threshold over all layers (the
    deep recipe prunes globally, under its path guard)."""
    episodes: int = 100
    """Episodes per mean-reward estimate."""
    resolution: float = 0.001
    """Resolution of the sparsity (k) and restoration (p) searches."""
    sparsity: float | None = None
    """Prune exactly this fraction in step 1 instead of searching for the largest k whose
    reward reaches the cutoff (the paper recipe only)."""
    budget: int = 100
    """Falsifier rollouts per refinement round."""
    rounds: int = 5
    """Round limit of the falsify-recover-repair loop."""
    round_uniform: int = 1000
    """Uniformly drawn points run (as one batch) beside BO in every round: cheap, and it
    catches small failure regions a GP smooths over."""
    heldout_budget: int = 200
    """Rollouts of the held-out BO run (another seed), on the dense and the sparse policy."""
    heldout_uniform: int = 2000
    """Uniformly drawn held-out points, on both policies."""
    seed: int = 0
    confidence: float = 0.95
    """Confidence level of the violation-rate bounds and of the dense-vs-sparse test; its
    complement is the whole run's error, split over its tests (`sanp.method.alpha`)."""
    margin: float = DEFAULT_MARGIN
    """Non-inferiority margin: the verdict is ok only when, with `confidence`, the sparse
    policy's violation rate is at most the dense one's + `margin` (absolute; 0.005 is half a
    percentage point). The deep schedule's confirmations use it too."""
    optimizer: str = PRUNE_DEFAULT
    """The falsifier's optimiser in every round and in the held-out check (a name in
    `sanp.falsify.PROPOSERS`); the uniform batches beside it are always uniform."""
    bo: BOConfig = field(default_factory=BOConfig)
    recipe: str = "deep"
    """"deep" (the default): step 1 is `deep_compress` (gradual pruning with sparse
    distillation), and each round's repair fine-tunes the surviving weights first,
    falling back to restoration when that does not fix every counterexample. "paper":
    one-shot step 1 and restoration of dense weights (the AAAI 2023 method). Or a recipe
    an installed package adds (`sanp.method.recipes`)."""
    deep: DeepConfig = field(default_factory=DeepConfig)
    """The deep recipe's schedule; its `episodes`, `seed`, `confidence`, `margin` and
    `criterion` are replaced by this run's."""

    def __post_init__(self) -> None:
        for name in ("episodes", "budget", "heldout_budget"):
            if getattr(self, name) <= 0:
                raise OptionError(f"{name} must be positive, got {getattr(self, name)}")
        method = self.recipe_object
        if self.optimizer not in PROPOSERS.names():
            raise OptionError(f"optimizer must be one of {', '.join(PROPOSERS.names())}, got {self.optimizer!r}")
        if self.criterion is None:  # frozen: the recipe's own criterion is set once, here
            object.__setattr__(self, "criterion", method.default_criterion)
        if self.criterion not in CRITERIA:
            raise OptionError(f"criterion must be one of {', '.join(CRITERIA)}, got {self.criterion!r}")
        method.check(self)
        if self.rounds < 0 or self.heldout_uniform < 0:
            raise OptionError("rounds and heldout_uniform must be >= 0")
        if self.sparsity is not None and not 0 < self.sparsity < 1:
            raise OptionError(f"sparsity must be in (0, 1), got {self.sparsity}")
        check_confidence(self.confidence)
        check_margin(self.margin)
        if not 0 < self.resolution < 0.5:
            raise OptionError(f"resolution must be in (0, 0.5), got {self.resolution}")

    @property
    def recipe_object(self) -> Recipe:
        """The recipe `recipe` names (`sanp.method.recipes`); OptionError when unknown."""
        return recipe(self.recipe)

    def deep_settings(self) -> DeepConfig:
        """The deep schedule as this run uses it: `deep` with this run's episodes, seed,
        confidence, margin and criterion.

        Example:
            >>> PruneConfig(episodes=10, seed=3).deep_settings().episodes
            10
        """
        return replace(self.deep, episodes=self.episodes, seed=self.seed, confidence=self.confidence,
                       criterion=self.criterion, margin=self.margin)
