"""C export: the generated C99 compiles warning-free with the machine's `cc`, and gives
onnxruntime's actions (identical for discrete actions, within 1e-5 for continuous ones)
on visited and random observations; the header states sizes, provenance and the
flash / RAM bytes, which match the compiled object."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import sanp
from sanp.compact import compact
from sanp.envs import bind
from sanp.formats import load
from sanp.formats.c_writer import export_c
from sanp.formats.onnx_writer import export_onnx
from sanp.method.step1 import importance, prune
from sanp.rollout import run_episodes
from sanp.runtime import OrtPolicy, deployed

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]
CC = shutil.which("cc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler `cc` (make test installs one)")
FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror"]

DRIVER = """#include <stdio.h>
#include "{name}.h"
int main(void)
{{
    float obs[{macro}_OBS_DIM];
    while (fread(obs, sizeof(float), {macro}_OBS_DIM, stdin) == {macro}_OBS_DIM) {{
{body}
    }}
    return 0;
}}
"""
DISCRETE = "        int32_t a = {name}_act(obs);\n        fwrite(&a, sizeof a, 1, stdout);"
CONTINUOUS = "        float a[{macro}_OUT_DIM];\n        {name}_act(obs, a);\n        fwrite(a, sizeof(float), {macro}_OUT_DIM, stdout);"


def run_c(c_path: Path, discrete: bool, x: np.ndarray) -> np.ndarray:
    """Compile the generated file with a driver and run it on the observations x."""
    name, d = c_path.stem, c_path.parent
    body = (DISCRETE if discrete else CONTINUOUS).format(name=name, macro=name.upper())
    (d / "driver.c").write_text(DRIVER.format(name=name, macro=name.upper(), body=body))
    exe = d / "driver"
    subprocess.run([CC, *FLAGS, str(c_path), str(d / "driver.c"), "-o", str(exe), "-lm"], check=True,
                   capture_output=True, text=True)
    out = subprocess.run([str(exe)], input=np.ascontiguousarray(x, np.float32).tobytes(), capture_output=True,
                         check=True).stdout
    return np.frombuffer(out, np.int32 if discrete else np.float32).reshape(len(x), -1).squeeze(-1 if discrete else None)


def assert_same_actions(policy, c_path: Path, x: np.ndarray) -> None:
    onnx_path = c_path.with_suffix(".onnx")
    export_onnx(policy, onnx_path)
    ort = OrtPolicy(onnx_path, obs_dim=policy.obs_dim, action_kind=policy.action_kind,
                    action_low=policy.action_low, action_high=policy.action_high)
    want, got = ort.act(x), run_c(c_path, policy.action_kind == "discrete", x)
    if policy.action_kind == "discrete":
        assert np.array_equal(got, want)
    else:
        assert np.max(np.abs(got - want)) <= 1e-5


def visited(policy, binding, episodes: int) -> np.ndarray:
    return np.concatenate([t.observations for t in run_episodes(deployed(policy), binding, episodes, 0)])


def random_like(states: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    scale = np.maximum(np.abs(states).max(axis=0), 1.0)
    return (np.random.default_rng(seed).standard_normal((n, states.shape[1])) * scale).astype(np.float32)


def zoo_pruned(name: str, k: float):
    dense = load(ROOT / "zoo" / name / "dense.onnx")
    return dense, compact(prune(dense, k, importance(dense, "magnitude"), scope="global"))


def test_cartpole_pruned_matches_onnxruntime_on_visited_and_random_states(tmp_path):
    dense, small = zoo_pruned("cartpole", 0.975)
    code = export_c(small, tmp_path / "cartpole.c", source=ROOT / "zoo" / "cartpole" / "dense.onnx",
                    compacted_from=dense.sizes)
    states = visited(small, bind(env_id="CartPole-v1", horizon=200), 60).astype(np.float32)
    assert len(states) >= 10000
    assert_same_actions(small, tmp_path / "cartpole.c", np.concatenate([states, random_like(states, 10000)]))
    assert "csr" in code.layouts and code.flash_bytes <= 3072
    header = (tmp_path / "cartpole.h").read_text()
    sha = hashlib.sha256((ROOT / "zoo" / "cartpole" / "dense.onnx").read_bytes()).hexdigest()
    for text in (f"sanp {sanp.__version__}", "dense.onnx", sha, "-".join(map(str, small.sizes)), "4-128-128-2",
                 f"#define CARTPOLE_FLASH_BYTES {code.flash_bytes}", f"#define CARTPOLE_RAM_BYTES {code.ram_bytes}",
                 "#define CARTPOLE_OBS_DIM 4", "#define CARTPOLE_OUT_DIM 2", "int32_t cartpole_act("):
        assert text in header


def test_lunar_lander_continuous_with_normaliser_matches_onnxruntime(tmp_path):
    dense, small = zoo_pruned("lunar_lander", 0.48)
    assert small.has_normalizer and small.obs_clip == 10.0
    binding = bind(env_id="LunarLander-v3", env_kwargs={"continuous": True}, horizon=400)
    states = visited(small, binding, 30).astype(np.float32)
    assert len(states) >= 5000
    export_c(small, tmp_path / "lander.c")
    x = np.concatenate([states, random_like(states, 10000)])
    assert_same_actions(small, tmp_path / "lander.c", x)


@pytest.mark.parametrize("layouts", [["dense"] * 3, ["csr"] * 3, None])
@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_every_layout_activation_and_bound_matches_onnxruntime(tmp_path, make_policy, layouts, kind):
    p = make_policy(kind, norm=True, acts=["tanh", "sigmoid"], sizes=(5, 40, 30, 3))
    p.set_masks([(torch.rand_like(m) > 0.7).float() for m in p.masks])
    if kind == "continuous":
        p.action_low = np.array([-1.0, -np.inf, -0.5], np.float32)  # an unbounded side is not clipped
        p.action_high = np.array([1.0, 2.0, np.inf], np.float32)
    export_c(p, tmp_path / "p.c", layouts=layouts)
    assert_same_actions(p, tmp_path / "p.c", random_like(np.ones((1, 5)), 10000, seed=3) * 2)


def test_flash_and_ram_bytes_are_the_compiled_object_sizes(tmp_path, make_policy):
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("no nm to read the object's symbol sizes")
    p = make_policy("continuous", norm=True, sizes=(5, 40, 30, 3))
    p.set_masks([(torch.rand_like(m) > 0.8).float() for m in p.masks])
    code = export_c(p, tmp_path / "p.c")
    # -O0 keeps every array: at -O2 the compiler may fold a small one (the action box) into the code
    subprocess.run([CC, *FLAGS, "-O0", "-c", str(tmp_path / "p.c"), "-o", str(tmp_path / "p.o")], check=True)
    sizes = {"flash": 0, "ram": 0}
    for line in subprocess.run([nm, "-S", str(tmp_path / "p.o")], capture_output=True, text=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "rRbBdD":
            sizes["flash" if parts[2] in "rR" else "ram"] += int(parts[1], 16)
    assert sizes == {"flash": code.flash_bytes, "ram": code.ram_bytes}


def test_a_file_name_that_is_no_c_identifier_is_refused(tmp_path, make_policy):
    from sanp.errors import OutputError

    with pytest.raises(OutputError, match="not a C identifier"):
        export_c(make_policy(), tmp_path / "my-policy.c")
    assert list(tmp_path.iterdir()) == []
