"""The method of "Safety Aware Neural Pruning for Deep Reinforcement Learning"
(Gangopadhyay, Dasgupta, Dey, AAAI 2023), one module per step, in the order they run:

- `step1`: importance criteria, masks, and the largest one-shot sparsity k whose mean
  reward reaches the spec's cutoff;
- `rounds`: one refinement round: falsify the sparse policy (step 2), then
- `recover`: the recovery state of each counterexample (step 3), and
- `repair`: the paper's restoration of pruned weights (steps 4-5);
- `deep`, `finetune`, `deep_repair`: the deep recipe (`PruneConfig(recipe="deep")`):
  gradual pruning with sparse distillation as step 1, and a repair that fine-tunes first;
- `heldout`: the check on points and seeds the loop never used;
- `resume_file`: the run's progress, saved after every phase (`--resume`);
- `pipeline`: `prune_and_refine`, which calls them in that order;
- `recipes`: the `Recipe` protocol and registry (`--recipe`); `paper_recipe` and
  `deep_recipe` are the two built-ins, each a small adapter over the modules above.

Example:
    >>> from sanp.method import PruneConfig, prune_and_refine
    >>> result = prune_and_refine(dense, binding, spec, PruneConfig(seed=0))
    >>> result.policy.sparsity()
"""
from sanp.method.config import PruneConfig
from sanp.method.pipeline import PruneResult, prune_and_refine

__all__ = ["PruneConfig", "PruneResult", "prune_and_refine"]
