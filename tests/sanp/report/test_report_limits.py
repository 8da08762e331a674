"""`sanp report` on hostile and very large reports: linear time within a memory limit,
one-line errors with exit 2 for what it refuses, and no output file touched."""

from __future__ import annotations

import json
import math
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sanp.cli import main
from sanp.report import comparisons, drawing, verify_page
from sanp.report.reading import MAX_DEPTH, PNG_MAGIC

SANP = Path(sys.executable).with_name("sanp")
SPEC_HEAD = "env CartPole-v1\nsignal x = obs[0]\nsignal v = obs[1]\nconst k = 0.5\n"


def nested_spec(depth: int) -> str:
    """Requirements that each use the previous one twice: a formula of 2**depth leaves
    when written out (the old page inlined them as text, exponentially)."""
    lines = [SPEC_HEAD, "req r0: always (abs(x) <= 1.5 and k * v < 2)"]
    lines += [f"req r{i}: r{i - 1} and r{i - 1}" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


def big_verify(evaluations: int, steps: int, cexs: int, depth: int = 40) -> dict:
    """A verify report with one target requirement per evaluation (the old page drew one
    legend group each: quadratic), long counterexample trajectories and nested requirements."""
    t = np.arange(steps)
    x = np.round(2 * np.sin(t / 500.0), 4).tolist()
    top = f"r{depth - 1}"
    return {
        "schema": "sanp.verify/1",
        "command": "verify",
        "verdict": "falsified",
        "inputs": {"policy": "p.onnx", "spec": "s.stl", "spec_text": nested_spec(depth),
                   "options": {"optimizer": "bo"}, "seed": 0},
        "requirements": [{"name": f"r{i}", "formula": f"r{i - 1} and r{i - 1}", "evaluations": 1,
                          "min_robustness": -1.0, "counterexamples": 1} for i in range(depth)],
        "evaluations": [{"index": i, "point": {"x": i * 1e-3}, "robustness": {top: math.sin(i)},
                         "objective": math.sin(i), "target": f"r{i % depth}_{i}"}
                        for i in range(evaluations)],
        "counterexamples": [{"point": {"x": 0.1 * j}, "violated": [top], "min_robustness": -1.0 - j,
                             "step": steps // 2, "evaluation": j, "length": steps - 1,
                             "signals": {"x": x, "v": [1.0] * steps}} for j in range(cexs)],
        "timing": {"wall_s": 1.0},
    }


def big_prune(rounds: int, names: int) -> dict:
    cex = [{"point": {"x": 0.0}, "violated": [f"q{j}" for j in range(0, names, 7)],
            "min_robustness": -1.0, "step": 3}]
    return {
        "schema": "sanp.prune/1", "command": "prune", "verdict": "converged; held-out no worse than dense",
        "inputs": {"policy": "p.onnx", "spec": "s.stl", "reward_threshold": 195, "seed": 0},
        "dense_reward": 200.0,
        "step1": {"k": 0.9, "sparsity": 0.9, "layer_sparsity": [0.9] * 200, "mean_reward": 196.0,
                  "history": [{"k": i / rounds, "sparsity": i / rounds, "mean_reward": 200.0 - i % 9,
                               "accepted": i % 2 == 0} for i in range(rounds)]},
        "rounds": [{"round": i + 1, "seed": i, "evaluations": 5, "counterexamples": cex,
                    "p": 0.1, "restored_per_layer": [1] * 200, "p_trials": [[0.1, 2], [0.2, 0]],
                    "sparsity": 0.9} for i in range(rounds)],
        "final": {"sparsity": 0.9, "layer_sparsity": [0.9] * 200, "mean_reward": 196.0, "converged": True},
        "heldout": {side: {"bo_counterexamples": 1, "uniform_points": 1000, "uniform_violations": 2,
                           "per_requirement": {f"q{j}": j % 3 for j in range(names)}}
                    for side in ("dense", "sparse")},
    }


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def run_report(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([str(SANP), "report", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit_memory, check=False)


@pytest.mark.parametrize("kind", ["verify", "prune"])
def test_large_report_renders_in_bounded_time_and_memory(tmp_path, kind):
    """A ~10 MB report renders within 2 GiB and a time bound (idle: a few seconds; the old
    page needed > 300 s and 3.8 GB for 518 KB), and its page stays small."""
    doc = big_verify(30_000, 100_000, 20) if kind == "verify" else big_prune(5_000, 2_000)
    src = tmp_path / "big.json"
    src.write_text(json.dumps(doc))
    assert src.stat().st_size > 3_000_000
    start = time.perf_counter()
    run = run_report(str(src), "-o", str(tmp_path / "big.html"), timeout=240)
    elapsed = time.perf_counter() - start
    assert run.returncode == 0, run.stderr[-2000:]
    page = (tmp_path / "big.html").read_text()
    assert len(page) < 4_000_000 and elapsed < 240
    assert len(re.findall(r"<tr>", page)) < 700, "long tables are cut, with a note"
    if kind == "prune":
        assert "4900 more trials are in the JSON" in page and "Only the last 12 of 5000 rounds" in page
    else:
        assert f"Showing {verify_page.MAX_CEX_PLOTS} of 20" in page
        assert "each stretch&#39;s lowest and highest are drawn" in page
        assert "recorded signals are drawn" not in page  # the comparisons were drawn


def test_nested_requirements_give_each_comparison_once():
    doc = big_verify(10, 50, 1)
    spec, note = comparisons.spec_of(doc)
    view = comparisons.cex_view(doc["counterexamples"][0], spec, note)
    assert [p.title for p in view.panels] == ["r39: abs(x) <= 1.5", "r39: k * v < 2"]
    assert np.allclose(view.panels[1].lines[0].values, 0.5)


def test_thin_keeps_each_stretch_extremes():
    y = np.zeros(1_000_000)
    y[123_457], y[765_432] = -5.0, 7.0
    y[500_000] = np.nan
    keep = drawing.thin(len(y), y)
    assert len(keep) <= drawing.MAX_DRAWN + 1 and {123_457, 765_432, 0, len(y) - 1} <= set(keep)
    assert np.all(np.diff(keep) > 0)
    assert drawing.thin(10).tolist() == list(range(10))


MINIMAL = {"schema": "sanp.verify/1", "command": "verify", "verdict": "no counterexample found", "inputs": {}}
"""The fewest fields `sanp report` renders a file of."""


def nested_json(depth: int) -> str:
    return '{"schema": "sanp.verify/1", "x": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    "content, message",
    [
        (nested_json(100_000), f"nested more than {MAX_DEPTH} levels"),
        (nested_json(MAX_DEPTH + 5), f"nested more than {MAX_DEPTH} levels"),
        ('{"schema": "sanp.verify/1", "n": ' + "7" * 5000 + "}", "Exceeds the limit"),
        ('{"schema": "sanp.verify/1", "command": "verify", "verdict": "x", "inputs": {}, '
         '"evaluations": [{"index": 1' + "0" * 400 + "}]}", "malformed"),
        (b"\xff\xfe{", "not UTF-8"),
    ],
)
def test_hostile_report_files(tmp_path, capsys, content, message):
    src = tmp_path / "r.json"
    src.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "r.html"
    assert main(["report", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_devices_directories_and_size(tmp_path, capsys):
    out = tmp_path / "r.html"
    png = tmp_path / "a.png"
    png.write_bytes(PNG_MAGIC + b"\0" * 2000)
    report = tmp_path / "r.json"
    report.write_text(json.dumps(MINIMAL))
    big = tmp_path / "big.json"
    big.write_text(json.dumps({**MINIMAL, "pad": "x" * (2 << 20)}))
    cases = [
        (["/dev/zero"], "/dev/zero is not a regular file"),
        ([str(tmp_path)], "Is a directory"),
        ([str(report), "--image", "/dev/zero"], "image /dev/zero is not a regular file"),
        ([str(big), "--max-mb", "1"], "over the 1 MiB limit; raise it with --max-mb"),
    ]
    for args, message in cases:
        assert main(["report", *args, "-o", str(out)]) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not out.exists()
    assert main(["report", str(big), "--max-mb", "3", "-o", str(out)]) == 0


def test_output_equal_to_an_image_is_refused_before_writing(tmp_path, capsys):
    png = tmp_path / "weights.png"
    data = PNG_MAGIC + b"\0" * 2000
    png.write_bytes(data)
    report = tmp_path / "r.json"
    report.write_text(json.dumps(MINIMAL))
    for target in (png, tmp_path / "." / "weights.png"):
        assert main(["report", str(report), "--image", f"w={png}", "-o", str(target)]) == 2
        err = capsys.readouterr().err
        assert "is an input of this command" in err and err.count("\n") == 1
        assert png.read_bytes() == data
