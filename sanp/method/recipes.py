"""The recipes of `sanp prune`: the `Recipe` protocol, what a recipe's steps are given
(`Step1Job`, `RepairJob`), and the registry of recipes by name.

A recipe decides what differs between the paper's method and its variants: the
importance criterion it defaults to, the options it refuses, the policies it cannot
prune, step 1 (the first sparse policy), what it prepares before the rounds, each
round's repair, and what it adds to the report's options. Everything else (the rounds'
falsifier, recovery states, the held-out check, the verdict) is the same for all.

A package adds a recipe in its `pyproject.toml` (a class built with no arguments;
subclassing `sanp.method.paper_recipe.PaperRecipe` gives the paper's steps to keep):

    [project.entry-points."sanp.recipes"]
    mine = "my_pkg.recipe:MyRecipe"

Example:
    >>> RECIPES.builtin_names()
    ['deep', 'paper']
    >>> recipe("paper").default_criterion
    'magnitude'
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sanp.errors import OptionError
from sanp.plugins import PluginError, Registry

Log = Callable[[str], None]


@dataclass(frozen=True)
class Step1Job:
    """What step 1 is given: the dense policy, the env, the spec, the run's PruneConfig,
    the spec's reward cutoff, the log, and (recipes that save step 1 part way through)
    the state to resume from and the hook to call after each part."""

    dense: Any
    binding: Any
    spec: Any
    config: Any
    threshold: float
    say: Log
    resume: Any = None
    on_level: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class RepairJob:
    """What a round's repair is given: the sparse and dense policies, the env, the spec,
    the recovery states of the round's counterexamples, the reward cutoff, the run's
    PruneConfig, the log, and what step 1 left for the rounds (`Progress.anchors`,
    `.levels`, `.screen`)."""

    sparse: Any
    dense: Any
    binding: Any
    spec: Any
    states: Sequence[Any]
    threshold: float
    config: Any
    say: Log
    anchors: Any = None
    levels: Sequence[Any] = ()
    screen: Any = None


@runtime_checkable
class Recipe(Protocol):
    """One way to prune and repair. `name` is its registry key and report label,
    `default_criterion` the importance criterion when none is given, `step1_label`
    how the progress line names its step 1 ("the sparsity search"). A recipe whose step 1
    runs the deep schedule's safety screen also sets `screens = True` (optional), so the
    report splits the run's error over the screen's looks."""

    name: str
    default_criterion: str
    step1_label: str

    def check(self, config: Any) -> None:
        """OptionError for options of the PruneConfig this recipe does not take."""

    def check_inputs(self, dense: Any, spec: Any) -> None:
        """OptionError, before any work, for a policy or spec the recipe cannot run on."""

    def step1(self, job: Step1Job) -> Any:
        """Step 1: the first sparse policy, as a `sanp.method.run_state.Progress`."""

    def before_rounds(self, run: Any, job: Step1Job) -> None:
        """Complete a `Progress` (step 1 done, maybe resumed) before the rounds start."""

    def repair(self, job: RepairJob) -> tuple[Any, str]:
        """A round's repair (a `sanp.method.repair.Repair`) and its name for the report."""

    def report_options(self, config: Any) -> dict[str, Any]:
        """What the recipe adds to the report's `options` (the deep schedule's settings)."""


RECIPES: Registry[type[Recipe]] = Registry("sanp.recipes", "recipe", {
    "deep": "sanp.method.deep_recipe:DeepRecipe",
    "paper": "sanp.method.paper_recipe:PaperRecipe",
})
"""Every recipe `sanp prune --recipe` takes; the first is the default."""


def recipe(name: str) -> Recipe:
    """The recipe called `name`; OptionError (with a did-you-mean) for an unknown name or
    a plug-in that does not load."""
    try:
        return RECIPES.load(name)()
    except PluginError as exc:
        raise OptionError(str(exc)) from None
