"""A seeded run repeats: two `sanp prune` runs (the deep recipe, whose schedule draws from
most streams of the seed tree) and two `sanp verify` runs, each in its own process and
directory, write JSON reports identical byte for byte once the report's timing fields
(`sanp.report.TIMING_FIELDS`, and nothing else) are dropped. And the safety time limit,
the one wall-clock limit left, says when it binds: not reproducible, exit 1."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sanp import seeds
from sanp.report import TIMING_FIELDS, without_timing

ROOT = Path(__file__).resolve().parents[2]
DENSE = ROOT / "zoo" / "cartpole" / "dense.onnx"
SPEC = ROOT / "specs" / "cartpole.stl"
TINY_DEEP = ["--recipe", "deep", "--episodes", "10", "--budget", "4", "--rounds", "1", "--round-uniform", "20",
             "--heldout-budget", "4", "--heldout-uniform", "20", "--deep-finetune-steps", "60",
             "--deep-screen", "20", "--deep-collect-points", "2", "--deep-max-sparsity", "0.75", "--seed", "3"]
TIMEOUT = 300


def _sanp(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sanp.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def _text(path: Path) -> str:
    """The report as written, less the timing fields, dumped as sanp dumps it."""
    return json.dumps(without_timing(json.loads(path.read_text())), indent=1, allow_nan=False)


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    """Each command run twice, in two directories, with the same relative output paths
    (so that `output` names the same file)."""
    out = []
    for i in range(2):
        d = tmp_path_factory.mktemp(f"run{i}")
        prune = _sanp(d, "prune", str(DENSE), str(SPEC), "-o", "sparse.onnx", *TINY_DEEP, "--json", "prune.json")
        verify = _sanp(d, "verify", str(DENSE), str(SPEC), "--budget", "10", "--all", "--seed", "3",
                       "--json", "verify.json")
        out.append((d, prune, verify))
    return out


def test_the_timing_fields_are_the_timing_block_only():
    assert TIMING_FIELDS == ("timing",)


@pytest.mark.parametrize("name", ["prune.json", "verify.json"])
def test_two_seeded_runs_write_identical_reports_but_for_timing(twice, name):
    (d0, p0, v0), (d1, p1, v1) = twice
    for run in (p0, v0, p1, v1):
        assert run.returncode in (0, 1), run.stderr[-2000:]
    a, b = _text(d0 / name), _text(d1 / name)
    assert a == b
    doc = json.loads((d0 / name).read_text())
    assert set(doc) - set(json.loads(a)) == set(TIMING_FIELDS)
    assert doc["seeds"]["seed"] == 3
    # the timing itself is what differs between machines and runs: it is there, and not compared
    assert doc["timing"]


def test_a_seeded_prune_records_its_streams_and_is_reproducible(twice):
    d0, prune, _ = twice[0]
    doc = json.loads((d0 / "prune.json").read_text())
    assert doc["reproducible"] is True and doc["safety_stop"] is None
    names = {s["name"] for s in doc["seeds"]["streams"]}
    assert {"reward", "reset", "round.{i}.falsify", "deep.collect.{r}", "heldout.uniform"} <= names
    assert doc["rounds"][0]["seed"] == seeds.integer(3, "round.1.falsify")  # from the tree, not seed + index
    assert "NOT REPRODUCIBLE" not in prune.stdout


def test_the_safety_time_limit_marks_the_result_not_reproducible_and_exits_1(tmp_path):
    run = _sanp(tmp_path, "prune", str(DENSE), str(SPEC), "-o", "sparse.onnx", *TINY_DEEP,
                "--deep-time-limit", "0.001", "--json", "prune.json")
    assert run.returncode == 1, run.stderr[-2000:]
    doc = json.loads((tmp_path / "prune.json").read_text())
    assert doc["step1"]["stop"] == "time_limit"
    assert doc["reproducible"] is False
    stop = doc["safety_stop"]
    assert stop["option"] == "--deep-time-limit" and stop["seconds"] == 0.001 and stop["levels"] == 0
    assert stop["text"].startswith("stopped by the safety time limit (0.001 s) after 0 level(s); the result "
                                   "depends on machine speed")
    assert "NOT REPRODUCIBLE: step 1 stopped by the safety time limit" in " ".join(run.stdout.split())
