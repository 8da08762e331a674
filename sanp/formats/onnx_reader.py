"""The ONNX reader: the MLP subset of ONNX -> `MLPPolicy`, without onnx2torch.

The graph is walked as a chain: constants are folded, and the one value derived from
the input (the "flow") goes through elementwise affine ops and Clip (before the first
Linear: the observation normaliser), Gemm/MatMul (+ bias Add) layers with
Relu/Tanh/Sigmoid, shape no-ops, and optionally a final Clip (the action box) or
ArgMax (discrete actions, dropped). Layout is tracked, so transposed Gemm chains
([features, batch]) are read too, as are [batch, C, H, W] values through fully connected
Conv layers (`onnx_image`). Anything else is refused, naming op and node.

Action semantics come from sanp's metadata, then from the graph (ArgMax, final Clip),
then from the env's action space. Masks: a sparse initializer gives mask = 1 exactly
at its stored entries; a dense layer that sanp's metadata records as pruned gets
mask = (weight != 0); any other layer a mask of ones.

Example:
    >>> pi = load_onnx("policy.onnx", action_space=env.action_space)
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sanp.errors import PolicyError, first_line
from sanp.formats.onnx_graph import OnnxGraph, check_declared
from sanp.formats.onnx_image import conv_as_linear, gemm_flattens, image_shape, image_vec, reshaped
from sanp.formats.spaces import action_semantics
from sanp.limits import check_constants, check_parameters
from sanp.model import MLPPolicy, floats_from_json

_NOOP_FLOW_OPS = {"Identity", "Flatten", "Reshape", "Cast", "Dropout", "Squeeze", "Unsqueeze"}
_ACT_OPS = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid"}


def load_onnx(path: str | os.PathLike, *, action_space: Any = None) -> MLPPolicy:
    """Read an ONNX file of the MLP subset (checked with onnx.checker) into an MLPPolicy."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeError, ValueError):
        model = None
    if model is None or not model.HasField("graph") or model.ir_version == 0 or not model.graph.node:
        hint = " (truncated?)" if path.suffix.lower() == ".onnx" else ""
        from sanp.formats.readers import supported_formats

        raise PolicyError(f"{path}: not an ONNX model{hint}; give {supported_formats()}")
    check_declared(model, path)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises ValidationError and friends
        raise PolicyError(f"{path}: invalid or truncated ONNX model ({first_line(exc)}); re-export it") from None
    return onnx_to_policy(model, path, action_space=action_space)


def onnx_to_policy(model: Any, path: Any = "<onnx>", *, action_space: Any = None) -> MLPPolicy:
    """Convert an ONNX ModelProto of the MLP subset into an MLPPolicy."""
    try:
        policy = _OnnxReader(model, path).convert(action_space)
        check_constants(policy, path)
        return policy
    except PolicyError:
        raise
    except (ValueError, IndexError, TypeError, KeyError, RecursionError) as exc:
        # numbers that do not fit together: a Reshape/Transpose that cannot fold, a zero-size
        # layer, action bounds of the wrong length, metadata that is not JSON
        raise PolicyError(f"{path}: inconsistent ONNX model ({first_line(exc)}); re-export it") from None


@dataclass
class _Walk:
    """Where the walk along the chain is. The normalised observation is
    (x - pre_m) / pre_s (clipped to +-pre_clip); layers hold W [out, in], b [out], act, mask."""

    flow: str
    n_feat: int | None
    pre_m: np.ndarray
    pre_s: np.ndarray
    layout: str = "NF"  # NF: [batch, features]; FN: transposed; NCHW: [batch, *chw] (image layout)
    chw: tuple[int, ...] = ()  # image layout: the per-sample shape, channels first, flattened in C order
    stage: str = "pre"  # pre (before the first Linear) | lin | act | end (after ArgMax / final Clip)
    pre_touched: bool = False
    pre_clip: float | None = None
    layers: list[dict[str, Any]] = field(default_factory=list)
    final_clip: tuple[np.ndarray, np.ndarray] | None = None
    argmax: bool = False

    def set_n_feat(self, n: int) -> None:
        """The observation size, once a constant reveals it."""
        self.n_feat = n
        self.pre_m = np.broadcast_to(self.pre_m, (n,)).copy()
        self.pre_s = np.broadcast_to(self.pre_s, (n,)).copy()


class _OnnxReader(OnnxGraph):
    """Walks the chain (see the module docstring); one handler per kind of op."""

    def convert(self, action_space: Any) -> MLPPolicy:
        walk, out_name = self._start()
        handlers = {"Transpose": self._transpose, "Gemm": self._linear, "MatMul": self._linear,
                    "Clip": self._clip, "ArgMax": self._argmax, "Conv": self._conv}
        handlers.update(dict.fromkeys(_NOOP_FLOW_OPS, self._shape_noop))
        handlers.update(dict.fromkeys(_ACT_OPS, self._activation))
        handlers.update(dict.fromkeys(("Add", "Sub", "Mul", "Div"), self._elementwise))
        for node in self.needed_nodes(out_name):
            k = self._flow_operand(node, walk)
            if k is None:
                continue
            if node.op_type not in handlers:
                raise self.fail(node, "not in the supported MLP subset")
            other = [self.consts[x] for i, x in enumerate(node.input) if i != k and x]
            handlers[node.op_type](node, walk, k, other)
            walk.flow = node.output[0]
        if walk.flow != out_name:
            raise PolicyError(f"{self.path}: the ONNX output {out_name!r} does not come from the observation input")
        if not walk.layers:
            raise PolicyError(f"{self.path}: the ONNX graph has no Linear (Gemm/MatMul) layer")
        if walk.layout == "FN" or any(d != 1 for d in walk.chw[1:]):
            where = "in [features, batch] layout" if walk.layout == "FN" else f"of shape [batch, {list(walk.chw)}]"
            raise PolicyError(f"{self.path}: the ONNX output is {where}; sanp needs [batch, features]")
        return self._build(walk, action_space)

    def _start(self) -> tuple[_Walk, str]:
        g = self.model.graph
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise PolicyError(
                f"{self.path}: the ONNX graph has {len(inputs)} inputs; sanp reads policies with one observation input"
            )
        dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
        obs_dim = dims[-1] if dims and dims[-1] else None
        chw = image_shape(dims)
        obs_dim = obs_dim if chw is None else int(np.prod(chw))
        if not g.output:
            raise PolicyError(f"{self.path}: the ONNX graph has no output")
        shape = () if obs_dim is None else (obs_dim,)
        layout = "NF" if chw is None else "NCHW"
        return _Walk(inputs[0].name, obs_dim, np.zeros(shape), np.ones(shape), layout, chw or ()), g.output[0].name

    def _flow_operand(self, node: Any, walk: _Walk) -> int | None:
        """The index of the node's input that carries the flow; None for a node folded
        into the constants. Refuses nodes off the chain or combining two values."""
        flow_ins = [i for i, x in enumerate(node.input) if x == walk.flow]
        if not flow_ins:
            if self.fold_const(node):
                return None
            if any(x and x not in self.consts for x in node.input) and node.op_type != "Constant":
                raise self.fail(node, "a second input path (sanp reads single-chain MLPs)")
            raise self.fail(node, "not in the supported MLP subset")
        if len(flow_ins) > 1 or any(x and x != walk.flow and x not in self.consts for x in node.input):
            raise self.fail(node, "combines two network values (sanp reads single-chain MLPs)")
        if walk.stage == "end" and node.op_type not in _NOOP_FLOW_OPS:
            raise self.fail(node, f"op after the final {'ArgMax' if walk.argmax else 'Clip'}")
        return flow_ins[0]

    def _shape_noop(self, node: Any, walk: _Walk, k: int, other: list) -> None:
        op = node.op_type
        if not walk.argmax and op in ("Flatten", "Reshape", "Squeeze", "Unsqueeze"):
            image = reshaped(self, node, walk.chw if walk.layout == "NCHW" else None, walk.n_feat, other)
            if image is not None:
                walk.layout, walk.chw = image
                walk.n_feat = int(np.prod(walk.chw)) if image[0] == "NCHW" else walk.n_feat
                return
        if op == "Reshape":
            shape = [int(v) for v in np.asarray(other[0]).reshape(-1)] if other else []
            ok = len(shape) == 2 and walk.layout == "NF" and (
                (walk.n_feat is not None and shape[1] == walk.n_feat) or (shape[1] == -1 and shape[0] != -1)
            )
            if not (ok or walk.argmax):
                raise self.fail(node, f"reshape to {shape} changes the [batch, features] layout")
        elif op in ("Squeeze", "Unsqueeze") and not walk.argmax:
            raise self.fail(node, "changes the rank of the network values")
        elif op == "Flatten" and self.attr(node, "axis", 1) != 1:
            raise self.fail(node, "Flatten with axis != 1")
        elif op == "Cast" and not walk.argmax:
            from onnx import TensorProto

            if self.attr(node, "to", 1) not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
                raise self.fail(node, "casts the network values to a non-float type")

    def _transpose(self, node: Any, walk: _Walk, k: int, other: list) -> None:
        perm = list(self.attr(node, "perm", [1, 0]))
        if perm != [1, 0] or walk.layout == "NCHW":
            raise self.fail(node, f"perm {perm} of a value of shape [batch, {list(walk.chw) or walk.n_feat}]")
        walk.layout = "FN" if walk.layout == "NF" else "NF"

    def _linear(self, node: Any, walk: _Walk, k: int, other: list) -> None:
        """Gemm or MatMul: Y = A' @ B' (+ beta C) with the flow as A (k = 0) or B (k = 1)."""
        if walk.layout == "NCHW":
            gemm_flattens(self, node, k, walk.chw)
            walk.layout, walk.chw = "NF", ()
        if node.op_type == "Gemm":
            alpha, beta = float(self.attr(node, "alpha", 1.0)), float(self.attr(node, "beta", 1.0))
            ta, tb = int(self.attr(node, "transA", 0)), int(self.attr(node, "transB", 0))
            if k == 2:
                raise self.fail(node, "the network value is the bias input C")
            c_in = (list(node.input) + [""] * 3)[2]
        else:
            alpha, beta, ta, tb, c_in = 1.0, 1.0, 0, 0, ""
        wname = node.input[1 - k]
        const = self.consts[wname].astype(np.float64)
        if const.ndim != 2:
            raise self.fail(node, f"weight of rank {const.ndim}")
        t_flow, t_const = (ta, tb) if k == 0 else (tb, ta)
        cmat = const.T if t_const else const
        flow_layout = walk.layout if not t_flow else ("FN" if walk.layout == "NF" else "NF")
        # the flow must be [N, in] as the left operand (W = cmat^T) or [in, N] as the right one (W = cmat)
        if k == 0 and flow_layout != "NF":
            raise self.fail(node, "network values enter as the transposed left operand")
        if k == 1 and flow_layout != "FN":
            raise self.fail(node, "network values enter as the right operand in [batch, features] layout")
        W, new_layout = (cmat.T * alpha, "NF") if k == 0 else (cmat * alpha, "FN")
        if walk.n_feat is not None and W.shape[1] != walk.n_feat:
            raise self.fail(node, f"weight takes {W.shape[1]} inputs, the network value has {walk.n_feat}")
        b = np.zeros(W.shape[0])
        if c_in:
            b = beta * self.vec(node, np.asarray(self.consts[c_in], np.float64), W.shape[0], new_layout)
        if walk.stage == "pre" and walk.n_feat is None:
            walk.set_n_feat(W.shape[1])
        mask = self.sparse_masks.get(wname)
        if mask is not None:
            mask = mask.T if (t_const ^ (k == 0)) else mask  # orient like W [out, in]
        self._push(walk, W, b, mask)
        walk.layout = new_layout

    def _conv(self, node: Any, walk: _Walk, k: int, other: list) -> None:
        """A Conv whose kernel covers its whole input: a Linear layer (see `onnx_image`)."""
        W, b, walk.chw = conv_as_linear(self, node, k, walk.chw if walk.layout == "NCHW" else None)
        mask = self.sparse_masks.get(node.input[1])
        self._push(walk, W, b, None if mask is None else mask.reshape(W.shape))

    @staticmethod
    def _push(walk: _Walk, W: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> None:
        if walk.stage == "lin":
            walk.layers[-1]["act"] = "identity"
        walk.layers.append({"W": W, "b": b, "act": None, "mask": mask})
        walk.stage, walk.n_feat = "lin", W.shape[0]

    def _vec(self, node: Any, walk: _Walk, c: Any) -> np.ndarray:
        """A constant acting per feature on the flow, in the flow's layout."""
        return image_vec(self, node, c, walk.chw) if walk.layout == "NCHW" else self.vec(node, c, walk.n_feat, walk.layout)

    def _activation(self, node: Any, walk: _Walk, k: int, other: list) -> None:
        if walk.stage != "lin":
            raise self.fail(node, "activation not directly after a Linear layer")
        walk.layers[-1]["act"] = _ACT_OPS[node.op_type]
        walk.stage = "act"

    def _elementwise(self, node: Any, walk: _Walk, k: int, other: list) -> None:
        """Add/Sub/Mul/Div by a constant: part of the normaliser before the first
        Linear, folded into the last Linear after one."""
        if not other:
            raise self.fail(node, "missing constant operand")
        if walk.stage == "pre" and walk.n_feat is None and np.size(other[0]) > 1:
            walk.set_n_feat(int(np.size(other[0])))
        c = self._vec(node, walk, other[0])
        op = node.op_type
        if walk.stage == "pre":
            if walk.pre_clip is not None:
                raise self.fail(node, "elementwise op after the observation Clip")
            walk.pre_touched = True
            if op == "Add":
                walk.pre_m = walk.pre_m - c * walk.pre_s
            elif op == "Sub" and k == 0:
                walk.pre_m = walk.pre_m + c * walk.pre_s
            elif op == "Sub":  # c - v = (x - (m + c s)) / (-s)
                walk.pre_m, walk.pre_s = walk.pre_m + c * walk.pre_s, -walk.pre_s
            elif op == "Mul":
                walk.pre_s = walk.pre_s / c
            elif k != 0:
                raise self.fail(node, "divides by the observation")
            else:
                walk.pre_s = walk.pre_s * c
            return
        if walk.stage != "lin":
            raise self.fail(node, "elementwise op after an activation")
        L = walk.layers[-1]
        if op == "Add":
            L["b"] = L["b"] + c
        elif op == "Sub" and k == 0:
            L["b"] = L["b"] - c
        elif op == "Sub":
            L["W"], L["b"] = -L["W"], c - L["b"]
        elif op == "Mul":
            L["W"], L["b"] = L["W"] * c[:, None], L["b"] * c
        elif k != 0:
            raise self.fail(node, "divides by the network value")
        else:
            L["W"], L["b"] = L["W"] / c[:, None], L["b"] / c

    def _clip(self, node: Any, walk: _Walk, k: int, other: list) -> None:
        """The observation clip (before the first Linear) or the action box (at the end)."""
        if k != 0:
            raise self.fail(node, "network value is not the clipped operand")
        ins = list(node.input) + ["", ""]
        lo = self.consts[ins[1]] if ins[1] else self.attr(node, "min", None)
        hi = self.consts[ins[2]] if ins[2] else self.attr(node, "max", None)
        lo = None if lo is None else np.asarray(lo, np.float64)
        hi = None if hi is None else np.asarray(hi, np.float64)
        if walk.stage == "pre":
            if walk.pre_clip is not None or lo is None or hi is None or not np.allclose(lo, -hi):
                raise self.fail(node, "only one symmetric Clip of the normalised observation is supported")
            if np.ndim(lo) and np.size(lo) > 1 and not np.allclose(lo, lo.reshape(-1)[0]):
                raise self.fail(node, "per-feature observation clip")
            walk.pre_clip = float(np.asarray(hi).reshape(-1)[0])
            walk.pre_touched = True
            return
        if walk.stage not in ("lin", "act"):
            raise self.fail(node, "Clip inside the network")
        n = walk.n_feat
        lo_v = np.full(n, -np.inf) if lo is None else self._vec(node, walk, lo)
        hi_v = np.full(n, np.inf) if hi is None else self._vec(node, walk, hi)
        walk.final_clip = (lo_v.astype(np.float32), hi_v.astype(np.float32))
        walk.stage = "end"

    def _argmax(self, node: Any, walk: _Walk, k: int, other: list) -> None:
        if walk.stage not in ("lin", "act"):
            raise self.fail(node, "ArgMax before the output layer")
        axis = int(self.attr(node, "axis", 0))
        want, rank = (0 if walk.layout == "FN" else 1), len(walk.chw) + 1 if walk.layout == "NCHW" else 2
        if axis not in (want, want - rank):
            raise self.fail(node, f"ArgMax over axis {axis} (not the action axis)")
        walk.argmax, walk.stage = True, "end"

    def _build(self, walk: _Walk, action_space: Any) -> MLPPolicy:
        layers = walk.layers
        if layers[-1]["act"] is None:
            layers[-1]["act"] = "identity"
        act_kw = self._action_semantics(walk, action_space, layers[-1]["W"].shape[0])
        sizes = [layers[0]["W"].shape[1]] + [L["W"].shape[0] for L in layers]
        check_parameters(sizes, self.path)
        norm_kw: dict[str, Any] = {}
        identity = walk.pre_clip is None and not np.any(walk.pre_m) and np.all(walk.pre_s == 1)
        if walk.pre_touched and not identity:  # (TORA's graph subtracts a mean of zeros)
            if np.any(walk.pre_s <= 0) or not np.all(np.isfinite(walk.pre_s)):
                raise PolicyError(
                    f"{self.path}: the ONNX observation scaling is not a positive per-feature scale; re-export it"
                )
            norm_kw = dict(obs_mean=walk.pre_m, obs_var=walk.pre_s**2, obs_clip=walk.pre_clip, obs_eps=0.0)
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

    def _action_semantics(self, walk: _Walk, action_space: Any, out_dim: int) -> dict[str, Any]:
        """sanp's metadata > the env's action space > graph hints (ArgMax, final Clip)."""
        kind = self.meta.get("action_kind")
        if kind == "discrete":
            return {"action_kind": "discrete"}
        if kind == "continuous":
            try:
                sp = json.loads(self.meta.get("action_space", "{}"))
                low, high = floats_from_json(sp.get("low")), floats_from_json(sp.get("high"))
            except (ValueError, TypeError, AttributeError):
                low = high = None
            return {"action_kind": "continuous", "action_low": low, "action_high": high}
        if action_space is not None:
            return action_semantics(Path(str(self.path)), action_space)
        if walk.argmax:
            return {"action_kind": "discrete"}
        if walk.final_clip is not None:
            return {"action_kind": "continuous", "action_low": walk.final_clip[0], "action_high": walk.final_clip[1]}
        return action_semantics(Path(str(self.path)), None)

