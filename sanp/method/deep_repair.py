"""The deep recipe's repair of one round: fine-tune the surviving weights first (keeps
the sparsity), and fall back to the paper's restoration when that does not fix every
counterexample of the round with the mean reward at the cutoff.

Example:
    >>> fix, used = deep_repair(sparse, dense, binding, spec, states, anchors, 195.0, config)
    >>> used, fix.policy.sparsity()
    ('finetune', 0.98...)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sanp.envs import Binding
from sanp.method.config import PruneConfig
from sanp.method.deep import RepairConfig, finetune_repair
from sanp.method.recover import RecoveryState
from sanp.method.repair import Repair, repair


def deep_repair(sparse: Any, dense: Any, binding: Binding, spec: Any, states: Sequence[RecoveryState],
                anchors: np.ndarray | None, threshold: float, config: PruneConfig,
                say: Callable[[str], None] = lambda _m: None) -> tuple[Repair, str]:
    """The round's repair and which one it was: "finetune" (every counterexample of
    `states` fixed, reward at `threshold`, masks unchanged), "finetune+restore"
    (restoration starting from the fine-tuned policy, which helped and kept the
    reward), or "restore" (restoration from `sparse`, as in the paper).

    After a fine-tune, "p = 1" restores the dense values of the pruned weights only; the
    kept weights stay fine-tuned, so a counterexample can stay unfixed at p = 1 where the
    paper's restoration (which reaches the dense network) would fix it.
    """
    cexs = [s.counterexample for s in states]
    rc = RepairConfig(finetune=config.deep.finetune, episodes=config.episodes, seed=config.seed)
    tuned, fixed, info = finetune_repair(sparse, dense, binding, spec, cexs, states, anchor_states=anchors,
                                         config=rc, log=say)
    reward_ok = info.mean_reward is not None and info.mean_reward >= threshold
    if all(fixed) and reward_ok:
        return Repair(tuned, 0.0, tuple(0 for _ in tuned.linears), tuple(cexs), (), ()), "finetune"
    say(f"finetune repair fixed {sum(fixed)} of {len(cexs)} at mean reward {info.mean_reward:.2f}; "
        "falling back to restoration")
    # finetune_repair returns its input when no fine-tune fixed more than before.
    helped = sum(fixed) > info.fixed_per_iteration[0] and reward_ok
    fix = repair(tuned if helped else sparse, dense, binding, spec, states, resolution=config.resolution)
    return fix, "finetune+restore" if helped else "restore"
