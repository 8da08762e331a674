"""The figures tell the truth: each requirement's panel marks its own critical step
inside its own window (`sanp.report.critical`), the bound is drawn only where the
requirement reads it, step 1 is labelled by recipe and screen, and a 99.9%-sparse
network's surviving weights are visible."""

from __future__ import annotations

import json

import numpy as np
import stl

from sanp.report import VERIFY_SCHEMA, comparisons, critical, plot_verify, plots

PNG = b"\x89PNG\r\n\x1a\n"
T = 61  # observations of a 60-step episode

TWO_REQS = """env CartPole-v1
horizon 60
signal x = obs[0]
signal theta = obs[2]
req early: always (abs(x) <= 0.1)
req late: always[10:200] (abs(theta) <= 0.05)
"""


def two_requirement_cex() -> tuple[dict, np.ndarray, np.ndarray]:
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
    return json.loads(json.dumps(doc)), x, theta


def test_each_requirement_is_marked_at_its_own_step_inside_its_window(tmp_path):
    (tmp_path / "two.stl").write_text(TWO_REQS)
    spec = stl.load(tmp_path / "two.stl")
    doc, x, theta = two_requirement_cex()
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
            windows = dict((id(c), w) for c, w in critical.read_windows(req, 12))[id(d.compare)]
            assert any(a <= d.step <= b for a, b in windows), (name, d.step, windows)
    assert decided > 800
