"""The batched optimisers ("corners", "cmaes"): the corners come first, all in one batch;
later batches hold a CMA-ES generation plus edge points; the same seed repeats the same
points and leaves numpy's global RNG alone; and a search spread over a 2-worker process
pool (through `sanp verify --workers 2` as well) gives exactly the evaluations of the
serial run (issue 29 item 2)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sanp import backends, rollout
from sanp.backends import BackendConfig
from sanp.envs import bind
from sanp.falsify import FalsifyConfig, falsify
from sanp.falsify.proposers.cmaes import CMAESConfig, CMAESProposer
from sanp.falsify.proposers.corners import CornersConfig, CornersProposer
from tests.sanp.cli_run import cli
from tests.sanp.test_falsify import WEAK
from tests.sanp.backends.test_local import LANDER

LANDER_SPEC = ("env LunarLander-v3 (continuous=true)\nhorizon 120\nsignal y = obs[1]\nsignal vy = obs[3]\n"
               "signal r = reward\nsearch push_x in [-1500, 1500]\nsearch push_y in [-1500, 1500]\n"
               "req no_crash: always (r > -99)\nreq slow: always (vy >= -0.6)\n")


def _run(proposer, rounds: int, objective) -> list[np.ndarray]:
    batches = []
    for _ in range(rounds):
        x = proposer.propose(proposer.chunk(1000))
        batches.append(x)
        proposer.tell(x, objective(x))
    return batches


def test_corners_first_then_cmaes_generations_with_edge_points():
    p = CornersProposer(3, seed=4, config=CornersConfig(cmaes=CMAESConfig(popsize=6), edge_fraction=0.5))
    first = p.propose(p.chunk(100))
    assert sorted(map(tuple, first)) == sorted({(a, b, c) for a in (0.0, 1.0) for b in (0.0, 1.0)
                                                 for c in (0.0, 1.0)})
    # the least robust corner is where CMA-ES starts
    target = np.array([1.0, 0.0, 1.0])
    p.tell(first, np.abs(first - target).sum(axis=1))
    assert np.array_equal(p.best_x, target)
    assert p.chunk(100) == 9 and p.chunk(4) == 4  # 6 CMA-ES points + 3 edge points, cut by the budget
    batch = p.propose(9)
    assert batch.shape == (9, 3) and np.all((batch >= 0) & (batch <= 1))
    # the generation (its first 6 points) is spread around that corner, not the centre
    assert np.linalg.norm(batch[:6].mean(axis=0) - target) < np.linalg.norm(batch[:6].mean(axis=0) - 0.5)
    # many corners: a random distinct subset
    q = CornersProposer(8, seed=0, config=CornersConfig(max_corners=20))
    many = q.propose(q.chunk(1000))
    assert len(many) == 20 and len({tuple(r) for r in many}) == 20 and set(np.unique(many)) == {0.0, 1.0}


@pytest.mark.parametrize("make", [
    lambda seed: CornersProposer(2, seed),
    lambda seed: CMAESProposer(2, seed),
])
def test_same_seed_same_points_and_numpy_global_rng_untouched(make):
    def objective(x):
        return np.sin(7 * x[:, 0]) + (x[:, 1] - 0.3) ** 2

    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = _run(make(5), 12, objective)
    assert np.array_equal(np.random.get_state()[1], before)
    b = _run(make(5), 12, objective)
    c = _run(make(6), 12, objective)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a[1:], c[1:]))


def test_cmaes_finds_a_small_basin_and_restarts_when_converged():
    p = CMAESProposer(2, seed=0, config=CMAESConfig(popsize=6, min_sigma=0.05))
    ys = []
    for batch in _run(p, 40, lambda x: np.linalg.norm(x - 0.85, axis=1)):
        ys.extend(np.linalg.norm(batch - 0.85, axis=1))
    assert min(ys) < 0.02
    assert p.popsize > 6  # converged at least once and restarted with a larger population


def test_a_non_finite_objective_ranks_lowest():
    p = CMAESProposer(1, seed=0, config=CMAESConfig(popsize=4))
    x = p.propose(4)
    p.tell(x, np.array([1.0, float("-inf"), float("nan"), float("inf")]))
    assert p.es.countiter == 1 and p.asked is None


def test_the_search_spread_over_a_pool_repeats_the_serial_run(monkeypatch, spec_from_text):
    monkeypatch.setattr(rollout, "TASK_STEPS", 600)  # 5 episodes per task: every batch splits
    spec = spec_from_text(LANDER_SPEC)
    b = bind(spec)
    from sanp.commands.common import load_policy
    from sanp.runtime import deployed

    actor = deployed(load_policy(str(LANDER), b, None))
    cfg = FalsifyConfig(budget=22, optimizer="corners", seed=3, collect_all=True)
    serial = falsify(actor, b, spec, cfg)
    with backends.use(BackendConfig("local", workers=2)):
        spread = falsify(actor, b, spec, cfg)
    assert len(serial.evaluations) == 22
    assert [(e.point, e.robustness) for e in serial.evaluations] == \
           [(e.point, e.robustness) for e in spread.evaluations]


def test_verify_workers_1_and_2_give_the_same_report(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(rollout, "TASK_STEPS", 600)
    spec = tmp_path / "lander.stl"
    spec.write_text(LANDER_SPEC)
    docs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.json"
        code, _, err = cli(capsys, "verify", LANDER, spec, "--budget", "22", "--optimizer", "corners", "--all",
                           "--seed", "3", "--workers", workers, "--json", out)
        assert code in (0, 1), err
        docs.append(json.loads(out.read_text()))
    assert docs[0]["evaluations"] == docs[1]["evaluations"]
    assert docs[0]["counterexamples"] == docs[1]["counterexamples"]


def test_corners_falsifies_the_weak_cartpole_controller(cartpole_spec, linear_cartpole):
    # WEAK drifts off the track from about 4% of the cube, at its corners
    res = falsify(linear_cartpole(WEAK), bind(cartpole_spec), cartpole_spec,
                  FalsifyConfig(budget=40, optimizer="corners", seed=0))
    assert res.falsified and res.first_counterexample_at() <= 16
