"""A toy prune recipe: the paper's, with step 1 pruning a fixed half of the weights by
magnitude instead of searching for the largest k that keeps the reward cutoff.

Example:
    sanp prune policy.onnx spec.stl -o sparse.onnx --recipe toy
"""
from __future__ import annotations

from typing import Any

from sanp.errors import OptionError
from sanp.method.paper_recipe import PaperRecipe
from sanp.method.run_state import Progress
from sanp.method.step1 import fixed_sparsity, importance, mean_reward_of

HALF = 0.5


class ToyRecipe(PaperRecipe):
    """sanp's Recipe protocol (sanp.method.recipes): the paper's rounds and repair, step 1
    at k = 0.5 by magnitude."""

    name = "toy"
    default_criterion = "magnitude"
    step1_label = "half of the weights by magnitude"

    def check(self, config: Any) -> None:
        if config.sparsity is not None:
            raise OptionError("the toy recipe always prunes half of the weights; drop --sparsity")

    def step1(self, job: Any) -> Progress:
        c = job.config
        found = fixed_sparsity(job.dense, importance(job.dense, "magnitude", None),
                               mean_reward_of(job.binding, c.episodes, c.seed), job.threshold, HALF, c.scope, job.say)
        return Progress(found, found.policy, c.rounds == 0)
