"""The model: `MLPPolicy`, the one internal form of a policy in sanp.

An `MLPPolicy` is a chain of Linear layers with per-layer activations, a 0/1 pruning
mask per weight, the action semantics of its env (discrete: argmax of the outputs;
continuous: outputs clipped to the action box) and, optionally, an observation
normaliser folded into the network (SB3 VecNormalize:
``clip((obs - mean) / sqrt(var + eps), -clip, clip)``).

Readers and writers of files live in `sanp.formats` and the onnxruntime actor in
`sanp.runtime`; both depend on this module, never the other way.

Example:
    >>> from sanp.model import MLPPolicy
    >>> pi = MLPPolicy([4, 64, 2], "tanh", action_kind="discrete")
    >>> pi.act(np.zeros((3, 4), np.float32))  # float32 [N, 4] -> int64 [N] actions
    >>> pi.sparsity()                          # fraction of weights masked out: 0.0
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from sanp.types import ActionKind

ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")
_ACT_FN = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
}
CHECKPOINT_FORMAT = "sanp-mlp-policy"
FLOAT32_MAX = float(np.finfo(np.float32).max)
"""Largest finite float32: any constant above it becomes infinite in sanp's files and C code."""


def _as_bound(x: Any, n: int, name: str) -> np.ndarray | None:
    if x is None:
        return None
    a = np.asarray(x, dtype=np.float32).reshape(-1)
    if a.size == 1 and n != 1:
        a = np.full(n, a.item(), dtype=np.float32)
    if a.size != n:
        raise ValueError(f"{name} has {a.size} entries, the policy has {n} outputs")
    return a


def _activation_names(activations: str | Sequence[str], n_layers: int) -> list[str]:
    """One activation name per layer (the output layer linear unless given)."""
    if isinstance(activations, str):
        acts = [activations] * (n_layers - 1) + ["identity"]
    else:
        acts = [str(a) for a in activations]
        if len(acts) == n_layers - 1:
            acts = acts + ["identity"]
        elif len(acts) != n_layers:
            raise ValueError(f"{len(acts)} activations for {n_layers} layers: give {n_layers - 1} (hidden) or {n_layers}")
    acts = [a.lower() for a in acts]
    for a in acts:
        if a not in ACTIVATIONS:
            raise ValueError(f"unknown activation {a!r}; use one of {', '.join(ACTIVATIONS)}")
    return acts


class MLPPolicy(nn.Module):
    """A multilayer perceptron policy with pruning masks, action semantics and an
    optional observation normaliser.

    `sizes` = [obs_dim, h1, ..., out_dim]. `activations` is one name for every hidden
    layer, or one per hidden layer (the output layer is then linear), or one per
    layer including the output (e.g. a tanh-squashed actor); names: relu, tanh,
    sigmoid, identity.
    """

    # buffers (register_buffer), declared for the type checker
    obs_mean: torch.Tensor
    obs_var: torch.Tensor
    obs_std: torch.Tensor

    def __init__(
        self,
        sizes: Sequence[int],
        activations: str | Sequence[str] = "relu",
        *,
        action_kind: ActionKind,
        action_low: Any = None,
        action_high: Any = None,
        obs_mean: Any = None,
        obs_var: Any = None,
        obs_clip: float | None = None,
        obs_eps: float = 1e-8,
    ):
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"sizes must be [obs_dim, ..., out_dim] with positive entries, got {sizes}")
        acts = _activation_names(activations, len(sizes) - 1)
        if action_kind not in ("discrete", "continuous"):
            raise ValueError(f"action_kind must be 'discrete' or 'continuous', got {action_kind!r}")
        self.sizes = sizes
        self.activations = acts
        self.obs_dim = sizes[0]
        self.out_dim = sizes[-1]
        self.action_kind: ActionKind = action_kind
        if action_kind == "discrete":
            if action_low is not None or action_high is not None:
                raise ValueError("action_low/action_high are for continuous policies only")
            self.action_low = self.action_high = None
        else:
            self.action_low = _as_bound(action_low, self.out_dim, "action_low")
            self.action_high = _as_bound(action_high, self.out_dim, "action_high")
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        for i, lin in enumerate(self.layers):
            self.register_buffer(f"mask{i}", torch.ones_like(lin.weight))
        # observation normaliser
        self.has_normalizer = obs_mean is not None or obs_var is not None or obs_clip is not None
        mean = np.zeros(self.obs_dim) if obs_mean is None else np.asarray(obs_mean, dtype=np.float64).reshape(-1)
        var = np.ones(self.obs_dim) if obs_var is None else np.asarray(obs_var, dtype=np.float64).reshape(-1)
        if mean.size != self.obs_dim or var.size != self.obs_dim:
            raise ValueError(f"obs_mean/obs_var must have {self.obs_dim} entries, got {mean.size}/{var.size}")
        self.obs_eps = float(obs_eps)
        self.obs_clip = None if obs_clip is None else float(obs_clip)
        self.register_buffer("obs_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("obs_var", torch.as_tensor(var, dtype=torch.float32))
        # sqrt(var + eps) computed once in float64, as SB3 does in numpy
        self.register_buffer("obs_std", torch.as_tensor(np.sqrt(var + self.obs_eps), dtype=torch.float32))

    # -- structure ---------------------------------------------------------------
    @property
    def linears(self) -> list[nn.Linear]:
        """The Linear layers, input to output."""
        return list(self.layers)

    @property
    def masks(self) -> list[torch.Tensor]:
        """The 0/1 float masks, one per Linear weight (buffers: edit through set_masks)."""
        return [getattr(self, f"mask{i}") for i in range(len(self.layers))]

    @masks.setter
    def masks(self, masks: Sequence[torch.Tensor | np.ndarray]) -> None:
        self.set_masks(masks)

    def set_masks(self, masks: Sequence[torch.Tensor | np.ndarray]) -> None:
        """Replace the masks (values are coerced to 0/1 floats)."""
        masks = list(masks)
        if len(masks) != len(self.layers):
            raise ValueError(f"{len(masks)} masks for {len(self.layers)} layers")
        for i, (m, lin) in enumerate(zip(masks, self.layers)):
            t = torch.as_tensor(np.asarray(m) if not isinstance(m, torch.Tensor) else m)
            if tuple(t.shape) != tuple(lin.weight.shape):
                raise ValueError(f"mask {i} has shape {tuple(t.shape)}, weight has {tuple(lin.weight.shape)}")
            getattr(self, f"mask{i}").copy_((t != 0).to(torch.float32))

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Zero the masked-out weights in place."""
        for lin, m in zip(self.layers, self.masks):
            lin.weight.mul_(m)

    def effective_weights(self) -> list[torch.Tensor]:
        """weight * mask for every layer, detached."""
        return [(lin.weight * m).detach() for lin, m in zip(self.layers, self.masks)]

    def layer_sparsity(self) -> list[float]:
        """Fraction of each layer's weights masked out."""
        return [float((m == 0).sum().item()) / m.numel() for m in self.masks]

    def sparsity(self) -> float:
        """Fraction of all Linear weights masked out (biases excluded)."""
        total = sum(m.numel() for m in self.masks)
        return float(sum((m == 0).sum().item() for m in self.masks)) / total

    def n_weights(self) -> int:
        """Number of Linear weights (biases excluded)."""
        return sum(m.numel() for m in self.masks)

    def clone(self) -> MLPPolicy:
        """A deep copy (parameters, masks, normaliser, action semantics)."""
        return copy.deepcopy(self)

    def architecture(self) -> dict[str, Any]:
        """JSON-able constructor arguments (without the parameter values)."""
        return {
            "sizes": self.sizes,
            "activations": self.activations,
            "action_kind": self.action_kind,
            "action_low": json_floats(self.action_low),
            "action_high": json_floats(self.action_high),
            "has_normalizer": self.has_normalizer,
            "obs_clip": self.obs_clip,
            "obs_eps": self.obs_eps,
        }

    def nonfinite_constant(self) -> str | None:
        """The name of the first constant that is NaN or infinite in float32, as sanp's
        files and C code store it (weights and biases, masked ones included: w * 0 is NaN
        for an infinite w; the normaliser's mean, variance, std, clip and epsilon), or
        None. The action bounds may be infinite (an unbounded Box), never NaN."""
        for name, t in self.state_dict().items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                return name
        if self.has_normalizer and not bool((self.obs_std > 0).all()):
            return "obs_std"  # var + eps == 0: the normaliser divides by zero
        for name, v in (("obs_clip", self.obs_clip), ("obs_eps", self.obs_eps)):
            if v is not None and not (math.isfinite(v) and abs(v) <= FLOAT32_MAX):
                return name
        for name, a in (("action_low", self.action_low), ("action_high", self.action_high)):
            if a is not None and np.isnan(a).any():
                return name
        return None

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, activations={self.activations}, action_kind={self.action_kind!r}"

    # -- computation -------------------------------------------------------------
    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """Apply the observation normaliser (identity when there is none)."""
        if not self.has_normalizer:
            return obs
        x = (obs - self.obs_mean) / self.obs_std
        if self.obs_clip is not None:
            x = torch.clamp(x, -self.obs_clip, self.obs_clip)
        return x

    def forward(self, obs: torch.Tensor, weights: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Raw action values [N, out_dim]. The weight of layer i is weight*mask, or
        `weights[i]` when given (taken as already effective: gradients with respect to
        them reach pruned positions too)."""
        *_, out = self._values(obs, weights)
        return out

    @torch.no_grad()
    def layer_inputs(self, obs: torch.Tensor) -> list[torch.Tensor]:
        """The input of every Linear layer on a batch of observations (the normalised
        observation first), e.g. for activation-based pruning importance."""
        return list(self._values(obs, None))[:-1]

    def output_gradients(self, obs: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """For every Linear layer: its input [N, in] and, per state, the sum over the raw
        outputs (centred per state for discrete actions) of the squared derivative with
        respect to each of the layer's pre-activations [N, out]. Removing weight (i, j)
        of a layer changes the outputs by about grad_i * w_ij * x_j, which is what
        sensitivity-based pruning scores."""
        probes = [torch.zeros(len(obs), lin.out_features, requires_grad=True) for lin in self.layers]
        with torch.enable_grad():
            *inputs, out = self._values(obs, None, probes)
            if self.action_kind == "discrete":
                out = out - out.mean(dim=1, keepdim=True)
            sq = [torch.zeros_like(p) for p in probes]
            for k in range(out.shape[1]):
                for acc, g in zip(sq, torch.autograd.grad(out[:, k].sum(), probes, retain_graph=True)):
                    acc += g**2
        return [x.detach() for x in inputs], sq

    def _values(self, obs: torch.Tensor, weights: Sequence[torch.Tensor] | None,
                probes: Sequence[torch.Tensor] | None = None):
        """Yield each Linear layer's input, then the network's output (`probes`: added to
        each layer's pre-activation, to differentiate with respect to it)."""
        x = self.normalize(obs.to(torch.float32))
        if weights is not None and len(weights) != len(self.layers):
            raise ValueError(f"{len(weights)} weights for {len(self.layers)} layers")
        for i, (lin, act) in enumerate(zip(self.layers, self.activations)):
            yield x
            w = lin.weight * getattr(self, f"mask{i}") if weights is None else weights[i]
            z = nn.functional.linear(x, w, lin.bias)
            x = _ACT_FN[act](z if probes is None else z + probes[i])
        yield x

    def values_to_actions(self, values: np.ndarray) -> np.ndarray:
        """Raw action values -> env actions (argmax, or clip to the action box)."""
        return to_actions(values, self.action_kind, self.action_low, self.action_high)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Env actions for float32 obs [N, obs_dim] (or one obs [obs_dim]): int64 [N]
        for discrete, float32 [N, act_dim] clipped to the box for continuous."""
        x, single = batch_obs(obs, self.obs_dim)
        with torch.no_grad():
            values = self.forward(torch.from_numpy(x)).numpy()
        a = self.values_to_actions(values)
        return a[0] if single else a


def json_floats(a: np.ndarray | None) -> list | None:
    """Floats for JSON; infinities as the strings 'inf' / '-inf'."""
    if a is None:
        return None
    return [float(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf") for v in np.asarray(a, float).ravel()]


def floats_from_json(a: list | None) -> np.ndarray | None:
    """The inverse of `json_floats`, as float32."""
    if a is None:
        return None
    return np.array([float(v) for v in a], dtype=np.float32)


def batch_obs(obs: np.ndarray, obs_dim: int) -> tuple[np.ndarray, bool]:
    """Contiguous float32 [N, obs_dim] and whether `obs` was one observation [obs_dim]."""
    x = np.asarray(obs, dtype=np.float32)
    single = x.ndim == 1
    if single:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != obs_dim:
        raise ValueError(f"obs must be [N, {obs_dim}] or [{obs_dim}], got shape {np.shape(obs)}")
    return np.ascontiguousarray(x), single


def to_actions(values: np.ndarray, kind: str, low: np.ndarray | None, high: np.ndarray | None) -> np.ndarray:
    """Raw action values -> env actions: argmax (int64) or clip to [low, high] (float32)."""
    if kind == "discrete":
        return np.argmax(values, axis=1).astype(np.int64)
    a = values.astype(np.float32, copy=False)
    if low is not None or high is not None:
        a = np.clip(a, low, high)
    return a.astype(np.float32, copy=False)
