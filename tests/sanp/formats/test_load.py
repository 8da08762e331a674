"""sanp.formats.load: dispatch errors and the fit of a network to the env."""
from __future__ import annotations

import pytest
import torch

from sanp.errors import PolicyError
from sanp.formats import load
from sanp.formats.torch_policy import save_checkpoint

torch.set_num_threads(1)


def test_load_errors(tmp_path):
    with pytest.raises(PolicyError, match="no such policy file"):
        load(tmp_path / "missing.onnx")
    (tmp_path / "notes.txt").write_text("hello, this is not a model\n" * 10)
    with pytest.raises(PolicyError, match="not an ONNX model"):
        load(tmp_path / "notes.txt")
    with pytest.raises(PolicyError, match="directory"):
        load(tmp_path)


def test_size_mismatch_with_env(tmp_path, make_policy):
    gym = pytest.importorskip("gymnasium")
    p = make_policy()
    save_checkpoint(p, tmp_path / "p.pt")
    with pytest.raises(PolicyError, match=r"p\.pt: the network takes 5 observation values but the env gives 4"):
        load(tmp_path / "p.pt", observation_space=gym.spaces.Box(-1, 1, (4,)))
    with pytest.raises(PolicyError, match=r"gives 3 outputs but the env has 2"):
        load(tmp_path / "p.pt", observation_space=gym.spaces.Box(-1, 1, (5,)), action_space=gym.spaces.Discrete(2))
    with pytest.raises(PolicyError, match="discrete policy but the env has continuous"):
        load(tmp_path / "p.pt", action_space=gym.spaces.Box(-1, 1, (3,)))
    ok = load(tmp_path / "p.pt", observation_space=gym.spaces.Box(-1, 1, (5,)), action_space=gym.spaces.Discrete(3))
    assert ok.out_dim == 3

