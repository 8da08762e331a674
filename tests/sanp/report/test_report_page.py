"""The HTML report (`sanp.report.page`): pages rendered from real verify and prune runs
(tiny budgets, through JSON as the CLI writes it) and from hand-built documents; the
verdict, the tables, every image a PNG data URI, nothing external, escaping, non-finite
values, one-line errors; and the page loaded in headless Chromium with all its images."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sanp_actors import LinearCartPole  # push right iff k.s > 0

from sanp import report
from sanp.commands.common import load_policy
from sanp.envs import bind
from sanp.errors import OutputError, SanpError
from sanp.falsify import FalsifyConfig, falsify
from sanp.method import PruneConfig, prune_and_refine
from sanp.report import (
    PRUNE_SCHEMA,
    VERIFY_SCHEMA,
    comparisons,
    plot_prune,
    prune_report,
    verify_page,
    verify_report,
)
from sanp.report.drawing import AMBER, GREEN, RED

ROOT = Path(__file__).resolve().parents[3]
CARTPOLE = ROOT / "specs" / "cartpole.stl"
DENSE = ROOT / "zoo" / "cartpole" / "dense.onnx"
PNG = b"\x89PNG\r\n\x1a\n"
WEAK = (0.0, 0.0, 0.6, 1.0)  # drifts off the track from a small part of the cube (see test_falsify)
SAFE = (1.0, 1.0, 10.0, 2.0)  # safe on the cube (see test_falsify)


def as_file(doc) -> dict:
    """The document as the CLI writes it and `load` reads it back (strict JSON)."""
    return json.loads(json.dumps(doc, allow_nan=False))


def verify_doc(tmp: Path, spec, name: str, k, **cfg) -> dict:
    b = bind(spec)
    path = tmp / f"{name}.txt"  # the report records the policy file's digest
    path.write_text(repr(k))
    actor = LinearCartPole(k)
    config = FalsifyConfig(**cfg)
    result = falsify(actor, b, spec, config)
    options = {
        "budget": config.budget,
        "optimizer": config.optimizer,
        "all": config.collect_all,
        "mode": config.mode,
        "requirements": list(result.requirements),
    }
    return as_file(
        verify_report(result, spec, policy_path=str(path), spec_path=str(CARTPOLE), options=options)
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cartpole_spec):
    """Real runs at tiny budgets: a falsified verify, a clean verify, a prune (whose
    round 1 finds counterexamples) with its weights.png."""
    tmp = tmp_path_factory.mktemp("html")
    out = {
        "falsified": verify_doc(
            tmp,
            cartpole_spec,
            "weak",
            WEAK,
            budget=40,
            optimizer="random",
            seed=0,
            collect_all=True,
        ),
        "clean": verify_doc(
            tmp,
            cartpole_spec,
            "safe",
            SAFE,
            budget=20,
            optimizer="random",
            seed=0,
            collect_all=True,
        ),
    }
    b = bind(cartpole_spec)
    dense = load_policy(str(DENSE), b)
    config = PruneConfig(
        recipe="paper",
        criterion="activation",
        episodes=5,
        budget=5,
        rounds=2,
        round_uniform=200,
        heldout_budget=5,
        heldout_uniform=20,
    )
    result = prune_and_refine(dense, b, cartpole_spec, config)
    out["prune"] = as_file(
        prune_report(
            result,
            cartpole_spec,
            policy_path=str(DENSE),
            spec_path=str(CARTPOLE),
            output_path=str(tmp / "sparse.onnx"),
        )
    )
    nets = [("dense", dense), ("pruned (step 1)", result.step1.policy), ("refined", result.policy)]
    out["weights"] = plot_prune(out["prune"], nets, tmp / "plots")[0]
    out["tmp"] = tmp
    return out


@pytest.fixture(scope="module")
def falsified_page(runs) -> str:
    return report.render(runs["falsified"])


def images(page: str) -> list[str]:
    return re.findall(r"<img\b[^>]*>", page)


def check_images(page: str) -> list[bytes]:
    """Every <img> is a base64 PNG data URI; the decoded PNGs."""
    pngs = []
    for tag in images(page):
        src = re.search(r'\ssrc="([^"]*)"', tag).group(1)
        assert src.startswith("data:image/png;base64,"), src[:60]
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(PNG) and len(data) > 1000
        pngs.append(data)
    return pngs


def check_self_contained(page: str) -> None:
    for attr in re.findall(r'\s(?:src|href|action|poster|srcset)="([^"]*)"', page):
        assert attr.startswith("data:image/png;base64,"), attr[:60]
    assert "<script" not in page.lower() and "<link" not in page.lower() and "url(" not in page
    assert "@import" not in page


def verdict_head(page: str) -> str:
    m = re.search(
        r'<div class="verdict-head" style="background:(#[0-9a-f]{6})">([^<]*)</div>', page
    )
    assert m, "no verdict"
    assert page.index('class="verdict"') < page.index("<h2>"), "the verdict comes first"
    return m.group(1), html.unescape(m.group(2))


def table_rows(page: str, section_id: str) -> list[list[str]]:
    """Text of the body cells of the first table in a section."""
    sec = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.DOTALL).group(1)
    body = re.search(r"<tbody>(.*?)</tbody>", sec, re.DOTALL).group(1)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.DOTALL)
        ]
        for r in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)
    ]


# ---------------------------------------------------------------- real runs


def test_verify_falsified_page(runs, falsified_page):
    doc, page = runs["falsified"], falsified_page
    assert doc["verdict"] == "falsified" and doc["counterexamples"]
    colour, text = verdict_head(page)
    assert text == "FALSIFIED" and colour == RED
    assert (
        f"{len(doc['counterexamples'])} counterexample(s) in 40 evaluations (random, seed 0)"
        in page
    )
    reqs = table_rows(page, "requirements")
    assert [r[0] for r in reqs] == ["position", "momentum", "angle"]
    assert reqs[0][1] == "always (abs(x) <= 2.4)" and reqs[0][5] == "violated"
    assert reqs[1][1] == "always (abs(cart_mass * x_dot) <= 2)" and reqs[1][5] == "held"
    assert reqs[0][4] == str(doc["requirements"][0]["counterexamples"])
    cex_rows = table_rows(page, "counterexamples")
    assert len(cex_rows) == len(doc["counterexamples"])
    assert cex_rows[0][2] == "position" and cex_rows[0][4] == str(doc["counterexamples"][0]["step"])
    inputs = dict(re.findall(r"<tr><th>([^<]*)</th><td>(.*?)</td></tr>", page))
    assert doc["inputs"]["policy_sha256"] in inputs["policy SHA-256"]
    assert doc["inputs"]["spec_sha256"] in inputs["spec SHA-256"]
    assert "numpy " + doc["inputs"]["versions"]["numpy"] in page
    # the spec text travels with the report; its const cart_mass is evaluated by stl
    assert doc["inputs"]["spec_text"] == CARTPOLE.read_text()
    shown = re.search(r"<summary>the spec</summary><pre>(.*?)</pre>", page, re.DOTALL).group(1)
    assert html.unescape(shown) == CARTPOLE.read_text()
    spec, _ = comparisons.spec_of(doc)
    cex = {**doc["counterexamples"][0], "violated": ["momentum"]}
    (panel,) = comparisons.cex_view(cex, spec).panels
    assert panel.title == "momentum: abs(cart_mass * x_dot) <= 2"
    assert np.allclose(panel.lines[0].values, np.abs(1.0 * np.array(cex["signals"]["x_dot"])))
    # robustness plot + one trajectory per counterexample, each a PNG
    pngs = check_images(page)
    assert len(pngs) == 1 + min(len(doc["counterexamples"]), verify_page.MAX_CEX_PLOTS)
    assert "Counterexample #1: violates position" in page and "critical step" in page
    check_self_contained(page)


def test_verify_clean_page(runs):
    doc = runs["clean"]
    assert doc["verdict"] == "no counterexample found" and not doc["counterexamples"]
    page = report.render(doc)
    colour, text = verdict_head(page)
    assert text == "no counterexample found" and colour == GREEN
    assert "No counterexample found within 20 evaluations" in page and "evidence, not proof" in page
    assert [r[5] for r in table_rows(page, "requirements")] == ["held"] * 3
    assert 'id="counterexamples"' not in page
    assert len(check_images(page)) == 1
    check_self_contained(page)


def test_prune_page(runs):
    doc = runs["prune"]
    n_cex = [len(r["counterexamples"]) for r in doc["rounds"]]
    assert n_cex[0] > 0, "the tiny prune run is expected to find counterexamples in round 1"
    page = report.render(
        doc, images={"|weights| of the dense, pruned and refined networks": runs["weights"]}
    )
    colour, text = verdict_head(page)
    assert text == doc["verdict"]["headline"]
    assert colour == (GREEN if doc["verdict"]["ok"] else RED)
    assert f"Counterexamples per round: {', '.join(map(str, n_cex))}." in page
    # requirements: counterexamples per round and held-out violations
    reqs = {r[0]: r for r in table_rows(page, "requirements")}
    assert set(reqs) == {"position", "momentum", "angle"}
    for name, row in reqs.items():
        per_round = [
            sum(name in c["violated"] for c in r["counterexamples"]) for r in doc["rounds"]
        ]
        assert row[1 : 1 + len(per_round)] == [str(n) for n in per_round]
        assert row[-2] == str(doc["heldout"]["dense"]["per_requirement"][name])
    layers = table_rows(page, "sparsity")
    assert len(layers) == len(doc["final"]["layer_sparsity"]) == 3
    assert layers[0][1] == f"{100 * doc['step1']['layer_sparsity'][0]:.2f}%"
    assert layers[0][2] == f"{100 * doc['final']['layer_sparsity'][0]:.2f}%"
    restored = [
        sum((r["restored_per_layer"] or [0, 0, 0])[i] for r in doc["rounds"]) for i in range(3)
    ]
    assert [int(r[3]) for r in layers] == restored
    rounds = table_rows(page, "rounds")
    assert [int(r[4]) for r in rounds] == n_cex
    for sid in ("step1", "heldout", "figures", "inputs"):
        assert f'<section id="{sid}">' in page
    assert len(re.findall(r"<tr><td[^>]*>\d+</td><td[^>]*>[\d.]+</td>", page)) >= len(
        doc["step1"]["scan"]
    )
    pngs = check_images(page)
    # sparsity, step 1, rounds, p search (+ held-out only if there was a violation), weights.png
    assert len(pngs) >= 5
    assert runs["weights"].read_bytes() in pngs, "the given PNG is embedded byte for byte"
    check_self_contained(page)


def test_load_and_write(runs, tmp_path):
    path = tmp_path / "v.json"
    path.write_text(json.dumps(runs["clean"]))
    doc = report.load(path)
    report.write_html(doc, tmp_path / "v.html")
    text = (tmp_path / "v.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert text == report.render(doc)  # deterministic
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left"
    with pytest.raises(OutputError):
        report.write_html(doc, tmp_path / "missing" / "v.html")


# ---------------------------------------------------------------- hand-built documents


HAND_SPEC = """env CartPole-v1
signal x = obs[0]
signal v = obs[1]
signal a = action
const k = 0.5
req near: always (abs(x) <= 1.5)
req both: near and always[0:5] (k * v < 2 and a != 1) or x + -2 * v >= (v - 1) / 2
"""


def hand_verify() -> dict:
    """A verify document with non-finite values, markup in names, and a requirement that
    uses another one and a const (the spec text travels in the inputs)."""
    t = 11
    x = [0.2 * i for i in range(t)]
    return {
        "schema": VERIFY_SCHEMA,
        "command": "verify",
        "verdict": "falsified",
        "inputs": {
            "policy": "<script>alert(1)</script>.onnx",
            "policy_sha256": "ab" * 32,
            "spec": "a&b.stl",
            "spec_sha256": "cd" * 32,
            "spec_text": HAND_SPEC,
            "env_id": "CartPole-v1",
            "options": {"budget": 4, "optimizer": "bo", "note": "<i>x</i>"},
            "seed": 3,
            "versions": {"python": "3.11"},
        },
        "requirements": [
            {
                "name": "near",
                "formula": "always (abs(x) <= 1.5)",
                "evaluations": 4,
                "min_robustness": "-inf",
                "counterexamples": 2,
            },
            {
                "name": "both",
                "formula": "near and always[0:5] (k * v < 2 and a != 1) or x + -2 * v >= (v - 1) / 2",
                "evaluations": 4,
                "min_robustness": "nan",
                "counterexamples": 1,
            },
        ],
        "evaluations": [
            {
                "index": 0,
                "point": {"p": 0.1},
                "robustness": {"near": 1.0, "both": 1.0},
                "objective": 1.0,
            },
            {
                "index": 1,
                "point": {"p": 0.2},
                "robustness": {"near": "inf", "both": "inf"},
                "objective": "inf",
            },
            {
                "index": 2,
                "point": {"p": 0.3},
                "robustness": {"near": "nan", "both": "nan"},
                "objective": "nan",
            },
            {
                "index": 3,
                "point": {"p": 0.4},
                "robustness": {"near": "-inf", "both": "-inf"},
                "objective": "-inf",
            },
        ],
        "counterexamples": [
            {
                "point": {"p": 0.4},
                "violated": ["near", "both"],
                "robustness": {"near": "-inf", "both": "-inf"},
                "min_robustness": "-inf",
                "step": 8,
                "evaluation": 3,
                "length": t - 1,
                "total_reward": 10.0,
                "terminated": True,
                "nonfinite": True,
                "signals": {
                    "x": x[:8] + ["nan", "inf", "-inf"],
                    "v": [1.0] * t,
                    "a": [0, 1] * 5 + [1],
                },
                "actions": [0, 1] * 5,
            },
            {
                "point": {"p": 0.5},
                "violated": ["near"],
                "robustness": {"near": -0.5, "both": -0.5},
                "min_robustness": -0.5,
                "step": 10,
                "evaluation": 3,
                "length": t - 1,
                "total_reward": 10.0,
                "terminated": False,
                "nonfinite": False,
                "signals": {"x": x, "v": [1.0] * t, "a": [0] * t},
                "actions": [0] * 10,
            },
        ],
        "timing": {"wall_s": "nan"},
    }


def test_escaping_and_nonfinite():
    page = report.render(hand_verify())
    assert "<script>" not in page and "<i>x</i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.onnx" in page and "a&amp;b.stl" in page
    reqs = table_rows(page, "requirements")
    assert reqs[0][3] == "−∞" and reqs[1][3] == "NaN"
    assert reqs[1][1].startswith("near and always[0:5] (k * v < 2 and a != 1)")
    cex = table_rows(page, "counterexamples")
    assert cex[0][3] == "−∞" and cex[0][8] == "non-finite" and cex[1][8] == "no"
    assert "3 non-finite value(s)" in page
    assert "bound" not in re.sub(r"<img[^>]*>", "", page).split("Trajectories")[1].split("</p>")[1]
    assert len(check_images(page)) == 3
    check_self_contained(page)


def test_comparisons_come_from_stl_consts_included():
    """The panels list each comparison of the violated requirements (through `near`,
    each once) with both sides evaluated by stl over the recorded signals; `k * v`
    uses the const k = 0.5 of the spec text."""
    doc = hand_verify()
    spec, note = comparisons.spec_of(doc)
    assert note == "" and set(spec.requirements) == {"near", "both"}
    cex = doc["counterexamples"][1]
    view = comparisons.cex_view(cex, spec)
    assert [p.title for p in view.panels] == ["near: abs(x) <= 1.5"] and view.note == ""
    view = comparisons.cex_view({**cex, "violated": ["both"]}, spec)
    assert [p.title for p in view.panels] == [
        "both: abs(x) <= 1.5",
        "both: k * v < 2",
        "both: a != 1",
        "both: x + -2 * v >= (v - 1) / 2",
    ]
    x, v = np.array(cex["signals"]["x"]), np.array(cex["signals"]["v"])
    left, right = view.panels[0].lines
    assert (left.label, left.kind, right.kind) == ("abs(x)", "left", "right")
    assert np.allclose(left.values, np.abs(x)) and np.allclose(right.values, 1.5)
    left, right = view.panels[1].lines  # the const
    assert np.allclose(left.values, 0.5 * v) and np.allclose(right.values, 2.0)
    left, right = view.panels[3].lines
    assert np.allclose(left.values, x - 2 * v) and np.allclose(right.values, (v - 1) / 2)


def test_panels_without_a_usable_spec_draw_the_signals():
    cex = hand_verify()["counterexamples"][1]
    for doc, why in (
        ({"inputs": {}}, "carries no spec text"),
        ({"inputs": {"spec_text": "env CartPole-v1\nreq r: (x <"}}, "does not parse"),
        ({"inputs": {"spec_text": "#" * (comparisons.MAX_SPEC_CHARS + 1)}}, "over 200000 characters"),
    ):
        spec, note = comparisons.spec_of(doc)
        assert spec is None and why in note and "\n" not in note
        view = comparisons.cex_view(cex, spec, note)
        assert [p.title for p in view.panels] == ["x", "v", "a"]
        assert view.note.startswith(note) and view.note.endswith("The recorded signals are drawn instead.")
    spec, _ = comparisons.spec_of(hand_verify())
    view = comparisons.cex_view({**cex, "violated": ["gone"]}, spec)
    assert "no requirement 'gone'" in view.note and [p.title for p in view.panels] == ["x", "v", "a"]
    short = {**cex, "violated": ["both"], "signals": {"x": [0.0, 1.0]}}  # v and a missing
    view = comparisons.cex_view(short, spec)
    assert "cannot be evaluated" in view.note and [p.title for p in view.panels] == ["x"]


def test_prune_hand_built_not_converged():
    doc = {
        "schema": PRUNE_SCHEMA,
        "command": "prune",
        "verdict": "not converged; held-out worse than dense",
        "inputs": {
            "policy": "p.onnx",
            "spec": "s.stl",
            "options": {},
            "seed": 0,
            "reward_threshold": 195,
        },
        "output": "o.onnx",
        "dense_reward": 200.0,
        "step1": {
            "k": 0.5,
            "sparsity": 0.5,
            "layer_sparsity": [0.5, 0.5],
            "mean_reward": 196.0,
            "scan": [
                {"k": 0.0, "sparsity": 0.0, "mean_reward": 200.0, "passes": True},
                {"k": 1.0, "sparsity": 0.99, "mean_reward": "-inf", "passes": False},
                {"k": 0.5, "sparsity": 0.5, "mean_reward": 196.0, "passes": True},
            ],
        },
        "rounds": [
            {
                "round": 1,
                "seed": 1,
                "evaluations": 5,
                "uniform_evaluations": 0,
                "counterexamples": [
                    {"point": {"x": 0.0}, "violated": ["r"], "min_robustness": -1.0, "step": 3}
                ],
                "recovered": 0,
                "unrecoverable": 1,
                "p": None,
                "restored_per_layer": None,
                "unfixed": 0,
                "p_trials": [],
                "sparsity": 0.5,
            }
        ],
        "final": {
            "sparsity": 0.5,
            "layer_sparsity": [0.5, 0.5],
            "mean_reward": 196.0,
            "converged": False,
        },
        "heldout": {
            "dense": {
                "bo_evaluations": 5,
                "bo_counterexamples": 0,
                "bo_min_robustness": 1.0,
                "uniform_points": 10,
                "uniform_violations": 0,
                "per_requirement": {"r": 0},
                "mean_reward": 200.0,
            },
            "sparse": {
                "bo_evaluations": 5,
                "bo_counterexamples": 2,
                "bo_min_robustness": "-inf",
                "uniform_points": 10,
                "uniform_violations": 3,
                "per_requirement": {"r": 3},
                "mean_reward": 196.0,
            },
        },
        "timing": {},
    }
    page = report.render(doc)
    colour, text = verdict_head(page)
    assert text == "not converged; held-out worse than dense" and colour == RED
    assert "more than dense" in page
    held = {r[0]: r for r in table_rows(page, "heldout")}
    assert held["BO counterexamples"][1:] == ["0", "2 more than dense"]
    assert held["BO min robustness"][2] == "−∞"
    assert len(check_images(page)) == 4  # sparsity, step 1, rounds, held-out (no p trials)
    doc["verdict"], doc["heldout"] = (
        "not converged; held-out no worse than dense",
        {"dense": None, "sparse": None},
    )
    colour, _ = verdict_head(report.render(doc))
    assert colour == AMBER


def test_the_step1_table_shows_the_deep_recipes_safety_screen():
    doc = {"schema": PRUNE_SCHEMA, "command": "prune", "step1": {"scan": [
        {"k": 0.0, "sparsity": 0.0, "mean_reward": 200.0, "passes": True, "screen_violations": 2,
         "screen_dense_violations": 2, "screen_points": 100, "screen_p": 1.0, "screen_alpha": 0.0125},
        {"k": 0.9, "sparsity": 0.9, "mean_reward": 150.0, "passes": False},
        {"k": 0.8, "sparsity": 0.8, "mean_reward": 199.0, "passes": False, "screen_violations": 13,
         "screen_dense_violations": 4, "screen_points": 200, "screen_p": 0.0032, "screen_alpha": 0.0125},
    ]}}
    page = report.render(doc)
    assert "reward cutoff and screen" in page and "time limit" not in page
    doc["step1"]["stop"] = "time_limit"
    assert "Not reproducible: step 1 stopped by the safety time limit (--deep-time-limit); the result depends on " \
        "machine speed." in report.render(doc)
    doc["safety_stop"] = {"option": "--deep-time-limit", "seconds": 60, "levels": 3, "text": "stopped by the "
                          "safety time limit (60 s) after 3 level(s); the result depends on machine speed"}
    assert "after 3 level(s); the result depends on machine speed." in report.render(doc)
    del doc["safety_stop"]
    del doc["step1"]["stop"]
    assert [r[-1] for r in table_rows(page, "step1")] == [
        "2 vs 2 of 100 (p = 1)", "not run", "13 vs 4 of 200 (p = 0.0032)"]
    del doc["step1"]["scan"][2]["screen_points"]  # a report from before the sequential screen
    assert table_rows(report.render(doc), "step1")[2][-1] == "13 (p = 0.0032)"
    del doc["step1"]["scan"][2], doc["step1"]["scan"][0]  # the paper recipe's scan: no screen
    page = report.render(doc)
    assert "safety screen" not in page and len(table_rows(page, "step1")[0]) == 5


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "doc, message",
    [
        (
            {"schema": "sanp.verify/2"},
            "schema 'sanp.verify/2'; expected sanp.verify/1, sanp.prune/1 or sanp.prove/1",
        ),
        ({"command": "verify"}, "no schema field"),
        ([1, 2], "expected a JSON object, got list"),
        ({"schema": VERIFY_SCHEMA, "requirements": 5}, "malformed sanp.verify/1 report"),
    ],
)
def test_bad_documents(doc, message):
    with pytest.raises(report.ReportError) as err:
        report.render(doc)
    assert isinstance(err.value, SanpError)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_load_errors(tmp_path):
    cases = {"missing.json": None, "bad.json": "{not json", "other.json": '{"schema": "x"}'}
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(report.ReportError) as err:
            report.load(tmp_path / name)
        assert name in str(err.value) and "\n" not in str(err.value)


def test_image_errors(tmp_path):
    doc = hand_verify()
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a png")
    for path, message in (
        (tmp_path / "a.jpg", "is not a PNG file"),
        (tmp_path / "none.png", "cannot read image"),
    ):
        with pytest.raises(report.ReportError, match=message):
            report.render(doc, images={"x": path})


# ---------------------------------------------------------------- in a browser

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var d = document.createElement("div");
  d.id = "image-check";
  d.textContent = "images " + ok + "/" + imgs.length;
  document.body.appendChild(d);
});
</script>"""


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / "profile"
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_page_in_headless_chromium(falsified_page, tmp_path):
    from PIL import Image

    page = falsified_page
    n = len(images(page))
    # the page plus a script that reports how many images decoded
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", IMAGE_CHECK + "\n</body>"), encoding="utf-8")
    shot = tmp_path / "shot.png"
    run = chromium(
        tmp_path,
        "--virtual-time-budget=3000",
        f"--screenshot={shot}",
        "--window-size=1200,1600",
        "--dump-dom",
        probe.as_uri(),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    m = re.search(r'<div id="image-check">images (\d+)/(\d+)</div>', run.stdout)
    assert m, f"the page did not load: {run.stdout[:500]!r} {run.stderr[-1000:]}"
    assert (int(m.group(1)), int(m.group(2))) == (n, n), "every image decodes"
    assert shot.exists(), run.stderr[-2000:]
    im = np.asarray(Image.open(shot).convert("RGB"))
    assert im.shape[:2] == (1600, 1200)
    rgb = (im[..., 0].astype(np.int32) << 16) | (im[..., 1].astype(np.int32) << 8) | im[..., 2]
    assert len(np.unique(rgb)) > 200, "the screenshot is not blank"
    red = np.array([int(RED[i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(im[:300].astype(int) - red).sum(axis=2) < 10).sum() > 5000, (
        "the red verdict banner shows"
    )


def test_the_page_states_the_noninferiority_verdict_the_error_split_and_each_confirmation():
    from sanp.stats import noninferiority

    ni = noninferiority((0, 1000), (1, 1000), 0.005, 0.045, 0.95, "held-out stream of seed 0").to_json()
    doc = {"schema": PRUNE_SCHEMA, "command": "prune", "verdict": {
        "ok": True, "headline": "compressed to 90.00% sparsity", "details": [], "noninferiority": ni,
        "alpha": {"total": 0.05, "heldout": 0.045, "screen": 0.005, "text": "alpha 0.05 split as: held-out 0.045"}},
        "step1": {"scan": [
            {"k": 0.5, "sparsity": 0.5, "mean_reward": 200.0, "passes": True, "screen_violations": 0,
             "screen_dense_violations": 0, "screen_points": 100, "screen_p": 1.0, "screen_alpha": 0.00125,
             "confirm_violations": 1, "confirm_dense_violations": 0, "confirm_points": 200, "confirm_passed": True},
            {"k": 0.9, "sparsity": 0.9, "mean_reward": 200.0, "passes": False, "screen_violations": 0,
             "screen_dense_violations": 0, "screen_points": 100, "screen_p": 1.0, "screen_alpha": 0.00125,
             "confirm_violations": 5, "confirm_dense_violations": 0, "confirm_points": 200, "confirm_passed": False}]}}
    page = report.render(doc)
    assert "Non-inferiority (margin 0.005, confidence 0.95): non-inferior: with 95% confidence" in html.unescape(page)
    assert "Error budget: alpha 0.05 split as: held-out 0.045." in html.unescape(page)
    assert [r[-1] for r in table_rows(page, "step1")] == [
        "0 vs 0 of 100 (p = 1); confirmation 1 vs 0 of 200 fresh points",
        "0 vs 0 of 100 (p = 1); confirmation 5 vs 0 of 200 fresh points, beyond the margin"]
