"""Stable-Baselines3 zips: real zoo models reach their returns; nothing pickled is
ever executed; malformed files are refused."""
from __future__ import annotations

import base64
import io
import json
import pickle
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from sanp.errors import PolicyError
from sanp.formats import load
from sanp.formats.sb3 import load_sb3_zip, pickle_globals
from sanp.formats.vecnormalize import fold_vecnormalize, read_vecnormalize

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT.parent / "shared" / "fixtures"
CARTPOLE = FIXTURES / "sb3-ppo-CartPole-v1.zip"
WALKER = FIXTURES / "sb3-ppo-BipedalWalker-v3.zip"
WALKER_VN = FIXTURES / "sb3-ppo-BipedalWalker-v3.vecnormalize.pkl"
needs_fixtures = pytest.mark.skipif(
    not CARTPOLE.exists(),
    reason="needs ../shared/fixtures (third-party SB3 models, absent from a clone); "
           "test_sb3_zoo.py checks the same on zoo/ models")


def episode_returns(policy, env_id, seeds):
    """Returns of `policy` on reset seeds `seeds`; env_id is an id or (id, kwargs)."""
    env_id, kwargs = env_id if isinstance(env_id, tuple) else (env_id, {})
    env = gym.make(env_id, **kwargs)
    out = []
    for seed in seeds:
        o, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            o, r, term, trunc, _ = env.step(policy.act(o))
            total += float(r)
            done = term or trunc
        out.append(total)
    env.close()
    return out


@needs_fixtures
def test_ppo_cartpole_zoo_model_balances():
    env = gym.make("CartPole-v1")
    p = load(CARTPOLE, observation_space=env.observation_space, action_space=env.action_space)
    assert p.sizes == [4, 64, 64, 2] and p.activations == ["tanh", "tanh", "identity"]
    assert p.action_kind == "discrete" and not p.has_normalizer
    assert np.mean(episode_returns(p, "CartPole-v1", range(10))) == 500.0


@needs_fixtures
def test_ppo_bipedal_walker_zoo_model_walks_with_vecnormalize():
    env = gym.make("BipedalWalker-v3")
    p = load(WALKER, observation_space=env.observation_space, action_space=env.action_space, vecnormalize=WALKER_VN)
    assert p.sizes == [24, 64, 64, 4] and p.action_kind == "continuous"
    assert list(p.action_low) == [-1] * 4 and list(p.action_high) == [1] * 4
    assert p.has_normalizer and p.obs_clip == 10.0 and p.obs_eps == 1e-8
    vn = read_vecnormalize(WALKER_VN)
    assert np.allclose(p.obs_mean.numpy(), vn["obs_mean"]) and np.allclose(p.obs_var.numpy(), vn["obs_var"])
    assert np.mean(episode_returns(p, "BipedalWalker-v3", range(5))) >= 200.0


@needs_fixtures
def test_vecnormalize_size_must_match():
    p = load(CARTPOLE)
    with pytest.raises(PolicyError, match="cover 24 observation values but the network takes 4"):
        fold_vecnormalize(p, WALKER_VN)


@needs_fixtures
def test_zoo_model_size_mismatch_with_env():
    env = gym.make("BipedalWalker-v3")
    with pytest.raises(PolicyError, match=r"CartPole-v1\.zip: the network takes 4 observation values but the env gives 24"):
        load(CARTPOLE, observation_space=env.observation_space)
    with pytest.raises(PolicyError, match=r"CartPole-v1\.zip: a discrete policy but the env has continuous"):
        load(CARTPOLE, action_space=env.action_space)
    with pytest.raises(PolicyError, match=r"gives 2 outputs but the env has 3 Discrete"):
        load(CARTPOLE, action_space=gym.spaces.Discrete(3))


@needs_fixtures
def test_policy_class_is_read_without_unpickling():
    data = json.loads(zipfile.ZipFile(CARTPOLE).read("data"))
    names = pickle_globals(base64.b64decode(data["policy_class"][":serialized:"]))
    assert ("stable_baselines3.common.policies", "ActorCriticPolicy") in names


# ---- synthetic zips ----------------------------------------------------------------


def _serialized(obj_pickle: bytes, typ: str, **fields):
    return {":type:": typ, ":serialized:": base64.b64encode(obj_pickle).decode(), **fields}


def _class_ref(module: str, name: str) -> bytes:
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"."  # a GLOBAL opcode only; never loaded


def _write_zip(path, data, state_dict=None, extra=()):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data", json.dumps(data))
        if state_dict is not None:
            buf = io.BytesIO()
            torch.save(state_dict, buf)
            z.writestr("policy.pth", buf.getvalue())
        for name in extra:
            z.writestr(name, b"")


def _discrete(n):
    return {":type:": "<class 'gymnasium.spaces.discrete.Discrete'>", "n": n, "shape": [], "dtype": "int64"}


def _box(n, lo=-2.0, hi=2.0):
    return {":type:": "<class 'gymnasium.spaces.box.Box'>", "dtype": "float32", "shape": [n],
            "low": "[" + " ".join([f"{lo}"] * n) + "]", "high": "[" + " ".join([f"{hi}"] * n) + "]"}


def test_dqn_zip_with_serialized_activation(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 3))
    sd = {f"q_net.q_net.{k}": v for k, v in net.state_dict().items()}
    sd.update({f"q_net_target.q_net.{k}": v * 0 for k, v in net.state_dict().items()})
    kwargs = pickle.dumps({"activation_fn": torch.nn.Tanh, "net_arch": [16, 16]}, protocol=4)
    data = {
        "policy_class": _serialized(_class_ref("stable_baselines3.dqn.policies", "DQNPolicy"), "<class 'abc.ABCMeta'>"),
        "policy_kwargs": _serialized(kwargs, "<class 'dict'>", net_arch=[16, 16]),
        "action_space": _discrete(3),
    }
    _write_zip(tmp_path / "dqn.zip", data, sd)
    p = load(tmp_path / "dqn.zip")
    assert p.sizes == [5, 16, 16, 3] and p.activations == ["tanh", "tanh", "identity"] and p.action_kind == "discrete"
    x = torch.randn(50, 5)
    with torch.no_grad():
        assert torch.allclose(p(x), net(x), atol=1e-6)
        assert np.array_equal(p.act(x.numpy()), net(x).argmax(1).numpy())


def test_actor_critic_zip_with_shared_layers_relu_and_box(tmp_path):
    torch.manual_seed(1)
    sd = {
        "mlp_extractor.shared_net.0.weight": torch.randn(8, 3), "mlp_extractor.shared_net.0.bias": torch.randn(8),
        "mlp_extractor.policy_net.0.weight": torch.randn(6, 8), "mlp_extractor.policy_net.0.bias": torch.randn(6),
        "mlp_extractor.value_net.0.weight": torch.randn(6, 8), "mlp_extractor.value_net.0.bias": torch.randn(6),
        "action_net.weight": torch.randn(2, 6), "action_net.bias": torch.randn(2), "log_std": torch.zeros(2),
        "value_net.weight": torch.randn(1, 6), "value_net.bias": torch.randn(1),
    }
    data = {
        "policy_class": _serialized(_class_ref("stable_baselines3.common.policies", "ActorCriticPolicy"), "<class 'abc.ABCMeta'>"),
        "policy_kwargs": {":type:": "<class 'dict'>", ":serialized:": "",
                          "activation_fn": "<class 'torch.nn.modules.activation.ReLU'>"},
        "action_space": _box(2, -0.5, 0.5),
    }
    _write_zip(tmp_path / "a2c.zip", data, sd)
    p = load(tmp_path / "a2c.zip")
    assert p.sizes == [3, 8, 6, 2] and p.activations == ["relu", "relu", "identity"]
    assert p.action_kind == "continuous" and list(p.action_low) == [-0.5, -0.5]
    x = torch.randn(20, 3)
    h = torch.relu(torch.relu(x @ sd["mlp_extractor.shared_net.0.weight"].T + sd["mlp_extractor.shared_net.0.bias"])
                   @ sd["mlp_extractor.policy_net.0.weight"].T + sd["mlp_extractor.policy_net.0.bias"])
    mean = h @ sd["action_net.weight"].T + sd["action_net.bias"]
    assert np.allclose(p.act(x.numpy()), np.clip(mean.numpy(), -0.5, 0.5), atol=1e-6)
    data["policy_kwargs"]["activation_fn"] = "<class 'torch.nn.modules.activation.LeakyReLU'>"
    _write_zip(tmp_path / "leaky.zip", data, sd)
    with pytest.raises(PolicyError, match="activation LeakyReLU is not supported"):
        load(tmp_path / "leaky.zip")
    # action space not readable from data -> from the env, or an error saying to pass it
    del data["action_space"]
    data["policy_kwargs"]["activation_fn"] = "<class 'torch.nn.modules.activation.ReLU'>"
    _write_zip(tmp_path / "nospace.zip", data, sd)
    with pytest.raises(PolicyError, match="pass --env ENV_ID"):
        load(tmp_path / "nospace.zip")
    q = load(tmp_path / "nospace.zip", action_space=gym.spaces.Box(-1, 1, (2,)))
    assert list(q.action_high) == [1, 1]


def test_zip_without_policy_pth_and_unknown_class(tmp_path):
    data = {"policy_class": _serialized(_class_ref("stable_baselines3.sac.policies", "SACPolicy"), "<class 'abc.ABCMeta'>"),
            "action_space": _box(2)}
    _write_zip(tmp_path / "nopth.zip", data, None, extra=["pytorch_variables.pth"])
    with pytest.raises(PolicyError, match=r"nopth\.zip: SB3 zip without policy\.pth"):
        load(tmp_path / "nopth.zip")
    data["policy_class"] = _serialized(_class_ref("sb3_contrib.ppo_recurrent.policies", "RecurrentActorCriticPolicy"),
                                       "<class 'abc.ABCMeta'>")
    _write_zip(tmp_path / "lstm.zip", data, {"lstm_actor.weight_ih_l0": torch.zeros(8, 4)})
    with pytest.raises(PolicyError, match=r"lstm\.zip: SB3 policy class RecurrentActorCriticPolicy is not supported"):
        load_sb3_zip(tmp_path / "lstm.zip")
    with zipfile.ZipFile(tmp_path / "nodata.zip", "w") as z:
        z.writestr("policy.pth", b"junk")
    with pytest.raises(PolicyError, match="without its data file"):
        load(tmp_path / "nodata.zip")



def test_sb3_2_9_zip_reads_its_box_action_space_without_the_env():
    # SB3 2.9 with gymnasium 1.x writes the Box shape as "_shape" (the zoo's own model).
    p = load(ROOT / "zoo" / "lunar_lander" / "sb3.zip", vecnormalize=ROOT / "zoo" / "lunar_lander" / "vecnormalize.pkl")
    assert p.action_kind == "continuous"
    assert p.action_low.tolist() == [-1.0, -1.0] and p.action_high.tolist() == [1.0, 1.0]


@needs_fixtures
def test_a_forgotten_vecnormalize_is_refused_when_the_zoo_config_asks_for_it(tmp_path, capsys):
    from sanp.cli import main

    trpo = FIXTURES / "sb3-trpo-LunarLanderContinuous-v2.zip"
    with pytest.raises(PolicyError, match=r"config\.yml says it was trained with normalize: true; "
                                          r"pass --vecnormalize .*sb3-trpo-LunarLanderContinuous-v2\.vecnormalize\.pkl"):
        load(trpo)
    assert load(trpo, vecnormalize=FIXTURES / "sb3-trpo-LunarLanderContinuous-v2.vecnormalize.pkl").has_normalizer
    # a copy without its config: imported, with a summary that says nothing was folded in,
    # and a warning when its returns are far below what the user expects of it
    bare = tmp_path / "trpo.zip"
    bare.write_bytes(trpo.read_bytes())
    code = main(["import", str(bare), "--env", "LunarLanderContinuous-v3", "-o", str(tmp_path / "t.onnx"),
                 "--expect-return", "262"])
    out, err = capsys.readouterr()
    assert code == 0 and "no observation normalisation folded in" in out
    assert err.startswith("warning: the first 5 episodes returned") and "far below the expected 262" in err
