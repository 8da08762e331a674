"""Optimisers as plug-ins (issue 29 item 4, issue 31): every built-in satisfies the
`Proposer` protocol and keeps its points on the unit cube; one registered toy optimiser
becomes a CLI choice, a valid config, runs through `falsify`, and gets the "no rate"
note (it is not uniform), while a uniform one gets rate bounds; an entry point of an
installed package is found by name."""
from __future__ import annotations

import numpy as np
import pytest

from sanp import plugins
from sanp.envs import bind
from sanp.errors import OptionError
from sanp.falsify import (
    DEFAULT,
    PROPOSERS,
    UNIFORM,
    FalsifyConfig,
    Proposer,
    falsify,
    is_uniform,
    label,
    proposer_class,
)
from sanp.method import PruneConfig
from tests.sanp.cli_run import cli
from tests.sanp.test_cli_verify import CARTPOLE, linear_policy

WEAK = (0.0, 0.0, 0.6, 1.0)  # drifts off the track from about 4% of the cube (test_falsify)


class Corner:
    """A toy optimiser: every point at the cube's upper corner, minus a seeded nudge."""

    name = "corner"
    label = "corner search"
    uniform = False

    def __init__(self, dim: int, seed: int):
        self.dim, self.rng, self.told = dim, np.random.default_rng(seed), 0

    @classmethod
    def create(cls, dim, budget, seed, config):
        return cls(dim, seed)

    def chunk(self, remaining: int) -> int:
        return min(remaining, 3)

    def propose(self, n: int) -> np.ndarray:
        return 1.0 - 0.01 * self.rng.uniform(size=(n, self.dim))

    def tell(self, x, y) -> None:
        self.told += len(y)


class UniformToy(Corner):
    name, label, uniform = "uniform_toy", "toy uniform", True

    def propose(self, n: int) -> np.ndarray:
        return self.rng.uniform(size=(n, self.dim))


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setattr(PROPOSERS, "_registered", dict(PROPOSERS._registered))
    PROPOSERS.register("corner", Corner)
    PROPOSERS.register("uniform_toy", UniformToy)


def test_builtins_follow_the_protocol_and_stay_on_the_cube():
    assert PROPOSERS.builtin_names()[0] == DEFAULT
    assert {"bo", "random", "cmaes", "corners"} <= set(PROPOSERS.names())
    assert is_uniform(UNIFORM) and not is_uniform("bo") and label("bo") == "BO"
    for name in PROPOSERS.builtin_names():
        cls = proposer_class(name)
        assert cls.name == name
        p = cls.create(3, 12, 5, FalsifyConfig(budget=12, optimizer=name))
        assert isinstance(p, Proposer)
        x = p.propose(p.chunk(12))
        assert x.ndim == 2 and x.shape[1] == 3 and 1 <= len(x) <= 12
        assert np.all((x >= 0) & (x <= 1))
        p.tell(x, np.linspace(-1, 1, len(x)))


def test_unknown_names_are_refused_everywhere():
    with pytest.raises(OptionError, match="optimizer must be one of bo, cmaes, corners, random, reseed, got 'cma'"):
        FalsifyConfig(optimizer="cma")
    with pytest.raises(OptionError, match="optimizer must be one of .*got 'cma'"):
        PruneConfig(optimizer="cma")
    assert not is_uniform("not-installed-here") and label("not-installed-here") == "not-installed-here"


def test_a_registered_optimiser_runs_and_is_labelled(toys, cartpole_spec, linear_cartpole, capsys):
    b = bind(cartpole_spec)
    res = falsify(linear_cartpole(WEAK), b, cartpole_spec, FalsifyConfig(budget=7, optimizer="corner", seed=1))
    # every point near the upper corner of the search box
    for e in res.evaluations:
        for name, (lo, hi) in cartpole_spec.search.items():
            assert hi - 0.011 * (hi - lo) <= e.point[name] <= hi
    assert res.statistics() == ()  # not uniform: no rate bound
    with pytest.raises(OptionError, match="needs uniform sampling"):
        FalsifyConfig(optimizer="corner", target_rate=0.1)
    uni = falsify(linear_cartpole(WEAK), b, cartpole_spec,
                  FalsifyConfig(budget=20, optimizer="uniform_toy", seed=0, target_rate=0.5))
    assert len(uni.statistics()) == 1 and uni.target_summary() is not None


def test_the_cli_offers_and_labels_a_registered_optimiser(toys, tmp_path, capsys):
    from sanp.formats.onnx_writer import export_onnx

    export_onnx(linear_policy(WEAK), tmp_path / "weak.onnx")
    code, out, err = cli(capsys, "verify", tmp_path / "weak.onnx", CARTPOLE, "--budget", "30",
                         "--optimizer", "corner", "--all")
    assert code == 1, err
    assert "(corner, seed 0)" in out
    assert "corner search's counterexamples show that violations exist; they carry no rate" in out
    code, _, err = cli(capsys, "verify", tmp_path / "weak.onnx", CARTPOLE, "--optimizer", "cornr")
    assert code == 2 and "did you mean 'corner'?" in err


def test_an_entry_point_adds_an_optimiser(monkeypatch):
    class EP:
        name, value = "toy_ep", "tests.sanp.test_proposers:Corner"

    monkeypatch.setattr(plugins, "entry_points", lambda group: [EP()] if group == "sanp.proposers" else [])
    monkeypatch.setattr(PROPOSERS, "_entry_points", None)
    monkeypatch.setattr(PROPOSERS, "_registered", dict(PROPOSERS._registered))
    assert "toy_ep" in PROPOSERS.names()
    loaded = proposer_class("toy_ep")  # the module, imported by its dotted name
    assert (loaded.__module__, loaded.__qualname__) == ("tests.sanp.test_proposers", "Corner")
    assert not is_uniform("toy_ep") and label("toy_ep") == "corner search"
    assert FalsifyConfig(optimizer="toy_ep").optimizer == "toy_ep"
