"""Stable-Baselines3 zips and VecNormalize pickles: real zoo models reach their
returns; nothing pickled is ever executed; malformed files are refused."""
from __future__ import annotations

import base64
import builtins
import io
import json
import os
import pickle
import sys
import types
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from sanp.errors import PolicyError
from sanp.policy import load
from sanp.sb3 import fold_vecnormalize, load_sb3_zip, pickle_globals, read_vecnormalize

torch.set_num_threads(1)
FIXTURES = Path(__file__).parents[2].parent / "shared" / "fixtures"
CARTPOLE = FIXTURES / "sb3-ppo-CartPole-v1.zip"
WALKER = FIXTURES / "sb3-ppo-BipedalWalker-v3.zip"
WALKER_VN = FIXTURES / "sb3-ppo-BipedalWalker-v3.vecnormalize.pkl"
needs_fixtures = pytest.mark.skipif(not CARTPOLE.exists(), reason="shared fixtures not present")


def episode_returns(policy, env_id, seeds):
    env = gym.make(env_id)
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
    with pytest.raises(PolicyError, match="pass the env"):
        load(tmp_path / "nospace.zip")
    q = load(tmp_path / "nospace.zip", action_space=gym.spaces.Box(-1, 1, (2,)))
    assert list(q.action_high) == [1, 1]


def test_zip_without_policy_pth_and_unknown_class(tmp_path):
    data = {"policy_class": _serialized(_class_ref("stable_baselines3.sac.policies", "SACPolicy"), "<class 'abc.ABCMeta'>"),
            "action_space": _box(2)}
    _write_zip(tmp_path / "nopth.zip", data, None, extra=["pytorch_variables.pth"])
    with pytest.raises(PolicyError, match=r"nopth\.zip: SB3 zip without policy\.pth"):
        load(tmp_path / "nopth.zip")
    _write_zip(tmp_path / "sac.zip", data, {"actor.mu.weight": torch.zeros(2, 4)})
    with pytest.raises(PolicyError, match=r"sac\.zip: SB3 policy class SACPolicy is not supported"):
        load_sb3_zip(tmp_path / "sac.zip")
    with zipfile.ZipFile(tmp_path / "nodata.zip", "w") as z:
        z.writestr("policy.pth", b"junk")
    with pytest.raises(PolicyError, match="without its data file"):
        load(tmp_path / "nodata.zip")


# ---- VecNormalize pickles --------------------------------------------------------------


class _Evil:
    def __init__(self, how, marker):
        self.how, self.marker = how, str(marker)

    def __reduce__(self):
        if self.how == "system":
            return (os.system, (f"touch {self.marker}",))
        if self.how == "exec":
            return (builtins.exec, (f"open({self.marker!r}, 'w').close()",))
        return (builtins.open, (self.marker, "w"))


@pytest.mark.parametrize("how,name", [("system", r"(posix|os)\.system"), ("exec", r"builtins\.exec"),
                                      ("open", r"(builtins|io)\.open")])
def test_vecnormalize_with_forbidden_global_never_runs(tmp_path, how, name):
    marker = tmp_path / "pwned"
    payload = {"obs_rms": {"mean": np.zeros(3), "var": np.ones(3)}, "clip_obs": 10.0, "x": _Evil(how, marker)}
    path = tmp_path / "vn.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(PolicyError, match=rf"vn\.pkl: the pickle references {name}"):
        read_vecnormalize(path)
    with pytest.raises(PolicyError):
        load(CARTPOLE if CARTPOLE.exists() else path, vecnormalize=path)
    assert not marker.exists()


@pytest.fixture
def fake_sb3(monkeypatch):
    """Importable stand-ins for SB3's classes, only so that the test can *write* a
    VecNormalize-shaped pickle; sanp never imports them."""
    mods = {}
    for name in ("stable_baselines3", "stable_baselines3.common", "stable_baselines3.common.vec_env",
                 "stable_baselines3.common.vec_env.vec_normalize", "stable_baselines3.common.running_mean_std"):
        mods[name] = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, mods[name])

    class VecNormalize:
        pass

    class RunningMeanStd:
        pass

    VecNormalize.__module__ = "stable_baselines3.common.vec_env.vec_normalize"
    RunningMeanStd.__module__ = "stable_baselines3.common.running_mean_std"
    VecNormalize.__qualname__, RunningMeanStd.__qualname__ = "VecNormalize", "RunningMeanStd"
    mods["stable_baselines3.common.vec_env.vec_normalize"].VecNormalize = VecNormalize
    mods["stable_baselines3.common.running_mean_std"].RunningMeanStd = RunningMeanStd
    return VecNormalize, RunningMeanStd


def _vecnormalize_pickle(fake, mean, var, clip=5.0, eps=1e-4, norm_obs=True, extra=None):
    VecNormalize, RunningMeanStd = fake
    rms = RunningMeanStd()
    rms.__dict__.update(mean=np.asarray(mean, np.float64), var=np.asarray(var, np.float64), count=np.float64(10.0))
    vn = VecNormalize()
    vn.__dict__.update(obs_rms=rms, clip_obs=clip, epsilon=eps, norm_obs=norm_obs, gamma=np.float32(0.99),
                       ret_rms=rms, **(extra or {}))
    return pickle.dumps(vn, protocol=4)


def test_vecnormalize_is_folded_into_the_network(tmp_path, fake_sb3):
    from sanp.policy import MLPPolicy

    p = MLPPolicy([3, 8, 2], "tanh", action_kind="discrete")
    mean, var = [1.0, -2.0, 0.5], [4.0, 0.25, 1.0]
    (tmp_path / "vn.pkl").write_bytes(_vecnormalize_pickle(fake_sb3, mean, var))
    q = fold_vecnormalize(p, tmp_path / "vn.pkl")
    assert q.has_normalizer and q.obs_clip == 5.0 and q.obs_eps == 1e-4
    x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32) * 10
    normed = np.clip((x - np.array(mean)) / np.sqrt(np.array(var) + 1e-4), -5, 5).astype(np.float32)
    with torch.no_grad():
        assert np.allclose(q(torch.from_numpy(x)).numpy(), p(torch.from_numpy(normed)).numpy(), atol=1e-5)
    (tmp_path / "off.pkl").write_bytes(_vecnormalize_pickle(fake_sb3, mean, var, norm_obs=False))
    assert not fold_vecnormalize(p, tmp_path / "off.pkl").has_normalizer
    with pytest.raises(PolicyError, match="already normalises"):
        fold_vecnormalize(q, tmp_path / "vn.pkl")
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pkl").write_bytes(
        _vecnormalize_pickle(fake_sb3, mean, var, extra={"venv": _Evil("system", marker)}))
    with pytest.raises(PolicyError, match="system"):
        fold_vecnormalize(p, tmp_path / "evil.pkl")
    assert not marker.exists()


def test_vecnormalize_garbage_and_missing(tmp_path):
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(PolicyError, match=r"junk\.pkl: not a readable VecNormalize pickle"):
        read_vecnormalize(tmp_path / "junk.pkl")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(PolicyError, match="no obs_rms"):
        read_vecnormalize(tmp_path / "list.pkl")
    with pytest.raises(PolicyError, match="no such VecNormalize file"):
        read_vecnormalize(tmp_path / "missing.pkl")


def test_vecnormalize_saved_by_sb3_2_9_with_its_rng_state_loads():
    # Made with stable-baselines3 2.9.2 / gymnasium 1.4 / numpy 2.4: VecNormalize(make_vec_env(
    # "CartPole-v1", n_envs=2, seed=0)).save(...). Newer pickles carry the env's PCG64 and
    # SeedSequence state, which must load as inert records, not be refused.
    from sanp.sb3 import read_vecnormalize

    d = read_vecnormalize(Path(__file__).parent / "data" / "vecnormalize_sb3_2_9_cartpole.pkl")
    assert d["obs_mean"].shape == (4,) and d["obs_var"].shape == (4,)
    assert d["clip_obs"] == 10.0 and d["norm_obs"] is True


def test_sb3_2_9_zip_reads_its_box_action_space_without_the_env():
    # SB3 2.9 with gymnasium 1.x writes the Box shape as "_shape" (the zoo's own model).
    from sanp.policy import load

    root = Path(__file__).resolve().parents[2]
    p = load(root / "zoo" / "lunar_lander" / "sb3.zip", vecnormalize=root / "zoo" / "lunar_lander" / "vecnormalize.pkl")
    assert p.action_kind == "continuous"
    assert p.action_low.tolist() == [-1.0, -1.0] and p.action_high.tolist() == [1.0, 1.0]
