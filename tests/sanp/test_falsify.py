"""Falsifiers on CartPole: BO and random find and replay counterexamples of a weak
controller, find none on a safe one; seeded runs repeat exactly and leave numpy's
global RNG alone; collect_all, merging, "each" mode, requirement selection, option
errors; NaN episodes are counterexamples."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from sanp import rollout
from sanp.envs import bind
from sanp.errors import EnvError, OptionError
from sanp.falsify import BOConfig, FalsifyConfig, critical_step, falsify, merge, score

# Pushes right iff 0.6*theta + theta_dot > 0: it balances the pole but ignores the
# cart, which drifts off the track (|x| > 2.4) from about 4% of the initial cube.
WEAK = (0.0, 0.0, 0.6, 1.0)
# Full-state feedback, force sign of K.s with K = (1, 1, 10, 2). Why it is safe on the
# spec's cube |s_i| <= 0.05 for 200 steps: the angle gain dominates, and for |theta|
# <= 0.05 the 10 N bang-bang force exceeds the gravity torque many times over, so the
# state is driven onto the switching surface K.s = 0 within a few steps and chatters
# along it. On that surface theta_dot = -(5 theta + (x + x_dot)/2), a stable sliding
# motion in which the pole returns to upright while the small x and x_dot terms pull
# the cart back to the centre. The margins measured below (|theta| <= 0.051, |x_dot|
# <= 0.44, |x| <= 0.16) are far inside the bounds (0.2, 2.0, 2.4); a few hundred random
# points check that no part of the cube is close to a violation.
SAFE = (1.0, 1.0, 10.0, 2.0)


def _evals(result):
    return [(e.point, e.robustness, e.objective, e.target) for e in result.evaluations]


# ---------------------------------------------------------- finds and replays


@pytest.mark.parametrize("optimizer, budget, seed", [("bo", 20, 1), ("random", 100, 0)])
def test_counterexample_found_and_replays(cartpole_spec, linear_cartpole, optimizer, budget, seed):
    b = bind(cartpole_spec)
    actor = linear_cartpole(WEAK)
    res = falsify(actor, b, cartpole_spec, FalsifyConfig(budget=budget, optimizer=optimizer, seed=seed))
    assert res.falsified and len(res.counterexamples) == 1
    cex = res.counterexamples[0]
    assert cex.violated == ("position",) and cex.min_robustness < 0
    assert cex.min_robustness == cex.robustness["position"] == res.evaluations[cex.evaluation].objective
    assert res.first_counterexample_at() == cex.evaluation + 1 == len(res.evaluations)
    for name, lo_hi in cartpole_spec.search.items():
        assert lo_hi[0] <= cex.point[name] <= lo_hi[1]
    # replay from the point alone: the same episode and the same robustness
    again = rollout.run(actor, b, cex.point)
    assert np.array_equal(again.observations, cex.trajectory.observations)
    assert score(cartpole_spec, list(cartpole_spec.requirements), again) == cex.robustness
    # the critical step is where the cart is furthest out
    x = again.signals(cartpole_spec)["x"]
    assert cex.step == critical_step(cartpole_spec, "position", again) == int(np.argmax(np.abs(x)))
    assert 2.4 - abs(x[cex.step]) == pytest.approx(cex.min_robustness)


def test_bo_uses_the_gp_to_find_it(cartpole_spec, linear_cartpole):
    """Seed 1's initial design (10 points) misses the small failing region: the GP's
    proposals find it within the budget."""
    res = falsify(linear_cartpole(WEAK), bind(cartpole_spec), cartpole_spec,
                  FalsifyConfig(budget=20, optimizer="bo", seed=1))
    assert all(e.objective >= 0 for e in res.evaluations[:10])
    assert res.falsified and res.first_counterexample_at() > 10


def test_safe_controller_has_no_counterexample(cartpole_spec, linear_cartpole):
    b = bind(cartpole_spec)
    actor = linear_cartpole(SAFE)
    rng = np.random.default_rng(2024)
    points = [b.point(rng.uniform(-0.05, 0.05, 4)) for _ in range(300)]
    corners = [b.point(np.where(c, 0.05, -0.05)) for c in np.ndindex(2, 2, 2, 2)]  # all 16
    names = list(cartpole_spec.requirements)
    rob = np.array([[score(cartpole_spec, names, t)[n] for n in names]
                    for t in rollout.run_batch(actor, b, points + corners)])
    assert np.all(rob[:, 0] > 2.0) and np.all(rob[:, 1] > 1.5) and np.all(rob[:, 2] > 0.14)
    res = falsify(actor, b, cartpole_spec, FalsifyConfig(budget=20, optimizer="bo", seed=0))
    assert not res.falsified and len(res.evaluations) == 20
    assert min(e.objective for e in res.evaluations) > 0.14


# ------------------------------------------------------------------- determinism


@pytest.mark.parametrize("optimizer, budget", [("bo", 16), ("random", 60)])
def test_seeded_runs_repeat_and_leave_global_rng_alone(cartpole_spec, linear_cartpole, optimizer, budget):
    b = bind(cartpole_spec)
    cfg = FalsifyConfig(budget=budget, optimizer=optimizer, seed=7, collect_all=True,
                        bo=BOConfig(initial_design=8))
    np.random.seed(12345)
    np.random.random(3)
    before = np.random.get_state()
    first = falsify(linear_cartpole(WEAK), b, cartpole_spec, cfg)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    np.random.seed(999)  # another global state: no effect on the search
    second = falsify(linear_cartpole(WEAK), b, cartpole_spec, cfg)
    assert len(first.evaluations) == budget
    assert _evals(first) == _evals(second)
    assert [c.evaluation for c in first.counterexamples] == [c.evaluation for c in second.counterexamples]
    points = np.array([list(e.point.values()) for e in first.evaluations])
    assert len(np.unique(points, axis=0)) == budget  # no repeated point
    other = falsify(linear_cartpole(WEAK), b, cartpole_spec,
                    FalsifyConfig(budget=budget, optimizer=optimizer, seed=8, collect_all=True,
                                  bo=BOConfig(initial_design=8)))
    assert _evals(other) != _evals(first)


# ------------------------------------------------------- collect_all and merging


def test_collect_all_false_stops_at_the_first(cartpole_spec, linear_cartpole):
    b = bind(cartpole_spec)
    res = falsify(linear_cartpole(WEAK), b, cartpole_spec, FalsifyConfig(budget=100, optimizer="random", seed=3))
    assert len(res.counterexamples) == 1
    assert len(res.evaluations) == res.counterexamples[0].evaluation + 1 < 100
    assert all(e.objective >= 0 for e in res.evaluations[:-1]) and res.evaluations[-1].objective < 0
    # a collecting run with the same seed evaluates the same points first
    full = falsify(linear_cartpole(WEAK), b, cartpole_spec,
                   FalsifyConfig(budget=100, optimizer="random", seed=3, collect_all=True, merge_tol=0.0))
    assert _evals(full)[: len(res.evaluations)] == _evals(res)
    assert len(full.evaluations) == 100
    violating = [e.index for e in full.evaluations if e.objective < 0]
    assert len(violating) >= 2 and [c.evaluation for c in full.counterexamples] == violating


def test_near_duplicates_merge(cartpole_spec):
    """Every point fails (always push right); merging keeps the most violating of
    each cluster, kept points are at least merge_tol apart, and every dropped one is
    within merge_tol of a kept one that violates at least as much."""
    b = bind(cartpole_spec)

    class Right:
        obs_dim, action_kind = 4, "discrete"

        def act(self, obs):
            return np.ones(len(obs), dtype=np.int64)

    def run(tol):
        return falsify(Right(), b, cartpole_spec,
                       FalsifyConfig(budget=40, optimizer="random", seed=0, collect_all=True, merge_tol=tol))

    span = b.bounds[:, 1] - b.bounds[:, 0]

    def unit(c):
        return np.array([c.point[d.name] for d in b.space]) / span

    assert len(run(1e-3).counterexamples) == 40  # distinct random points stay apart
    res = run(0.6)
    kept = res.counterexamples
    assert 1 < len(kept) < 40
    assert [c.evaluation for c in kept] == sorted(c.evaluation for c in kept)
    for i, a in enumerate(kept):
        for c in kept[i + 1 :]:
            assert np.max(np.abs(unit(a) - unit(c))) >= 0.6
    for e in res.evaluations:
        x = np.array([e.point[d.name] for d in b.space]) / span
        assert any(np.max(np.abs(x - unit(k))) < 0.6 and k.min_robustness <= e.objective for k in kept)
    assert len(run(2.0).counterexamples) == 1
    assert run(2.0).counterexamples[0].min_robustness == min(e.objective for e in res.evaluations)


def test_merge_keeps_the_worst_of_a_cluster(cartpole_spec, linear_cartpole):
    b = bind(cartpole_spec)
    res = falsify(linear_cartpole(WEAK), b, cartpole_spec, FalsifyConfig(budget=100, optimizer="random", seed=3))
    (c,) = res.counterexamples
    near = {k: v + 1e-6 for k, v in c.point.items()}  # 1e-5 of the range away
    far = {**c.point, "x": -c.point["x"] if abs(c.point["x"]) > 0.01 else 0.04}
    twin = type(c)(near, c.violated, c.robustness, c.min_robustness - 1.0, c.step, c.trajectory, 5)
    other = type(c)(far, c.violated, c.robustness, c.min_robustness, c.step, c.trajectory, 9)
    merged = merge([c, twin, other], b, 1e-3)
    assert [m.evaluation for m in merged] == [5, 9]  # the twin violates more: it stays
    assert len(merge([c, twin, other], b, 0.0)) == 3


# ------------------------------------------------------------------ requirements


def test_each_mode_searches_every_requirement(cartpole_spec, linear_cartpole):
    b = bind(cartpole_spec)
    budget = 25
    res = falsify(linear_cartpole(WEAK), b, cartpole_spec,
                  FalsifyConfig(budget=budget, optimizer="random", seed=2, collect_all=True, mode="each"))
    names = list(cartpole_spec.requirements)
    assert res.requirements == tuple(names)
    assert len(res.evaluations) == budget * len(names)
    assert [e.target for e in res.evaluations] == [n for n in names for _ in range(budget)]
    assert [e.index for e in res.evaluations] == list(range(len(res.evaluations)))
    for e in res.evaluations:
        assert set(e.robustness) == set(names) and e.objective == e.robustness[e.target]
    # every search has its own points
    blocks = [np.array([list(e.point.values()) for e in res.evaluations[i * budget:(i + 1) * budget]])
              for i in range(len(names))]
    assert not np.array_equal(blocks[0], blocks[1])
    # counterexamples name only their search's requirement; only the cart drifts off
    assert res.counterexamples
    for c in res.counterexamples:
        assert c.violated == ("position",) and res.evaluations[c.evaluation].target == "position"


def test_each_mode_with_bo(cartpole_spec, linear_cartpole):
    res = falsify(linear_cartpole(SAFE), bind(cartpole_spec), cartpole_spec,
                  FalsifyConfig(budget=10, optimizer="bo", seed=0, mode="each", requirements=("angle", "position"),
                                bo=BOConfig(initial_design=6)))
    assert [e.target for e in res.evaluations] == ["position"] * 10 + ["angle"] * 10
    assert res.requirements == ("position", "angle")  # spec order
    assert not res.falsified


def test_requirement_selection(cartpole_spec, linear_cartpole):
    b = bind(cartpole_spec)
    res = falsify(linear_cartpole(WEAK), b, cartpole_spec,
                  FalsifyConfig(budget=40, optimizer="random", seed=0, requirements=("angle", "momentum")))
    assert res.requirements == ("momentum", "angle")
    assert all(set(e.robustness) == {"momentum", "angle"} for e in res.evaluations)
    assert not res.falsified and len(res.evaluations) == 40  # the weak controller keeps these
    assert res.min_robustness("angle") > 0 and np.isnan(res.min_robustness("position"))


def test_unknown_requirement_lists_the_names(cartpole_spec, linear_cartpole):
    b = bind(cartpole_spec)
    with pytest.raises(OptionError, match=r"no requirement 'angel' \(did you mean 'angle'\?\); "
                                          r"it has: position, momentum, angle"):
        falsify(linear_cartpole(WEAK), b, cartpole_spec, FalsifyConfig(budget=5, requirements=("angel",)))
    with pytest.raises(OptionError, match="it has: position, momentum, angle"):
        falsify(linear_cartpole(WEAK), b, cartpole_spec, FalsifyConfig(budget=5, requirements=("speed",)))


@pytest.mark.parametrize("kw, match", [
    ({"budget": 0}, "budget must be a positive number of rollouts, got 0"),
    ({"budget": -5}, "got -5"),
    ({"optimizer": "annealing"}, "optimizer must be one of bo, cmaes, corners, random, reseed, got 'annealing'"),
    ({"mode": "all"}, "mode must be 'joint' or 'each'"),
])
def test_bad_config(kw, match):
    with pytest.raises(OptionError, match=match):
        FalsifyConfig(**kw)


def test_env_without_search_space(spec_from_text, random_linear):
    # an env sanp has no adapter for: the generic state adapter, and no search line
    gym.register("SanpTestPendulum-v0", "gymnasium.envs.classic_control.pendulum:PendulumEnv")
    spec = spec_from_text("env SanpTestPendulum-v0\nhorizon 10\nsignal c = obs[0]\nreq r: always (c <= 2)\n")
    b = bind(spec)
    with pytest.raises(EnvError, match=r"no search space: add `search NAME in \[lo, hi\]` .*state_0, state_1"):
        falsify(random_linear(b), b, spec, FalsifyConfig(budget=3))


def test_progress_reports_every_evaluation(cartpole_spec, linear_cartpole):
    calls = []
    res = falsify(linear_cartpole(SAFE), bind(cartpole_spec), cartpole_spec,
                  FalsifyConfig(budget=12, optimizer="bo", seed=0, bo=BOConfig(initial_design=5)),
                  progress=lambda done, total, best: calls.append((done, total, best)))
    assert [c[0] for c in calls] == list(range(1, 13)) and {c[1] for c in calls} == {12}
    bests = [c[2] for c in calls]
    assert bests == list(np.minimum.accumulate([e.objective for e in res.evaluations]))


# --------------------------------------------------------------------------- NaN


class NaNRight:
    """Continuous LunarLander actor: NaN once the lander drifts right (x > 0)."""

    obs_dim, action_kind = 8, "continuous"

    def act(self, obs):
        a = np.zeros((len(obs), 2), dtype=np.float32)
        a[obs[:, 0] > 0.01] = np.nan
        return a


@pytest.mark.parametrize("optimizer", ["random", "bo"])
def test_nan_episodes_are_counterexamples(spec_from_text, optimizer):
    spec = spec_from_text("env LunarLander-v3(continuous=true)\nhorizon 25\nsignal y = obs[1]\n"
                          "search push_x in [-1000, 1000]\nreq up: always (y >= -10)\n")
    b = bind(spec)
    res = falsify(NaNRight(), b, spec, FalsifyConfig(budget=12, optimizer=optimizer, seed=0, collect_all=True,
                                                     bo=BOConfig(initial_design=6)))
    nan_evals = [e for e in res.evaluations if e.objective == float("-inf")]
    assert nan_evals and len(nan_evals) < 12  # only where the lander drifts right
    assert all(e.point["push_x"] > 0 for e in nan_evals)
    assert all(e.objective > 0 for e in res.evaluations if e.point["push_x"] < 0)
    assert res.falsified and all(c.min_robustness == float("-inf") for c in res.counterexamples)
    for c in res.counterexamples:
        assert c.trajectory.nonfinite and c.step == c.trajectory.length


def test_target_rate_stops_at_the_zero_violation_sample_size(cartpole_spec, linear_cartpole):
    """A controller without violations: uniform sampling stops exactly when the exact
    bound reaches the target, ceil(ln(1 - c) / ln(1 - eps)) episodes."""
    import math

    from scipy import stats as st

    b = bind(cartpole_spec)
    cfg = FalsifyConfig(budget=1000, optimizer="random", seed=3, target_rate=0.04, confidence=0.9)
    res = falsify(linear_cartpole(SAFE), b, cartpole_spec, cfg)
    n = math.ceil(math.log(1 - 0.9) / math.log(1 - 0.04))
    assert not res.falsified and len(res.evaluations) == n == 57
    (bound,) = res.statistics()
    assert bound.violations == 0 and bound.points == n
    assert bound.upper_bound == st.binomtest(0, n, alternative="less").proportion_ci(0.9, method="exact").high
    assert res.target_reached and res.target_summary()["episodes"] == n


def test_target_rate_needs_uniform_sampling():
    with pytest.raises(OptionError, match="--optimizer random"):
        FalsifyConfig(optimizer="bo", target_rate=0.01)
