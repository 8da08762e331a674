"""Zonotope sets (sanp/reach/affine.py, taylor.py, zonotope.py, zbounds.py,
zono_engine.py): every real value lies in the computed sets, and on a small rotating
plant they prove what boxes cannot."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import stl
from sanp.envs import bind
from sanp.envs.arch import ToraDynamics
from sanp.model import MLPPolicy
from sanp.reach import ReachConfig, prove_closed_loop
from sanp.reach import zonotope as zn
from sanp.reach.affine import AFFINE_OPS, Affine
from sanp.reach.run import build
from sanp.reach.taylor import TaylorIntegrator

TORA_SPEC = """env ArchTORA-v0
horizon 6
signal x1 = obs[0]
signal x2 = obs[1]
signal x3 = obs[2]
signal x4 = obs[3]
search x1 in [0.6, 0.7]
search x2 in [-0.7, -0.6]
search x3 in [-0.4, -0.3]
search x4 in [0.5, 0.6]
req box: always (abs(x1) <= 1.5 and abs(x2) <= 1.5 and abs(x3) <= 1.5 and abs(x4) <= 1.5)
"""


def pd_policy() -> MLPPolicy:
    """TORA's actuator under PD control: the network outputs 10 - 0.5 x3 - x4 (the plant
    applies that minus 10); one linear layer."""
    p = MLPPolicy([4, 1], "identity", action_kind="continuous")
    with torch.no_grad():
        p.layers[0].weight.copy_(torch.tensor([[0.0, 0.0, -0.5, -1.0]]))
        p.layers[0].bias.copy_(torch.tensor([10.0]))
    return p


def _random_form(rng: np.random.Generator, n: int, m: int) -> Affine:
    return Affine(rng.normal(size=n), rng.normal(size=(n, m)) * 0.3, np.abs(rng.normal(size=n)) * 0.01)


def _value(f: Affine, e: np.ndarray, d: np.ndarray) -> np.ndarray:
    """A real value the form stands for: symbols e [n, m], its error share d in [-1, 1]."""
    return f.c + (f.G * e).sum(axis=1) + f.r * d


@pytest.mark.parametrize("op", ["mul", "sin", "cos", "square", "div", "f32", "abs", "sub"])
def test_affine_operations_hold_every_real_value(op: str) -> None:
    rng = np.random.default_rng(1)
    n, m = 400, 3
    x, y = _random_form(rng, n, m), _random_form(rng, n, m)
    y.c = y.c + 3.0 * np.sign(y.c)  # away from 0, for the division
    e = rng.uniform(-1, 1, (n, m))
    xv, yv = _value(x, e, rng.uniform(-1, 1, n)), _value(y, e, rng.uniform(-1, 1, n))
    fn = {"mul": (lambda a, b: a * b, np.multiply), "sin": (lambda a, b: AFFINE_OPS.sin(a), lambda a, b: np.sin(a)),
          "cos": (lambda a, b: AFFINE_OPS.cos(a), lambda a, b: np.cos(a)),
          "square": (lambda a, b: AFFINE_OPS.square(a), lambda a, b: a * a),
          "div": (lambda a, b: a / b, np.divide), "f32": (lambda a, b: AFFINE_OPS.f32(a), lambda a, b: a),
          "abs": (lambda a, b: AFFINE_OPS.abs(a), lambda a, b: np.abs(a)), "sub": (lambda a, b: a - b, np.subtract)}
    set_fn, real_fn = fn[op]
    out = set_fn(x, y)
    real = real_fn(xv, yv)
    G = out.G if out.G is not None else np.zeros((n, m))
    centre = out.c + (G * e).sum(axis=1)
    assert np.all(np.abs(real - centre) <= out.r * (1 + 1e-12) + 1e-12), op
    assert np.all(out.r < 10.0)  # a real bound, not the whole line


def test_the_taylor_enclosure_holds_every_trajectory_of_the_flow() -> None:
    """TORA, u held at 10.5, from a box: after 3 periods, every simulated state (RK4, 400
    steps a period: far below the set's width) is in the zonotope, checked along random
    directions (a point is in a zonotope iff its support in every direction allows it)."""
    dyn = ToraDynamics()
    lo, hi = np.array([0.6, -0.7, -0.4, 0.5, 10.5]), np.array([0.7, -0.6, -0.3, 0.6, 10.5])
    c, G = zn.box(lo[None], hi[None])
    step = TaylorIntegrator(dyn, order=4, substeps=8)
    rng = np.random.default_rng(0)
    x = rng.uniform(lo[:4], hi[:4], (500, 4))
    x = np.r_[x, np.array(np.meshgrid(*zip(lo[:4], hi[:4]))).reshape(4, -1).T]
    dyn.substeps = 400
    for _ in range(3):
        c, G = step.period(c, G)
        x = dyn.step_float(x, (np.full(len(x), 10.5),))
    v = rng.normal(size=(64, 4))
    support = v @ c[0, :4] + np.abs(v @ G[0, :4]).sum(axis=1)
    assert np.all(x @ v.T <= support[None] + 1e-9)
    width = 2 * np.abs(G[0, :4]).sum(axis=1)
    assert np.all(width < 4 * (x.max(axis=0) - x.min(axis=0)) + 0.05)  # and it stays tight


def test_the_zonotope_tube_holds_every_closed_loop_trajectory() -> None:
    spec = stl.parse(TORA_SPEC, "tora.stl")
    policy = pd_policy()
    loop, dyn, lo, hi, _ = build(policy, spec, bind(spec), 6, config=ReachConfig(horizon=6, sets="zonotope"))
    res = loop.run(lo[None], hi[None])
    rng = np.random.default_rng(0)
    s = rng.uniform(lo, hi, (300, 4))
    for t in range(7):
        obs = dyn.observe_float(s)
        assert np.all(res.obs_lo[0, t] <= obs) and np.all(obs <= res.obs_hi[0, t]), t
        with torch.no_grad():
            act = policy(torch.as_tensor(obs, dtype=torch.float32)).numpy().astype(np.float64)
        if t < 6:  # (the tube repeats the last action at the horizon)
            assert np.all(res.act_lo[0, t] <= act) and np.all(act <= res.act_hi[0, t]), t
        s = dyn.step_float(s, (act[:, 0],))


def test_zonotopes_prove_what_boxes_cannot() -> None:
    """The PD-controlled TORA over 6 periods from the whole initial set, one cell: boxes
    wrap the undamped oscillator and stay unknown; zonotopes prove it."""
    spec = stl.parse(TORA_SPEC, "tora.stl")
    results = {sets: prove_closed_loop(pd_policy(), spec, bind(spec),
                                       ReachConfig(horizon=6, max_cells=1, replays=0, sets=sets))
               for sets in ("box", "zonotope")}
    assert results["box"].requirements[0].verdict == "unknown"
    z = results["zonotope"]
    assert z.requirements[0].verdict == "proved" and z.sets == "zonotope" and z.cells == 1
    assert ReachConfig(horizon=1).resolved_sets(build(pd_policy(), spec, bind(spec), 1)[1]) == "zonotope"


def test_cli_sets_option_and_report(tmp_path) -> None:
    """`sanp prove --horizon N --sets zonotope` proves the PD-controlled TORA and says so in
    the report (`closed_loop.sets`, schema-valid); `--sets box` on the same stays unknown."""
    import json

    import jsonschema

    from sanp.cli import main
    from sanp.formats import save
    from sanp.schemas import schema

    policy, spec = tmp_path / "pd.onnx", tmp_path / "tora.stl"
    save(pd_policy(), policy)
    spec.write_text(TORA_SPEC)
    for sets, code_expected in (("zonotope", 0), ("box", 3)):
        out = tmp_path / f"{sets}.json"
        code = main(["prove", str(policy), str(spec), "--horizon", "6", "--no-split", "--sets", sets,
                     "--json", str(out)])
        doc = json.loads(out.read_text())
        jsonschema.validate(doc, schema("sanp.prove/1"))
        assert code == code_expected and doc["closed_loop"]["sets"] == sets
