"""SAC, TQC, TD3/DDPG, QR-DQN and ARS actors: sanp's network equals an independent
computation from the zip's own tensors, and the zoo models reach their returns."""
from __future__ import annotations

import io
import itertools
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_sb3 import _box, _class_ref, _discrete, _serialized, _write_zip, episode_returns

from sanp.formats import load

torch.set_num_threads(1)
FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
SAC = FIXTURES / "sb3-sac-Pendulum-v1.zip"
DDPG = FIXTURES / "sb3-ddpg-LunarLanderContinuous-v2.zip"
QRDQN = FIXTURES / "sb3-qrdqn-CartPole-v1.zip"
needs_fixtures = pytest.mark.skipif(
    not SAC.exists(),
    reason="needs ../shared/fixtures (third-party SB3 models, absent from a clone); "
           "the synthetic-zip tests below check the same actors")


def _state_dict(path):
    with zipfile.ZipFile(path) as z:
        return {k: v.double().numpy() for k, v in
                torch.load(io.BytesIO(z.read("policy.pth")), map_location="cpu", weights_only=True).items()}


def _mlp(sd, keys, x, last_act=lambda z: z):
    for i, k in enumerate(keys):
        x = x @ sd[f"{k}.weight"].T + sd[f"{k}.bias"]
        x = np.maximum(x, 0) if i < len(keys) - 1 else last_act(x)
    return x


def _observations(space, n, seed=0):
    rng = np.random.default_rng(seed)
    lo = np.where(np.isfinite(space.low), space.low, -5.0)
    hi = np.where(np.isfinite(space.high), space.high, 5.0)
    return rng.uniform(lo, hi, size=(n, space.shape[0])).astype(np.float32)


def _case(path, env):
    """The model loaded for `env`, its raw state dict, and 5000 observations to compare on."""
    pi = load(path, observation_space=env.observation_space, action_space=env.action_space)
    return pi, _state_dict(path), _observations(env.observation_space, 5000)


@needs_fixtures
def test_sac_with_gsde_is_tanh_of_the_clipped_mean_rescaled():
    pi, sd, obs = _case(SAC, gym.make("Pendulum-v1"))
    mean = _mlp(sd, ["actor.latent_pi.0", "actor.latent_pi.2", "actor.mu.0"], obs.astype(np.float64))
    expected = 2.0 * np.tanh(np.clip(mean, -2.0, 2.0))  # clip_mean 2 (gSDE), bounds [-2, 2]
    assert np.abs(pi.act(obs).reshape(-1, 1) - expected).max() < 1e-5
    assert np.mean(episode_returns(pi, "Pendulum-v1", range(5))) > -157 - 89  # zoo: -157 +- 89


@needs_fixtures
def test_ddpg_td3_actor_is_the_tanh_network():
    pi, sd, obs = _case(DDPG, gym.make("LunarLander-v3", continuous=True))
    expected = _mlp(sd, ["actor.mu.0", "actor.mu.2", "actor.mu.4"], obs.astype(np.float64), np.tanh)
    assert np.abs(pi.act(obs) - expected).max() < 1e-4  # float32 against float64 through 400x300
    rets = episode_returns(pi, ("LunarLander-v3", {"continuous": True}), range(5))
    assert np.mean(rets) > 230 - 92  # zoo: 230 +- 92


@needs_fixtures
def test_qrdqn_acts_on_the_mean_over_quantiles():
    pi, sd, obs = _case(QRDQN, gym.make("CartPole-v1"))
    keys = sorted({k.rsplit(".", 1)[0] for k in sd if k.startswith("quantile_net.quantile_net.")},
                  key=lambda k: int(k.rsplit(".", 1)[1]))
    quantiles = _mlp(sd, keys, obs.astype(np.float64)).reshape(len(obs), -1, 2)  # [N, n_quantiles, actions]
    assert np.array_equal(pi.act(obs), quantiles.mean(1).argmax(1))
    assert episode_returns(pi, "CartPole-v1", range(3)) == [500.0] * 3


@pytest.mark.parametrize("squash", [False, True])
def test_ars_linear_policy(tmp_path, squash):
    torch.manual_seed(1)
    lin = torch.nn.Linear(3, 2)
    sd = {f"action_net.0.{k}": v for k, v in lin.state_dict().items()}
    data = {"policy_class": _serialized(_class_ref("sb3_contrib.ars.policies", "ARSLinearPolicy"),
                                        "<class 'abc.ABCMeta'>"),
            "policy_kwargs": {"squash_output": squash}, "action_space": _box(2, -3.0, 3.0)}
    _write_zip(tmp_path / "ars.zip", data, sd)
    pi = load(tmp_path / "ars.zip")
    x = torch.randn(200, 3)
    with torch.no_grad():
        z = lin(x)
        want = 3.0 * torch.tanh(z) if squash else z.clamp(-3.0, 3.0)
    assert np.abs(pi.act(x.numpy()) - want.numpy()).max() < 1e-5


def test_ars_discrete_is_the_argmax(tmp_path):
    lin = torch.nn.Linear(4, 3)
    sd = {f"action_net.0.{k}": v for k, v in lin.state_dict().items()}
    data = {"policy_class": _serialized(_class_ref("sb3_contrib.ars.policies", "ARSPolicy"),
                                        "<class 'abc.ABCMeta'>"), "action_space": _discrete(3)}
    _write_zip(tmp_path / "ars.zip", data, sd)
    x = torch.randn(100, 4)
    with torch.no_grad():
        assert np.array_equal(load(tmp_path / "ars.zip").act(x.numpy()), lin(x).argmax(1).numpy())


# ---- the same actors from synthetic zips, so that a clone without ../shared tests them ----


def _linears(*sizes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(o, i, generator=gen) / i ** 0.5, torch.randn(o, generator=gen) * 0.1)
            for i, o in itertools.pairwise(sizes)]


def _sd(prefix, layers, step=2):
    """`prefix{k*step}.weight/bias` for the k-th Linear (a Sequential with activations between)."""
    return {f"{prefix}{k * step}.{n}": t
            for k, (w, b) in enumerate(layers) for n, t in (("weight", w), ("bias", b))}


def _data(module, cls, action_space, **fields):
    return {"policy_class": _serialized(_class_ref(module, cls), "<class 'abc.ABCMeta'>"),
            "action_space": action_space, **fields}


def _np(layers):
    return {f"l{k}.{n}": t.double().numpy() for k, (w, b) in enumerate(layers) for n, t in (("weight", w), ("bias", b))}


@pytest.mark.parametrize("use_sde", [False, True])
def test_synthetic_sac_is_tanh_of_the_mean_clipped_under_gsde(tmp_path, use_sde):
    latent, (mu,) = _linears(3, 16, 16, seed=1), _linears(16, 2, seed=2)
    sd = _sd("actor.latent_pi.", latent)
    # under gSDE SB3 wraps mu in Sequential(Linear, Hardtanh(-clip_mean, clip_mean))
    sd.update({f"actor.mu.0.{n}" if use_sde else f"actor.mu.{n}": t for n, t in (("weight", mu[0]), ("bias", mu[1]))})
    data = _data("stable_baselines3.sac.policies", "SACPolicy", _box(2, -2.0, 2.0), use_sde=use_sde,
                 policy_kwargs={"use_sde": use_sde, "clip_mean": 1.5})
    _write_zip(tmp_path / "sac.zip", data, sd)
    pi = load(tmp_path / "sac.zip")
    obs = np.random.default_rng(0).uniform(-3, 3, size=(2000, 3))
    mean = _mlp(_np([*latent, mu]), ["l0", "l1", "l2"], obs)
    expected = 2.0 * np.tanh(np.clip(mean, -1.5, 1.5) if use_sde else mean)
    assert np.abs(pi.act(obs.astype(np.float32)) - expected).max() < 1e-5
    assert 0.05 < (np.abs(mean) > 1.5).mean() < 0.95  # the clip matters on some points, not all


def test_synthetic_td3_ddpg_actor_is_the_tanh_network_rescaled(tmp_path):
    layers = _linears(4, 16, 16, 2, seed=3)
    data = _data("stable_baselines3.td3.policies", "TD3Policy", _box(2, -3.0, 3.0))
    _write_zip(tmp_path / "td3.zip", data, _sd("actor.mu.", layers))
    pi = load(tmp_path / "td3.zip")
    obs = np.random.default_rng(1).uniform(-2, 2, size=(2000, 4))
    expected = 3.0 * _mlp(_np(layers), ["l0", "l1", "l2"], obs, np.tanh)
    assert np.abs(pi.act(obs.astype(np.float32)) - expected).max() < 1e-5


def test_synthetic_qrdqn_acts_on_the_mean_over_quantiles(tmp_path):
    n_q, n_a = 7, 3
    layers = _linears(4, 16, 16, n_q * n_a, seed=4)
    data = _data("sb3_contrib.qrdqn.policies", "QRDQNPolicy", _discrete(n_a), policy_kwargs={"n_quantiles": n_q})
    _write_zip(tmp_path / "qrdqn.zip", data, _sd("quantile_net.quantile_net.", layers))
    pi = load(tmp_path / "qrdqn.zip")
    obs = np.random.default_rng(2).uniform(-2, 2, size=(2000, 4))
    quantiles = _mlp(_np(layers), ["l0", "l1", "l2"], obs).reshape(len(obs), n_q, n_a)
    expected = quantiles.mean(1).argmax(1)
    assert np.array_equal(pi.act(obs.astype(np.float32)), expected)
    # the mean over quantiles, not any one quantile, decides here
    assert (quantiles[:, 0, :].argmax(1) != expected).any()
