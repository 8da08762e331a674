"""Issue 32, items 1, 3, 8 and 10: the loaders and the limits, through the real command.

Every input is generated here into a temporary folder from the project's own policies
(zoo/cartpole), so the file runs in a clone without ../shared. Each case is one
`python -m sanp.cli ...` process under an address-space limit and a timeout; the cases
run a few at a time in one module fixture, then each is its own test. A refused case
must exit 2 with exactly one stderr line, no traceback, and leave its outputs unwritten;
an accepted case must exit 0 and pass its own check.
"""
from __future__ import annotations

import atexit
import base64
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from make_corpus import _vecnormalize

ROOT = Path(__file__).resolve().parents[2]
DENSE = ROOT / "zoo" / "cartpole" / "dense.onnx"
SB3_ZIP = ROOT / "zoo" / "cartpole" / "sb3.zip"
SPEC = ROOT / "specs" / "cartpole.stl"
MEMORY = 2 << 30
TIMEOUT = 120.0
PARALLEL = 3


@dataclass
class Case:
    """`sanp *argv` must exit `code`; refused (2): one stderr line containing `message`,
    none of `outputs` written; accepted (0): `check(stdout)` holds."""

    id: str
    argv: list[str]
    code: int = 2
    message: str = ""
    outputs: list[Path] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    check: Callable[[str], None] | None = None


# ------------------------------------------------------------------ generated inputs

def _sb3_members() -> dict[str, bytes]:
    with zipfile.ZipFile(SB3_ZIP) as z:
        return {n: z.read(n) for n in z.namelist()}


def _state_dict() -> dict:
    import torch

    return torch.load(io.BytesIO(_sb3_members()["policy.pth"]), weights_only=True)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _sb3_with(path: Path, sd: dict) -> Path:
    """The project's SB3 CartPole zip with `policy.pth` replaced by `sd`."""
    import torch

    buf = io.BytesIO()
    torch.save(sd, buf)
    return _zip(path, {**_sb3_members(), "policy.pth": buf.getvalue()})


def _ars_zip(path: Path, weight) -> Path:
    """An sb3-contrib ARS linear policy saved with bias=False: policy.pth holds only
    action_net.weight [n_actions, n_obs]; the data file names ARSLinearPolicy the way SB3
    does (a pickled class reference, never loaded)."""
    import torch

    buf = io.BytesIO()
    torch.save({"action_net.weight": torch.as_tensor(weight)}, buf)
    ref = b"\x80\x02csb3_contrib.ars.policies\nARSLinearPolicy\n."
    data = {"policy_class": {":type:": "<class 'abc.ABCMeta'>", ":serialized:": base64.b64encode(ref).decode()},
            "policy_kwargs": {"net_arch": [], "with_bias": False},
            "action_space": {":type:": "<class 'gymnasium.spaces.discrete.Discrete'>", "n": 2, "shape": [],
                             "dtype": "int64"}}
    return _zip(path, {"data": json.dumps(data).encode(), "policy.pth": buf.getvalue()})


def _onnx(path: Path, *, clip: float | None = None, elem_type=None, rank: int = 2,
          huge_declared: bool = False) -> Path:
    """A small MLP (Sub/Div normaliser, optional Clip, two Gemm layers): an observation
    Clip of ±`clip`, an input of another type or rank, or a weight declaring 20000 x 20000
    values with 4 bytes stored."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = {"mean": np.zeros(4, np.float32), "std": np.ones(4, np.float32),
             "W1": rng.standard_normal((8, 4)).astype(np.float32), "b1": np.zeros(8, np.float32),
             "W2": rng.standard_normal((2, 8)).astype(np.float32), "b2": np.zeros(2, np.float32)}
    nodes = [helper.make_node("Sub", ["obs", "mean"], ["c"]), helper.make_node("Div", ["c", "std"], ["n"])]
    x = "n"
    if clip is not None:
        with np.errstate(over="ignore"):  # float32, as ONNX stores it: ±1e39 is ±inf
            inits["lo"], inits["hi"] = np.float32(-clip), np.float32(clip)
        nodes.append(helper.make_node("Clip", ["n", "lo", "hi"], ["k"]))
        x = "k"
    nodes += [helper.make_node("Gemm", [x, "W1", "b1"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["r"]),
              helper.make_node("Gemm", ["r", "W2", "b2"], ["y"], transB=1)]
    tensors = [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()]
    if huge_declared:
        tensors[2] = numpy_helper.from_array(np.zeros(1, np.float32), "W1")
        tensors[2].dims[:] = [20000, 20000]  # 4 bytes stored, 1.6 GB declared
    shape = ["N", 4] if rank == 2 else ["N", 1, 4] if rank == 3 else [4]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("obs", elem_type or TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], initializer=tensors)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 9
    path.write_bytes(m.SerializeToString())
    return path


def _checkpoint(path: Path, *, obs_clip=None, mean_not_tensor: bool = False) -> Path:
    """A sanp checkpoint with a normaliser whose clip is `obs_clip`, or whose obs_mean is a
    string instead of a tensor."""
    import torch

    from sanp.formats.torch_policy import save_checkpoint
    from sanp.model import MLPPolicy

    pol = MLPPolicy([4, 8, 2], "relu", action_kind="discrete", obs_mean=np.zeros(4), obs_var=np.ones(4),
                    obs_clip=10.0)
    save_checkpoint(pol, path)
    ck = torch.load(path, weights_only=True)
    arch = json.loads(ck["architecture"])
    if obs_clip is not None:
        arch["obs_clip"] = obs_clip
    ck["architecture"] = json.dumps(arch)
    if mean_not_tensor:
        ck["state_dict"]["obs_mean"] = "mean"
    torch.save(ck, path)
    return path


def _report(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _verify_doc(**extra) -> dict:
    return {"schema": "sanp.verify/1", "command": "verify", "verdict": "no counterexample found",
            "inputs": {"policy": "p.onnx", "spec": "s.stl"}, **extra}


# ---------------------------------------------------------------------- the cases

def build(d: Path) -> list[Case]:
    """Write the inputs under `d`; the cases that run them."""
    import torch

    inp, out = d / "in", d / "out"
    inp.mkdir()
    out.mkdir()
    dense, spec = str(DENSE), str(SPEC)
    onnx_out = out / "p.onnx"
    cases: list[Case] = []

    def refuse(id: str, *argv, message: str, outputs=(onnx_out,), env=None) -> None:
        cases.append(Case(id, [str(a) for a in argv], 2, message, [Path(o) for o in outputs], env or {}))

    def accept(id: str, *argv, check=None, env=None) -> None:
        cases.append(Case(id, [str(a) for a in argv], 0, env=env or {}, check=check))

    # item 1: constants NaN, infinite or beyond float32 are refused at load, in every reader
    clip_inf = _onnx(inp / "clip-inf.onnx", clip=1e39)
    refuse("1-onnx-clip-inf-export-c", "export", clip_inf, "--env", "CartPole-v1", "-o", out / "c.c", message="obs_clip holds NaN or infinite",
           outputs=(out / "c.c", out / "c.h"))
    refuse("1-onnx-clip-inf-eval", "eval", clip_inf, "--env", "CartPole-v1", "--episodes", 1,
           message="obs_clip holds NaN or infinite", outputs=())
    for name, fields in {"clip-1e39": {"mean": np.zeros(4), "clip_obs": 1e39},
                         "var-1e39": {"mean": np.zeros(4), "var": np.full(4, 1e39)}}.items():
        (inp / f"vn-{name}.pkl").write_bytes(_vecnormalize(**fields))
        refuse(f"1-vecnormalize-{name}", "import", SB3_ZIP, "--vecnormalize", inp / f"vn-{name}.pkl",
               "--env", "CartPole-v1", "-o", onnx_out, message="re-save")
    refuse("1-pt-obs-clip-1e39", "export", _checkpoint(inp / "clip.pt", obs_clip=1e39), "-o", out / "c.c",
           message="obs_clip holds NaN or infinite", outputs=(out / "c.c", out / "c.h"))
    sd = _state_dict()
    first = next(k for k in sd if k.endswith("weight"))
    refuse("1-sb3-weight-1e39", "import", _sb3_with(inp / "w1e39.zip", {**sd, first: sd[first].double() * 1e39}),
           "--env", "CartPole-v1", "-o", onnx_out, message="holds NaN or infinite")

    # item 3: SANP_MAX_PARAMETERS on ONNX (before any array is made) and on C export;
    # garbage values of any SANP_MAX_* variable are an error wherever the run goes
    refuse("3-onnx-over-max-parameters", "export", dense, "-o", onnx_out, env={"SANP_MAX_PARAMETERS": "1000"},
           message="SANP_MAX_PARAMETERS")
    refuse("3-onnx-declares-400m", "export", _onnx(inp / "huge.onnx", huge_declared=True), "-o", onnx_out,
           message="initializer W1 of 400,000,000 values is over")
    for raw in ("abc", "", "-1", "0", "1e9"):
        refuse(f"3-garbage-max-parameters-{raw or 'empty'}", "export", dense, "-o", onnx_out,
               env={"SANP_MAX_PARAMETERS": raw}, message="SANP_MAX_PARAMETERS=")
    refuse("3-garbage-max-c-parameters-on-check", "check", spec, env={"SANP_MAX_C_PARAMETERS": "lots"},
           message="SANP_MAX_C_PARAMETERS=", outputs=())
    refuse("3-c-export-over-its-limit", "export", dense, "-o", out / "c.c", env={"SANP_MAX_C_PARAMETERS": "1000"},
           message="SANP_MAX_C_PARAMETERS", outputs=(out / "c.c", out / "c.h"))
    deep = inp / "deep.json"
    deep.write_text('{"props": ' + "[" * 100_000 + "]" * 100_000 + "}")
    many = inp / "many.json"
    many.write_text(json.dumps({"regions": {"r": {"x": [0, 1]}}, "props": [
        {"name": f"p{i}", "over": "r", "then": {"kind": "action", "op": "==", "value": 1}} for i in range(2001)]}))
    fifo = inp / "fifo.json"
    os.mkfifo(fifo)
    for name, path, env, message in [
            ("devzero", "/dev/zero", {}, "not a regular file"),
            ("fifo", fifo, {}, "not a regular file"),
            ("oversize", many, {"SANP_MAX_PROPERTIES_BYTES": "10000"}, "SANP_MAX_PROPERTIES_BYTES"),
            ("deep-100k", deep, {}, "SANP_MAX_JSON_DEPTH"),
            ("2001-props", many, {}, "SANP_MAX_PROPS")]:
        refuse(f"3-prove-properties-{name}", "prove", dense, spec, "--properties", path, "--json", out / "pr.json",
               env=env, message=message, outputs=(out / "pr.json",))
    refuse("3-eval-horizon-1e12", "eval", dense, spec, "--horizon", 10**12, message="SANP_MAX_HORIZON", outputs=())
    refuse("3-eval-episodes-1e7", "eval", dense, spec, "--episodes", 10**7, message="SANP_MAX_EPISODES", outputs=())
    big = _report(inp / "big-string.json", json.dumps(_verify_doc(
        verdict="A" * (24 << 20), requirements=[{"name": "B" * (8 << 20), "formula": "x", "evaluations": 1}])))

    def bounded_page(stdout: str) -> None:
        assert (out / "big.html").stat().st_size < (2 << 20)

    accept("3-report-of-a-24mb-string", "report", big, "-o", out / "big.html", check=bounded_page)
    zoo = inp / "zoo"
    zoo.mkdir()
    shutil.copy(SB3_ZIP, zoo / "m.zip")
    (zoo / "m.config.yml").write_text("normalize:\n" + "- " * 50_000 + "x\n")
    refuse("3-zoo-config-50k-deep", "import", zoo / "m.zip", "--env", "CartPole-v1", "-o", onnx_out,
           message="SANP_MAX_CONFIG_DEPTH")

    # item 8: an ARS linear policy saved without bias
    w = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)

    def same_as_linear(stdout: str) -> None:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(out / "ars.onnx"), providers=["CPUExecutionProvider"])
        x = np.random.default_rng(4).standard_normal((50, 4)).astype(np.float32)
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        assert np.allclose(got, x @ w.T, atol=1e-6)

    accept("8-ars-linear-without-bias", "import", _ars_zip(inp / "ars.zip", w), "--env", "CartPole-v1",
           "-o", out / "ars.onnx", check=same_as_linear)

    # item 10, the rest of the table
    from onnx import TensorProto

    refuse("10-onnx-input-int64", "export", _onnx(inp / "int-in.onnx", elem_type=TensorProto.INT64), "-o", onnx_out,
           message="holds INT64 values")
    refuse("10-onnx-input-rank-3", "export", _onnx(inp / "rank3.onnx", rank=3), "-o", onnx_out, message="rank 3")
    refuse("10-sb3-int-state-dict", "import", _sb3_with(inp / "int.zip", {k: v.to(torch.int32) for k, v in sd.items()}),
           "--env", "CartPole-v1", "-o", onnx_out, message="int32 values")
    refuse("10-sb3-complex-state-dict", "import",
           _sb3_with(inp / "complex.zip", {**sd, first: sd[first].to(torch.complex64)}),
           "--env", "CartPole-v1", "-o", onnx_out, message="complex64 values")
    bias = next(k for k in sd if k.endswith("bias"))
    refuse("10-zip-sd-bias-wrong-shape", "import", _sb3_with(inp / "bias.zip", {**sd, bias: torch.zeros(3)}),
           "--env", "CartPole-v1", "-o", onnx_out, message="bias has shape (3,)")
    refuse("10-pt-normalizer-not-tensor", "export", _checkpoint(inp / "mean.pt", mean_not_tensor=True),
           "-o", onnx_out, message="'obs_mean' holds a str")
    torch.jit.script(torch.nn.Linear(4, 2)).save(str(inp / "script.pt"))
    refuse("10-torchscript-pt-no-warning", "export", inp / "script.pt", "-o", onnx_out, message="TorchScript")
    refuse("10-report-schema-only", "report", _report(inp / "schema.json", '{"schema": "sanp.verify/1"}'),
           "-o", out / "r.html", message="not the fields", outputs=(out / "r.html",))
    dup = json.dumps(_verify_doc())[:-1] + ', "verdict": "falsified"}'
    refuse("10-report-duplicate-keys", "report", _report(inp / "dup.json", dup), "-o", out / "r.html",
           message="'verdict' twice", outputs=(out / "r.html",))
    bom = inp / "bom.stl"
    # the full-episode spec: the paper's 200-step one would add its horizon warning to stderr
    bom.write_bytes(b"\xef\xbb\xbf" + (ROOT / "specs" / "cartpole_full.stl").read_bytes())
    accept("10-spec-with-bom", "check", bom, check=lambda stdout: assert_in("bom.stl: ok", stdout))
    fifo_stl = inp / "fifo.stl"
    os.mkfifo(fifo_stl)
    refuse("10-check-fifo", "check", fifo_stl, message="not a regular file", outputs=())
    good = _report(inp / "good.json", json.dumps(_verify_doc()))
    fifo_png = inp / "fifo.png"
    os.mkfifo(fifo_png)
    refuse("10-report-image-fifo", "report", good, "--image", fifo_png, "-o", out / "r.html",
           message="not a regular file", outputs=(out / "r.html",))
    for n in (242, 252):
        if os.pathconf(out, "PC_NAME_MAX") < n:
            continue  # a file system with shorter names: nothing to accept
        name = out / ("n" * (n - 5) + ".onnx")

        def written(stdout: str, name=name) -> None:
            assert name.stat().st_size > 1000 and not [p for p in out.iterdir() if p.name.endswith(".tmp")]

        accept(f"10-output-name-{n}-chars", "export", dense, "-o", name, check=written)
    refuse("10-c-output-stdint", "export", dense, "-o", out / "stdint.c", message="shadow",
           outputs=(out / "stdint.c", out / "stdint.h"))
    refuse("10-c-output-math-any-case", "export", dense, "-o", out / "Math.c", message="shadow",
           outputs=(out / "Math.c", out / "Math.h"))
    for value in ("nan", "inf", "-inf"):
        refuse(f"10-expect-return-{value}", "eval", dense, spec, f"--expect-return={value}", message="finite",
               outputs=())
    odd = os.fsdecode(os.fsencode(str(out)) + b"/\xffodd.onnx")
    odd_in = inp / os.fsdecode(b"in\xfe.onnx")
    shutil.copy(DENSE, odd_in)

    def odd_written(stdout: str) -> None:
        assert os.path.getsize(odd) > 1000

    # strict stdout: the locale a user may have; the name must still print
    accept("10-output-name-not-utf8", "export", odd_in, "-o", odd, check=odd_written,
           env={"PYTHONIOENCODING": "utf-8:strict"})
    return cases


def _error_lines(stderr: str) -> list[str]:
    """The message lines: a spec error's excerpt (indented) and its `hint:` belong to the
    one message (the compiler convention, as in test_hostile_corpus.py)."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(("    ", "hint: "))]


def assert_in(part: str, text: str) -> None:
    assert part in text, text


# ------------------------------------------------------------------------ running

def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _state(paths: list[Path]) -> dict:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) if os.path.lexists(p) else None for p in paths}


def _run(case: Case) -> dict:
    before = _state(case.outputs)
    start = time.monotonic()
    env = {**os.environ, **case.env}
    try:
        p = subprocess.run([sys.executable, "-m", "sanp.cli", *case.argv], capture_output=True, text=True,
                           errors="replace", env=env, timeout=TIMEOUT, preexec_fn=_limit)
        code, stdout, stderr = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        code, stdout, stderr = None, "", ""
    return {"code": code, "stdout": stdout, "stderr": stderr, "seconds": time.monotonic() - start,
            "touched": [k for k, v in _state(case.outputs).items() if v != before[k]]}


# built at collection, so that each case is its own test; removed when pytest exits
_DIR = Path(tempfile.mkdtemp(prefix="sanp-loaders-"))
atexit.register(shutil.rmtree, _DIR, True)
CASES = build(_DIR)


@pytest.fixture(scope="module")
def results():
    with ThreadPoolExecutor(PARALLEL) as pool:
        done = dict(zip([c.id for c in CASES], pool.map(_run, CASES)))
    return {c.id: (c, done[c.id]) for c in CASES}


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_loaders_and_limits(results, case_id):
    case, r = results[case_id]
    assert r["code"] is not None, f"{case_id}: still running after {TIMEOUT:.0f} s"
    err = r["stderr"]
    assert "Traceback" not in err and "Warning" not in err, err[-2000:]
    assert r["code"] == case.code, f"{case_id}: exit {r['code']}: {err[-1000:]}"
    if case.code == 2:
        assert len(_error_lines(err)) == 1 and case.message in err, err[-1000:]
        assert not r["touched"], f"{case_id}: wrote {r['touched']}"
    else:
        assert err == "", err[-1000:]
        if case.check:
            case.check(r["stdout"])


# ------------------------------------------------ item 1: C that always compiles

def _compile(c_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", str(c_file), "-o", os.devnull],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")
def test_c_export_compiles_with_warnings_as_errors(tmp_path):
    from sanp.formats import load
    from sanp.formats.c_writer import export_c
    from sanp.model import MLPPolicy

    # the zoo policy, and one with a normaliser, tanh (math.h) and an unbounded action (INFINITY)
    export_c(load(DENSE), tmp_path / "cartpole.c", source=DENSE)
    wide = MLPPolicy([4, 16, 8, 2], "tanh", action_kind="continuous", action_low=[-np.inf, -1.0],
                     action_high=[np.inf, 1.0], obs_mean=np.zeros(4), obs_var=np.ones(4), obs_clip=5.0)
    export_c(wide, tmp_path / "wide.c")
    for name in ("cartpole.c", "wide.c"):
        r = _compile(tmp_path / name)
        assert r.returncode == 0, r.stderr[-2000:]


def test_c_export_refuses_what_would_not_compile(tmp_path):
    from sanp.errors import OutputError
    from sanp.formats.c_writer import export_c
    from sanp.model import MLPPolicy

    # an infinite observation clip once wrote INFINITY without <math.h>: 'INFINITY' undeclared
    bad = MLPPolicy([4, 8, 2], "relu", action_kind="discrete", obs_mean=np.zeros(4), obs_var=np.ones(4),
                    obs_clip=float("inf"))
    with pytest.raises(OutputError, match="obs_clip holds NaN or infinite values"):
        export_c(bad, tmp_path / "bad.c")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------- item 10: threadpools in a stable order

def test_threadpools_are_listed_in_a_stable_order(monkeypatch):
    """Two runs that load the same libraries in another order (threadpoolctl lists them
    as loaded) give the same rerun requirements."""
    import threadpoolctl

    from sanp import provenance

    pools = [{"user_api": "blas", "internal_api": "openblas", "version": "0.3.27", "num_threads": 2,
              "architecture": "Haswell", "threading_layer": "pthreads"},
             {"user_api": "openmp", "internal_api": "openmp", "version": None, "num_threads": 2,
              "architecture": None, "threading_layer": None},
             {"user_api": "blas", "internal_api": "mkl", "version": "2024", "num_threads": 2,
              "architecture": None, "threading_layer": "intel"}]
    seen = []
    for order in (pools, pools[::-1]):
        monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda order=order: [dict(p) for p in order])
        seen.append(json.dumps(provenance.rerun_requirements()["threadpools"]))
    assert seen[0] == seen[1]
