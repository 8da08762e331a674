"""The optimisers a falsifier can use: the `Proposer` protocol and the one registry of
them (`sanp.plugins.Registry`, entry-point group "sanp.proposers"). CLI choices, config
checks and report labels read it, so adding an optimiser is one module plus one line in
`PROPOSERS` (or an entry point in another package).

A proposer works on the unit cube [0, 1]^dim; `sanp.falsify` scales its points to the
search space, rolls them out in chunks and tells it the objective (the minimum
robustness of the searched requirements; lower is closer to a violation). Each point's
episode has its own reset seed, hashed from its values, unless the proposer also
follows `SeedSearch` and chooses the seeds itself ("reseed").

Example:
    >>> DEFAULT, proposer_class("random").uniform, proposer_class("bo").uniform
    ('corners', True, False)
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from sanp.plugins import Registry

if TYPE_CHECKING:  # the CLI reads the registry for its choices: keep numpy out of start-up
    import numpy as np


@runtime_checkable
class Proposer(Protocol):
    """Where a falsifier's next points come from.

    A search builds one with the class method `create(dim, budget, seed, config)`:
    `dim` dimensions of the unit cube, `budget` rollouts of this search, `seed` its seed
    (same seed and settings -> same points), `config` the run's
    `sanp.falsify.FalsifyConfig` (a proposer reads its own settings from it)."""

    name: ClassVar[str]
    """The registry name ("bo", "random", ...)."""
    label: ClassVar[str]
    """How reports and messages call it ("BO", "uniform random", ...)."""
    uniform: ClassVar[bool]
    """Every point is drawn independently and uniformly from the cube, whatever was told:
    then the exact violation-rate bounds of `sanp.stats` apply (and --target-rate)."""

    @classmethod
    def create(cls, dim: int, budget: int, seed: int, config: Any) -> Proposer:
        """A fresh proposer for one search."""

    def chunk(self, remaining: int) -> int:
        """How many points the next `propose` call should return (the batch rolled out
        together), given the rollouts left in the budget (>= 1)."""

    def propose(self, n: int) -> np.ndarray:
        """`n` points, shape (n, dim), in [0, 1]."""

    def tell(self, x: np.ndarray, y: np.ndarray) -> None:
        """The objective `y` (n,) at the points `x` (n, dim) rolled out (a prefix of the
        last proposal: the search stops mid-chunk at a counterexample)."""


@runtime_checkable
class SeedSearch(Protocol):
    """What a proposer adds to search the reset seed too (the env's own randomness: a
    walker's terrain, a lander's dispersion) instead of letting each point carry its own,
    hashed from its values. Optional: `sanp.falsify` calls these only when present."""

    def reset_seeds(self) -> Sequence[int | None]:
        """The reset seed of each point of the last `propose` (an int in [0, 2^53), or
        None: the point's own). The point records it, so its episode replays exactly."""

    def tell_reset_seeds(self, seeds: Sequence[int]) -> None:
        """The reset seeds the points of the next `tell` ran with (a spec that pins one
        seed for every episode overrides the proposed ones)."""


PROPOSERS: Registry[type[Proposer]] = Registry("sanp.proposers", "optimiser", {
    "corners": "sanp.falsify.proposers.corners:CornersProposer",
    "bo": "sanp.falsify.proposers.bo:BOProposer",
    "random": "sanp.falsify.proposers.uniform:RandomProposer",
    "cmaes": "sanp.falsify.proposers.cmaes:CMAESProposer",
    "reseed": "sanp.falsify.proposers.reseed:ReseedProposer",
})
"""Every optimiser by name. The first built-in is the default."""

DEFAULT = PROPOSERS.builtin_names()[0]
"""The optimiser `sanp verify` uses unless told otherwise: the one that needed the
fewest rollouts on the rare-failure cases of benchmarks/results/falsify.md."""

PRUNE_DEFAULT = "bo"
"""The optimiser of `sanp prune`'s rounds and held-out check unless told otherwise: GP-BO,
with which every published prune figure was measured (a new default there needs them
measured again)."""

UNIFORM = "random"
"""The built-in that samples uniformly (the baseline, and the uniform batches of prune)."""


def proposer_class(name: str) -> type[Proposer]:
    """The class registered as `name` (PluginError, with a did-you-mean, if unknown)."""
    return PROPOSERS.load(name)


def is_uniform(name: str) -> bool:
    """Whether optimiser `name` samples uniformly (rate bounds apply); False for a name
    that is not installed here (a report written elsewhere)."""
    try:
        return bool(proposer_class(name).uniform)
    except Exception:  # noqa: BLE001 - any plug-in that does not load is "not known uniform"
        return False


def label(name: str) -> str:
    """How messages call optimiser `name`; the name itself if it does not load here."""
    try:
        return str(proposer_class(name).label)
    except Exception:  # noqa: BLE001
        return name


def make(name: str, dim: int, budget: int, seed: int, config: Any) -> Proposer:
    """A fresh proposer `name` for one search."""
    return proposer_class(name).create(dim, budget, seed, config)
