"""Soundness of the set views: random points inside a box map inside its image box, for
interval arithmetic, for every declared classic-control step, and for the network bounds."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sanp.envs.dynamics import BUILT_IN, FLOAT_OPS
from sanp.model import MLPPolicy
from sanp.prove.network import from_policy
from sanp.prove.properties import Box
from sanp.reach.bounds import argmax_possible, output_bounds
from sanp.reach.interval import INTERVAL_OPS, Interval

ROOT = Path(__file__).resolve().parents[3]
RNG = np.random.default_rng(0)


def _boxes(n: int, d: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n random boxes in d dimensions and 50 points inside each: [n, 50, d]."""
    c = RNG.uniform(-scale, scale, (n, d))
    r = RNG.uniform(0, scale / 4, (n, d)) * (RNG.uniform(size=(n, d)) > 0.1)  # some flat sides
    lo, hi = c - r, c + r
    pts = lo[:, None] + RNG.uniform(size=(n, 50, d)) * (hi - lo)[:, None]
    pts[:, 0], pts[:, 1] = lo, hi  # the corners too
    return lo, hi, pts


def _inside(iv: Interval, values: np.ndarray) -> bool:
    return bool(np.all((iv.lo[:, None] <= values) & (values <= iv.hi[:, None])))


OPS = {
    "add": (lambda a, b: a + b, 2), "sub": (lambda a, b: a - b, 2), "mul": (lambda a, b: a * b, 2),
    "div": (lambda a, b: a / b, 2), "square": (lambda a: a ** 2, 1),
    "sin": (lambda a, o: o.sin(a), "ops"), "cos": (lambda a, o: o.cos(a), "ops"),
    "sqrt": (lambda a, o: o.sqrt(o.abs(a)), "ops"), "f32": (lambda a, o: o.f32(a * 1.1), "ops"),
    "clip": (lambda a, o: o.clip(a, -0.3, 0.2), "ops"),
    "where": (lambda a, o: o.where(o.lt(a, 0.1), a * 2.0, 1.0 - a), "ops"),
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("scale", [0.5, 7.0])
def test_interval_operations_contain_every_point_image(name: str, scale: float) -> None:
    fn, arity = OPS[name]
    lo, hi, pts = _boxes(400, 2, scale)
    a, b = Interval(lo[:, 0], hi[:, 0]), Interval(lo[:, 1], hi[:, 1])
    pa, pb = pts[..., 0], pts[..., 1]
    if arity == 2:
        image, values = fn(a, b), fn(pa, pb)
    elif arity == 1:
        image, values = fn(a), fn(pa)
    else:
        image, values = fn(a, INTERVAL_OPS), fn(pa, FLOAT_OPS)
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    assert _inside(image, np.where(finite, values, np.clip(values, image.lo[:, None], image.hi[:, None])))


def test_outward_rounding_covers_what_round_to_nearest_loses() -> None:
    # 0.1 + 0.2 is not 0.3 in binary: the interval must hold both neighbours' real sum
    s = Interval(np.array([0.1]), np.array([0.1])) + 0.2
    assert s.lo[0] < 0.1 + 0.2 < s.hi[0] and s.hi[0] - s.lo[0] < 1e-15


@pytest.mark.parametrize("env_id", sorted(set(BUILT_IN) - {"CartPole-v0"}))
def test_each_declared_step_over_a_box_holds_every_stepped_point(env_id: str) -> None:
    dyn = BUILT_IN[env_id]()
    d = len(dyn.state_names)
    scale = {"CartPole-v1": 0.3, "Pendulum-v1": 3.0}.get(env_id, 0.5)
    lo, hi, pts = _boxes(100, d, scale)
    if env_id.startswith("MountainCar"):
        lo[:, 1], hi[:, 1], pts[..., 1] = lo[:, 1] / 10, hi[:, 1] / 10, pts[..., 1] / 10  # speeds are small
    box = tuple(Interval(lo[:, i], hi[:, i]) for i in range(d))
    actions = [0, 1, 2] if env_id == "MountainCar-v0" else [0, 1] if env_id.startswith("CartPole") else None
    for a in actions or [None]:
        if a is None:  # a continuous action: an interval of torques / forces
            a_lo, a_hi = RNG.uniform(-1.5, 0.5, 100), RNG.uniform(0.5, 1.5, 100)
            act_iv = (Interval(a_lo, a_hi),)
            act_pts = a_lo[:, None] + RNG.uniform(size=(100, 50)) * (a_hi - a_lo)[:, None]
            step_pts = dyn.step(tuple(pts[..., i] for i in range(d)), (act_pts,), FLOAT_OPS)
        else:
            act_iv = a
            step_pts = dyn.step(tuple(pts[..., i] for i in range(d)), a, FLOAT_OPS)
        image = dyn.step(box, act_iv, INTERVAL_OPS)
        for comp, values in zip(image, step_pts):
            assert _inside(Interval.of(comp), np.asarray(values, dtype=np.float64))
        obs_image = dyn.observe(image, INTERVAL_OPS)
        obs_pts = dyn.observe(tuple(np.asarray(v, np.float64) for v in step_pts), FLOAT_OPS)
        for comp, values in zip(obs_image, obs_pts):
            assert _inside(Interval.of(comp), np.asarray(values, dtype=np.float64))


def _small_net(seed: int) -> MLPPolicy:
    torch.manual_seed(seed)
    return MLPPolicy([3, 16, 16, 3], "relu", action_kind="discrete")


@pytest.mark.parametrize("which", ["random", "zoo"])
def test_network_bounds_hold_every_output_and_argmax(which: str) -> None:
    if which == "zoo":
        from sanp.formats import load

        policy = load(ROOT / "zoo/cartpole/dense.onnx")
    else:
        policy = _small_net(3)
    d = policy.obs_dim
    net = from_policy(policy, Box((-1e6,) * d, (1e6,) * d))
    lo, hi, pts = _boxes(200, d, 0.3)
    L, U = output_bounds(net, lo, hi)
    out = net(pts.reshape(-1, d)).reshape(200, 50, -1)
    assert np.all(L[:, None] <= out) and np.all(out <= U[:, None])
    with torch.no_grad():  # the float32 network (as deployed) too
        out32 = policy(torch.as_tensor(pts.reshape(-1, d), dtype=torch.float32)).numpy().reshape(200, 50, -1)
    assert np.all(L[:, None] <= out32) and np.all(out32 <= U[:, None])
    possible = argmax_possible(net, lo, hi)
    chosen = out.argmax(axis=2)
    assert np.all(np.take_along_axis(possible, chosen, axis=1))
    assert (possible.sum(axis=1) == 1).any()  # not trivially "every action"
