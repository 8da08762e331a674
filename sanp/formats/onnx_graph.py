"""An ONNX graph as the ONNX reader sees it: its constants (initializers, sparse
initializers with the masks they imply, and every node computable from constants),
the nodes the output needs, attributes, and errors that name the node; and
`check_declared`, what a graph declares checked against sanp's limits before any of it
is turned into arrays.

Example:
    >>> g = OnnxGraph(onnx.load("policy.onnx"), "policy.onnx")
    >>> g.consts["linear0.weight"].shape, g.meta.get("env_id")
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from sanp.errors import PolicyError
from sanp.limits import check_count, limit

_UNARY = {"Sqrt": np.sqrt, "Neg": np.negative, "Reciprocal": np.reciprocal, "Exp": np.exp}
_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}


class OnnxGraph:
    """Constants and node helpers of one ONNX ModelProto (`path` names it in errors)."""

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
            if any(d < 0 for d in dims):
                raise PolicyError(f"{path}: sparse initializer {sp.values.name} has negative dims {dims}")
            check_count(int(np.prod(dims, dtype=object)), path, f"sparse initializer {sp.values.name}")
            dense = np.zeros(int(np.prod(dims)), dtype=vals.dtype)
            mask = np.zeros(int(np.prod(dims)), dtype=np.float32)
            lin = idx if idx.ndim == 1 else np.ravel_multi_index(tuple(idx.T), dims)
            dense[lin] = vals
            mask[lin] = 1.0
            self.consts[sp.values.name] = dense.reshape(dims)
            self.sparse_masks[sp.values.name] = mask.reshape(dims)
        self.meta = {p.key: p.value for p in model.metadata_props}

    def fail(self, node: Any, why: str) -> PolicyError:
        """The error for a node sanp cannot read, naming its op and node."""
        name = node.name or (node.output[0] if node.output else "?")
        return PolicyError(
            f"{self.path}: unsupported ONNX op {node.op_type} (node {name!r}): {why}; "
            "sanp reads MLPs (Gemm/MatMul/Add/Sub/Mul/Div/Clip/Relu/Tanh/Sigmoid)"
        )

    def needed_nodes(self, out_name: str) -> list[Any]:
        """The nodes `out_name` depends on, in graph order."""
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

    def vec(self, node: Any, c: Any, n: int | None, layout: str) -> np.ndarray:
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

    @staticmethod
    def attr(node: Any, name: str, default: Any) -> Any:
        """A node attribute's value, or `default`."""
        from onnx import helper

        for a in node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def fold_const(self, node: Any) -> bool:
        """Evaluate a node whose inputs are all constants into `consts`; False if it
        cannot be folded."""
        if any(x and x not in self.consts for x in node.input):
            return False
        v = [self.consts[x] if x else None for x in node.input]
        op = node.op_type
        if op == "Constant":
            out = self._constant(node)
        elif op in ("Identity", "Cast") and v[0] is not None:
            out = v[0]
            if op == "Cast":
                from onnx import helper

                out = out.astype(helper.tensor_dtype_to_np_dtype(self.attr(node, "to", 1)))
        elif op == "Transpose":
            out = np.transpose(v[0], self.attr(node, "perm", None))
        elif op == "Reshape":
            shape = [int(s) for s in v[1]]
            out = v[0].reshape([v[0].shape[i] if s == 0 else s for i, s in enumerate(shape)])
        elif op in _UNARY:
            out = _UNARY[op](v[0])
        elif op in _BINARY:
            out = _BINARY[op](v[0], v[1])
        elif op in ("Squeeze", "Unsqueeze"):
            axes = self.attr(node, "axes", None)
            if axes is None and len(v) > 1 and v[1] is not None:
                axes = [int(a) for a in v[1]]
            out = np.squeeze(v[0], tuple(axes) if axes else None) if op == "Squeeze" else np.expand_dims(v[0], tuple(axes))
        else:
            return False
        self.consts[node.output[0]] = np.asarray(out)
        return True

    def _constant(self, node: Any) -> np.ndarray:
        from onnx import numpy_helper

        t = self.attr(node, "value", None)
        if t is not None:
            return numpy_helper.to_array(t)
        for key in ("value_float", "value_floats", "value_int", "value_ints"):
            val = self.attr(node, key, None)
            if val is not None:
                return np.asarray(val)
        raise self.fail(node, "Constant without a tensor value")


def check_declared(model: Any, path: Any) -> None:
    """What the graph declares, checked before any array is made from it: the sizes of
    its constants (one by one and in all, against SANP_MAX_PARAMETERS), that they live in
    the file (external data could name any file, /dev/zero included), and an observation
    input of float numbers in [batch, features] layout (or [batch, channels, ...], which
    the reader takes as far as its Conv layers are fully connected: `onnx_image`)."""
    from onnx import TensorProto

    g = model.graph
    tensors = [(f"initializer {t.name[:80]}", t) for t in g.initializer]
    tensors += [(f"sparse initializer {sp.values.name[:80]}", sp) for sp in g.sparse_initializer]
    tensors += [(f"Constant node {(n.output[0] if n.output else n.name)[:80]}", a.t) for n in g.node
                if n.op_type == "Constant" for a in n.attribute if a.HasField("t")]
    total = 0
    for what, t in tensors:
        if any(d < 0 for d in t.dims):
            raise PolicyError(f"{path}: {what} has negative dims {list(t.dims)}; re-export it")
        n = 1
        for d in t.dims:
            n *= int(d)
        check_count(n, path, what)
        total += n
        if getattr(t, "data_location", 0) == TensorProto.EXTERNAL or getattr(t, "external_data", None):
            raise PolicyError(f"{path}: {what} is stored in an external file; save the model with its "
                              "weights inside (onnx.save(model, path, save_as_external_data=False))")
    if total > limit("MAX_PARAMETERS"):
        check_count(total, path, "the constants together")
    consts = {t.name for t in g.initializer} | {sp.values.name for sp in g.sparse_initializer}
    for inp in (i for i in g.input if i.name not in consts):
        if not inp.type.HasField("tensor_type"):
            raise PolicyError(f"{path}: the ONNX input {inp.name[:80]!r} is not a tensor; sanp reads policies "
                              "whose input is a float tensor [batch, features]")
        tt = inp.type.tensor_type
        if tt.elem_type not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16):
            kind = TensorProto.DataType.Name(tt.elem_type) if tt.elem_type in TensorProto.DataType.values() \
                else str(tt.elem_type)
            raise PolicyError(f"{path}: the ONNX input {inp.name[:80]!r} holds {kind} values; sanp reads "
                              "policies whose observation input is a float tensor")
        rank = len(tt.shape.dim) if tt.HasField("shape") else 2
        if rank < 2 or rank > 5:
            raise PolicyError(f"{path}: the ONNX input {inp.name[:80]!r} has rank {rank}; sanp reads "
                              "policies whose observation input is [batch, features] (rank 2), or "
                              "[batch, channels, ...] into Conv layers that are fully connected")


def onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata_props of an ONNX file ({} when it is not a readable ONNX file)."""
    import onnx

    try:
        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception:  # noqa: BLE001 - any unreadable file simply has no metadata
        return {}
