"""Per-episode reset seeds (issue 27 item 1): every point of a search carries the reset seed
of its episode, so the env's own randomness (LunarLander's terrain) is part of what is
tested; a spec line `reset_seed N` pins one seed; a counterexample replays exactly; envs
whose reset the point sets completely (CartPole) are unaffected."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import stl
from sanp import rollout
from sanp.envs import bind
from sanp.falsify import FalsifyConfig, falsify
from sanp.types import RESET_SEED
from tests.sanp.conftest import RandomLinear

ROOT = Path(__file__).resolve().parents[2]
LANDER = """env LunarLander-v3 (continuous=true)
horizon 60
signal vy = obs[3]
search push_x in [-1500, 1500]
search push_y in [-1500, 1500]
req slow: always (abs(vy) <= 0.4)
"""


def _terrain(env) -> list:
    return [tuple(v) for f in env.unwrapped.moon.fixtures for v in f.shape.vertices]


def test_each_point_draws_its_own_seed_and_terrain():
    b = bind(stl.parse(LANDER))
    assert b.reset_seed is None
    points = b.uniform_points(20, np.random.default_rng(0))
    seeds = [p[RESET_SEED] for p in points]
    assert len(set(seeds)) == 20 and all(0 <= s < 2**53 for s in seeds)
    env = b.make()
    terrains = []
    for p in points[:3]:
        b.reset(env, p)
        terrains.append(_terrain(env))
    assert terrains[0] != terrains[1] != terrains[2]
    b.reset(env, points[0])
    assert _terrain(env) == terrains[0]  # a point's episode is a function of the point
    # the seed is a function of the searched values, not of the stream that drew them
    assert b.point([points[0]["push_x"], points[0]["push_y"]]) == points[0]


def test_a_pinned_seed_gives_every_episode_one_terrain():
    spec = stl.parse(LANDER.replace("horizon 60\n", "horizon 60\nreset_seed 7\n"))
    assert spec.reset_seed == 7 and "reset_seed 7" in stl.to_text(spec)
    assert stl.parse(stl.to_text(spec)) == spec
    b = bind(spec)
    points = b.uniform_points(3, np.random.default_rng(0))
    assert all(RESET_SEED not in p for p in points)
    env = b.make()
    terrains = []
    for p in points:
        b.reset(env, p)
        terrains.append(_terrain(env))
    assert terrains[0] == terrains[1] == terrains[2]
    env.reset(seed=7)
    assert _terrain(env) == terrains[0]


@pytest.mark.parametrize("bad, match", [("-1", "at least 0"), ("1.5", "whole number")])
def test_a_bad_pinned_seed_is_a_spec_error(bad, match):
    with pytest.raises(stl.SpecError, match=match):
        stl.parse(LANDER.replace("horizon 60\n", f"horizon 60\nreset_seed {bad}\n"))


def test_a_counterexample_replays_exactly_from_its_recorded_point():
    b = bind(stl.parse(LANDER))
    actor = RandomLinear(b, seed=3)
    res = falsify(actor, b, stl.parse(LANDER), FalsifyConfig(budget=12, optimizer="random", seed=1,
                                                             collect_all=True))
    assert res.counterexamples, "the random actor must fail the speed bound somewhere"
    for cex in res.counterexamples:
        assert cex.trajectory.seed == cex.point[RESET_SEED]
        again = rollout.run_batch(actor, b, [dict(cex.point)])[0]
        np.testing.assert_array_equal(again.observations, cex.trajectory.observations)
    # the whole search saw as many terrains as points
    assert len({e.point[RESET_SEED] for e in res.evaluations}) == 12


def test_cartpole_whose_reset_the_point_sets_is_unaffected(cartpole_spec, linear_cartpole):
    """The point sets CartPole's whole state, so drawn and pinned seeds give the same
    episodes, robustness and counterexamples."""
    drawn = bind(cartpole_spec)
    pinned = bind(dataclasses.replace(cartpole_spec, reset_seed=0))
    actor = linear_cartpole((0.0, 0.0, 1.0, 0.0))  # weak: fails somewhere
    cfg = FalsifyConfig(budget=15, optimizer="random", seed=2, collect_all=True)
    a = falsify(actor, drawn, cartpole_spec, cfg)
    b = falsify(actor, pinned, cartpole_spec, cfg)
    assert [e.robustness for e in a.evaluations] == [e.robustness for e in b.evaluations]
    assert all(RESET_SEED in e.point for e in a.evaluations)
    assert all(RESET_SEED not in e.point for e in b.evaluations)
    assert [c.evaluation for c in a.counterexamples] == [c.evaluation for c in b.counterexamples]
