"""ONNX export and import: onnxruntime parity, checker, metadata, sparse storage,
graphs written by other tools (MatMul+Add, Gemm attributes, transposed layout,
normalisers, ArgMax, final Clip), and refusals."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import sanp
from sanp.errors import OutputError, PolicyError
from sanp.formats import load
from sanp.formats.onnx_writer import build_model, export_onnx
from sanp.model import MLPPolicy

torch.set_num_threads(1)
RNG = np.random.default_rng(0)


def make(kind="continuous", norm=True, sizes=(6, 32, 32, 3)):
    torch.manual_seed(1)
    kw = dict(action_low=[-1.0] * sizes[-1], action_high=[1.0] * sizes[-1]) if kind == "continuous" else {}
    if norm:
        kw.update(obs_mean=np.arange(sizes[0]) * 0.1, obs_var=np.arange(1, sizes[0] + 1) * 0.5, obs_clip=5.0)
    return MLPPolicy(list(sizes), "relu", action_kind=kind, **kw)


def obs(n=128, d=6):
    return (RNG.standard_normal((n, d)) * 4).astype(np.float32)


def torch_values(p, x):
    with torch.no_grad():
        return p(torch.from_numpy(x)).numpy()


def session(path_or_bytes):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path_or_bytes) if not isinstance(path_or_bytes, bytes) else path_or_bytes, so,
                                providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_export_ort_matches_torch_and_round_trips(tmp_path, kind):
    p = make(kind)
    path = tmp_path / "p.onnx"
    export_onnx(p, path, {"env_id": "Pendulum-v1", "spec_sha256": "ab" * 32})
    onnx.checker.check_model(onnx.load(str(path)))
    x = obs()
    s = session(path)
    assert [i.name for i in s.get_inputs()] == ["obs"] and [o.name for o in s.get_outputs()] == ["action_values"]
    got = s.run(None, {"obs": x})[0]
    assert np.allclose(got, torch_values(p, x), atol=1e-5)
    meta = s.get_modelmeta().custom_metadata_map
    assert meta["env_id"] == "Pendulum-v1" and meta["spec_sha256"] == "ab" * 32
    assert meta["action_kind"] == kind and meta["sanp_version"] == sanp.__version__
    assert float(meta["sparsity"]) == 0.0 and json.loads(meta["layer_sparsity"]) == [0.0, 0.0, 0.0]
    space = json.loads(meta["action_space"])
    assert space["kind"] == kind
    if kind == "continuous":
        assert space["low"] == [-1.0] * 3 and space["high"] == [1.0] * 3
    q = load(path)  # metadata restores the action semantics: no env needed
    assert q.action_kind == kind and q.sizes == p.sizes and q.activations == p.activations
    assert q.has_normalizer and q.obs_clip == 5.0
    assert np.allclose(torch_values(q, x), torch_values(p, x), atol=1e-5)
    if kind == "continuous":
        assert np.array_equal(q.action_low, p.action_low) and np.array_equal(q.action_high, p.action_high)
        assert np.allclose(q.act(x), p.act(x), atol=1e-5)
    else:
        assert np.array_equal(q.act(x), p.act(x))


def test_reexport_and_metadata_precedence(tmp_path):
    p = make("discrete", norm=False)
    export_onnx(p, tmp_path / "p.onnx", {"action_kind": "continuous", "note": "x"})
    meta = session(tmp_path / "p.onnx").get_modelmeta().custom_metadata_map
    assert meta["action_kind"] == "discrete" and meta["note"] == "x"


def pruned(p, keep=0.2, seed=3):
    gen = torch.Generator().manual_seed(seed)
    p.set_masks([(torch.rand(m.shape, generator=gen) < keep).float() for m in p.masks])
    return p


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_default_output_reads_in_onnxruntime_checker_and_marabou(tmp_path, kind):
    Marabou = pytest.importorskip("maraboupy.Marabou", reason="pip install 'sanp[prove]'")

    p = pruned(make(kind, norm=False, sizes=(6, 64, 64, 3)))
    export_onnx(p, tmp_path / "p.onnx")
    m = onnx.load(str(tmp_path / "p.onnx"))
    assert len(m.graph.sparse_initializer) == 0  # plain dense initializers by default
    onnx.checker.check_model(m, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    dims = inferred.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3]
    x = obs(20)
    want = session(tmp_path / "p.onnx").run(None, {"obs": x})[0]
    assert np.allclose(want, torch_values(p, x), atol=1e-5)
    net = Marabou.read_onnx(str(tmp_path / "p.onnx"))
    got = np.concatenate([np.asarray(net.evaluateWithoutMarabou([x[i : i + 1]])).reshape(1, -1) for i in range(len(x))])
    assert np.allclose(got, want, atol=1e-5)


def test_default_output_with_normaliser_passes_the_full_check(tmp_path):
    # maraboupy 2.0.0's ONNX parser has no Div or Clip: a normalised policy is checked here
    # with onnx's full shape inference and onnxruntime only.
    p = pruned(make("continuous", norm=True))
    export_onnx(p, tmp_path / "p.onnx")
    m = onnx.load(str(tmp_path / "p.onnx"))
    assert len(m.graph.sparse_initializer) == 0
    onnx.checker.check_model(m, full_check=True)
    x = obs()
    assert np.allclose(session(tmp_path / "p.onnx").run(None, {"obs": x})[0], torch_values(p, x), atol=1e-5)


def test_sparse_export_is_smaller_and_round_trips_masks(tmp_path):
    p = make("continuous", sizes=(6, 128, 128, 3))
    gen = torch.Generator().manual_seed(3)
    masks = [(torch.rand(m.shape, generator=gen) > 0.9).float() for m in p.masks]
    masks[1][0, :5] = 1.0
    with torch.no_grad():
        p.linears[1].weight[0, :5] = 0.0  # unmasked exact zeros must stay unmasked
    p.set_masks(masks)
    assert p.sparsity() > 0.85
    export_onnx(p, tmp_path / "sparse.onnx", storage="sparse")
    export_onnx(p, tmp_path / "dense.onnx")
    m = onnx.load(str(tmp_path / "sparse.onnx"))
    assert len(m.graph.sparse_initializer) == 3
    onnx.checker.check_model(m)
    sparse_size = (tmp_path / "sparse.onnx").stat().st_size
    dense_size = (tmp_path / "dense.onnx").stat().st_size
    assert sparse_size < 0.5 * dense_size
    x = obs()
    want = torch_values(p, x)
    for f in ("sparse.onnx", "dense.onnx"):
        assert np.allclose(session(tmp_path / f).run(None, {"obs": x})[0], want, atol=1e-5)
    q = load(tmp_path / "sparse.onnx")
    assert all(torch.equal(a, b) for a, b in zip(q.masks, p.masks))
    assert q.sparsity() == pytest.approx(p.sparsity())
    meta = session(tmp_path / "sparse.onnx").get_modelmeta().custom_metadata_map
    assert float(meta["sparsity"]) == pytest.approx(p.sparsity())
    assert json.loads(meta["layer_sparsity"]) == pytest.approx(p.layer_sparsity())
    assert np.allclose(torch_values(q, x), want, atol=1e-5)
    # dense file of a pruned policy: masks recovered from zeros where sparsity was recorded
    d = load(tmp_path / "dense.onnx")
    assert d.sparsity() >= p.sparsity()


def test_output_errors(tmp_path):
    p = make()
    with pytest.raises(OutputError, match="does not exist"):
        export_onnx(p, tmp_path / "missing" / "p.onnx")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError):
        export_onnx(p, tmp_path / "file" / "p.onnx")
    export_onnx(p, tmp_path / "p.onnx")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["file", "p.onnx"]  # no temp files left


# ---- graphs written by other tools -----------------------------------------------


def _model(nodes, inits, in_dim, out_shape=None, meta=None, out_type=TensorProto.FLOAT):
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", in_dim])],
        [helper.make_tensor_value_info(nodes[-1].output[0], out_type, out_shape or ["N", "K"])],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 9
    if meta:
        helper.set_model_props(m, meta)
    onnx.checker.check_model(m)
    return m


def _w(o, i):
    return RNG.standard_normal((o, i)).astype(np.float32) * 0.5


def _check_same(tmp_path, m, **load_kw):
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    q = load(path, **load_kw)
    x = obs(64, q.obs_dim)
    want = session(m.SerializeToString()).run(None, {"x": x})[0]
    got = torch_values(q, x)
    if want.dtype == np.int64:
        assert np.array_equal(q.act(x), want.reshape(-1))
    else:
        assert np.allclose(got, want, atol=1e-5)
    return q


def test_matmul_add_chain_with_normaliser_ops(tmp_path):
    gym = pytest.importorskip("gymnasium")
    W1, W2 = _w(4, 6), _w(2, 4)
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["c"]),
        helper.make_node("Mul", ["c", "inv_std"], ["s"]),
        helper.make_node("Clip", ["s", "lo", "hi"], ["n"]),
        helper.make_node("Flatten", ["n"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "W1t"], ["h"]),
        helper.make_node("Add", ["h", "b1"], ["hb"]),
        helper.make_node("Tanh", ["hb"], ["a"]),
        helper.make_node("MatMul", ["a", "W2t"], ["o"]),
        helper.make_node("Add", ["b2", "o"], ["y"]),
    ]
    inits = dict(mean=np.linspace(-1, 1, 6).astype(np.float32), inv_std=np.linspace(0.5, 2, 6).astype(np.float32),
                 lo=np.float32(-3), hi=np.float32(3), W1t=W1.T.copy(), b1=np.ones(4, np.float32),
                 W2t=W2.T.copy(), b2=np.array([0.5, -0.5], np.float32))
    m = _model(nodes, inits, 6)
    q = _check_same(tmp_path, m, action_space=gym.spaces.Discrete(2))
    assert q.sizes == [6, 4, 2] and q.activations == ["tanh", "identity"] and q.action_kind == "discrete"
    assert q.has_normalizer and q.obs_clip == 3.0
    with pytest.raises(PolicyError, match="pass --env ENV_ID"):
        load(tmp_path / "m.onnx")


def test_gemm_attributes_and_transposed_layout(tmp_path):
    W1, W2, W3 = _w(5, 6), _w(4, 5), _w(3, 4)
    nodes = [
        # [N,6] x W1^T (stored [6,5], transB=0), alpha/beta
        helper.make_node("Gemm", ["x", "W1s", "b1"], ["h1"], alpha=0.5, beta=2.0),
        helper.make_node("Relu", ["h1"], ["a1"]),
        # features-first: W2 @ a1^T -> [4, N]
        helper.make_node("Gemm", ["W2", "a1", "b2col"], ["h2"], transB=1),
        helper.make_node("Sigmoid", ["h2"], ["a2"]),
        # back to batch-first: a2^T @ W3^T
        helper.make_node("Gemm", ["a2", "W3", "b3"], ["h3"], transA=1, transB=1),
        helper.make_node("Div", ["h3", "two"], ["y"]),
    ]
    inits = dict(W1s=W1.T.copy(), b1=np.full(5, 0.1, np.float32), W2=W2, b2col=np.ones((4, 1), np.float32),
                 W3=W3, b3=np.zeros(3, np.float32), two=np.float32(2.0))
    meta = {"action_kind": "continuous", "action_space": json.dumps({"kind": "continuous", "low": [-1] * 3, "high": [1] * 3})}
    q = _check_same(tmp_path, _model(nodes, inits, 6, meta=meta))
    assert q.sizes == [6, 5, 4, 3] and q.activations == ["relu", "sigmoid", "identity"]
    assert q.action_kind == "continuous" and list(q.action_low) == [-1] * 3


def test_argmax_dropped_and_final_clip_read_as_action_box(tmp_path):
    W1, W2 = _w(8, 6), _w(3, 8)
    base = [
        helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["a"]),
        helper.make_node("Gemm", ["a", "W2", "b2"], ["v"], transB=1),
    ]
    inits = dict(W1=W1, b1=np.zeros(8, np.float32), W2=W2, b2=np.zeros(3, np.float32))
    m = _model(base + [helper.make_node("ArgMax", ["v"], ["y"], axis=1, keepdims=0)], inits, 6,
               out_type=TensorProto.INT64, out_shape=["N"])
    q = _check_same(tmp_path, m)
    assert q.action_kind == "discrete" and q.sizes == [6, 8, 3]
    inits.update(lo=np.float32(-0.25), hi=np.float32(0.25))
    m = _model(base + [helper.make_node("Clip", ["v", "lo", "hi"], ["y"])], inits, 6)
    path = tmp_path / "clip.onnx"
    path.write_bytes(m.SerializeToString())
    q = load(path)
    assert q.action_kind == "continuous" and list(q.action_low) == [-0.25] * 3
    x = obs(32)
    assert np.allclose(q.act(x), session(m.SerializeToString()).run(None, {"x": x})[0], atol=1e-5)


@pytest.mark.parametrize("bad", ["Softmax", "Conv", "Shape"])
def test_unsupported_op_is_refused(tmp_path, bad):
    p = make("discrete", norm=False)
    m = build_model(p)
    last = m.graph.node[-1]
    if bad == "Softmax":
        extra = helper.make_node("Softmax", ["action_values_raw"], ["action_values"], axis=1, name="probs")
    elif bad == "Conv":
        extra = helper.make_node("Conv", ["action_values_raw", "k"], ["action_values"], name="probs")
        m.graph.initializer.append(numpy_helper.from_array(np.ones((3, 3, 1), np.float32), "k"))
    else:
        extra = helper.make_node("Shape", ["action_values_raw"], ["action_values"], name="probs")
    last.output[0] = "action_values_raw"
    m.graph.node.append(extra)
    path = tmp_path / "bad.onnx"
    path.write_bytes(m.SerializeToString())
    with pytest.raises(PolicyError, match=rf"bad\.onnx: unsupported ONNX op {bad} \(node 'probs'\)"):
        load(path)


def test_truncated_and_non_onnx_files_are_refused(tmp_path):
    p = make()
    export_onnx(p, tmp_path / "p.onnx")
    data = (tmp_path / "p.onnx").read_bytes()
    for cut in (len(data) // 2, len(data) - 7, 100):
        (tmp_path / "t.onnx").write_bytes(data[:cut])
        with pytest.raises(PolicyError, match=r"t\.onnx: (not an ONNX model|invalid or truncated)"):
            load(tmp_path / "t.onnx")
    (tmp_path / "junk.onnx").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(PolicyError, match=r"junk\.onnx"):
        load(tmp_path / "junk.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(PolicyError, match="not an ONNX model"):
        load(tmp_path / "empty.onnx")


def test_onnx_size_mismatch_with_env(tmp_path):
    gym = pytest.importorskip("gymnasium")
    export_onnx(make("continuous"), tmp_path / "p.onnx")
    with pytest.raises(PolicyError, match=r"p\.onnx: the network takes 6 observation values but the env gives 24"):
        load(tmp_path / "p.onnx", observation_space=gym.spaces.Box(-1, 1, (24,)))
    with pytest.raises(PolicyError, match=r"gives 3 outputs but the env has 4"):
        load(tmp_path / "p.onnx", action_space=gym.spaces.Box(-1, 1, (4,)))


def test_torch_legacy_export_of_an_mlp_is_read(tmp_path):
    class Actor(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
            self.register_buffer("mean", torch.randn(4))
            self.register_buffer("std", torch.rand(4) + 0.5)

        def forward(self, x):
            x = torch.clamp((x - self.mean) / self.std, -10, 10)
            return self.net(x.flatten(1)).argmax(-1)

    torch.manual_seed(0)
    m = Actor()
    path = tmp_path / "torch.onnx"
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, (torch.randn(1, 4),), str(path), input_names=["obs"], output_names=["act"],
                              dynamic_axes={"obs": {0: "N"}}, dynamo=False)
    except Exception as exc:  # noqa: BLE001 - the legacy exporter may be gone in a future torch
        pytest.skip(f"torch.onnx.export unavailable: {exc}")
    p = load(path)
    assert p.action_kind == "discrete" and p.has_normalizer and p.obs_clip == 10.0
    x = obs(100, 4)
    with torch.no_grad():
        assert np.array_equal(p.act(x), m(torch.from_numpy(x)).numpy())
