"""ONNX graphs in image layout: Conv layers whose kernel covers their whole input read
as Linear layers (the ARCH-COMP TORA controller), a Gemm over a [1, 1, 1, F] value in an
opset-6 model (the ACC controller), and the Conv forms that are not one Linear layer
refused with the reason. Every accepted graph is checked against onnxruntime."""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from sanp.errors import PolicyError
from sanp.formats import load

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]
ARCH = ROOT.parent / "shared" / "fixtures" / "arch"
needs_arch = pytest.mark.skipif(
    not (ARCH / "tora" / "controller.onnx").exists(),
    reason="needs ../shared/fixtures/arch (the ARCH-COMP controllers, absent from a clone); "
           "the synthetic Conv models here check the same reading")
BOX = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3  # the ARCH files' old-exporter warnings are not the test's subject
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """onnxruntime's outputs, one sample at a time in the input's declared shape (the ARCH
    files fix the batch at 1)."""
    s = _session(model)
    inp = s.get_inputs()[0]
    shape = [1 if not isinstance(d, int) else d for d in inp.shape]
    return np.concatenate([s.run(None, {inp.name: xi.reshape(shape)})[0].reshape(1, -1) for xi in x])


def _conv_model(tail: str = "flatten", kernel_hw=(1, 4), in_hw=(1, 4), pads=None, group=1,
                opset: int = 17) -> onnx.ModelProto:
    """Sub (normaliser) -> Conv covering the input -> Relu -> 1x1 Conv -> Relu -> 1x1 Conv ->
    `tail` (flatten | reshape | squeeze), on an input [N, 1, *in_hw]."""
    rng = np.random.default_rng(0)
    c_in = 1
    inits = {
        "mean": rng.standard_normal((1, 1, *in_hw)).astype(np.float32),
        "W1": rng.standard_normal((8, c_in // group, *kernel_hw)).astype(np.float32), "b1": rng.standard_normal(8).astype(np.float32),
        "W2": rng.standard_normal((8, 8, 1, 1)).astype(np.float32), "b2": rng.standard_normal(8).astype(np.float32),
        "W3": rng.standard_normal((2, 8, 1, 1)).astype(np.float32), "b3": rng.standard_normal(2).astype(np.float32),
    }
    conv1 = dict(kernel_shape=list(kernel_hw), group=group)
    if pads is not None:
        conv1["pads"] = pads
    nodes = [helper.make_node("Sub", ["obs", "mean"], ["c"]),
             helper.make_node("Conv", ["c", "W1", "b1"], ["h1"], name="first", **conv1),
             helper.make_node("Relu", ["h1"], ["r1"]),
             helper.make_node("Conv", ["r1", "W2", "b2"], ["h2"], kernel_shape=[1, 1]),
             helper.make_node("Relu", ["h2"], ["r2"]),
             helper.make_node("Conv", ["r2", "W3", "b3"], ["h3"], kernel_shape=[1, 1])]
    if tail == "flatten":
        nodes.append(helper.make_node("Flatten", ["h3"], ["y"], axis=1))
    elif tail == "reshape":
        inits["shape"] = np.array([-1, 2], np.int64)
        nodes.append(helper.make_node("Reshape", ["h3", "shape"], ["y"]))
    else:
        inits["axes"] = np.array([2, 3], np.int64)
        nodes.append(helper.make_node("Squeeze", ["h3", "axes"], ["y"]))
    g = helper.make_graph(nodes, "conv_mlp", [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["N", 1, *in_hw])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _load(tmp_path: Path, m: onnx.ModelProto):
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    return load(path, action_space=gym.spaces.Box(-np.inf, np.inf, (2,), np.float32))


@pytest.mark.parametrize("tail", ["flatten", "reshape", "squeeze"])
def test_conv_layers_covering_their_input_read_as_linear_layers(tmp_path, tail):
    m = _conv_model(tail)
    p = _load(tmp_path, m)
    assert p.sizes == [4, 8, 8, 2] and p.obs_dim == 4
    x = np.random.default_rng(1).standard_normal((64, 4)).astype(np.float32)
    s = _session(m)
    want = s.run(None, {"obs": x.reshape(64, 1, 1, 4)})[0].reshape(64, -1)
    np.testing.assert_allclose(p.act(x), want, rtol=1e-6, atol=1e-6)


def test_a_2d_kernel_over_a_2d_input_flattens_channels_first(tmp_path):
    m = _conv_model(kernel_hw=(2, 3), in_hw=(2, 3))
    p = _load(tmp_path, m)
    x = np.random.default_rng(2).standard_normal((16, 6)).astype(np.float32)
    want = _session(m).run(None, {"obs": x.reshape(16, 1, 2, 3)})[0].reshape(16, -1)
    np.testing.assert_allclose(p.act(x), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kw, why", [
    (dict(kernel_hw=(1, 1), in_hw=(2, 2)), r"kernel \[1, 1\] does not cover its whole input \[2, 2\]"),
    (dict(kernel_hw=(1, 4), in_hw=(1, 4), pads=[0, 1, 0, 1]), r"padding .* adds windows"),
])
def test_a_conv_that_is_not_one_linear_layer_is_refused_with_the_reason(tmp_path, kw, why):
    with pytest.raises(PolicyError, match=rf"unsupported ONNX op Conv \(node 'first'\): {why}"):
        _load(tmp_path, _conv_model(**kw))


def test_a_gemm_over_an_image_value_is_refused_after_opset_6(tmp_path):
    w = np.ones((2, 4), np.float32)
    g = helper.make_graph([helper.make_node("Gemm", ["obs", "W"], ["y"], transB=1, name="fc")], "g",
                          [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 1, 1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
                          initializer=[numpy_helper.from_array(w, "W")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "g.onnx"
    path.write_bytes(m.SerializeToString())
    with pytest.raises(PolicyError, match=r"Gemm \(node 'fc'\): Gemm over a value of rank 4 .*flatten it"):
        load(path, action_space=gym.spaces.Box(-1, 1, (2,), np.float32))


# ------------------------------------------------------------ the ARCH-COMP controllers

def _acc_for_onnxruntime(m: onnx.ModelProto) -> onnx.ModelProto:
    """The ACC graph as onnxruntime runs it: its Gemm takes the [1, 1, 1, 5] input, which
    onnxruntime refuses (rank 4), and it has no Sub of opset 6; a Flatten before the first
    Gemm and opset 7 (the same ops without the `broadcast` attribute) are the meaning the
    exporter intended."""
    m = onnx.ModelProto.FromString(m.SerializeToString())
    g = m.graph
    first = next(i for i, n in enumerate(g.node) if n.op_type == "Gemm")
    g.node.insert(first, helper.make_node("Flatten", [g.node[first].input[0]], ["flat"], axis=1))
    g.node[first + 1].input[0] = "flat"
    for n in g.node:
        keep = [a for a in n.attribute if a.name != "broadcast"]
        del n.attribute[:]
        n.attribute.extend(keep)
    m.opset_import[0].version = 7
    del g.output[0].type.tensor_type.shape.dim[2:]
    return m


# realistic inputs: around each benchmark's initial set and what its closed loop visits
INPUTS = {
    "single_pendulum": ([0.0, -1.5], [1.5, 1.5]),
    "tora": ([-2.0] * 4, [2.0] * 4),
    "acc": ([30.0, 1.4, 20.0, 20.0, -5.0], [30.0, 1.4, 32.0, 110.0, 5.0]),
}


@needs_arch
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_the_arch_controllers_read_and_act_as_onnxruntime(name):
    path = ARCH / name / "controller.onnx"
    p = load(path, action_space=BOX)
    lo, hi = INPUTS[name]
    x = np.random.default_rng(3).uniform(lo, hi, size=(40, len(lo))).astype(np.float32)
    model = onnx.load(str(path))
    want = _ort(_acc_for_onnxruntime(model) if name == "acc" else model, x)
    np.testing.assert_allclose(p.act(x), want, rtol=1e-6, atol=1e-6)
    sizes = {"single_pendulum": [2, 25, 25, 1], "tora": [4, 100, 100, 100, 1], "acc": [5, 20, 20, 20, 20, 20, 1]}
    assert p.sizes == sizes[name]


def test_a_normaliser_that_is_the_identity_is_dropped(tmp_path):
    """TORA's graph subtracts a mean of zeros: no normaliser, so tools that take none
    (the closed-loop bounds of networks with a final ReLU) read it."""
    m = _conv_model()
    mean = next(t for t in m.graph.initializer if t.name == "mean")
    mean.CopyFrom(numpy_helper.from_array(np.zeros((1, 1, 1, 4), np.float32), "mean"))
    p = _load(tmp_path, m)
    assert not p.has_normalizer
    x = np.random.default_rng(4).standard_normal((8, 4)).astype(np.float32)
    want = _session(m).run(None, {"obs": x.reshape(8, 1, 1, 4)})[0].reshape(8, -1)
    np.testing.assert_allclose(p.act(x), want, rtol=1e-6, atol=1e-6)
    assert _load(tmp_path, _conv_model()).has_normalizer  # a real mean stays
