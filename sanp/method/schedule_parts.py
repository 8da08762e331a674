"""Small parts of the deep recipe's schedule (sanp.method.deep): the buffer of training
states it fine-tunes on, the timer of its phases, and what its safety time limit says."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from sanp import seeds


class StateBuffer:
    """The schedule's training states: every collect round's added, subsampled to `cap`
    with the stream deep.buffer.<adds> of the run's seed tree, so a resumed run subsamples as
    the uninterrupted one did."""

    def __init__(self, cap: int, seed: int, states: np.ndarray | None = None, adds: int = 0):
        self.parts: list[np.ndarray] = [] if states is None else [np.asarray(states, dtype=np.float32)]
        self.cap = cap
        self.seed = seed
        self.adds = adds

    def add(self, states: np.ndarray) -> None:
        self.parts.append(np.asarray(states, dtype=np.float32))
        self.adds += 1
        allx = self.states
        if len(allx) > self.cap:
            rng = seeds.generator(self.seed, f"deep.buffer.{self.adds}")
            allx = allx[np.sort(rng.choice(len(allx), self.cap, replace=False))]
        self.parts = [allx]

    @property
    def states(self) -> np.ndarray:
        return np.concatenate(self.parts) if len(self.parts) > 1 else self.parts[0]


class PhaseTimer:
    """Calls a function and adds its wall time to a phase of `times`."""

    def __init__(self) -> None:
        self.times = {"collect": 0.0, "finetune": 0.0, "evaluate": 0.0, "screen": 0.0}

    def __call__(self, key: str, f: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return f(*a, **kw)
        finally:
            self.times[key] += time.perf_counter() - t


def safety_stop_text(levels: int, limit: float | None) -> str:
    """What a run stopped by the safety time limit says, in its log, on the console and
    in its report."""
    return (f"stopped by the safety time limit ({limit:g} s) after {levels} level(s); the result depends on "
            "machine speed and is not reproducible: raise --deep-time-limit or leave it off")
