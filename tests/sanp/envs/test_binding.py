"""Env bindings: bind() on every supported env, search-name and env-id checks with
"did you mean", default search spaces, and deterministic resets in which the point
matters (CartPole state, LunarLander/BipedalWalker push, terrain roughness, gravity and
wind)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sanp import rollout
from sanp.envs import bind
from sanp.errors import EnvError

REQ = "req r: always (abs(x) <= 100)\n"


def spec(env_line: str, *lines: str, horizon: int | None = 40) -> str:
    head = f"{env_line}\n" + (f"horizon {horizon}\n" if horizon else "")
    return head + "signal x = obs[0]\n" + "".join(line + "\n" for line in lines) + REQ


# ------------------------------------------------------------------------ binding


def test_bind_cartpole_spec_file(cartpole_spec):
    b = bind(cartpole_spec)
    assert b.env_id == "CartPole-v1" and b.horizon == 200 and b.action_kind == "discrete"
    assert b.observation_space.shape == (4,) and b.action_space.n == 2
    assert [d.name for d in b.space] == ["x", "x_dot", "theta", "theta_dot"]
    assert np.array_equal(b.bounds, np.tile([-0.05, 0.05], (4, 1)))
    point = b.point([0.01, 0.02, 0.03, 0.04])
    seed = point.pop("reset_seed")  # the episode's own reset seed (tests/sanp/test_reset_seeds.py)
    assert point == {"x": 0.01, "x_dot": 0.02, "theta": 0.03, "theta_dot": 0.04} and seed >= 0


@pytest.mark.parametrize(
    "env_line, kind, obs_dim, n_act",
    [
        ("env LunarLander-v3(continuous=true)", "continuous", 8, 2),
        ("env LunarLander-v3", "discrete", 8, 4),
        ("env LunarLander-v3(continuous=false)", "discrete", 8, 4),
        ("env BipedalWalker-v3", "continuous", 24, 4),
    ],
)
def test_bind_box2d(spec_from_text, env_line, kind, obs_dim, n_act):
    b = bind(spec_from_text(spec(env_line, horizon=123)))
    assert b.horizon == 123 and b.action_kind == kind
    assert b.observation_space.shape == (obs_dim,)
    assert (b.action_space.n if kind == "discrete" else b.action_space.shape[0]) == n_act


def test_horizon_defaults_to_the_env_registration(spec_from_text):
    assert bind(spec_from_text(spec("env CartPole-v1", horizon=None))).horizon == 500
    assert bind(spec_from_text(spec("env BipedalWalker-v3", horizon=None))).horizon == 1600


def test_spec_ranges_replace_the_default_ranges(spec_from_text):
    b = bind(spec_from_text(spec("env LunarLander-v3", "search push_y in [-10, 20]", "search gravity in [-11, -2]")))
    assert [(d.name, d.lo, d.hi, d.default) for d in b.space] == [
        ("push_y", -10.0, 20.0, 0.0), ("gravity", -11.0, -2.0, None)
    ]


@pytest.mark.parametrize(
    "env_line, names",
    [
        ("env CartPole-v1", ["x", "x_dot", "theta", "theta_dot"]),
        ("env LunarLander-v3(continuous=true)", ["push_x", "push_y"]),
        ("env BipedalWalker-v3", ["push_x"]),
        ("env Pendulum-v1", ["theta", "theta_dot"]),
        ("env MountainCar-v0", ["position"]),
        ("env FrozenLake-v1", []),  # no adapter and no state: rollouts work, no search space
    ],
)
def test_no_search_line_uses_the_default_dimensions(spec_from_text, env_line, names):
    b = bind(spec_from_text(spec(env_line)))
    assert [d.name for d in b.space] == names
    for d in b.space:
        assert d.lo < d.hi and (d.default is None or d.lo <= d.default <= d.hi)
    if names[:1] == ["x"]:
        assert np.array_equal(b.bounds, np.tile([-0.05, 0.05], (4, 1)))
    if names[:1] == ["push_x"]:
        assert b.bounds[0, 0] == -b.bounds[0, 1] > -1e4 and b.bounds[0, 1] > 0


# ------------------------------------------------------------------- name checks


def test_unknown_search_name_lists_valid_names_and_suggests(spec_from_text):
    text = spec("env CartPole-v1", "search theta_dt in [-0.1, 0.1]")
    with pytest.raises(EnvError, match=r"^t\.stl:4:8: .*'theta_dt' \(did you mean 'theta_dot'\?\); "
                                       r"valid: x, x_dot, theta, theta_dot$"):
        bind(spec_from_text(text))
    with pytest.raises(EnvError, match="valid: x, x_dot, theta, theta_dot") as info:
        bind(spec_from_text(spec("env CartPole-v1", "search zzz in [0, 1]")))
    assert "did you mean" not in str(info.value)
    with pytest.raises(EnvError, match=r"'rougness' \(did you mean 'roughness'\?\); valid: push_x, roughness"):
        bind(spec_from_text(spec("env BipedalWalker-v3", "search rougness in [0, 2]")))
    with pytest.raises(EnvError, match="valid: push_x, push_y, gravity, wind_power, turbulence_power"):
        bind(spec_from_text(spec("env LunarLander-v3", "search theta in [0, 1]")))
    with pytest.raises(EnvError, match="no search space is defined"):
        bind(spec_from_text(spec("env FrozenLake-v1", "search x in [0, 1]")))


def test_unknown_env_id(spec_from_text):
    with pytest.raises(EnvError, match=r"unknown env id 'CartPol-v1'; did you mean 'CartPole-v1'\?"):
        bind(spec_from_text(spec("env CartPol-v1")))
    with pytest.raises(EnvError, match="did you mean 'LunarLander-v3'"):
        bind(env_id="LunarLander-v2")
    with pytest.raises(EnvError, match="unknown env id 'Qwxzy-v7'$"):
        bind(env_id="Qwxzy-v7")
    with pytest.raises(EnvError, match="no env given"):
        bind()


def test_env_kwargs_the_env_does_not_accept(spec_from_text):
    with pytest.raises(EnvError, match=r"does not accept keyword 'gravty' \(did you mean 'gravity'\?\); "
                                       r"it accepts: continuous, gravity"):
        bind(spec_from_text(spec("env LunarLander-v3(gravty=-5.0)")))
    with pytest.raises(EnvError, match="CartPole-v1 does not accept keyword 'foo'"):
        bind(spec_from_text(spec("env CartPole-v1(foo=1)")))
    with pytest.raises(EnvError, match="BipedalWalker-v3"):
        bind(env_id="BipedalWalker-v3", env_kwargs={"continuous": True})
    # accepted keyword, value the env refuses (gymnasium asserts -12 < gravity < 0)
    with pytest.raises(EnvError, match="LunarLander-v3"):
        bind(spec_from_text(spec("env LunarLander-v3(gravity=-20.0)")))


def test_non_numeric_env_kwarg_is_an_env_error(spec_from_text):
    with pytest.raises(EnvError):
        bind(spec_from_text(spec('env LunarLander-v3(gravity="strong")')))


def test_env_line_parameters_hold_when_not_searched(spec_from_text):
    b = bind(spec_from_text(spec("env LunarLander-v3(gravity=-3.0, enable_wind=true, wind_power=10.0)")))
    env = b.make()
    assert env.gravity == -3.0 and env.enable_wind and env.wind_power == 10.0  # gymnasium's own make
    b.reset(env, {"push_x": 0.0, "push_y": 0.0})
    assert tuple(env.world.gravity) == (0.0, -3.0)
    assert env.enable_wind and env.wind_power == 10.0


def test_bad_horizon(cartpole_spec):
    with pytest.raises(EnvError, match="horizon must be positive"):
        bind(env_id="CartPole-v1", horizon=-3)


# ------------------------------------------------------------------------- resets


def test_cartpole_reset_is_the_point(cartpole_spec):
    b = bind(cartpole_spec)
    env = b.make()
    rng = np.random.default_rng(3)
    for _ in range(20):
        point = b.point(rng.uniform(-0.05, 0.05, 4))
        obs = b.reset(env, point)
        assert obs.dtype == np.float32
        state = [point[d.name] for d in b.space]
        assert np.array_equal(obs, np.array(state, dtype=np.float32))
        assert np.array_equal(env.state, state)  # the exact float64 state
    # unsearched dimensions take their default (0)
    b2 = bind(dataclasses.replace(cartpole_spec, search={"theta": (-0.1, 0.1)}))
    assert np.array_equal(b2.reset(b2.make(), {"theta": 0.07}), np.float32([0, 0, 0.07, 0]))
    # point=None: the env's own distribution, seeded
    a, c = b.reset(env, None, seed=5), b.reset(b.make(), None, seed=5)
    assert np.array_equal(a, c) and not np.array_equal(a, b.reset(env, None, seed=6))


def _box2d(spec_from_text, env_line, *search):
    b = bind(spec_from_text(spec(env_line, *search)))
    return b, b.make()


def test_lunar_lander_reset_deterministic_and_push_sets_velocity(spec_from_text):
    b, env = _box2d(spec_from_text, "env LunarLander-v3(continuous=true)")
    p = {"push_x": 400.0, "push_y": -300.0}
    first = b.reset(env, p)
    b.reset(env, {"push_x": -900.0, "push_y": 900.0})  # another reset in between
    assert np.array_equal(first, b.reset(env, p))
    assert np.array_equal(first, b.reset(b.make(), p))  # and a fresh env
    vx = {px: b.reset(env, {"push_x": px, "push_y": 0.0})[2] for px in (-1000.0, 0.0, 1000.0)}
    assert vx[-1000.0] < -0.5 and abs(vx[0.0]) < 1e-6 and vx[1000.0] > 0.5
    vy = {py: b.reset(env, {"push_x": 0.0, "push_y": py})[3] for py in (-1000.0, 0.0, 1000.0)}
    assert vy[-1000.0] < vy[0.0] - 0.3 and vy[1000.0] > vy[0.0] + 0.3
    # the terrain comes from the reset seed, not from the push
    b.reset(env, {"push_x": 1000.0, "push_y": 0.0})
    sky = [list(poly) for poly in env.sky_polys]
    b.reset(env, {"push_x": -1000.0, "push_y": 0.0})
    assert sky == [list(poly) for poly in env.sky_polys]


def test_lunar_lander_discrete_reset_is_deterministic(spec_from_text):
    b, env = _box2d(spec_from_text, "env LunarLander-v3")
    p = {"push_x": 123.0, "push_y": 456.0}
    assert np.array_equal(b.reset(env, p), b.reset(env, p))
    assert not np.array_equal(b.reset(env, p), b.reset(env, {"push_x": 124.0, "push_y": 456.0}))


def test_bipedal_walker_push_and_roughness(spec_from_text):
    b, env = _box2d(spec_from_text, "env BipedalWalker-v3", "search push_x in [-5, 5]",
                    "search roughness in [0, 2]")
    p = {"push_x": 5.0, "roughness": 1.0}
    first = b.reset(env, p)
    terrain = np.array(env.terrain_y)
    b.reset(env, {"push_x": -5.0, "roughness": 2.0})
    assert np.array_equal(first, b.reset(env, p)) and np.array_equal(terrain, env.terrain_y)
    # the push sets the initial horizontal velocity (obs[2])
    vx = [b.reset(env, {"push_x": px, "roughness": 1.0})[2] for px in (-5.0, 0.0, 5.0)]
    assert vx[0] < vx[1] < vx[2]
    # the push leaves the terrain alone; roughness 1 is the env's own terrain for the seed
    env.reset(seed=b.seed_of(p))
    assert np.array_equal(terrain, env.terrain_y)
    # roughness scales the terrain's slope changes: 0 is flat, 2 is rougher than 1
    bumps = {}
    for r in (0.0, 1.0, 2.0):
        b.reset(env, {"push_x": 0.0, "roughness": r})
        bumps[r] = np.abs(np.diff(env.terrain_y)).max()
    assert bumps[0.0] == 0.0 < bumps[1.0] < bumps[2.0]
    with pytest.raises(EnvError, match="roughness must be >= 0"):
        b.reset(env, {"push_x": 0.0, "roughness": -0.5})


class _Zero:
    """Continuous no-op actor (engines off)."""

    obs_dim, action_kind = 8, "continuous"

    def act(self, obs):
        return np.zeros((len(obs), 2), dtype=np.float32)


def test_lunar_lander_gravity_and_wind_change_the_episode(spec_from_text):
    b = bind(spec_from_text(spec("env LunarLander-v3(continuous=true)", "search gravity in [-11, -1]",
                                 "search wind_power in [0, 20]", horizon=30)))
    base = {"gravity": -10.0, "wind_power": 0.0}
    t_base = rollout.run(_Zero(), b, base)
    assert np.array_equal(t_base.observations, rollout.run(_Zero(), b, base).observations)
    # weaker gravity: the lander falls more slowly (obs[3] is the vertical velocity)
    t_light = rollout.run(_Zero(), b, {"gravity": -2.0, "wind_power": 0.0})
    assert t_light.observations[-1, 3] > t_base.observations[-1, 3] + 0.1
    # wind pushes it sideways (no push, no wind: it stays at x = 0)
    t_wind = rollout.run(_Zero(), b, {"gravity": -10.0, "wind_power": 20.0})
    assert abs(t_base.observations[-1, 0]) < 1e-4
    assert abs(t_wind.observations[-1, 0]) > 1e-3
    # one env reused: a point without wind/light gravity puts both back
    env = b.make()
    b.reset(env, {"gravity": -2.0, "wind_power": 20.0})
    assert env.enable_wind and tuple(env.world.gravity) == (0.0, -2.0)
    assert np.array_equal(b.reset(env, base), t_base.observations[0])
    assert not env.enable_wind and tuple(env.world.gravity) == (0.0, -10.0)
