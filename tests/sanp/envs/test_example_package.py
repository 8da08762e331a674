"""The README's worked example: pip-install examples/sanp-example-env (an env sanp does
not know, with its adapter declared in the `sanp.envs` entry-point group) into a
directory, and run `sanp verify` and `sanp prune` on it through that entry point."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "sanp-example-env"
SPEC = EXAMPLE / "thermostat.stl"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True,
    )
    return target


def sanp(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "sanp.cli", *args], env=env, capture_output=True, text=True)


def test_unknown_without_the_package():
    r = subprocess.run([sys.executable, "-m", "sanp.cli", "check", str(SPEC)], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown env id 'Thermostat-v0'" in r.stderr


def test_verify_through_the_entry_point(site, tmp_path, controller, save):
    broken = save(controller("Thermostat-v0", broken=True), tmp_path / "broken.onnx", "Thermostat-v0")
    good = save(controller("Thermostat-v0"), tmp_path / "good.onnx", "Thermostat-v0")
    r = sanp(site, "verify", str(broken), str(SPEC), "--budget", "6", "--json", str(tmp_path / "b.json"))
    assert r.returncode == 1, r.stderr
    found = json.loads((tmp_path / "b.json").read_text())["counterexamples"]
    assert found and {"room", "outside", "reset_seed"} == set(found[0]["point"])
    r = sanp(site, "verify", str(good), str(SPEC), "--budget", "6")
    assert r.returncode == 0, r.stdout + r.stderr


def test_prune_through_the_entry_point(site, tmp_path, controller, save):
    dense = save(controller("Thermostat-v0"), tmp_path / "dense.onnx", "Thermostat-v0")
    r = sanp(site, "prune", str(dense), str(SPEC), "-o", str(tmp_path / "sparse.onnx"),
             "--episodes", "10", "--budget", "6", "--rounds", "2", "--round-uniform", "20",
             "--heldout-budget", "6", "--heldout-uniform", "20", "--recipe", "paper",
             "--margin", "0.3",  # 20 held-out points show nothing finer
             "--report", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["final"]["sparsity"] > 0.5 and report["inputs"]["env_id"] == "Thermostat-v0"
