"""Sparse distillation: train the surviving weights of a pruned policy to reproduce the
dense policy's outputs on a set of states. Masked weights stay exactly zero.

The loss fits the action type. Discrete actions are the argmax of the outputs (logits
or Q-values), which a constant shift per state does not change: the loss is the mean
squared error of the outputs centred per state. Continuous actions are the outputs
(the action mean) clipped to the box: the loss is the mean squared error of the
pre-clip outputs.

Only torch and the policy are involved here; which states to train on (DAgger-style
aggregation, recovery states, counterexample trajectories) is the caller's choice.

Example:
    >>> student, info = finetune(sparse, dense, states, FinetuneConfig(steps=500))
    >>> info.loss_after < info.loss_before, student.sparsity() == sparse.sparsity()
    (True, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sanp.errors import OptionError


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of one distillation run (Adam, cosine-decayed learning rate)."""

    steps: int = 1000
    """Gradient steps."""
    batch: int = 256
    """States per gradient step (drawn with replacement, by `weights` when given)."""
    lr: float = 1e-3
    """Initial learning rate; it decays to zero along a cosine over `steps`."""
    seed: int = 0
    """Seed of the minibatch draws."""

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch <= 0 or not self.lr > 0:
            raise OptionError(
                f"finetune needs steps >= 0, batch > 0, lr > 0; got {self.steps}, {self.batch}, {self.lr}"
            )


@dataclass(frozen=True)
class FinetuneInfo:
    """What one distillation run did."""

    states: int
    steps: int
    loss_before: float
    """Distillation loss over all states (weighted) before training."""
    loss_after: float
    """The same loss after training."""


def _as_tensor(states: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(states, dtype=np.float32))


@torch.no_grad()
def teacher_values(teacher: Any, states: Any) -> torch.Tensor:
    """The dense policy's raw outputs (logits / Q-values, or pre-clip action means)."""
    return teacher(_as_tensor(states)).detach()


def distill_loss(student: Any, states: torch.Tensor, targets: torch.Tensor,
                 weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean (or `weights`-weighted mean) per-state squared error between the student's
    outputs and `targets`, centred per state for discrete actions (see the module)."""
    out = student(states)
    if student.action_kind == "discrete":
        out = out - out.mean(dim=1, keepdim=True)
        targets = targets - targets.mean(dim=1, keepdim=True)
    per_state = ((out - targets) ** 2).mean(dim=1)
    if weights is None:
        return per_state.mean()
    return (per_state * weights).sum() / weights.sum()


@torch.no_grad()
def _full_loss(student: Any, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> float:
    total, norm = 0.0, 0.0
    for a in range(0, len(x), 8192):
        ww = None if w is None else w[a : a + 8192]
        n = float(len(x[a : a + 8192])) if ww is None else float(ww.sum())
        total += float(distill_loss(student, x[a : a + 8192], y[a : a + 8192], ww)) * n
        norm += n
    return total / max(norm, 1e-12)


def finetune(student: Any, teacher: Any, states: Any, config: FinetuneConfig = FinetuneConfig(),
             *, weights: Any = None) -> tuple[Any, FinetuneInfo]:
    """A copy of `student` whose unmasked weights and biases are trained to match
    `teacher`'s outputs on `states` (float [N, obs_dim]); `weights` (>= 0, [N]) make
    some states count more. The masks, the observation normaliser and the action
    semantics are kept; masked weights are zeroed after every step, so they are
    exactly zero on return.

    Example:
        >>> student, info = finetune(sparse, dense, buffer_states, FinetuneConfig(steps=300))
    """
    x = _as_tensor(states)
    if x.ndim != 2 or x.shape[1] != student.obs_dim or len(x) == 0:
        raise OptionError(f"finetune needs states of shape [N, {student.obs_dim}] with N > 0, got {tuple(x.shape)}")
    w = None if weights is None else torch.as_tensor(np.asarray(weights, dtype=np.float32))
    if w is not None and (w.shape != (len(x),) or bool((w < 0).any()) or not float(w.sum()) > 0):
        raise OptionError("finetune weights must be one non-negative number per state, not all zero")
    y = teacher_values(teacher, x)
    out = student.clone()
    out.apply_masks()
    before = _full_loss(out, x, y, w)
    if config.steps:
        params = [p for p in out.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=config.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.steps)
        gen = torch.Generator().manual_seed(config.seed)
        probs = None if w is None else w / w.sum()
        for _ in range(config.steps):
            if probs is None:
                idx = torch.randint(len(x), (config.batch,), generator=gen)
            else:
                idx = torch.multinomial(probs, config.batch, replacement=True, generator=gen)
            opt.zero_grad(set_to_none=True)
            distill_loss(out, x[idx], y[idx]).backward()
            opt.step()
            sched.step()
            # The forward pass multiplies by the mask, so pruned weights get no gradient;
            # zeroing them anyway keeps "exactly zero" independent of the optimiser.
            out.apply_masks()
    after = _full_loss(out, x, y, w)
    return out, FinetuneInfo(len(x), config.steps, before, after)
