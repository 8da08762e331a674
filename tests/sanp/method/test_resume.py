"""Interrupting `sanp prune` and resuming it reaches the uninterrupted result."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import stl
from sanp import formats as policies
from sanp.envs import bind
from sanp.errors import OptionError
from sanp.method import PruneConfig, prune_and_refine
from sanp.method.resume_file import Checkpoint
from sanp.report import prune_report

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]
DENSE = ROOT / "zoo" / "cartpole" / "dense.onnx"
SPEC = ROOT / "specs" / "cartpole.stl"
CONFIG = PruneConfig(criterion="activation", episodes=20, budget=6, rounds=3, round_uniform=120,
                     heldout_budget=6, heldout_uniform=100, seed=5, recipe="paper")


def _run(checkpoint=None, stop_at=None):
    spec = stl.load(SPEC)
    binding = bind(spec)
    dense = policies.load(DENSE)

    def log(msg):
        if stop_at and msg.startswith(stop_at):
            raise KeyboardInterrupt

    return prune_and_refine(dense, binding, spec, CONFIG, log=log, checkpoint=checkpoint)


def _doc(result):
    spec = stl.load(SPEC)
    doc = prune_report(result, spec, policy_path=str(DENSE), spec_path=str(SPEC), output_path="x")
    doc.pop("timing")
    return json.dumps(doc, sort_keys=True)


@pytest.fixture(scope="module")
def uninterrupted():
    return _run()


@pytest.mark.parametrize("stop_at", ["round 1: recovery", "held-out check on the dense"])
def test_resume_reaches_the_uninterrupted_result(tmp_path, uninterrupted, stop_at):
    ckpt = Checkpoint(tmp_path / "run.ckpt.npz", {"test": 1})
    with pytest.raises(KeyboardInterrupt):
        _run(ckpt, stop_at)
    assert ckpt.path.exists()
    resumed = _run(ckpt)
    for a, b in zip(uninterrupted.policy.masks, resumed.policy.masks):
        assert torch.equal(a, b)
    assert _doc(resumed) == _doc(uninterrupted)


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    ckpt = Checkpoint(tmp_path / "run.ckpt.npz", {"test": 1})
    with pytest.raises(KeyboardInterrupt):
        _run(ckpt, "step 1 done")
    with pytest.raises(OptionError, match="another run"):
        _run(Checkpoint(ckpt.path, {"test": 2}))


def test_an_edited_checkpoint_is_refused(tmp_path):
    import io

    import numpy as np

    ckpt = Checkpoint(tmp_path / "run.ckpt.npz", {"test": 1})
    with pytest.raises(KeyboardInterrupt):
        _run(ckpt, "step 1 done")
    with np.load(ckpt.path) as z:
        arrays = {k: z[k] for k in z.files}
    original = dict(arrays)
    arrays["sparse_0"] = np.ones_like(arrays["sparse_0"])  # every weight back: a "converged" 0%
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    ckpt.path.write_bytes(buf.getvalue())
    with pytest.raises(OptionError, match="do not match their digest"):
        _run(ckpt)
    del original["digest"]  # an older or hand-made file without one
    buf = io.BytesIO()
    np.savez_compressed(buf, **original)
    ckpt.path.write_bytes(buf.getvalue())
    with pytest.raises(OptionError, match="do not match their digest"):
        _run(ckpt)


def test_sigterm_stops_cleanly_and_resume_finishes(tmp_path):
    out = tmp_path / "sparse.onnx"
    args = [sys.executable, "-m", "sanp.cli", "prune", str(DENSE), str(SPEC), "-o", str(out),
            "--criterion", "activation", "--episodes", "20", "--budget", "6", "--rounds", "3",
            "--round-uniform", "120", "--heldout-budget", "6", "--heldout-uniform", "100",
            "--seed", "5", "--recipe", "paper", "--report", str(tmp_path / "r.json")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = Path(str(out) + ".ckpt.npz")
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode in (0, 1):
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130, (proc.returncode, err[-300:])
    assert "Traceback" not in err and "--resume" in err
    assert ckpt.exists() and not out.exists()
    # without --resume the checkpoint is not silently overwritten
    again = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "--resume" in again.stderr
    done = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=300)
    assert out.exists() and not ckpt.exists(), done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert done.returncode == (0 if report["verdict"]["ok"] else 1), done.stderr
    assert report["final"]["sparsity"] > 0.9
