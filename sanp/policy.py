"""Policies: one internal form, `MLPPolicy`, and the readers that build it.

An `MLPPolicy` is a chain of Linear layers with per-layer activations, a 0/1 pruning
mask per weight, the action semantics of its env (discrete: argmax of the outputs;
continuous: outputs clipped to the action box) and, optionally, an observation
normaliser folded into the network (SB3 VecNormalize:
``clip((obs - mean) / sqrt(var + eps), -clip, clip)``).

`load(path)` reads, dispatching on content and suffix:

- ONNX (`.onnx`): the MLP subset, converted by walking the graph (see `_OnnxReader`);
- sanp's own torch checkpoint (`.pt`, written by `save_checkpoint`);
- a Stable-Baselines3 zip (PPO/A2C/TRPO actor, DQN q-net; read without SB3 and
  without unpickling, see `sanp.sb3`), optionally with a VecNormalize `.pkl`.

Example:
    >>> from sanp.policy import load, export_onnx
    >>> pi = load("ppo.zip", vecnormalize="vecnormalize.pkl")
    >>> actions = pi.act(obs)                 # float32 [N, obs_dim] -> actions
    >>> export_onnx(pi, "ppo.onnx", {"env_id": "BipedalWalker-v3"})
    >>> ort = load("ppo.onnx").to_ort()       # same actions through onnxruntime
"""
from __future__ import annotations

import copy
import json
import math
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sanp.errors import PolicyError
from sanp.types import ActionKind

ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")
_ACT_FN = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
}
CHECKPOINT_FORMAT = "sanp-mlp-policy"


def _as_bound(x: Any, n: int, name: str) -> np.ndarray | None:
    if x is None:
        return None
    a = np.asarray(x, dtype=np.float32).reshape(-1)
    if a.size == 1 and n != 1:
        a = np.full(n, a.item(), dtype=np.float32)
    if a.size != n:
        raise ValueError(f"{name} has {a.size} entries, the policy has {n} outputs")
    return a


class MLPPolicy(nn.Module):
    """A multilayer perceptron policy with pruning masks, action semantics and an
    optional observation normaliser.

    `sizes` = [obs_dim, h1, ..., out_dim]. `activations` is one name for every hidden
    layer, or one per hidden layer (the output layer is then linear), or one per
    layer including the output (e.g. a tanh-squashed actor); names: relu, tanh,
    sigmoid, identity.
    """

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
        n_layers = len(sizes) - 1
        if isinstance(activations, str):
            acts = [activations] * (n_layers - 1) + ["identity"]
        else:
            acts = [str(a) for a in activations]
            if len(acts) == n_layers - 1:
                acts = acts + ["identity"]
            elif len(acts) != n_layers:
                raise ValueError(
                    f"{len(acts)} activations for {n_layers} layers: give {n_layers - 1} (hidden) or {n_layers}"
                )
        acts = [a.lower() for a in acts]
        for a in acts:
            if a not in ACTIVATIONS:
                raise ValueError(f"unknown activation {a!r}; use one of {', '.join(ACTIVATIONS)}")
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
            "action_low": _json_floats(self.action_low),
            "action_high": _json_floats(self.action_high),
            "has_normalizer": self.has_normalizer,
            "obs_clip": self.obs_clip,
            "obs_eps": self.obs_eps,
        }

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

    def _values(self, obs: torch.Tensor, weights: Sequence[torch.Tensor] | None):
        """Yield each Linear layer's input, then the network's output."""
        x = self.normalize(obs.to(torch.float32))
        if weights is not None and len(weights) != len(self.layers):
            raise ValueError(f"{len(weights)} weights for {len(self.layers)} layers")
        for i, (lin, act) in enumerate(zip(self.layers, self.activations)):
            yield x
            w = lin.weight * getattr(self, f"mask{i}") if weights is None else weights[i]
            x = _ACT_FN[act](nn.functional.linear(x, w, lin.bias))
        yield x

    def values_to_actions(self, values: np.ndarray) -> np.ndarray:
        """Raw action values -> env actions (argmax, or clip to the action box)."""
        return _values_to_actions(values, self.action_kind, self.action_low, self.action_high)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Env actions for float32 obs [N, obs_dim] (or one obs [obs_dim]): int64 [N]
        for discrete, float32 [N, act_dim] clipped to the box for continuous."""
        x, single = _batch(obs, self.obs_dim)
        with torch.no_grad():
            values = self.forward(torch.from_numpy(x)).numpy()
        a = self.values_to_actions(values)
        return a[0] if single else a

    # -- conversion --------------------------------------------------------------
    def to_ort(self) -> OrtPolicy:
        """The same policy through onnxruntime (masks applied)."""
        from sanp.export import build_model

        return OrtPolicy(
            build_model(self, sparse=False).SerializeToString(),
            obs_dim=self.obs_dim,
            action_kind=self.action_kind,
            action_low=self.action_low,
            action_high=self.action_high,
        )


def _json_floats(a: np.ndarray | None) -> list | None:
    """Floats for JSON; infinities as the strings 'inf' / '-inf'."""
    if a is None:
        return None
    return [float(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf") for v in np.asarray(a, float).ravel()]


def _from_json_floats(a: list | None) -> np.ndarray | None:
    if a is None:
        return None
    return np.array([float(v) for v in a], dtype=np.float32)


def _batch(obs: np.ndarray, obs_dim: int) -> tuple[np.ndarray, bool]:
    x = np.asarray(obs, dtype=np.float32)
    single = x.ndim == 1
    if single:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != obs_dim:
        raise ValueError(f"obs must be [N, {obs_dim}] or [{obs_dim}], got shape {np.shape(obs)}")
    return np.ascontiguousarray(x), single


def _values_to_actions(values: np.ndarray, kind: str, low: np.ndarray | None, high: np.ndarray | None) -> np.ndarray:
    if kind == "discrete":
        return np.argmax(values, axis=1).astype(np.int64)
    a = values.astype(np.float32, copy=False)
    if low is not None or high is not None:
        a = np.clip(a, low, high)
    return a.astype(np.float32, copy=False)


class OrtPolicy:
    """A policy run by onnxruntime (one intra-op thread, batched); an `Actor`.

    `model` is the ONNX model (bytes or a path) whose first input takes float32
    [N, obs_dim] observations and whose first output gives raw action values.
    """

    def __init__(
        self,
        model: bytes | str | os.PathLike,
        *,
        obs_dim: int,
        action_kind: ActionKind,
        action_low: Any = None,
        action_high: Any = None,
    ):
        self._model = model if isinstance(model, bytes) else Path(model).read_bytes()
        self._open()
        self.obs_dim = int(obs_dim)
        self.action_kind: ActionKind = action_kind
        self.action_low = None if action_low is None else np.asarray(action_low, np.float32)
        self.action_high = None if action_high is None else np.asarray(action_high, np.float32)

    def _open(self) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self._model, so, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def __getstate__(self) -> dict[str, Any]:
        # A session cannot be pickled; worker processes rebuild it from the model bytes.
        return {k: v for k, v in self.__dict__.items() if k != "session"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open()

    def values(self, obs: np.ndarray) -> np.ndarray:
        """Raw action values [N, out_dim]."""
        x, _ = _batch(obs, self.obs_dim)
        return self.session.run([self.output_name], {self.input_name: x})[0]

    def act(self, obs: np.ndarray) -> np.ndarray:
        x, single = _batch(obs, self.obs_dim)
        a = _values_to_actions(self.values(x), self.action_kind, self.action_low, self.action_high)
        return a[0] if single else a


def deployed(policy: Any) -> Any:
    """The policy as it will be deployed: run by onnxruntime (an `OrtPolicy`), or the
    actor itself when it has no ONNX form. onnxruntime's results do not depend on the
    batch size; torch's differ in the last bits, which a chaotic env can amplify, so
    every rollout that decides safety uses this."""
    to_ort = getattr(policy, "to_ort", None)
    return to_ort() if to_ort else policy


# ---------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(policy: MLPPolicy, path: str | os.PathLike) -> None:
    """Write sanp's torch checkpoint (architecture JSON + state dict), atomically."""
    import io

    from sanp.atomic import write_bytes

    buf = io.BytesIO()
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "version": 1,
            "architecture": json.dumps(policy.architecture()),
            "state_dict": {k: v.detach().clone() for k, v in policy.state_dict().items()},
        },
        buf,
    )
    write_bytes(path, buf.getvalue())


def _load_checkpoint(path: Path) -> MLPPolicy:
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch/onnx/pickle raise many kinds
        raise PolicyError(
            f"{path}: not a readable sanp checkpoint ({_first_line(exc)}); write one with sanp.policy.save_checkpoint"
        ) from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT or "architecture" not in ck:
        raise PolicyError(
            f"{path}: a torch file but not a sanp checkpoint (expected a dict with format={CHECKPOINT_FORMAT!r}); "
            "write one with sanp.policy.save_checkpoint or export the policy to ONNX"
        )
    try:
        arch = json.loads(ck["architecture"])
        kw = {}
        if arch.get("has_normalizer"):
            sd = ck["state_dict"]
            kw = dict(obs_mean=sd["obs_mean"].numpy(), obs_var=sd["obs_var"].numpy(), obs_clip=arch.get("obs_clip"))
        pol = MLPPolicy(
            arch["sizes"],
            arch["activations"],
            action_kind=arch["action_kind"],
            action_low=_from_json_floats(arch.get("action_low")),
            action_high=_from_json_floats(arch.get("action_high")),
            obs_eps=arch.get("obs_eps", 1e-8),
            **kw,
        )
        pol.load_state_dict(ck["state_dict"])
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise PolicyError(f"{path}: corrupt sanp checkpoint ({_first_line(exc)}); re-export it") from None
    return pol


def _first_line(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()
    return s[0] if s else type(exc).__name__


# ---------------------------------------------------------------------------------
# loading


def load(
    path: str | os.PathLike,
    *,
    observation_space: Any = None,
    action_space: Any = None,
    vecnormalize: str | os.PathLike | None = None,
) -> MLPPolicy:
    """Read a policy file (ONNX, sanp checkpoint `.pt`, SB3 `.zip`) into an MLPPolicy.

    `observation_space` / `action_space` (gymnasium spaces) check that the network
    fits the env and supply the action semantics when the file does not carry them.
    `vecnormalize` is an SB3 VecNormalize pickle whose observation statistics are
    folded into the network (read with a restricted unpickler: nothing is executed).
    Raises PolicyError with a one-line message on any problem.
    """
    p = Path(path)
    if not p.exists():
        raise PolicyError(f"{p}: no such policy file; check the path")
    if p.is_dir():
        raise PolicyError(f"{p}: is a directory; give a policy file (.onnx, .pt or SB3 .zip)")
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise PolicyError(f"{p}: cannot read ({exc.strerror}); check permissions") from None
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(p) as z:
                names = z.namelist()
        except zipfile.BadZipFile:
            raise PolicyError(f"{p}: a damaged zip file; re-download or re-save the policy") from None
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names) and "policy.pth" not in names:
            policy = _load_checkpoint(p)
        else:
            from sanp.sb3 import load_sb3_zip

            policy = load_sb3_zip(p, action_space=action_space)
    elif p.suffix.lower() in (".pt", ".pth"):
        policy = _load_checkpoint(p)  # legacy (non-zip) torch serialisation, or not torch at all
    else:
        policy = _load_onnx_file(p, action_space=action_space)
    if vecnormalize is not None:
        from sanp.sb3 import fold_vecnormalize

        policy = fold_vecnormalize(policy, vecnormalize)
    check_fit(policy, p, observation_space=observation_space, action_space=action_space)
    return policy


def space_info(space: Any) -> tuple[str, int, np.ndarray | None, np.ndarray | None]:
    """(kind, size, low, high) of a gymnasium Discrete or 1-D Box space."""
    if hasattr(space, "n") and not hasattr(space, "low"):
        return "discrete", int(space.n), None, None
    if hasattr(space, "low") and hasattr(space, "high") and hasattr(space, "shape"):
        shape = tuple(space.shape)
        if len(shape) != 1:
            raise PolicyError(f"action space {space} is not a flat Box; sanp supports Discrete and 1-D Box actions")
        return "continuous", int(shape[0]), np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
    raise PolicyError(f"unsupported action space {space!r}; sanp supports Discrete and 1-D Box actions")


def _obs_size(space: Any) -> int:
    shape = tuple(getattr(space, "shape", None) or ())
    if not shape:
        raise PolicyError(f"unsupported observation space {space!r}; sanp supports flat Box observations")
    return int(np.prod(shape))


def check_fit(policy: MLPPolicy, path: Any, *, observation_space: Any = None, action_space: Any = None) -> None:
    """PolicyError unless the network's input and output fit the env's spaces."""
    if observation_space is not None:
        n = _obs_size(observation_space)
        if n != policy.obs_dim:
            raise PolicyError(
                f"{path}: the network takes {policy.obs_dim} observation values but the env gives {n}; "
                "use the policy trained for this env"
            )
    if action_space is not None:
        kind, n, _, _ = space_info(action_space)
        what = "Discrete actions" if kind == "discrete" else "Box action values"
        if kind != policy.action_kind:
            raise PolicyError(
                f"{path}: a {policy.action_kind} policy but the env has {kind} actions; use the policy trained for this env"
            )
        if n != policy.out_dim:
            raise PolicyError(
                f"{path}: the network gives {policy.out_dim} outputs but the env has {n} {what}; "
                "use the policy trained for this env"
            )


def _action_from_space(path: Path, action_space: Any, out_dim: int) -> dict[str, Any]:
    if action_space is None:
        raise PolicyError(
            f"{path}: the file does not say whether actions are discrete or continuous; "
            "pass the env (action_space) or export the policy with sanp"
        )
    kind, _n, low, high = space_info(action_space)
    return {"action_kind": kind, "action_low": low, "action_high": high}


# ---------------------------------------------------------------------------------
# ONNX import


def _load_onnx_file(path: Path, *, action_space: Any = None) -> MLPPolicy:
    import onnx
    from google.protobuf.message import DecodeError

    data = path.read_bytes()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        model = None
    if model is None or not model.HasField("graph") or model.ir_version == 0 or not model.graph.node:
        hint = " (truncated?)" if path.suffix.lower() == ".onnx" else ""
        raise PolicyError(
            f"{path}: not an ONNX model{hint}; give an ONNX file, a sanp .pt checkpoint or an SB3 .zip"
        )
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises ValidationError and friends
        raise PolicyError(f"{path}: invalid or truncated ONNX model ({_first_line(exc)}); re-export it") from None
    return onnx_to_policy(model, path, action_space=action_space)


def onnx_to_policy(model: Any, path: Any = "<onnx>", *, action_space: Any = None) -> MLPPolicy:
    """Convert an ONNX ModelProto of the MLP subset into an MLPPolicy."""
    return _OnnxReader(model, path).convert(action_space)


_NOOP_FLOW_OPS = {"Identity", "Flatten", "Reshape", "Cast", "Dropout", "Squeeze", "Unsqueeze"}
_ACT_OPS = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid"}


class _OnnxReader:
    """Walk an ONNX graph as a chain: constants are folded, the one value derived from
    the input (the "flow") goes through elementwise affine ops and Clip (before the
    first Linear: the observation normaliser), Gemm/MatMul (+ bias Add) layers with
    Relu/Tanh/Sigmoid, shape no-ops, and optionally a final Clip (the action box) or
    ArgMax (discrete actions, dropped). Layout is tracked, so transposed Gemm chains
    ([features, batch]) are read too. Anything else is refused, naming op and node."""

    def __init__(self, model: Any, path: Any):
        from onnx import numpy_helper

        self.model = model
        self.path = path
        g = model.graph
        self.consts: dict[str, np.ndarray] = {}
        self.sparse_masks: dict[str, np.ndarray] = {}
        for t in g.initializer:
            self.consts[t.name] = numpy_helper.to_array(t)
        for sp in g.sparse_initializer:
            vals = numpy_helper.to_array(sp.values)
            idx = numpy_helper.to_array(sp.indices).astype(np.int64)
            dims = tuple(int(d) for d in sp.dims)
            dense = np.zeros(int(np.prod(dims)), dtype=vals.dtype)
            mask = np.zeros(int(np.prod(dims)), dtype=np.float32)
            lin = idx if idx.ndim == 1 else np.ravel_multi_index(tuple(idx.T), dims)
            dense[lin] = vals
            mask[lin] = 1.0
            self.consts[sp.values.name] = dense.reshape(dims)
            self.sparse_masks[sp.values.name] = mask.reshape(dims)
        self.meta = {p.key: p.value for p in model.metadata_props}

    def fail(self, node: Any, why: str) -> PolicyError:
        name = node.name or (node.output[0] if node.output else "?")
        return PolicyError(
            f"{self.path}: unsupported ONNX op {node.op_type} (node {name!r}): {why}; "
            "sanp reads MLPs (Gemm/MatMul/Add/Sub/Mul/Div/Clip/Relu/Tanh/Sigmoid)"
        )

    def _needed_nodes(self, out_name: str) -> list[Any]:
        producer = {}
        for i, n in enumerate(self.model.graph.node):
            for o in n.output:
                producer[o] = i
        need: set[int] = set()
        stack = [out_name]
        seen = set()
        while stack:
            v = stack.pop()
            if v in seen or v not in producer:
                continue
            seen.add(v)
            i = producer[v]
            need.add(i)
            stack.extend(x for x in self.model.graph.node[i].input if x)
        return [n for i, n in enumerate(self.model.graph.node) if i in need]

    def _vec(self, node: Any, c: Any, n: int | None, layout: str) -> np.ndarray:
        """A constant acting per feature, as a float64 vector of length n (a 0-d array
        when n is None and the constant is a scalar)."""
        c = np.asarray(c, dtype=np.float64)
        if c.size == 1:
            return c.reshape(()) if n is None else np.full(n, c.item())
        if n is None:
            raise self.fail(node, "per-feature constant before the observation size is known")
        if c.ndim > 2:
            raise self.fail(node, f"constant of shape {c.shape} does not act per feature")
        try:
            if layout == "NF":
                return np.broadcast_to(c, (1, n) if c.ndim == 2 else (n,)).reshape(-1).copy()
            if c.ndim != 2:
                raise ValueError
            return np.broadcast_to(c, (n, 1))[:, 0].copy()
        except ValueError:
            raise self.fail(node, f"constant of shape {c.shape} does not broadcast over {n} features") from None

    def _attr(self, node: Any, name: str, default: Any) -> Any:
        from onnx import helper

        for a in node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def _fold_const(self, node: Any) -> bool:
        """Evaluate a node whose inputs are all constants; False if not foldable."""
        from onnx import numpy_helper

        ins = [x for x in node.input]
        if any(x and x not in self.consts for x in ins):
            return False
        v = [self.consts[x] if x else None for x in ins]
        op = node.op_type
        if op == "Constant":
            t = self._attr(node, "value", None)
            if t is None:
                for key in ("value_float", "value_floats", "value_int", "value_ints"):
                    val = self._attr(node, key, None)
                    if val is not None:
                        out = np.asarray(val)
                        break
                else:
                    raise self.fail(node, "Constant without a tensor value")
            else:
                out = numpy_helper.to_array(t)
        elif op in ("Identity", "Cast") and v[0] is not None:
            out = v[0]
            if op == "Cast":
                from onnx import helper as h

                out = out.astype(h.tensor_dtype_to_np_dtype(self._attr(node, "to", 1)))
        elif op == "Transpose":
            perm = self._attr(node, "perm", None)
            out = np.transpose(v[0], perm)
        elif op == "Reshape":
            shape = [int(s) for s in v[1]]
            shape = [v[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
            out = v[0].reshape(shape)
        elif op in ("Sqrt", "Neg", "Reciprocal", "Exp"):
            out = {"Sqrt": np.sqrt, "Neg": np.negative, "Reciprocal": np.reciprocal, "Exp": np.exp}[op](v[0])
        elif op in ("Add", "Sub", "Mul", "Div"):
            out = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](v[0], v[1])
        elif op == "Squeeze" or op == "Unsqueeze":
            axes = self._attr(node, "axes", None)
            if axes is None and len(v) > 1 and v[1] is not None:
                axes = [int(a) for a in v[1]]
            out = np.squeeze(v[0], tuple(axes) if axes else None) if op == "Squeeze" else np.expand_dims(v[0], tuple(axes))
        else:
            return False
        self.consts[node.output[0]] = np.asarray(out)
        return True

    def convert(self, action_space: Any) -> MLPPolicy:
        g = self.model.graph
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise PolicyError(
                f"{self.path}: the ONNX graph has {len(inputs)} inputs; sanp reads policies with one observation input"
            )
        inp = inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
        obs_dim = dims[-1] if dims and dims[-1] else None
        if not g.output:
            raise PolicyError(f"{self.path}: the ONNX graph has no output")
        out_name = g.output[0].name
        flow = inp.name
        layout = "NF"
        stage = "pre"  # pre (before first Linear) | lin (after a Linear) | act (after an activation) | end
        pre_m = np.zeros(()) if obs_dim is None else np.zeros(obs_dim)  # normalised = (x - pre_m) / pre_s
        pre_s = np.ones(()) if obs_dim is None else np.ones(obs_dim)
        pre_touched = False
        pre_clip: float | None = None
        layers: list[dict[str, Any]] = []  # W [out, in], b [out], act, mask
        final_clip: tuple[np.ndarray, np.ndarray] | None = None
        argmax = False
        n_feat = obs_dim

        for node in self._needed_nodes(out_name):
            op = node.op_type
            flow_ins = [i for i, x in enumerate(node.input) if x == flow]
            if not flow_ins:
                if self._fold_const(node):
                    continue
                if any(x and x not in self.consts for x in node.input) and op != "Constant":
                    raise self.fail(node, "a second input path (sanp reads single-chain MLPs)")
                raise self.fail(node, "not in the supported MLP subset")
            if len(flow_ins) > 1 or any(
                x and x != flow and x not in self.consts for x in node.input
            ):
                raise self.fail(node, "combines two network values (sanp reads single-chain MLPs)")
            if stage == "end" and op not in _NOOP_FLOW_OPS:
                raise self.fail(node, f"op after the final {'ArgMax' if argmax else 'Clip'}")
            k = flow_ins[0]
            other = [self.consts[x] for i, x in enumerate(node.input) if i != k and x]
            if op in _NOOP_FLOW_OPS:
                if op == "Reshape":
                    shape = [int(v) for v in np.asarray(other[0]).reshape(-1)] if other else []
                    ok = len(shape) == 2 and layout == "NF" and (
                        (n_feat is not None and shape[1] == n_feat) or (shape[1] == -1 and shape[0] != -1)
                    )
                    if argmax:
                        ok = True
                    if not ok:
                        raise self.fail(node, f"reshape to {shape} changes the [batch, features] layout")
                elif op in ("Squeeze", "Unsqueeze") and not argmax:
                    raise self.fail(node, "changes the rank of the network values")
                elif op == "Flatten" and self._attr(node, "axis", 1) != 1:
                    raise self.fail(node, "Flatten with axis != 1")
                elif op == "Cast":
                    from onnx import TensorProto

                    if self._attr(node, "to", 1) not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16) and not argmax:
                        raise self.fail(node, "casts the network values to a non-float type")
                flow = node.output[0]
                continue
            if op == "Transpose":
                perm = list(self._attr(node, "perm", [1, 0]))
                if perm != [1, 0]:
                    raise self.fail(node, f"perm {perm}")
                layout = "FN" if layout == "NF" else "NF"
                flow = node.output[0]
                continue
            if op in ("Gemm", "MatMul"):
                if stage == "end":
                    raise self.fail(node, "Linear after the output")
                if op == "Gemm":
                    alpha = float(self._attr(node, "alpha", 1.0))
                    beta = float(self._attr(node, "beta", 1.0))
                    ta, tb = int(self._attr(node, "transA", 0)), int(self._attr(node, "transB", 0))
                    ins = list(node.input) + [""] * (3 - len(node.input))
                    if k == 2:
                        raise self.fail(node, "the network value is the bias input C")
                    c_in = ins[2]
                else:
                    alpha, beta, ta, tb, c_in = 1.0, 1.0, 0, 0, ""
                # Y = A' @ B'; flow is A (k == 0) or B (k == 1)
                const = self.consts[node.input[1 - k]].astype(np.float64)
                if const.ndim != 2:
                    raise self.fail(node, f"weight of rank {const.ndim}")
                t_flow, t_const = (ta, tb) if k == 0 else (tb, ta)
                cmat = const.T if t_const else const
                flow_layout_eff = layout if not t_flow else ("FN" if layout == "NF" else "NF")
                if k == 0:
                    # A' is the flow in effective layout; must be [N, in] -> W = cmat^T, out layout NF
                    if flow_layout_eff != "NF":
                        raise self.fail(node, "network values enter as the transposed left operand")
                    W = cmat.T * alpha
                    new_layout = "NF"
                else:
                    # B' is the flow: must be [in, N] -> W = cmat, out layout FN
                    if flow_layout_eff != "FN":
                        raise self.fail(node, "network values enter as the right operand in [batch, features] layout")
                    W = cmat * alpha
                    new_layout = "FN"
                if n_feat is not None and W.shape[1] != n_feat:
                    raise self.fail(node, f"weight takes {W.shape[1]} inputs, the network value has {n_feat}")
                out_n = W.shape[0]
                b = np.zeros(out_n)
                if c_in:
                    cb = np.asarray(self.consts[c_in], np.float64)
                    b = beta * self._vec(node, cb, out_n, new_layout)
                if stage == "lin":
                    layers[-1]["act"] = "identity"
                if stage == "pre" and n_feat is None:
                    n_feat = W.shape[1]
                    pre_m = np.broadcast_to(pre_m, (n_feat,)).copy()
                    pre_s = np.broadcast_to(pre_s, (n_feat,)).copy()
                wname = node.input[1 - k]
                mask = self.sparse_masks.get(wname)
                if mask is not None:
                    mask = mask.T if (t_const ^ (k == 0)) else mask  # orient like W [out, in]
                layers.append({"W": W, "b": b, "act": None, "mask": mask, "node": node})
                stage, layout, n_feat, flow = "lin", new_layout, out_n, node.output[0]
                continue
            if op in _ACT_OPS:
                if stage != "lin":
                    raise self.fail(node, "activation not directly after a Linear layer")
                layers[-1]["act"] = _ACT_OPS[op]
                stage, flow = "act", node.output[0]
                continue
            if op in ("Add", "Sub", "Mul", "Div"):
                if not other:
                    raise self.fail(node, "missing constant operand")
                if stage == "pre" and n_feat is None and np.size(other[0]) > 1:
                    n_feat = int(np.size(other[0]))
                    pre_m = np.broadcast_to(pre_m, (n_feat,)).copy()
                    pre_s = np.broadcast_to(pre_s, (n_feat,)).copy()
                c = self._vec(node, other[0], n_feat, layout)
                if stage == "pre":
                    if pre_clip is not None:
                        raise self.fail(node, "elementwise op after the observation Clip")
                    pre_touched = True
                    # normalised value v = (x - m) / s
                    if op == "Add":
                        pre_m = pre_m - c * pre_s
                    elif op == "Sub":
                        if k == 0:
                            pre_m = pre_m + c * pre_s
                        else:  # c - v = (x - (m + c s)) / (-s)
                            pre_m, pre_s = pre_m + c * pre_s, -pre_s
                    elif op == "Mul":
                        pre_s = pre_s / c
                    else:
                        if k != 0:
                            raise self.fail(node, "divides by the observation")
                        pre_s = pre_s * c
                    flow = node.output[0]
                    continue
                if stage != "lin":
                    raise self.fail(node, "elementwise op after an activation")
                L = layers[-1]
                if op == "Add":
                    L["b"] = L["b"] + c
                elif op == "Sub":
                    if k == 0:
                        L["b"] = L["b"] - c
                    else:
                        L["W"], L["b"] = -L["W"], c - L["b"]
                elif op == "Mul":
                    L["W"], L["b"] = L["W"] * c[:, None], L["b"] * c
                else:
                    if k != 0:
                        raise self.fail(node, "divides by the network value")
                    L["W"], L["b"] = L["W"] / c[:, None], L["b"] / c
                flow = node.output[0]
                continue
            if op == "Clip":
                lo, hi = self._clip_bounds(node, k)
                if stage == "pre":
                    if pre_clip is not None or lo is None or hi is None or not np.allclose(lo, -hi):
                        raise self.fail(node, "only one symmetric Clip of the normalised observation is supported")
                    if np.ndim(lo) and np.size(lo) > 1 and not np.allclose(lo, lo.reshape(-1)[0]):
                        raise self.fail(node, "per-feature observation clip")
                    pre_clip = float(np.asarray(hi).reshape(-1)[0])
                    pre_touched = True
                    flow = node.output[0]
                    continue
                if stage in ("lin", "act"):
                    lo_v = np.full(n_feat, -np.inf) if lo is None else self._vec(node, lo, n_feat, layout)
                    hi_v = np.full(n_feat, np.inf) if hi is None else self._vec(node, hi, n_feat, layout)
                    final_clip = (lo_v.astype(np.float32), hi_v.astype(np.float32))
                    stage, flow = "end", node.output[0]
                    continue
                raise self.fail(node, "Clip inside the network")
            if op == "ArgMax":
                if stage not in ("lin", "act"):
                    raise self.fail(node, "ArgMax before the output layer")
                axis = int(self._attr(node, "axis", 0))
                want = 1 if layout == "NF" else 0
                if axis not in (want, want - 2):
                    raise self.fail(node, f"ArgMax over axis {axis} (not the action axis)")
                argmax = True
                stage, flow = "end", node.output[0]
                continue
            raise self.fail(node, "not in the supported MLP subset")

        if flow != out_name:
            raise PolicyError(f"{self.path}: the ONNX output {out_name!r} does not come from the observation input")
        if not layers:
            raise PolicyError(f"{self.path}: the ONNX graph has no Linear (Gemm/MatMul) layer")
        if layout != "NF":
            raise PolicyError(f"{self.path}: the ONNX output is in [features, batch] layout; sanp needs [batch, features]")
        if layers[-1]["act"] is None:
            layers[-1]["act"] = "identity"
        # action semantics: sanp metadata > graph hints (ArgMax, final Clip) > action_space
        out_dim = layers[-1]["W"].shape[0]
        act_kw = self._action_semantics(argmax, final_clip, action_space, out_dim)
        sizes = [layers[0]["W"].shape[1]] + [L["W"].shape[0] for L in layers]
        norm_kw: dict[str, Any] = {}
        if pre_touched:
            if np.any(pre_s <= 0) or not np.all(np.isfinite(pre_s)):
                raise PolicyError(
                    f"{self.path}: the ONNX observation scaling is not a positive per-feature scale; re-export it"
                )
            norm_kw = dict(obs_mean=pre_m, obs_var=pre_s**2, obs_clip=pre_clip, obs_eps=0.0)
        pol = MLPPolicy(sizes, [L["act"] for L in layers], **act_kw, **norm_kw)
        masks = []
        recorded = self._recorded_layer_sparsity(len(layers))
        with torch.no_grad():
            for i, (lin, L) in enumerate(zip(pol.layers, layers)):
                lin.weight.copy_(torch.as_tensor(L["W"], dtype=torch.float32))
                lin.bias.copy_(torch.as_tensor(L["b"], dtype=torch.float32))
                if L["mask"] is not None:
                    masks.append(L["mask"])
                elif recorded is not None and recorded[i] > 0:
                    masks.append((L["W"] != 0).astype(np.float32))
                else:
                    masks.append(np.ones_like(L["W"], dtype=np.float32))
        pol.set_masks(masks)
        return pol

    def _recorded_layer_sparsity(self, n: int) -> list[float] | None:
        try:
            v = json.loads(self.meta["layer_sparsity"])
            return [float(x) for x in v] if len(v) == n else None
        except (KeyError, ValueError, TypeError):
            return None

    def _clip_bounds(self, node: Any, k: int) -> tuple[Any, Any]:
        if k != 0:
            raise self.fail(node, "network value is not the clipped operand")
        ins = list(node.input) + ["", ""]
        lo = self.consts[ins[1]] if ins[1] else self._attr(node, "min", None)
        hi = self.consts[ins[2]] if ins[2] else self._attr(node, "max", None)
        return (None if lo is None else np.asarray(lo, np.float64), None if hi is None else np.asarray(hi, np.float64))

    def _action_semantics(self, argmax: bool, final_clip: Any, action_space: Any, out_dim: int) -> dict[str, Any]:
        kind = self.meta.get("action_kind")
        if kind in ("discrete", "continuous"):
            if kind == "discrete":
                return {"action_kind": "discrete"}
            try:
                sp = json.loads(self.meta.get("action_space", "{}"))
                low, high = _from_json_floats(sp.get("low")), _from_json_floats(sp.get("high"))
            except (ValueError, TypeError, AttributeError):
                low = high = None
            return {"action_kind": "continuous", "action_low": low, "action_high": high}
        if action_space is not None:
            return _action_from_space(Path(str(self.path)), action_space, out_dim)
        if argmax:
            return {"action_kind": "discrete"}
        if final_clip is not None:
            return {"action_kind": "continuous", "action_low": final_clip[0], "action_high": final_clip[1]}
        return _action_from_space(Path(str(self.path)), None, out_dim)


def export_onnx(policy: MLPPolicy, path: str | os.PathLike, metadata: Mapping[str, str] | None = None, *, sparse: bool = True) -> None:
    """Re-export of `sanp.export.export_onnx`."""
    from sanp.export import export_onnx as _export

    _export(policy, path, metadata, sparse=sparse)
