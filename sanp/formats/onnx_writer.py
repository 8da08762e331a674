"""ONNX export of an `MLPPolicy`, built node by node with `onnx.helper`.

The graph: input `obs` float32 [batch, obs_dim] -> (normaliser: Sub mean, Div std,
Clip) -> one Gemm (transB=1) per Linear with its activation -> output
`action_values` float32 [batch, out_dim] (raw values: argmax / clip to the action box
is the runtime's job, described by the metadata).

Weights are exported effective (weight * mask), as plain dense initializers by default
(`storage="dense"`): every ONNX consumer reads them (onnxruntime, onnx's checker with
full shape inference, the verifiers). A dense file from sanp records per-layer sparsity in
its metadata; on load, layers with recorded sparsity > 0 get mask = (weight != 0), the
others a mask of ones. With `storage="sparse"` a weight of which less than a third is
kept (where COO is the smaller form) is stored as an ONNX sparse_initializer (COO,
int64 linear indices) holding exactly the unmasked positions, so the file shrinks with
sparsity and `sanp.formats.load` restores the mask exactly (an unmasked weight that
happens to be 0.0 stays unmasked); many consumers cannot read sparse initializers.

Metadata (`metadata_props`, read back with onnxruntime's
`InferenceSession(...).get_modelmeta().custom_metadata_map`):
  sanp_version, action_kind, action_space (JSON: kind, n | shape, low, high),
  sparsity, layer_sparsity (JSON list), obs_dim, out_dim, plus the caller's entries
  (e.g. env_id, spec_sha256); sanp's own keys win over the caller's.

Example:
    >>> export_onnx(policy, "policy.onnx", {"env_id": "CartPole-v1"})
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from sanp.model import MLPPolicy, json_floats

Storage = Literal["dense", "sparse"]
STORAGES = ("dense", "sparse")
RESERVED_KEYS = ("sanp_version", "action_kind", "action_space", "sparsity", "layer_sparsity", "obs_dim", "out_dim")
OPSET = 17
IR_VERSION = 9
_ACT_OP = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}


def policy_metadata(policy: MLPPolicy) -> dict[str, str]:
    """sanp's own metadata entries for `policy`."""
    from sanp.version import __version__

    if policy.action_kind == "discrete":
        space = {"kind": "discrete", "n": policy.out_dim}
    else:
        space = {
            "kind": "continuous",
            "shape": [policy.out_dim],
            "low": json_floats(policy.action_low),
            "high": json_floats(policy.action_high),
        }
    return {
        "sanp_version": __version__,
        "action_kind": policy.action_kind,
        "action_space": json.dumps(space),
        "sparsity": repr(float(policy.sparsity())),
        "layer_sparsity": json.dumps([float(s) for s in policy.layer_sparsity()]),
        "obs_dim": str(policy.obs_dim),
        "out_dim": str(policy.out_dim),
    }


def _normaliser(policy: MLPPolicy, inits: list[Any], nodes: list[Any]) -> str:
    """Sub mean, Div std (and Clip) nodes; the name of the normalised observation."""
    from onnx import helper, numpy_helper

    inits.append(numpy_helper.from_array(policy.obs_mean.detach().numpy().astype(np.float32), "obs_mean"))
    inits.append(numpy_helper.from_array(policy.obs_std.detach().numpy().astype(np.float32), "obs_std"))
    nodes.append(helper.make_node("Sub", ["obs", "obs_mean"], ["obs_centered"], name="obs_sub_mean"))
    nodes.append(helper.make_node("Div", ["obs_centered", "obs_std"], ["obs_scaled"], name="obs_div_std"))
    if policy.obs_clip is None:
        return "obs_scaled"
    c = float(policy.obs_clip)
    inits.append(numpy_helper.from_array(np.array(-c, np.float32), "obs_clip_min"))
    inits.append(numpy_helper.from_array(np.array(c, np.float32), "obs_clip_max"))
    nodes.append(helper.make_node("Clip", ["obs_scaled", "obs_clip_min", "obs_clip_max"], ["obs_normalized"],
                                  name="obs_clip"))
    return "obs_normalized"


def _weight(name: str, w: np.ndarray, m: np.ndarray, storage: Storage, inits: list[Any], sparse: list[Any]) -> None:
    from onnx import helper, numpy_helper

    # COO costs 12 bytes an entry (value + int64 index) against 4 dense: store a layer
    # sparse only where that is smaller, i.e. under a third of it is kept.
    if storage == "sparse" and bool((m == 0).any()) and 3 * int((m != 0).sum()) < m.size:
        idx = np.flatnonzero(m.reshape(-1) != 0).astype(np.int64)
        values = numpy_helper.from_array(w.reshape(-1)[idx].astype(np.float32), name)
        indices = numpy_helper.from_array(idx, f"{name}.indices")
        sparse.append(helper.make_sparse_tensor(values, indices, list(w.shape)))
    else:
        inits.append(numpy_helper.from_array(w, name))


def build_model(policy: MLPPolicy, metadata: Mapping[str, str] | None = None, *, storage: Storage = "dense") -> Any:
    """The ONNX ModelProto of `policy` (see the module docstring), checked with
    onnx.checker (with full shape inference for dense storage)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from sanp.version import __version__

    if storage not in STORAGES:
        raise ValueError(f"storage {storage!r}: use 'dense' or 'sparse'")
    inits: list[Any] = []
    sparse_inits: list[Any] = []
    nodes: list[Any] = []
    x = _normaliser(policy, inits, nodes) if policy.has_normalizer else "obs"
    n = len(policy.layers)
    for i, (lin, mask, act) in enumerate(zip(policy.layers, policy.masks, policy.activations)):
        wname, bname = f"linear{i}.weight", f"linear{i}.bias"
        w = (lin.weight * mask).detach().numpy().astype(np.float32)
        _weight(wname, w, mask.detach().numpy(), storage, inits, sparse_inits)
        inits.append(numpy_helper.from_array(lin.bias.detach().numpy().astype(np.float32), bname))
        last = i == n - 1
        y = "action_values" if last and act == "identity" else f"linear{i}.out"
        nodes.append(helper.make_node("Gemm", [x, wname, bname], [y], name=f"linear{i}", transB=1))
        x = y
        if act != "identity":
            y = "action_values" if last else f"act{i}.out"
            nodes.append(helper.make_node(_ACT_OP[act], [x], [y], name=f"act{i}"))
            x = y
    graph = helper.make_graph(
        nodes,
        "sanp_policy",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", policy.obs_dim])],
        [helper.make_tensor_value_info("action_values", TensorProto.FLOAT, ["batch", policy.out_dim])],
        initializer=inits,
        sparse_initializer=sparse_inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="sanp", producer_version=__version__
    )
    model.ir_version = IR_VERSION
    # a file name of bytes that are not UTF-8 arrives with surrogates, which protobuf refuses
    meta = {_utf8(k): _utf8(v) for k, v in (metadata or {}).items()}
    meta.update(policy_metadata(policy))
    helper.set_model_props(model, meta)
    # onnx's shape inference does not read sparse initializers (Gemm fails on them)
    onnx.checker.check_model(model, full_check=not sparse_inits)
    return model


def _utf8(value: Any) -> str:
    """`value` as text protobuf can store: bytes that were not UTF-8 become U+FFFD."""
    return os.fsencode(str(value)).decode("utf-8", "replace")


def export_onnx(
    policy: MLPPolicy, path: str | os.PathLike, metadata: Mapping[str, str] | None = None, *,
    storage: Storage = "dense",
) -> None:
    """Write `policy` as ONNX to `path` (atomically: temp file + rename).

    Raises OutputError when the directory is missing or not writable.
    """
    from sanp.atomic import check_writable, write_bytes

    check_writable(path)
    write_bytes(path, build_model(policy, metadata, storage=storage).SerializeToString())
