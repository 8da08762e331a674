"""The figures tell the truth: each requirement's panel marks its own critical step
inside its own window (`stl.critical`), the bound is drawn only where the
requirement reads it, step 1 is labelled by recipe and screen, and a 99.9%-sparse
network's surviving weights are visible."""

from __future__ import annotations

import html
import json
import re

import numpy as np

import stl
from sanp import report
from sanp.report import (
    PRUNE_SCHEMA,
    VERIFY_SCHEMA,
    comparisons,
    plot_verify,
    plots,
    prune_plots,
)
from stl import critical

PNG = b"\x89PNG\r\n\x1a\n"
T = 61  # observations of a 60-step episode


def table_rows(page: str, section_id: str) -> list[list[str]]:
    """Text of the body cells of the first table in a section of a page."""
    sec = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.DOTALL).group(1)
    body = re.search(r"<tbody>(.*?)</tbody>", sec, re.DOTALL).group(1)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.DOTALL)]
            for r in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)]

TWO_REQS = """env CartPole-v1
horizon 60
signal x = obs[0]
signal theta = obs[2]
req early: always (abs(x) <= 0.1)
req late: always[10:200] (abs(theta) <= 0.05)
"""


def two_requirement_cex() -> dict:
    """A verify document whose counterexample violates `early` worst at step 5 and
    `late` at step 20 (|theta| peaks at 0.3 at step 2, before late's window opens)."""
    x = np.zeros(T)
    x[5] = 0.5  # early: robustness -0.4, the worst of the two
    theta = np.full(T, 0.01)
    theta[2] = 0.3  # outside late's window: a window-blind minimum lands here
    theta[18:23] = [0.04, 0.06, 0.08, 0.06, 0.04]  # late: -0.03 at step 20
    signals = {"x": x.tolist(), "theta": theta.tolist()}
    spec = stl.parse(TWO_REQS)
    rob = {n: float(stl.robustness_at0(r, signals)) for n, r in spec.requirements.items()}
    assert rob["early"] < rob["late"] < 0
    cex = {"point": {"theta": 0.3}, "violated": ["early", "late"], "robustness": rob,
           "min_robustness": rob["early"], "step": 5, "evaluation": 0, "length": T - 1,
           "total_reward": 60.0, "terminated": False, "nonfinite": False, "signals": signals,
           "actions": [0] * (T - 1)}
    doc = {"schema": VERIFY_SCHEMA, "command": "verify", "verdict": "falsified",
           "inputs": {"spec": "two.stl", "spec_text": TWO_REQS, "options": {"optimizer": "random"}},
           "requirements": [], "evaluations": [], "counterexamples": [cex]}
    return json.loads(json.dumps(doc))


def test_each_requirement_is_marked_at_its_own_step_inside_its_window(tmp_path):
    (tmp_path / "two.stl").write_text(TWO_REQS)
    spec = stl.load(tmp_path / "two.stl")
    doc = two_requirement_cex()
    cex = doc["counterexamples"][0]
    late = critical.decision(spec.requirements["late"], comparisons.signal_arrays(cex))
    assert late.step == 20 and np.isclose(late.robustness, 0.05 - 0.08)
    view = comparisons.cex_view(cex, spec)
    assert dict(view.steps) == {"early": 5, "late": 20}
    marks = {m["requirement"]: m for m in plots.panel_marks(view)}
    assert marks["late"]["step"] == 20 and marks["late"]["dot"]
    assert marks["late"]["windows"] == [(10, T - 1)]
    assert marks["early"]["step"] == 5 and marks["early"]["windows"] == [(0, T - 1)]

    fig, caption = plots.counterexample_figure(0, cex, view)
    assert "late at step 20" in caption and "early at step 5" in caption
    late_ax = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("late:"))
    assert "decided at step 20" in late_ax.get_title(loc="left")
    bound = next(ln for ln in late_ax.lines if ln.get_label().startswith("bound"))
    y = np.asarray(bound.get_ydata(), dtype=float)
    assert np.isnan(y[:10]).all() and np.allclose(y[10:], 0.05)  # the bound only in the window
    (dot,) = [ln for ln in late_ax.lines if ln.get_marker() == "o"]
    assert dot.get_xdata()[0] == 20 and np.isclose(dot.get_ydata()[0], 0.08)
    (dotted,) = [ln for ln in late_ax.lines if ln.get_linestyle() == ":"]
    assert dotted.get_xdata()[0] == 20
    assert late_ax.patches, "late's window is shaded"

    (png,) = [p for p in plot_verify(doc, tmp_path / "plots") if p.name == "cex_0.png"]
    assert png.read_bytes().startswith(PNG)


def test_the_decision_is_a_comparison_value_inside_its_window():
    """On random traces, the decided comparison's value at the decided step is the
    requirement's robustness (up to the sign of a `not`), and the step lies in that
    comparison's window: for every operator kind."""
    spec = stl.parse("""env E
signal x = obs[0]
signal y = obs[1]
req a: always[2:8] (x <= 1 or eventually[0:3] (y > 0))
req b: (x <= 1) until[1:6] (y > 0.5)
req c: always (historically[0:2] (x < 2) and next (y > -1.5))
req d: not (eventually[0:5] (x > 0.3))
req e: once[1:3] (x > 0) since[0:4] (y < 1)
req f: a implies always[1:3] (y >= -1)
""")
    rng = np.random.default_rng(0)
    decided = 0
    for _ in range(150):
        sig = {"x": rng.normal(size=12), "y": rng.normal(size=12)}
        for name, req in spec.requirements.items():
            d = critical.decision(req, sig)
            assert d.robustness == float(stl.robustness_at0(req, sig))
            if d.compare is None:
                continue
            decided += 1
            value = float(stl.robustness(d.compare, sig)[d.step])
            assert abs(value) == abs(d.robustness), name
            windows = {id(c): w for c, w in critical.read_windows(req, 12)}[id(d.compare)]
            assert any(a <= d.step <= b for a, b in windows), (name, d.step, windows)
    assert decided > 800


def step1_doc(recipe: str) -> dict:
    """A prune report's step 1: the dense level, a level below the reward cutoff, and one
    whose reward passes but the safety screen rejects (deep), or plain k trials (paper)."""
    scan = [{"k": 0.0, "sparsity": 0.0, "mean_reward": 200.0, "passes": True},
            {"k": 0.9, "sparsity": 0.9, "mean_reward": 150.0, "passes": False},
            {"k": 0.8, "sparsity": 0.8, "mean_reward": 199.0, "passes": recipe == "paper"}]
    if recipe == "deep":
        scan[0].update(screen_violations=2, screen_dense_violations=2, screen_points=100,
                       screen_p=1.0, screen_alpha=0.0125)
        scan[2].update(screen_violations=13, screen_dense_violations=4, screen_points=200,
                       screen_p=0.0032, screen_alpha=0.0125)
    return {"schema": PRUNE_SCHEMA, "command": "prune", "dense_reward": 200.0,
            "inputs": {"reward_threshold": 195.0, "options": {"recipe": recipe}},
            "step1": {"k": 0.0 if recipe == "deep" else 0.8, "scan": scan}}


def test_step1_is_labelled_by_recipe_and_a_screen_rejection_says_so():
    deep = step1_doc("deep")
    assert [prune_plots.step1_outcome(h) for h in deep["step1"]["scan"]] == ["accepted", "cutoff", "screen"]
    fig, caption = prune_plots.step1_figure(deep, deep["step1"]["scan"])
    left = fig.axes[0]
    assert "one-shot" not in left.get_title() + caption and "gradual schedule" in left.get_title()
    marked = {ln.get_label(): list(ln.get_xdata()) for ln in left.lines if ln.get_marker() in ("o", "x", "s")}
    assert marked["rejected by the safety screen"] == [np.float64(1.0 - 0.8)]
    assert marked["reward below the cutoff (rejected)"] == [np.float64(1.0 - 0.9)]
    rows = table_rows(report.render(deep), "step1")
    assert [r[4] for r in rows] == ["passes", "fails", "screen rejects"]

    paper = step1_doc("paper")
    assert [prune_plots.step1_outcome(h) for h in paper["step1"]["scan"]] == ["accepted", "cutoff", "accepted"]
    fig, caption = prune_plots.step1_figure(paper, paper["step1"]["scan"])
    assert fig.axes[0].get_title() == "mean reward of the one-shot pruned policy"
    assert not any(ln.get_label() == "rejected by the safety screen" for ln in fig.axes[0].lines)


def sparse_policy(keep: float = 0.001):
    """An MLP with 256-unit hidden layers keeping the largest `keep` of each layer's
    weights (at least one): 99.9% sparse by default."""
    import torch

    from sanp.model import MLPPolicy

    torch.manual_seed(0)
    net = MLPPolicy([8, 256, 256, 4], action_kind="discrete")
    masks = []
    for lin in net.linears:
        w = lin.weight.detach().abs().reshape(-1)
        n = max(1, round(keep * w.numel()))
        m = torch.zeros_like(w)
        m[torch.topk(w, n).indices] = 1
        masks.append(m.reshape(lin.weight.shape))
    net.set_masks(masks)
    return net


def test_a_999_sparse_network_shows_its_surviving_weights():
    from matplotlib.collections import PathCollection
    from matplotlib.image import imread

    from sanp.report.drawing import png_bytes

    sparse = sparse_policy()
    assert sparse.sparsity() > 0.998
    fig, _ = prune_plots.weights_figure([("sparse", sparse)])
    layers = [np.asarray(w.detach()) for w in sparse.effective_weights()]
    for ax, w in zip(fig.axes, layers):
        (dots,) = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(dots.get_offsets()) == np.count_nonzero(w) > 0  # one marker per kept weight
    import io

    rgb = imread(io.BytesIO(png_bytes(fig)))[..., :3]
    height = rgb.shape[0]
    for ax, w in zip(fig.axes, layers):
        box = ax.get_window_extent()
        x0, x1 = int(box.x0) + 3, int(box.x1) - 3  # inside the frame
        y0, y1 = height - int(box.y1) + 3, height - int(box.y0) - 3
        inside = rgb[y0:y1, x0:x1]
        coloured = np.any(inside < 0.9, axis=-1).sum()
        assert coloured >= 20 * np.count_nonzero(w), (ax.get_title(), coloured)


def test_the_sparsity_bars_tell_96_from_999_percent():
    fig, caption = prune_plots.sparsity_figure([0.96, 0.99, 0.999], [0.95, 0.98, 0.997])
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and "log scale" in caption
    fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
    step1 = [p for p in ax.patches][:3]
    tall = [p.get_window_extent().height for p in step1]
    axis = ax.get_window_extent().height
    # 4% kept against 0.1% kept: on a 0-125% sparsity axis 3% of the height apart
    assert tall[0] - tall[2] > 0.3 * axis and tall[0] > tall[1] > tall[2] > 0
    labels = [t.get_text() for t in ax.texts]
    assert labels[:3] == ["96.00%", "99.00%", "99.90%"]
