"""Optional extras (sanp.extras): with maraboupy, ray or highway_env missing (simulated by
`sys.modules[name] = None`, which makes `import name` fail as if it were not installed),
every feature that needs one stops before any work with one line naming the extra, exit 2."""
from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import pytest

import stl
from sanp import extras
from sanp.cli import main

ROOT = Path(__file__).resolve().parents[2]
CARTPOLE = str(ROOT / "zoo/cartpole/dense.onnx")
CARTPOLE_SPEC = str(ROOT / "specs/cartpole.stl")


@pytest.fixture
def missing(monkeypatch):
    """`missing("ray")`: the module cannot be imported for the rest of the test."""

    def block(name: str) -> None:
        monkeypatch.setitem(sys.modules, name, None)

    return block


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("module, extra", [("maraboupy", "prove"), ("ray", "ray"), ("highway_env", "highway")])
def test_require_names_the_extra_of_a_missing_module(missing, module, extra):
    missing(module)
    assert not extras.available(module)
    with pytest.raises(extras.MissingExtraError, match=rf"^feature X needs .*\({module}\): pip install 'sanp\[{extra}\]'$"):
        extras.require(module, "feature X")
    with pytest.raises(extras.MissingExtraError, match=rf"pip install 'sanp\[{extra}\]'"):
        extras.load(module, "feature X")


def test_available_does_not_import(tmp_path, monkeypatch):
    # Ray's import takes seconds and fixes its node address: a check must not import it
    (tmp_path / "sanp_probe_mod.py").write_text("raise RuntimeError('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert extras.available("sanp_probe_mod") and "sanp_probe_mod" not in sys.modules
    assert not extras.available("sanp_no_such_module")


def test_prover_on_a_python_without_maraboupy_wheels_says_which_pythons(missing, monkeypatch):
    missing("maraboupy")
    monkeypatch.setattr(sys, "version_info", (3, 12, 1, "final", 0))
    with pytest.raises(extras.MissingExtraError,
                       match=r"no build for Python 3\.12; use Python 3\.11 or older and pip install 'sanp\[prove\]'"):
        extras.require("maraboupy", "proving")


def test_a_broken_install_is_not_reported_as_a_missing_extra(tmp_path, monkeypatch):
    # an installed extra whose own dependency is missing: that error is the useful one
    (tmp_path / "fake_extra_mod.py").write_text("import sanp_missing_dependency_of_it\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(extras.EXTRAS, "fake_extra_mod", extras.Extra("fake", "a fake"))
    with pytest.raises(ModuleNotFoundError, match="sanp_missing_dependency_of_it"):
        extras.load("fake_extra_mod", "feature X")


def test_sanp_prove_without_marabou(missing, capsys, tmp_path):
    missing("maraboupy")
    report = tmp_path / "r.json"
    assert main(["prove", CARTPOLE, CARTPOLE_SPEC, "--json", str(report)]) == 2
    err = one_error_line(capsys)
    assert err == ("sanp prove: error: proving needs the Marabou verifier (maraboupy): "
                   "pip install 'sanp[prove]'")
    assert not report.exists()


def test_prune_prove_without_marabou_stops_before_pruning(missing, capsys, tmp_path):
    missing("maraboupy")
    out = tmp_path / "s.onnx"
    # a prune that ran would have written its checkpoint, and exited 0 or 1
    assert main(["prune", CARTPOLE, CARTPOLE_SPEC, "-o", str(out), "--prove"]) == 2
    assert "--prove needs the Marabou verifier (maraboupy): pip install 'sanp[prove]'" in one_error_line(capsys)
    assert not out.exists() and not Path(f"{out}.ckpt.npz").exists()


def test_the_python_prover_without_marabou(missing):
    from sanp.prove.marabou import MarabouVerifier

    missing("maraboupy")
    # raised in the caller's process, not lost in the forked child that runs a query
    with pytest.raises(extras.MissingExtraError, match=r"pip install 'sanp\[prove\]'"):
        MarabouVerifier()


def test_backend_ray_without_ray(missing, capsys, tmp_path):
    missing("ray")
    report = tmp_path / "v.json"
    assert main(["verify", CARTPOLE, CARTPOLE_SPEC, "--backend", "ray", "--budget", "4",
                 "--json", str(report)]) == 2
    assert one_error_line(capsys) == ("sanp verify: error: --backend ray needs Ray (ray): "
                                      "pip install 'sanp[ray]'")
    assert not report.exists()


def test_ray_backend_in_python_without_ray(missing):
    from sanp import backends

    missing("ray")
    with pytest.raises(extras.MissingExtraError, match=r"pip install 'sanp\[ray\]'"), \
            backends.use(backends.BackendConfig("ray", workers=2)):
        pass


@pytest.fixture
def no_highway(missing, monkeypatch):
    missing("highway_env")
    for env_id in ("highway-v0", "highway-fast-v0"):  # registered if another test imported it
        monkeypatch.delitem(gym.registry, env_id, raising=False)


def test_highway_spec_without_highway_env(no_highway, capsys):
    assert main(["check", str(ROOT / "specs/highway.stl")]) == 2
    assert "env 'highway-fast-v0' needs highway-env (highway_env): pip install 'sanp[highway]'" in \
        one_error_line(capsys)


def test_binding_a_highway_spec_in_python_without_highway_env(no_highway):
    from sanp.envs import bind

    with pytest.raises(extras.MissingExtraError, match=r"pip install 'sanp\[highway\]'"):
        bind(stl.load(ROOT / "specs/highway.stl"))
