"""Stable-Baselines3 zips and VecNormalize files, on the project's own zoo models (zoo/*/sb3.zip,
zoo/lunar_lander/vecnormalize.pkl), so that a clone without ../shared keeps these promises
tested: a zip reads to the network its dense.onnx holds and reaches its returns, the
statistics are folded in, mismatches are refused, and a zoo config.yml that asks for
normalisation is obeyed."""
from __future__ import annotations

import base64
import json
import shutil
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_sb3 import episode_returns

from sanp.errors import PolicyError
from sanp.formats import load
from sanp.formats.sb3 import pickle_globals
from sanp.formats.vecnormalize import fold_vecnormalize, read_vecnormalize

torch.set_num_threads(1)
ZOO = Path(__file__).resolve().parents[3] / "zoo"
CARTPOLE = ZOO / "cartpole" / "sb3.zip"
LANDER = ZOO / "lunar_lander" / "sb3.zip"
LANDER_VN = ZOO / "lunar_lander" / "vecnormalize.pkl"
LANDER_ENV = ("LunarLander-v3", {"continuous": True})


def observations(space, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    lo = np.where(np.isfinite(space.low), space.low, -5.0)
    hi = np.where(np.isfinite(space.high), space.high, 5.0)
    return rng.uniform(lo, hi, size=(n, space.shape[0])).astype(np.float32)


def test_ppo_cartpole_zip_is_its_onnx_and_balances():
    env = gym.make("CartPole-v1")
    p = load(CARTPOLE, observation_space=env.observation_space, action_space=env.action_space)
    assert p.sizes == [4, 128, 128, 2] and p.activations == ["relu", "relu", "identity"]
    assert p.action_kind == "discrete" and not p.has_normalizer
    obs = observations(env.observation_space)
    assert np.array_equal(p.act(obs), load(ZOO / "cartpole" / "dense.onnx").act(obs))
    assert episode_returns(p, "CartPole-v1", range(3)) == [500.0] * 3  # card: 500.0 on all 100 seeds


def test_ppo_lander_zip_with_vecnormalize_is_its_onnx_and_lands():
    env = gym.make(LANDER_ENV[0], **LANDER_ENV[1])
    p = load(LANDER, observation_space=env.observation_space, action_space=env.action_space, vecnormalize=LANDER_VN)
    assert p.sizes == [8, 128, 128, 2] and p.action_kind == "continuous"
    assert p.has_normalizer and p.obs_clip == 10.0
    vn = read_vecnormalize(LANDER_VN)
    assert np.allclose(p.obs_mean.numpy(), vn["obs_mean"]) and np.allclose(p.obs_var.numpy(), vn["obs_var"])
    obs = observations(env.observation_space)
    assert np.abs(p.act(obs) - load(ZOO / "lunar_lander" / "dense.onnx").act(obs)).max() < 1e-5
    assert min(episode_returns(p, LANDER_ENV, range(2))) > 200  # card: min 227.89 over seeds 0..99
    # the same zip without its statistics is another policy
    bare = load(LANDER, observation_space=env.observation_space, action_space=env.action_space)
    assert not bare.has_normalizer and np.abs(bare.act(obs) - p.act(obs)).max() > 0.1


def test_dqn_highway_zip_reads_without_its_env_to_its_onnx():
    # no highway-env needed: the zip's data file carries the Discrete(5) action space
    p = load(ZOO / "highway" / "sb3.zip")
    assert p.sizes == [30, 64, 64, 5] and p.action_kind == "discrete"
    obs = np.random.default_rng(0).uniform(-1, 1, size=(2000, 30)).astype(np.float32)
    actions = p.act(obs)
    assert np.array_equal(actions, load(ZOO / "highway" / "dense.onnx").act(obs))
    assert len(np.unique(actions)) >= 4  # a real comparison: the actions vary over these points


def test_vecnormalize_size_must_match():
    with pytest.raises(PolicyError, match="cover 8 observation values but the network takes 4"):
        fold_vecnormalize(load(CARTPOLE), LANDER_VN)


def test_zip_size_mismatch_with_env():
    env = gym.make("BipedalWalker-v3")
    with pytest.raises(PolicyError, match=r"sb3\.zip: the network takes 4 observation values but the env gives 24"):
        load(CARTPOLE, observation_space=env.observation_space)
    with pytest.raises(PolicyError, match=r"sb3\.zip: a discrete policy but the env has continuous"):
        load(CARTPOLE, action_space=env.action_space)
    with pytest.raises(PolicyError, match=r"gives 2 outputs but the env has 3 Discrete"):
        load(CARTPOLE, action_space=gym.spaces.Discrete(3))


def test_policy_class_is_read_without_unpickling():
    data = json.loads(zipfile.ZipFile(CARTPOLE).read("data"))
    names = pickle_globals(base64.b64decode(data["policy_class"][":serialized:"]))
    assert ("stable_baselines3.common.policies", "ActorCriticPolicy") in names


def test_a_zoo_config_asking_for_normalisation_is_obeyed(tmp_path, capsys):
    from sanp.cli import main

    # the RL Baselines3 Zoo's layout: NAME.zip, NAME.config.yml, NAME.vecnormalize.pkl
    model = tmp_path / "lander.zip"
    shutil.copy(LANDER, model)
    (tmp_path / "lander.config.yml").write_text(
        "!!python/object/apply:collections.OrderedDict\n- - - normalize\n    - true\n  - - policy\n    - MlpPolicy\n")
    shutil.copy(LANDER_VN, tmp_path / "lander.vecnormalize.pkl")
    with pytest.raises(PolicyError, match=r"lander\.config\.yml says it was trained with normalize: true; "
                                          r"pass --vecnormalize .*lander\.vecnormalize\.pkl"):
        load(model)
    assert load(model, vecnormalize=tmp_path / "lander.vecnormalize.pkl").has_normalizer
    # without its config: imported, saying nothing was folded in, and warned about once its
    # returns fall far below what the user expects of it
    bare = tmp_path / "bare" / "lander.zip"
    bare.parent.mkdir()
    shutil.copy(LANDER, bare)
    code = main(["import", str(bare), "--env", "LunarLanderContinuous-v3", "-o", str(tmp_path / "t.onnx"),
                 "--expect-return", "264"])
    out, err = capsys.readouterr()
    assert code == 0 and "no observation normalisation folded in" in out
    assert err.startswith("warning: the first 5 episodes returned") and "far below the expected 264" in err
