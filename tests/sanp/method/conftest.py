"""The zoo CartPole policy pruned one-shot beyond what it survives: the shared starting
point of the recovery and repair tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import stl
from sanp import formats as policies
from sanp.envs import bind
from sanp.falsify import FalsifyConfig, falsify
from sanp.method.recover import find_recovery_states
from sanp.method.step1 import importance, prune
from sanp.rollout import run_batch

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def overpruned_cartpole():
    """`overpruned_cartpole(k)` -> (spec, binding, dense, sparse, states): the zoo policy
    pruned to k by activation over the states of 5 dense episodes (also returned)."""
    spec = stl.load(ROOT / "specs" / "cartpole.stl")
    binding = bind(spec)
    dense = policies.load(ROOT / "zoo" / "cartpole" / "dense.onnx")
    visits = run_batch(dense, binding, [None] * 5, list(range(5)), record_states=False)
    states = np.concatenate([t.observations for t in visits])
    scores = importance(dense, "activation", states)

    def make(k: float):
        return spec, binding, dense, prune(dense, k, scores, "global"), states

    return make


@pytest.fixture(scope="session")
def falsified_cartpole(overpruned_cartpole):
    """The policy pruned to 98%, its counterexamples from 30 uniform points and their
    recovery states: (spec, binding, dense, sparse, found, recovery states, states)."""
    spec, binding, dense, sparse, states = overpruned_cartpole(0.98)
    found = falsify(sparse, binding, spec, FalsifyConfig(budget=30, optimizer="random", seed=3, collect_all=True))
    assert found.counterexamples, "the over-pruned policy should be falsifiable"
    rec = find_recovery_states(dense, binding, spec, found.counterexamples, spec.reward_threshold)
    return spec, binding, dense, sparse, found, rec, states
