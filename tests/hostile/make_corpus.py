"""Hostile inputs of issue 18, generated into a directory at test time (nothing here is
committed but this script): forged VecNormalize pickles, zip/pth/npz bombs, odd ONNX
graphs, deeply nested JSON, device files, bad options, huge specs, clobbering outputs.

`build(root)` writes the files and returns the `Case`s: a `sanp` command line each,
with the files it must leave alone. Run by tests/hostile/test_hostile_corpus.py; by hand:

    python tests/hostile/make_corpus.py /tmp/corpus     # writes the files, lists the cases
"""
from __future__ import annotations

import io
import json
import os
import pickle
import sys
import types
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
# the project's own SB3 zip (zoo/), so that a clone without ../shared runs the corpus
CARTPOLE_ZIP = ROOT / "zoo" / "cartpole" / "sb3.zip"
CARTPOLE_SPEC = ROOT / "specs" / "cartpole.stl"


@dataclass(frozen=True)
class Case:
    """One hostile run: `sanp *argv` must exit `code` with one error line, touching no `outputs`."""

    id: str
    klass: str                      # the item of issue 18 it belongs to
    argv: tuple[str, ...]
    outputs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    code: int = 2
    sigterm_after: float | None = None   # send SIGTERM this many seconds after the start


# ------------------------------------------------------------------ pickles (class 1)
# The opcodes numpy's own pickles use, with one part forged (tests/sanp/formats uses them too).

class Reduce:
    def __init__(self, fn, args, state=None):
        self.r = (fn, args) if state is None else (fn, args, state)

    def __reduce__(self):
        return self.r


def _np_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def forged_dtype(code="f8", state=(3, "<", None, None, None, -1, -1, 0)):
    return Reduce(np.dtype, (code, False, True), state)


def forged_array(raw, shape, dtype=None):
    return Reduce(_np_reconstruct(), (np.ndarray, (0,), b"b"), (1, shape, dtype or forged_dtype(), False, raw))


def laughs(depth=30):
    leaf = [1.0]
    for _ in range(depth):
        leaf = [leaf, leaf]  # 2**30 leaves behind 60 references
    return leaf


@contextmanager
def _sb3_classes():
    """Stand-ins for SB3's classes, importable only while the pickles are written."""
    names = ("stable_baselines3", "stable_baselines3.common", "stable_baselines3.common.vec_env",
             "stable_baselines3.common.vec_env.vec_normalize", "stable_baselines3.common.running_mean_std")
    saved = {n: sys.modules.get(n) for n in names}
    mods = {n: types.ModuleType(n) for n in names}
    VecNormalize = type("VecNormalize", (), {"__module__": names[3]})
    RunningMeanStd = type("RunningMeanStd", (), {"__module__": names[4]})
    mods[names[3]].VecNormalize, mods[names[4]].RunningMeanStd = VecNormalize, RunningMeanStd
    sys.modules.update(mods)
    try:
        yield VecNormalize, RunningMeanStd
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def _vecnormalize(mean, var=None, **fields) -> bytes:
    with _sb3_classes() as (VecNormalize, RunningMeanStd):
        rms = RunningMeanStd()
        rms.__dict__.update(mean=mean, var=np.ones(4) if var is None else var, count=10.0)
        vn = VecNormalize()
        vn.__dict__.update(obs_rms=rms, clip_obs=10.0, epsilon=1e-8, norm_obs=True)
        vn.__dict__.update(fields)
        return pickle.dumps(vn, protocol=4)


VECNORMALIZE = {
    "object-field": {"mean": forged_array(b"\0" * 8, (1,), forged_dtype("f8", (3, "|", None, ("a",),
                                                                    {"a": (np.dtype("O"), 0)}, 8, 1, 0)))},
    "field-offset": {"mean": forged_array(b"\0" * 8, (1,), forged_dtype("f8", (3, "|", None, ("a",),
                                                                    {"a": (np.dtype("f8"), 4096)}, 8, 1, 0)))},
    "object-dtype": {"mean": forged_array(b"\0" * 32, (4,), forged_dtype("O"))},
    "huge-shape": {"mean": forged_array(b"\0" * 8, (1_000_000_000,))},
    "raw-wrong-size": {"mean": forged_array(b"\0" * 7, (1,))},
    "laughs": {"mean": laughs()},
    "string-mean": {"mean": "mean"},
    "nested-mean": {"mean": [[[0.0, 0.0, 0.0, 0.0]]]},
    "nan-mean": {"mean": np.array([np.nan, 0.0, 0.0, 0.0])},
    "negative-var": {"mean": np.zeros(4), "var": np.array([1.0, -1.0, 1.0, 1.0])},
    "wrong-length": {"mean": np.zeros(5), "var": np.ones(5)},
    "clip-list": {"mean": np.zeros(4), "clip_obs": [1.0, 2.0]},
    "eps-nan": {"mean": np.zeros(4), "epsilon": float("nan")},
}


# ------------------------------------------------------------ SB3 zips (classes 2, 3)

def _cartpole_members() -> dict[str, bytes]:
    with zipfile.ZipFile(CARTPOLE_ZIP) as z:
        return {n: z.read(n) for n in z.namelist()}


def _zip(path: Path, members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as z:
        for n, data in members.items():
            z.writestr(n, data)
    return path


def _patch_member(path: Path, name: str, offset: int, value: int) -> None:
    """Set a 2-byte field (at `offset` into both headers) of member `name` of the zip."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        local = z.getinfo(name).header_offset
    cd = raw.rfind(name.encode()) - 46  # the central directory entry precedes its name
    assert raw[cd:cd + 4] == b"PK\x01\x02"
    raw[local + offset:local + offset + 2] = value.to_bytes(2, "little")
    raw[cd + offset + 2:cd + offset + 4] = value.to_bytes(2, "little")
    path.write_bytes(bytes(raw))


def _state_dict_bytes(sd) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(sd, buf)
    return buf.getvalue()


def _policy_state_dict() -> dict:
    import torch

    with zipfile.ZipFile(CARTPOLE_ZIP) as z:
        return torch.load(io.BytesIO(z.read("policy.pth")), weights_only=True)


def sb3_zips(d: Path) -> dict[str, Path]:
    import torch

    m = _cartpole_members()
    sd = _policy_state_dict()
    first = next(k for k in sd if k.endswith("weight"))
    out = {}
    # an 8 MiB member against a 4 MiB limit (the real 12.5 GB bomb takes minutes to deflate)
    out["zip-bomb"] = _zip(d / "bomb.zip", {**m, "policy.pth": m["policy.pth"] + b"\0" * (8 << 20)})
    for name, (off, val) in {"zip-encrypted": (6, 0x1), "zip-deflate64": (8, 9),
                             "zip-method-99": (8, 99)}.items():
        p = _zip(d / f"{name}.zip", m)
        _patch_member(p, "policy.pth", off, val)
        out[name] = p
    # one weight is a stride-0 view of a 4-byte storage declaring 400M values
    big = dict(sd)
    big[first] = torch.zeros(1).expand(20000, 20000)
    out["pth-expanded"] = _zip(d / "expanded.zip", {**m, "policy.pth": _state_dict_bytes(big)})
    out["pth-laughs"] = _zip(d / "laughs.zip", {**m, "policy.pth": _state_dict_bytes({**sd, first: laughs()})})
    for name, value in {"sd-string": "weights", "sd-int": 3, "sd-none": None, "sd-dict": {"a": 1}}.items():
        out[name] = _zip(d / f"{name}.zip", {**m, "policy.pth": _state_dict_bytes({**sd, first: value})})
    deep = "[" * 200_000 + "]" * 200_000
    out["data-deep"] = _zip(d / "deep.zip", {**m, "data": deep.encode()})
    out["data-deep-kwargs"] = _zip(d / "deep-kwargs.zip", {**m, "data": _dumps_deep(json.loads(m["data"]))})
    out["data-bigint"] = _zip(d / "bigint.zip", {**m, "data": m["data"].replace(b"{", b'{"n": ' + b"9" * 5000 + b", ", 1)})
    return out


def _dumps_deep(doc: dict) -> bytes:
    """json.dumps would recurse past Python's limit: splice the nesting in as text."""
    text = json.dumps({**doc, "policy_kwargs": "@@"})
    return text.replace('"@@"', '{"net_arch": ' + "[" * 5000 + "]" * 5000 + "}").encode()


# ------------------------------------------------------------------- ONNX (class 3)

def onnx_files(d: Path) -> dict[str, Path]:
    from onnx import TensorProto, helper, numpy_helper

    def model(nodes, inits, in_dim=4, meta=None, raw=()):
        tensors = [numpy_helper.from_array(np.asarray(v, np.float32) if not isinstance(v, np.ndarray) else v, k)
                   for k, v in inits.items()]
        tensors += list(raw)
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", in_dim])],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, ["N", "K"])],
                              initializer=tensors)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 9
        if meta:
            helper.set_model_props(m, meta)
        return m

    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((4, 8)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    mlp = [helper.make_node("MatMul", ["x", "W1"], ["h"]), helper.make_node("Tanh", ["h"], ["t"]),
           helper.make_node("MatMul", ["t", "W2"], ["y"])]
    models = {
        "onnx-zero-size": model(mlp, {"W1": np.zeros((4, 0), np.float32), "W2": np.zeros((0, 2), np.float32)}),
        "onnx-reshape": model([helper.make_node("Reshape", ["W0", "shape"], ["W1"])] + mlp,
                              {"W0": w1.reshape(-1), "shape": np.array([5, 7], np.int64), "W2": w2}),
        "onnx-reshape-neg": model([helper.make_node("Reshape", ["W0", "shape"], ["W1"])] + mlp,
                                  {"W0": w1.reshape(-1), "shape": np.array([-1, -1], np.int64), "W2": w2}),
        "onnx-transpose": model([helper.make_node("Transpose", ["W0"], ["W1"], perm=[0, 5])] + mlp,
                                {"W0": w1.T.copy(), "W2": w2}),
        "onnx-raw-size": model(mlp, {"W2": w2}, raw=[_short_raw(numpy_helper.from_array(w1, "W1"))]),
        "onnx-bounds-length": model(mlp, {"W1": w1, "W2": w2}, meta={
            "action_kind": "continuous",
            "action_space": json.dumps({"low": [-1.0, -1.0, -1.0], "high": [1.0]})}),
        "onnx-bounds-junk": model(mlp, {"W1": w1, "W2": w2}, meta={
            "action_kind": "continuous", "action_space": "[" * 100_000}),
    }
    values = helper.make_tensor("W1", TensorProto.FLOAT, [1], [1.0])
    indices = helper.make_tensor("W1_idx", TensorProto.INT64, [1], [0])
    sparse = helper.make_sparse_tensor(values, indices, [20000, 20000])
    g = helper.make_graph(mlp, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
                          initializer=[numpy_helper.from_array(w2, "W2")], sparse_initializer=[sparse])
    models["onnx-sparse-bomb"] = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    out = {}
    for name, m in models.items():
        out[name] = d / f"{name}.onnx"
        out[name].write_bytes(m.SerializeToString())
    return out


def _short_raw(tensor):
    tensor.raw_data = b"\0" * 7  # a [4, 8] float tensor needs 128 bytes
    return tensor


# --------------------------------------------------------- checkpoints (classes 2, 6)

def checkpoints(d: Path) -> dict[str, Path]:
    import torch

    from sanp.formats.torch_policy import CHECKPOINT_FORMAT
    from sanp.model import MLPPolicy

    arch = MLPPolicy([4, 8, 2], "tanh", action_kind="discrete").architecture()
    arch["sizes"] = [4, 30000, 30000, 2]
    out = {"pt-huge": d / "huge.pt"}
    torch.save({"format": CHECKPOINT_FORMAT, "version": 1, "architecture": json.dumps(arch),
                "state_dict": {}}, out["pt-huge"])
    # a checkpoint .npz (a zip of .npy members): a mask declaring 2 GiB, 8 MiB inflated
    npz = d / "npz-bomb"
    npz.mkdir()
    with zipfile.ZipFile(npz / "out.onnx.ckpt.npz", "w", zipfile.ZIP_DEFLATED) as z:
        state = io.BytesIO()
        np.save(state, np.array(json.dumps({"version": 1})))
        z.writestr("state.npy", state.getvalue())
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                                   "shape": (1 << 28,)})
        z.writestr("mask0.npy", buf.getvalue() + b"\0" * (8 << 20))
    out["npz-bomb"] = npz / "out.onnx.ckpt.npz"
    return out


# ------------------------------------------------------------------ specs (2, 4, 8)

def specs(d: Path) -> dict[str, Path]:
    head = "env CartPole-v1\nhorizon 200\nsignal x = obs[0]\nsearch x in [-0.05, 0.05]\n"
    texts = {
        "spec-horizon": head.replace("horizon 200", "horizon 1e12"),
        "spec-infinite-search": head.replace("[-0.05, 0.05]", "[-1e308, 1e308]"),
        "spec-obs-100": head + "signal far = obs[100]\nreq r: always (far <= 1)\n",
        "spec-action-5": head + "signal a = action[5]\nreq r: always (a <= 1)\n",
        "spec-render-mode": head.replace("CartPole-v1", 'CartPole-v1(render_mode="human")')
                            + "req r: always (x <= 1)\n",
        "spec-search-outside": head.replace("x in [-0.05, 0.05]", "x in [-50, 50]") + "req r: always (x <= 1)\n",
        "spec-20k": head + "".join(f"req r{i}: always (x <= {i})\n" for i in range(20_000)),
        "spec-parens": head + "req r: " + "(" * (1 << 20) + "x <= 1" + ")" * (1 << 20) + "\n",
        "spec-parens-900k": head + "req r: " + "(" * 450_000 + "x <= 1" + ")" * 450_000 + "\n",
    }
    out = {}
    for name, text in texts.items():
        out[name] = d / f"{name}.stl"
        out[name].write_text(text)
    return out


# ---------------------------------------------------------------- reports (3, 5, 8)

def reports(d: Path) -> dict[str, Path]:
    texts = {
        "report-deep": '{"schema": "sanp.verify/1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "report-bigint": '{"schema": "sanp.verify/1", "n": ' + "9" * 5000 + "}",
        # complete enough to render, so that the cases using it reach their --image
        "report-minimal": '{"schema": "sanp.verify/1", "command": "verify", "verdict": "x", "inputs": {}}',
    }
    out = {}
    for name, text in texts.items():
        out[name] = d / f"{name}.json"
        out[name].write_text(text)
    return out


# ---------------------------------------------------------------------- the cases

def build(root: Path) -> list[Case]:
    """Write the corpus under `root`; the cases that run it."""
    root = Path(root)
    d = root / "in"
    d.mkdir(parents=True)
    o = root / "out"
    o.mkdir()
    pol, spec = str(CARTPOLE_ZIP), str(CARTPOLE_SPEC)
    out_onnx = str(o / "out.onnx")
    cases: list[Case] = []

    def add(id, klass, *argv, outputs=(out_onnx,), **kw):
        cases.append(Case(id, klass, tuple(str(a) for a in argv), tuple(str(x) for x in outputs), **kw))

    for name, fields in VECNORMALIZE.items():
        (d / f"vn-{name}.pkl").write_bytes(_vecnormalize(**fields))
        add(f"vn-{name}", "1", "import", pol, "--vecnormalize", d / f"vn-{name}.pkl", "--env", "CartPole-v1",
            "-o", out_onnx)
    add("vn-object-field-verify", "1", "verify", pol, spec, "--vecnormalize", d / "vn-object-field.pkl",
        "--budget", 2, "--json", o / "v.json", outputs=(o / "v.json",))
    add("vn-object-field-prune", "1", "prune", pol, spec, "--vecnormalize", d / "vn-object-field.pkl",
        "-o", out_onnx)

    for name, p in sb3_zips(d).items():
        env = {"SANP_MAX_FILE_BYTES": str(4 << 20)} if name == "zip-bomb" else {}
        add(name, "2" if name in ("zip-bomb", "pth-expanded", "pth-laughs") else "3",
            "import", p, "--env", "CartPole-v1", "-o", out_onnx, env=env)
    for name, p in onnx_files(d).items():
        add(name, "2" if name == "onnx-sparse-bomb" else "3", "export", p, "--env", "CartPole-v1", "-o", out_onnx)
    ck = checkpoints(d)
    add("pt-huge", "2", "export", ck["pt-huge"], "-o", out_onnx)
    npz_out = ck["npz-bomb"].parent / "out.onnx"
    add("npz-bomb", "2", "prune", pol, spec, "-o", npz_out, "--resume", "--budget", 2, "--rounds", 1,
        "--episodes", 2, "--heldout-budget", 1, "--heldout-uniform", 1, "--round-uniform", 0,
        outputs=(npz_out, ck["npz-bomb"]), env={"SANP_MAX_FILE_BYTES": str(4 << 20)})

    sp = specs(d)
    for name in ("spec-horizon", "spec-infinite-search", "spec-20k", "spec-parens", "spec-parens-900k"):
        add(name, "8" if name in ("spec-20k", "spec-parens", "spec-parens-900k") else "2",
            "check", sp[name], outputs=())
    for name in ("spec-obs-100", "spec-action-5", "spec-render-mode", "spec-search-outside"):
        add(name, "4", "check", sp[name], outputs=())

    # device files where a regular file is expected
    add("devzero-spec", "3", "check", "/dev/zero", outputs=())
    add("devzero-policy", "3", "verify", "/dev/zero", spec, "--budget", 2, outputs=())
    add("devzero-vecnormalize", "3", "import", pol, "--vecnormalize", "/dev/zero", "--env", "CartPole-v1",
        "-o", out_onnx)
    rp = reports(d)
    add("devzero-image", "3", "report", rp["report-minimal"], "--image", "/dev/zero", "-o", o / "r.html",
        outputs=(o / "r.html",))
    add("report-deep", "3", "report", rp["report-deep"], "-o", o / "r.html", outputs=(o / "r.html",))
    add("report-bigint", "3", "report", rp["report-bigint"], "-o", o / "r.html", outputs=(o / "r.html",))

    # options refused before any work
    add("seed-negative", "3", "verify", pol, spec, "--seed", -1, "--json", o / "v.json", outputs=(o / "v.json",))
    add("eval-seed-negative", "3", "eval", pol, spec, "--seed", -1, outputs=())
    add("workers-1000", "2", "verify", pol, spec, "--workers", 1000, outputs=())
    add("workers-env-junk", "2", "verify", pol, spec, "--workers", 2, outputs=(), env={"SANP_MAX_WORKERS": "x"})
    add("round-uniform-negative", "7", "prune", pol, spec, "-o", out_onnx, "--round-uniform", -5,
        outputs=(out_onnx, out_onnx + ".ckpt.npz"))
    add("plots-unwritable", "7", "verify", pol, spec, "--budget", 2, "--json", o / "v.json",
        "--plots", "/proc/sanp-plots", outputs=(o / "v.json",))
    add("prune-plots-unwritable", "7", "prune", pol, spec, "-o", out_onnx, "--plots", "/proc/sanp-plots",
        outputs=(out_onnx,))

    # outputs that would clobber inputs, each other, devices, links
    keep = o / "keep.onnx"
    keep.write_bytes(b"precious")
    os.chmod(keep, 0o600)
    add("report-is-output", "5", "prune", pol, spec, "-o", keep, "--report", keep, outputs=(keep,))
    add("report-is-checkpoint", "5", "prune", pol, spec, "-o", out_onnx, "--report", out_onnx + ".ckpt.npz",
        outputs=(out_onnx, out_onnx + ".ckpt.npz"))
    png = o / "plot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    add("report-over-image", "5", "report", rp["report-minimal"], "--image", png, "-o", png, outputs=(png,))
    add("output-devnull", "5", "import", pol, "--env", "CartPole-v1", "-o", "/dev/null", outputs=())
    add("output-devfull", "5", "import", pol, "--env", "CartPole-v1", "-o", "/dev/full", outputs=())
    fifo = o / "fifo.onnx"
    os.mkfifo(fifo)
    add("output-fifo", "5", "import", pol, "--env", "CartPole-v1", "-o", fifo, outputs=())
    link = o / "link.onnx"
    link.symlink_to(keep)
    add("output-symlink", "5", "import", pol, "--env", "CartPole-v1", "-o", link, outputs=(keep,))
    add("output-dir-slash", "5", "import", pol, "--env", "CartPole-v1", "-o", str(o / "newdir") + "/",
        outputs=(o / "newdir",))
    add("output-is-input", "5", "import", pol, "--env", "CartPole-v1", "-o", pol, outputs=(pol,))
    add("output-no-dir", "5", "import", pol, "--env", "CartPole-v1", "-o", o / "missing" / "x.onnx",
        outputs=(o / "missing",))

    # SIGTERM during a run with workers: one line, exit 130
    add("sigterm-workers", "9", "verify", pol, spec, "--workers", 2, "--budget", 100_000, "--optimizer", "random",
        outputs=(), code=130, sigterm_after=8.0)
    return cases


if __name__ == "__main__":
    for c in build(Path(sys.argv[1])):
        print(c.id, " ".join(c.argv))
