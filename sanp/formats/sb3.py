"""Stable-Baselines3 model zips read without SB3 and without running any pickled code.

A model zip (`model.save()`): the `data` JSON gives the policy class, policy kwargs
and spaces; `policy.pth` (a state dict, `torch.load(weights_only=True)`) the weights.
Supported: the actor of PPO / A2C / TRPO / MaskablePPO (`ActorCriticPolicy` with an
MLP: `mlp_extractor.shared_net` (SB3 < 1.8) + `mlp_extractor.policy_net` +
`action_net`) and the q-network of DQN (`DQNPolicy`: `q_net.q_net`). Pickled entries
(policy class, `activation_fn`) are only scanned with `pickletools` for the names they
reference; they are never unpickled. The deterministic action is the argmax of the
logits / q-values (Discrete) or the Gaussian mean clipped to the action box (Box,
`squash_output=False`).

VecNormalize statistics saved beside the zip are read by `sanp.formats.vecnormalize`.

Example:
    >>> from sanp.formats.sb3 import load_sb3_zip
    >>> pi = load_sb3_zip("ppo.zip")
"""
from __future__ import annotations

import base64
import io
import json
import os
import pickletools
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sanp.errors import PolicyError, first_line
from sanp.formats.spaces import action_semantics
from sanp.formats.torch_policy import torch_load, torch_reason
from sanp.limits import check_constants, check_count, check_file, check_parameters, check_zip
from sanp.model import MLPPolicy

ACTOR_CRITIC_CLASSES = {"ActorCriticPolicy", "MaskableActorCriticPolicy", "MlpPolicy"}
DQN_CLASSES = {"DQNPolicy"}
_TORCH_ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Identity": "identity"}


# ---------------------------------------------------------------------------------
# pickle scanning (no execution)


def pickle_globals(data: bytes) -> list[tuple[str, str]]:
    """(module, name) of every GLOBAL / STACK_GLOBAL in a pickle, found with
    pickletools without unpickling. Unreadable pickles give what was read so far."""
    found: list[tuple[str, str]] = []
    memo: dict[int, Any] = {}
    recent: list[Any] = []  # approximate stack of pushed strings
    try:
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if name in ("GLOBAL", "INST"):
                mod, _, attr = str(arg).partition(" ")
                found.append((mod, attr))
                recent.append(None)
            elif name == "STACK_GLOBAL":
                if len(recent) >= 2 and isinstance(recent[-1], str) and isinstance(recent[-2], str):
                    found.append((recent[-2], recent[-1]))
                recent.append(None)
            elif "UNICODE" in name or name in ("STRING", "BINSTRING", "SHORT_BINSTRING"):
                recent.append(arg)
            elif name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = recent[-1] if recent else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                recent.append(memo.get(int(arg)))
            else:
                recent.append(None)
    except Exception:  # noqa: BLE001, S110 - a partial scan is still useful
        pass
    return found


def _serialized_globals(entry: Any) -> list[tuple[str, str]]:
    if isinstance(entry, dict) and isinstance(entry.get(":serialized:"), str):
        try:
            return pickle_globals(base64.b64decode(entry[":serialized:"]))
        except (ValueError, TypeError):
            return []
    return []


# ---------------------------------------------------------------------------------
# model zip


def _parse_array(text: Any) -> np.ndarray | None:
    """A numpy repr such as '[-1. -1.  1.]' or '[inf -inf]' -> float32 array."""
    if isinstance(text, (list, tuple)):
        try:
            return np.asarray(text, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError):
            return None
    if not isinstance(text, str):
        return None
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body.replace("[", " ").replace("]", " ")
    try:
        return np.array([float(t) for t in body.replace(",", " ").split()], dtype=np.float32)
    except ValueError:
        return None


def _action_from_data(path: Path, data: dict[str, Any], out_dim: int, action_space: Any) -> dict[str, Any]:
    sp = data.get("action_space")
    typ = sp.get(":type:", "") if isinstance(sp, dict) else ""
    n = sp.get("n") if isinstance(sp, dict) else None
    if isinstance(n, str) and n.isdigit():  # SB3 2.x with gymnasium 1.x writes n as text: "2"
        n = int(n)
    if "Discrete" in typ and "MultiDiscrete" not in typ and isinstance(n, int):
        if n != out_dim:
            raise PolicyError(f"{path}: the network gives {out_dim} outputs but its Discrete({n}) action space needs {n}")
        return {"action_kind": "discrete"}
    if typ.endswith("Box'>") or ".box.Box" in typ:
        shape = sp.get("shape", sp.get("_shape"))  # SB3 2.x with gymnasium 1.x writes "_shape"
        low, high = _parse_array(sp.get("low")), _parse_array(sp.get("high"))
        if isinstance(shape, list) and len(shape) == 1 and low is not None and high is not None:
            if shape[0] != out_dim or low.size != out_dim or high.size != out_dim:
                raise PolicyError(
                    f"{path}: the network gives {out_dim} outputs but its Box action space has shape {shape}"
                )
            return {"action_kind": "continuous", "action_low": low, "action_high": high}
        if isinstance(shape, list) and len(shape) != 1:
            raise PolicyError(f"{path}: Box action space of shape {shape}; sanp supports flat Box actions")
    elif typ and ("MultiDiscrete" in typ or "MultiBinary" in typ or "Dict" in typ or "Tuple" in typ):
        raise PolicyError(f"{path}: action space {typ}; sanp supports Discrete and flat Box actions")
    if action_space is not None:
        return action_semantics(path, action_space)
    raise PolicyError(
        f"{path}: cannot read the action space from the SB3 data file; pass --env ENV_ID, e.g. --env CartPole-v1 (action_space= from Python)"
    )


def _activation(path: Path, data: dict[str, Any], default: str) -> str:
    kw = data.get("policy_kwargs")
    if not isinstance(kw, dict):
        return default
    names: list[str] = []
    af = kw.get("activation_fn")
    if isinstance(af, str):
        m = re.search(r"([A-Za-z_][\w.]*)'?>?\s*$", af.strip().strip("<>").replace("class ", "").strip("'"))
        if m:
            names.append(m.group(1).rsplit(".", 1)[-1])
    if not names:
        for mod, attr in _serialized_globals(kw):
            if mod.startswith("torch.nn") and attr[:1].isupper():
                names.append(attr)
    if not names:
        return default
    name = names[0]
    if name not in _TORCH_ACTIVATIONS:
        raise PolicyError(
            f"{path}: activation {name} is not supported; sanp supports {', '.join(_TORCH_ACTIVATIONS)}"
        )
    return _TORCH_ACTIVATIONS[name]


def _policy_class(data: dict[str, Any]) -> str | None:
    pc = data.get("policy_class")
    for mod, attr in _serialized_globals(pc):
        if mod.startswith(("stable_baselines3", "sb3_contrib")) or attr.endswith("Policy"):
            return attr
    if isinstance(pc, str):
        return pc.rsplit(".", 1)[-1].strip("'<>")
    return None


def _chain(sd: dict[str, torch.Tensor], prefix: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Linear (weight, bias) pairs under `prefix` (a torch nn.Sequential), in order."""
    idx = sorted(
        int(m.group(1)) for k in sd if (m := re.fullmatch(re.escape(prefix) + r"(\d+)\.weight", k))
    )
    out = []
    for i in idx:
        w, b = sd[f"{prefix}{i}.weight"], sd.get(f"{prefix}{i}.bias")
        if w.ndim != 2:
            raise ValueError(f"{prefix}{i}.weight has shape {tuple(w.shape)}, not a Linear layer")
        out.append((w, b if b is not None else torch.zeros(w.shape[0])))
    return out


def _read_zip(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The zip's data JSON and policy.pth state dict (loaded with weights_only)."""
    try:
        check_file(path)
        with zipfile.ZipFile(path) as z:
            check_zip(z, path)
            names = set(z.namelist())
            if "policy.pth" not in names:
                raise PolicyError(
                    f"{path}: SB3 zip without policy.pth (has {', '.join(sorted(names)) or 'nothing'}); "
                    "save the model with model.save(...) from stable-baselines3"
                )
            if "data" not in names:
                raise PolicyError(f"{path}: SB3 zip without its data file; save the model with model.save(...)")
            raw_data = z.read("data")
            raw_policy = z.read("policy.pth")
    except zipfile.BadZipFile:
        raise PolicyError(f"{path}: a damaged zip file; re-save the SB3 model") from None
    try:
        data = json.loads(raw_data)
        assert isinstance(data, dict)
    except (ValueError, AssertionError, RecursionError):
        raise PolicyError(f"{path}: the SB3 data file is not JSON; re-save the model with stable-baselines3 >= 1.0") from None
    try:
        with zipfile.ZipFile(io.BytesIO(raw_policy)) as inner:  # torch's own zip format
            check_zip(inner, f"{path} (policy.pth)")
    except zipfile.BadZipFile:
        pass  # a legacy (non-zip) torch file: torch.load refuses it below
    try:
        sd = torch_load(io.BytesIO(raw_policy))
    except Exception as exc:  # noqa: BLE001 - torch/onnx/pickle raise many kinds
        raise PolicyError(f"{path}: policy.pth is not a readable state dict ({torch_reason(exc)}); re-save the model") from None
    if not isinstance(sd, dict):
        raise PolicyError(f"{path}: policy.pth is not a state dict; re-save the model")
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor):
            raise PolicyError(f"{path}: policy.pth entry {str(key)[:80]!r} is {type(value).__name__}, "
                              "not a tensor; re-save the model")
        check_count(value.numel(), path, f"policy.pth entry {str(key)[:80]!r}")  # views may declare more than they store
    return data, sd


SAC_CLASSES = {"SACPolicy", "TQCPolicy"}  # TQC's actor is SAC's
TD3_CLASSES = {"TD3Policy"}  # TD3 and DDPG
QRDQN_CLASSES = {"QRDQNPolicy"}
ARS_CLASSES = {"ARSPolicy", "ARSLinearPolicy"}
SUPPORTED = ("PPO, A2C, TRPO (ActorCriticPolicy), DQN, QR-DQN, SAC, TQC, TD3, DDPG and ARS "
             "MlpPolicy models")

Layers = list[tuple[torch.Tensor, torch.Tensor]]


class Actor:
    """An SB3 actor as Linear layers: `layers` (weight, bias) pairs; `hidden` the class's
    default hidden activation; `head` what follows the last Linear: "linear", "tanh"
    (tanh-squashed, rescaled to the action bounds) or "clip_tanh" (SAC with gSDE: its
    mean is first clipped to [-clip_mean, clip_mean])."""

    def __init__(self, layers: Layers, hidden: str, head: str = "linear", clip_mean: float = 0.0):
        self.layers, self.hidden, self.head, self.clip_mean = layers, hidden, head, clip_mean


def _linear(sd: dict[str, Any], key: str) -> tuple[torch.Tensor, torch.Tensor]:
    w = sd[f"{key}.weight"]
    return w, sd.get(f"{key}.bias", torch.zeros(w.shape[0]))


def _actor(path: Path, cls: str | None, sd: dict[str, Any], kw: dict[str, Any]) -> Actor:
    """The deterministic actor of policy class `cls` in state dict `sd`."""
    has = lambda prefix: any(k.startswith(prefix) for k in sd)  # noqa: E731
    try:
        if cls in DQN_CLASSES or (cls is None and has("q_net.q_net.")):
            return Actor(_chain(sd, "q_net.q_net."), "relu")
        if cls in QRDQN_CLASSES or (cls is None and has("quantile_net.quantile_net.")):
            return Actor(_quantile_mean(path, sd, kw), "relu")
        if cls in SAC_CLASSES or (cls is None and has("actor.latent_pi.")):
            mu = _chain(sd, "actor.mu.") if has("actor.mu.0.") else [_linear(sd, "actor.mu")]
            clip = float(kw.get("clip_mean", 2.0)) if kw.get("use_sde") else 0.0
            return Actor(_chain(sd, "actor.latent_pi.") + mu, "relu", "clip_tanh" if clip > 0 else "tanh", clip)
        if cls in TD3_CLASSES or (cls is None and has("actor.mu.")):
            return Actor(_chain(sd, "actor.mu."), "relu", "tanh")
        if cls in ARS_CLASSES:
            # ARSPolicy keeps an nn.Sequential (action_net.0.weight ...); a linear policy saved
            # as one nn.Linear has action_net.weight, and with bias=False no action_net.bias
            layers = _chain(sd, "action_net.") or ([_linear(sd, "action_net")] if "action_net.weight" in sd else [])
            return Actor(layers, "relu", "tanh" if kw.get("squash_output") else "linear")
        if cls in ACTOR_CRITIC_CLASSES or (cls is None and "action_net.weight" in sd):
            if "action_net.weight" not in sd:
                raise PolicyError(f"{path}: no action_net in policy.pth; is this an MlpPolicy actor-critic model?")
            pairs = _chain(sd, "mlp_extractor.shared_net.") + _chain(sd, "mlp_extractor.policy_net.")
            return Actor(pairs + [_linear(sd, "action_net")], "tanh")
    except (KeyError, ValueError, RuntimeError) as exc:  # RuntimeError: torch on tensors that do not fit
        raise PolicyError(f"{path}: {first_line(exc)}; sanp reads {SUPPORTED}") from None
    raise PolicyError(f"{path}: SB3 policy class {cls or 'unknown'} is not supported; sanp reads {SUPPORTED}")


def _quantile_mean(path: Path, sd: dict[str, Any], kw: dict[str, Any]) -> Layers:
    """QR-DQN acts on the mean over quantiles of each action's values; the mean is
    linear, so it folds into the last layer (SB3-contrib views the output as
    [n_quantiles, n_actions])."""
    pairs = _chain(sd, "quantile_net.quantile_net.")
    n_q = int(kw.get("n_quantiles", 200))
    w, b = pairs[-1]
    if w.shape[0] % n_q:
        raise PolicyError(f"{path}: {w.shape[0]} quantile outputs are not a multiple of n_quantiles={n_q}")
    pairs[-1] = (w.reshape(n_q, -1, w.shape[1]).mean(0), b.reshape(n_q, -1).mean(0))
    return pairs


def _squash_layers(actor: Actor, low: np.ndarray, high: np.ndarray) -> tuple[Layers, list[str]]:
    """Linear layers and activations (output included) computing the actor's action:
    clip(z, -c, c) = relu(z + c) - relu(z - c) - c, then tanh, then the affine map of
    [-1, 1] onto [low, high] where that is not the identity."""
    layers, n = list(actor.layers), len(actor.layers)
    acts = [actor.hidden] * (n - 1)
    if actor.head == "clip_tanh":
        w, b = layers[-1]
        c = actor.clip_mean
        layers[-1] = (torch.cat([w, w]), torch.cat([b + c, b - c]))
        eye = torch.eye(w.shape[0])
        layers.append((torch.cat([eye, -eye], dim=1), torch.full((w.shape[0],), -c)))
        acts.append("relu")
    acts.append("tanh")
    half = torch.as_tensor((high - low) / 2, dtype=torch.float32)
    if not (np.allclose(low, -1) and np.allclose(high, 1)):
        layers.append((torch.diag(half), torch.as_tensor(low, dtype=torch.float32) + half))
        acts.append("identity")
    return layers, acts


def load_sb3_zip(path: str | os.PathLike, *, action_space: Any = None) -> MLPPolicy:
    """The deterministic actor of an SB3 model zip as an MLPPolicy (see module doc)."""
    path = Path(path)
    data, sd = _read_zip(path)
    cls = _policy_class(data)
    kw = data.get("policy_kwargs") if isinstance(data.get("policy_kwargs"), dict) else {}
    kw = {**kw, "use_sde": kw.get("use_sde", data.get("use_sde"))}
    if kw.get("squash_output") is True and cls not in ARS_CLASSES:
        raise PolicyError(f"{path}: policies with squash_output=True are not supported; train without it")
    for k, v in sd.items():
        if k.startswith(("features_extractor.", "pi_features_extractor.")) and torch.is_tensor(v) and v.numel():
            raise PolicyError(
                f"{path}: the policy has a learned features extractor ({k}); sanp reads MlpPolicy models only"
            )
    actor = _actor(path, cls, sd, kw)
    pairs = actor.layers
    if not pairs:
        raise PolicyError(f"{path}: no Linear layers found in policy.pth for policy class {cls}")
    for i, (w, b) in enumerate(pairs):
        _check_layer(path, i, w, b)
    for (w0, _), (w1, _) in zip(pairs[:-1], pairs[1:]):
        if w1.shape[1] != w0.shape[0]:
            raise PolicyError(f"{path}: layer sizes do not chain ({tuple(w0.shape)} then {tuple(w1.shape)})")
    actor.hidden = _activation(path, data, actor.hidden)
    act_kw = _action_from_data(path, data, int(pairs[-1][0].shape[0]), action_space)
    if actor.head == "linear":
        acts = [actor.hidden] * (len(pairs) - 1) + ["identity"]
    elif act_kw.get("action_low") is None or act_kw.get("action_high") is None:
        raise PolicyError(f"{path}: a tanh-squashed actor needs the bounds of its Box action space; pass --env")
    else:
        pairs, acts = _squash_layers(actor, act_kw["action_low"], act_kw["action_high"])
    sizes = [int(pairs[0][0].shape[1])] + [int(w.shape[0]) for w, _ in pairs]
    check_parameters(sizes, path)
    pol = MLPPolicy(sizes, acts, **act_kw)
    with torch.no_grad():
        for lin, (w, b) in zip(pol.layers, pairs):
            lin.weight.copy_(w.to(torch.float32))
            lin.bias.copy_(b.to(torch.float32))
    check_constants(pol, path)
    return pol


def _check_layer(path: Path, i: int, w: torch.Tensor, b: torch.Tensor) -> None:
    """Layer i's weight [out, in] and bias [out]: real floating-point tensors that fit
    (an integer or complex tensor would be cast without a word, or with a torch warning)."""
    for what, t in (("weight", w), ("bias", b)):
        if not t.is_floating_point() or t.is_complex():
            raise PolicyError(f"{path}: layer {i} {what} holds {str(t.dtype).replace('torch.', '')} values, "
                              "not real floating-point numbers; re-save the model")
    if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] == 0:
        raise PolicyError(f"{path}: layer {i} weight has shape {tuple(w.shape)}, not [outputs, inputs]; re-save the model")
    if tuple(b.shape) != (w.shape[0],):
        raise PolicyError(f"{path}: layer {i} bias has shape {tuple(b.shape)} for a weight of shape "
                          f"{tuple(w.shape)} (needs ({w.shape[0]},)); re-save the model")


class SB3Reader:
    """Stable-Baselines3 model zips as a policy format (`sanp.formats.readers`): claims a
    zip whose top level holds SB3's `data` or `policy.pth`."""

    name = "sb3"
    description = "an SB3 .zip"
    suffixes = (".zip",)

    def claims(self, file: Any) -> bool:
        return file.members is not None and bool({"data", "policy.pth"} & set(file.members))

    def load(self, path: Path, *, action_space: Any = None) -> MLPPolicy:
        return load_sb3_zip(path, action_space=action_space)
