"""The public adapter API: register(), the generic state adapter (`search state_2 ...`
with no code), one name per env (LunarLanderContinuous-v3 = LunarLander-v3 with
continuous=true), `--env` in the spec's form, and errors that name the fix."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from sanp import rollout
from sanp.cli import main
from sanp.envs import (
    Dimension,
    EnvAdapter,
    StateAdapter,
    aliases,
    bind,
    canonical,
    env_text,
    parse_env_text,
    register,
    registered,
)
from sanp.errors import EnvError

REQ = "signal a = obs[0]\nreq r: always (abs(a) <= 100)\n"
gym.register("SanpTestAcrobot-v0", "gymnasium.envs.classic_control.acrobot:AcrobotEnv", max_episode_steps=50)


def test_generic_state_adapter_searches_state_coordinates(spec_from_text):
    b = bind(spec_from_text("env SanpTestAcrobot-v0\nsearch state_2 in [-0.5, 0.5]\n" + REQ))
    assert isinstance(b.adapter, StateAdapter) and b.adapter.exact_state
    assert [d.name for d in b.adapter.dimensions] == ["state_0", "state_1", "state_2", "state_3"]
    assert [(d.name, d.lo, d.hi) for d in b.space] == [("state_2", -0.5, 0.5)]
    env = b.make()
    obs = b.reset(env, {"state_2": 0.4})
    assert env.state[2] == 0.4 and obs[4] == np.float32(0.4)
    drawn = b.reset(env, None)
    # the searched coordinate is set, the others keep the env's draw for the same seed
    assert np.array_equal(obs[:4], drawn[:4])
    with pytest.raises(EnvError, match=r"no search dimension 'state2' \(did you mean 'state_2'\?\)"):
        bind(spec_from_text("env SanpTestAcrobot-v0\nsearch state2 in [0, 1]\n" + REQ))


def test_generic_state_restore_is_exact(spec_from_text, random_linear):
    b = bind(spec_from_text("env SanpTestAcrobot-v0\nsearch state_0 in [-0.1, 0.1]\n" + REQ))
    pi = random_linear(b)
    t = rollout.run_batch(pi, b, [{"state_0": 0.05}], record_states=True)[0]
    assert t.states is not None
    cont = rollout.continue_batch(pi, b, [(t, 20)])[0]
    assert np.array_equal(cont.observations, t.observations)


class Shifted(EnvAdapter):
    dimensions = (Dimension("x0", -1.0, 1.0, 0.0, "initial cart position"),)
    default_search = ("x0",)

    def reset(self, env, point, seed):
        env.reset(seed=seed)
        env.state = np.array([point["x0"] if point else 0.0, 0, 0, 0], dtype=np.float64)
        return env.state.astype(np.float32)


def test_register_an_adapter(spec_from_text):
    gym.register("SanpTestCart-v0", "gymnasium.envs.classic_control.cartpole:CartPoleEnv", max_episode_steps=20)
    register("SanpTestCart-v0", Shifted)
    assert "SanpTestCart-v0" in registered()
    b = bind(spec_from_text("env SanpTestCart-v0\n" + REQ))
    assert isinstance(b.adapter, Shifted) and [d.name for d in b.space] == ["x0"]
    assert b.reset(b.make(), {"x0": 0.7})[0] == np.float32(0.7)
    with pytest.raises(EnvError, match="must be a subclass of sanp.envs.EnvAdapter"):
        register("SanpTestCart-v0", object)


def test_one_name_per_env(spec_from_text):
    assert canonical("LunarLanderContinuous-v3", {}) == ("LunarLander-v3", {"continuous": True})
    # a different time limit (2000 steps, not 1600) makes it a different env
    assert canonical("BipedalWalkerHardcore-v3", {}) == ("BipedalWalkerHardcore-v3", {})
    assert canonical("CartPole-v1", {}) == ("CartPole-v1", {})
    assert aliases("LunarLander-v3", {"continuous": True}) == ["LunarLanderContinuous-v3"]
    a = bind(spec_from_text("env LunarLanderContinuous-v3\n" + REQ))
    b = bind(env_id="LunarLander-v3(continuous=true)")
    c = bind(env_id="LunarLanderContinuous-v3")
    for x in (a, b, c):
        assert (x.env_id, dict(x.kwargs), x.env_text) == (
            "LunarLander-v3", {"continuous": True}, "LunarLander-v3(continuous=true)")
        assert type(x.adapter).__name__ == "LunarLanderAdapter" and x.action_kind == "continuous"


def test_env_text_round_trips():
    for text in ("CartPole-v1", "LunarLander-v3(continuous=true)", 'X-v0(a=1, b=-2.5, c="s", d=false)'):
        assert env_text(*parse_env_text(text)) == text
    with pytest.raises(EnvError, match=r"--env 'LunarLander-v3\(continuous=': expected an env id.*e\.g\."):
        parse_env_text("LunarLander-v3(continuous=")


def test_a_policy_for_another_form_of_the_env_names_it(tmp_path, capsys):
    from sanp.formats.onnx_writer import export_onnx
    from sanp.model import MLPPolicy

    pi = MLPPolicy([8, 4, 2], "relu", action_kind="continuous", action_low=[-1, -1], action_high=[1, 1])
    export_onnx(pi, tmp_path / "p.onnx", {"env_id": "LunarLander-v3(continuous=true)"})
    assert main(["eval", str(tmp_path / "p.onnx"), "--env", "LunarLander-v3", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "it fits LunarLander-v3(continuous=true) (= LunarLanderContinuous-v3)" in err
    assert "--env 'LunarLander-v3(continuous=true)'" in err
    assert main(["eval", str(tmp_path / "p.onnx"), "--env", "LunarLanderContinuous-v3",
                 "--episodes", "1", "--horizon", "5"]) == 0
    assert capsys.readouterr().out.startswith("LunarLander-v3(continuous=true), 1 episode ")


def test_env_without_state_or_adapter_has_no_search_space(spec_from_text):
    b = bind(spec_from_text("env FrozenLake-v1\n" + REQ))
    assert type(b.adapter) is EnvAdapter and b.space == ()
