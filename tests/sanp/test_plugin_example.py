"""Extension points end to end: the example package in tests/sanp/data/plugin_example,
installed with pip, adds a policy format, a prune recipe, an optimiser and a verifier
through entry points, and the `sanp` command uses them (eval and verify read the toy
format; prune runs the toy recipe on it; verify searches with the toy optimiser; prove
decides with the toy verifier)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from sanp.falsify import PROPOSERS
from sanp.formats.readers import READERS
from sanp.method.recipes import RECIPES
from sanp.prove.verifiers import VERIFIERS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = Path(__file__).resolve().parent / "data" / "plugin_example"
SANP = Path(sys.executable).with_name("sanp")
REGISTRIES = {"sanp.formats": READERS, "sanp.recipes": RECIPES, "sanp.proposers": PROPOSERS,
              "sanp.verifiers": VERIFIERS}
"""Every extension point's entry-point group and its registry."""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The example package pip-installed into a directory of its own (no dependencies,
    no network, a copy of the source so that the build leaves the repository clean)."""
    work = tmp_path_factory.mktemp("plugin")
    shutil.copytree(EXAMPLE, work / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(work / "site"), str(work / "src")],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return work / "site"


def sanp(site: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([str(SANP), *argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=600, check=False)


def entry_points() -> dict[str, dict[str, str]]:
    return tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]["entry-points"]


def test_every_entry_point_of_the_example_names_a_sanp_registry():
    assert set(entry_points()) == set(REGISTRIES)
    for group, table in entry_points().items():
        assert REGISTRIES[group].group == group
        assert set(table) == {"toy"}


@pytest.fixture(scope="module")
def toy_policy(installed, tmp_path_factory) -> Path:
    """The zoo CartPole policy rewritten in the toy format (with the example's writer)."""
    out = tmp_path_factory.mktemp("toy") / "cartpole.toy"
    code = ("import sys; from sanp.formats import load; from sanp_plugin_example.toy_format import write_toy; "
            "write_toy(load(sys.argv[1]), sys.argv[2])")
    env = {**os.environ, "PYTHONPATH": str(installed)}
    subprocess.run([sys.executable, "-c", code, str(ROOT / "zoo" / "cartpole" / "dense.onnx"), str(out)],
                   check=True, env=env, timeout=300)
    return out


def test_eval_and_verify_read_the_toy_format(installed, toy_policy, tmp_path):
    args = ["--env", "CartPole-v1", "--episodes", "3", "--seed", "5"]
    toy = sanp(installed, "eval", str(toy_policy), *args, cwd=tmp_path)
    onnx = sanp(installed, "eval", str(ROOT / "zoo" / "cartpole" / "dense.onnx"), *args, cwd=tmp_path)
    assert toy.returncode == 0, toy.stderr
    assert "return mean" in toy.stdout and toy.stdout == onnx.stdout  # the same network, read from another format
    runs = {}
    for name, policy in (("toy", toy_policy), ("onnx", ROOT / "zoo" / "cartpole" / "dense.onnx")):
        proc = sanp(installed, "verify", str(policy), str(ROOT / "specs" / "cartpole.stl"), "--optimizer", "random",
                    "--budget", "6", "--json", str(tmp_path / f"{name}.json"), cwd=tmp_path)
        runs[name] = proc.returncode, json.loads((tmp_path / f"{name}.json").read_text())
    assert runs["toy"][0] == runs["onnx"][0], proc.stderr
    assert len(runs["toy"][1]["evaluations"]) == 6
    assert runs["toy"][1]["evaluations"] == runs["onnx"][1]["evaluations"]  # same points, same robustness
    # without the package, sanp does not know the format and says which ones it knows
    bare = subprocess.run([str(SANP), "eval", str(toy_policy), *args], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path, check=False)
    assert bare.returncode == 2
    assert "not an ONNX model; give an ONNX file, a sanp .pt checkpoint or an SB3 .zip" in bare.stderr


def test_prune_runs_the_toy_recipe_on_the_toy_format(installed, toy_policy, tmp_path):
    out = tmp_path / "sparse.onnx"
    proc = sanp(installed, "prune", str(toy_policy), str(ROOT / "specs" / "cartpole.stl"), "-o", str(out),
                "--recipe", "toy", "--episodes", "5", "--budget", "4", "--rounds", "1", "--round-uniform", "20",
                "--heldout-budget", "4", "--heldout-uniform", "20", "--report", str(tmp_path / "r.json"),
                cwd=tmp_path)
    assert out.exists(), proc.stderr
    assert "step 1, half of the weights by magnitude" in proc.stderr + proc.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["inputs"]["options"]["recipe"] == "toy" and doc["inputs"]["options"]["criterion"] == "magnitude"
    assert doc["step1"]["k"] == 0.5 and len(doc["step1"]["scan"]) == 2  # the fixed half, not a search
    refused = sanp(installed, "prune", str(toy_policy), str(ROOT / "specs" / "cartpole.stl"), "-o",
                   str(tmp_path / "other.onnx"),
                   "--recipe", "toy", "--sparsity", "0.3", cwd=tmp_path)
    assert refused.returncode == 2 and "the toy recipe always prunes half of the weights" in refused.stderr


def test_verify_searches_with_the_toy_optimiser(installed, tmp_path):
    out = tmp_path / "v.json"
    proc = sanp(installed, "verify", str(ROOT / "zoo" / "cartpole" / "dense.onnx"), str(ROOT / "specs" / "cartpole.stl"),
                "--optimizer", "toy", "--budget", "5", "--json", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr  # the dense policy holds near that corner too
    doc = json.loads(out.read_text())
    assert doc["inputs"]["options"]["optimizer"] == "toy" and len(doc["evaluations"]) == 5
    for e in doc["evaluations"]:  # the toy's proposals, scaled to the spec's box [-0.05, 0.05]^4
        assert all(0.0489 <= e["point"][k] <= 0.05 for k in ("x", "x_dot", "theta", "theta_dot"))
    assert "5 evaluations (toy, seed 0)" in proc.stdout
    bare = subprocess.run([str(SANP), "verify", str(ROOT / "zoo" / "cartpole" / "dense.onnx"),
                           str(ROOT / "specs" / "cartpole.stl"), "--optimizer", "toy"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert bare.returncode == 2 and "--optimizer" in bare.stderr


def test_prove_decides_with_the_toy_verifier(installed, tmp_path):
    props = tmp_path / "props.json"
    falling_right = {"x": [0.0, 0.1], "x_dot": [0.0, 0.1], "theta": [0.15, 0.2], "theta_dot": [1.5, 2.0]}
    props.write_text(json.dumps({"regions": {"r": falling_right},
                                 "props": [{"name": "q", "over": "r", "then": {"kind": "action", "op": "==", "value": 1}}]}))
    out = tmp_path / "p.json"
    proc = sanp(installed, "prove", str(ROOT / "zoo" / "cartpole" / "dense.onnx"), str(ROOT / "specs" / "cartpole.stl"),
                "--properties", str(props), "--verifier", "toy", "--json", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["inputs"]["verifier"] == "toy (interval arithmetic, sanp-plugin-example)" and doc["verdict"] == "proved"
