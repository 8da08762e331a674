"""Network values in image layout, [batch, channels, *spatial], as MATLAB's and Keras'
exporters write some MLPs (the ARCH-COMP TORA controller: an input [1, 1, 1, 4], then
Conv layers with 1x1 kernels): when each Conv's kernel covers its whole input, the Conv
is a fully connected layer, and the value stays a vector in disguise.

A value in image layout is described by its per-sample shape `chw` (channels first, as
ONNX's Conv has it); flattened in C order it is the feature vector the reader tracks.
What is read:

* Conv with group 1, no padding and a kernel equal to its input's spatial size: a
  Linear layer W = weight.reshape(out_channels, -1), output shape (out_channels, 1, ...).
  The strides do not matter (one window fits) and neither do dilations on a kernel
  axis of size 1. Any other Conv (a 1x1 kernel over a 2x2 input applies the same layer
  to each of the four pixels; padding adds windows) is not one Linear layer and is
  refused, saying which condition fails.
* Flatten(axis=1), Reshape to [batch, features], Squeeze of size-1 axes: back to the
  [batch, features] layout; Reshape or Unsqueeze from it to a rank-3+ shape: into image
  layout.
* A Gemm over an image value in a model of opset < 7: the value flattened (the
  convention of the exporters of that time; onnxruntime refuses such a graph). In later
  opsets, or as MatMul (which multiplies the last two axes batch-wise), it is refused.

Example:
    >>> conv_as_linear(graph, node, (1, 1, 4))     # weight [100, 1, 1, 4]
    (W [100, 4], b [100], (100, 1, 1))
"""
from __future__ import annotations

from typing import Any

import numpy as np


def image_shape(dims: list[int | None]) -> tuple[int, ...] | None:
    """The per-sample shape of an input [batch, C, *spatial]; None for a rank-2 input.
    Raises ValueError when a non-batch dimension is not a known positive size."""
    if len(dims) <= 2:
        return None
    chw = dims[1:]
    if any(d is None or d <= 0 for d in chw):
        raise ValueError(f"input of shape {dims}: every dimension but the batch must be a known size")
    return tuple(int(d) for d in chw)


def conv_as_linear(graph: Any, node: Any, k: int,
                   chw: tuple[int, ...] | None) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """A Conv whose input `k` is the network value, of per-sample shape `chw` (None: not
    in image layout), as (W [out, in], b [out], output chw); `graph.fail(node, why)` when
    it is not one fully connected layer."""
    if k != 0 or chw is None or any(x not in graph.consts for x in node.input[1:] if x):
        raise graph.fail(node, "a convolution over a [batch, features] value or with a computed kernel")
    spatial = chw[1:]
    w = np.asarray(graph.consts[node.input[1]], np.float64)
    if w.ndim != len(chw) + 1:
        raise graph.fail(node, f"kernel of rank {w.ndim} over a value of shape {list(chw)}")
    kernel = tuple(int(k) for k in graph.attr(node, "kernel_shape", w.shape[2:]))
    pads = [int(p) for p in graph.attr(node, "pads", [0] * 2 * len(spatial))]
    dil = [int(d) for d in graph.attr(node, "dilations", [1] * len(spatial))]
    auto_pad = graph.attr(node, "auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    if int(graph.attr(node, "group", 1)) != 1:
        raise graph.fail(node, "grouped convolution (group != 1) is not one fully connected layer")
    if any(pads) or auto_pad not in ("NOTSET", "VALID"):
        raise graph.fail(node, f"padding (pads {pads}, auto_pad {auto_pad}) adds windows: not one fully connected layer")
    if kernel != tuple(w.shape[2:]) or w.shape[1] != chw[0]:
        raise graph.fail(node, f"kernel {list(w.shape)} does not fit an input of shape {list(chw)}")
    if kernel != spatial:
        raise graph.fail(node, f"kernel {list(kernel)} does not cover its whole input {list(spatial)}: the "
                               "Conv applies one layer at each of several positions, not one fully connected layer")
    if any(d != 1 and k != 1 for d, k in zip(dil, kernel)):
        raise graph.fail(node, f"dilations {dil} spread the kernel beyond its input")
    W = w.reshape(w.shape[0], -1)
    b = np.zeros(W.shape[0])
    if len(node.input) > 2 and node.input[2]:
        b = np.asarray(graph.consts[node.input[2]], np.float64).reshape(-1)
        if b.size != W.shape[0]:
            raise graph.fail(node, f"bias of {b.size} values for {W.shape[0]} output channels")
    return W, b, (W.shape[0],) + (1,) * len(spatial)


def gemm_flattens(graph: Any, node: Any, k: int, chw: tuple[int, ...]) -> None:
    """Refuse a Gemm or MatMul over an image value, except a Gemm taking it as A in a
    model of opset < 7 (read flattened, see the module docstring)."""
    opset = min((o.version for o in graph.model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if node.op_type != "Gemm" or k != 0 or int(graph.attr(node, "transA", 0)) or opset >= 7:
        raise graph.fail(node, f"{node.op_type} over a value of rank {len(chw) + 1} (shape [batch, {list(chw)}]); "
                               "flatten it to [batch, features] first")


def image_vec(graph: Any, node: Any, c: Any, chw: tuple[int, ...]) -> np.ndarray:
    """A constant acting on an image value (broadcast over [1, *chw]), flattened in C order."""
    c = np.asarray(c, dtype=np.float64)
    if c.ndim > len(chw) + 1:
        raise graph.fail(node, f"constant of shape {list(c.shape)} over a value of shape {list(chw)}")
    try:
        return np.broadcast_to(c, (1, *chw)).reshape(-1).copy()
    except ValueError:
        raise graph.fail(node, f"constant of shape {list(c.shape)} does not broadcast over {list(chw)}") from None


def reshaped(graph: Any, node: Any, chw: tuple[int, ...] | None, n_feat: int | None,
             other: list) -> tuple[str, tuple[int, ...]] | None:
    """The layout ("NF" or "NCHW") and per-sample shape after a Flatten, Reshape,
    Squeeze or Unsqueeze that enters or leaves image layout; None when the op neither
    starts from nor produces an image value (the reader's own rules apply)."""
    op = node.op_type
    if op == "Flatten":
        if chw is None:
            return None
        if int(graph.attr(node, "axis", 1)) != 1:
            raise graph.fail(node, "Flatten with axis != 1")
        return "NF", ()
    if op == "Reshape":
        shape = [int(v) for v in np.asarray(other[0]).reshape(-1)] if other else []
        return _reshape(graph, node, chw, n_feat, shape)
    axes = graph.attr(node, "axes", None)
    if axes is None and other:
        axes = [int(a) for a in np.asarray(other[0]).reshape(-1)]
    if op == "Squeeze" and chw is not None:
        return _squeeze(graph, node, chw, axes)
    if op == "Unsqueeze" and chw is None and n_feat is not None and axes and all(a >= 2 for a in axes):
        return "NCHW", (n_feat,) + (1,) * len(axes)
    return None


def _reshape(graph: Any, node: Any, chw: tuple[int, ...] | None, n_feat: int | None,
             shape: list[int]) -> tuple[str, tuple[int, ...]] | None:
    if len(shape) <= 2 and chw is None:
        return None
    n = int(np.prod(chw)) if chw is not None else n_feat
    if n is None:
        raise graph.fail(node, "reshape before the observation size is known")
    if not shape or shape[0] not in (-1, 0, 1):
        raise graph.fail(node, f"reshape to {shape} changes the batch axis")
    rest = shape[1:]
    if rest.count(-1) == 1:
        known = int(np.prod([s for s in rest if s != -1]))
        if known <= 0 or n % known:
            raise graph.fail(node, f"reshape to {shape} does not fit {n} features")
        rest = [n // known if s == -1 else s for s in rest]
    if any(s <= 0 for s in rest) or int(np.prod(rest)) != n:
        raise graph.fail(node, f"reshape to {shape} does not keep the {n} features of each sample")
    return ("NF", ()) if len(rest) == 1 else ("NCHW", tuple(rest))


def _squeeze(graph: Any, node: Any, chw: tuple[int, ...], axes: list[int] | None) -> tuple[str, tuple[int, ...]]:
    rank = len(chw) + 1
    drop = {a % rank for a in axes} if axes else {i + 1 for i, d in enumerate(chw) if d == 1}
    if 0 in drop or any(chw[a - 1] != 1 for a in drop):
        raise graph.fail(node, f"squeezes axes {sorted(drop)} of a value of shape [batch, {list(chw)}]")
    rest = tuple(d for i, d in enumerate(chw) if i + 1 not in drop)
    return ("NF", ()) if len(rest) == 1 else ("NCHW", rest)
