"""Where a prune run stands (`Progress`), as a checkpoint saves it, and the checks its
contents must pass when read back: finite values, 0/1 masks with the pruned weights
zero, the recorded sparsities, k, rewards within the env's bounds, levels in order.
`sanp.method.resume_file` writes and verifies the file; this module knows what is in it.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from sanp.errors import OptionError
from sanp.falsify import Counterexample
from sanp.method.deep import ScheduleState, ScheduleStep
from sanp.method.recover import RecoveryState
from sanp.method.rounds import CexSummary, Round
from sanp.method.screen import ConfirmCheck, ScreenCheck
from sanp.method.step1 import SparsitySearch, SparsityStep

RECOVER = "delete it (and its .sanp-key) and rerun without --resume"
"""How to recover from a checkpoint that cannot be resumed: start over."""


@dataclass
class Progress:
    """Where a prune run stands: everything the next phase needs."""

    step1: SparsitySearch
    sparse: Any
    """The sparse policy as the last round left it."""
    converged: bool
    rounds: list[Round] = field(default_factory=list)
    seen: list[RecoveryState] = field(default_factory=list)
    """Recovery states of every round so far."""
    times: dict[str, float] = field(default_factory=dict)
    anchors: np.ndarray | None = None
    """The deep recipe's training states (anchors of its fine-tuning repair)."""
    levels: tuple[Any, ...] = ()
    """The deep recipe's schedule levels, sparsest last (where its repair backs off to)."""
    screen: Any = None
    """The deep recipe's safety screen (not saved: a resumed run draws it again, the same
    points from the same seed)."""


class Contents:
    """A verified checkpoint's state and arrays read back, refusing contents no run
    writes: the digest says who wrote the file, not that what they wrote makes sense."""

    def __init__(self, path: Path, state: dict[str, Any], arrays: dict[str, np.ndarray], dense: Any,
                 bounds: tuple[float, float] | None):
        self.path, self.state, self.arrays, self.dense, self.bounds = path, state, arrays, dense, bounds
        biggest = max(float(t.detach().abs().max()) for lin in dense.linears for t in (lin.weight, lin.bias))
        self.largest = 1e6 * max(1.0, biggest)
        """No weight a run writes is a million times the dense policy's largest."""

    def fail(self, what: str) -> NoReturn:
        raise OptionError(f"{self.path}: {what}; {RECOVER}")

    def read(self) -> Progress | ScheduleState:
        st = self.state
        n_levels = st.get("levels")
        if not _is_int(n_levels) or not 0 <= n_levels <= 10_000:
            self.fail("its level count is not a small integer")
        level_names = [f"level{j}" for j in range(n_levels)]
        phase = st.get("phase")
        if phase not in ("rounds", "schedule"):
            self.fail(f"its phase is {phase!r}, not 'rounds' or 'schedule'")
        names = (["step1", "sparse"] if phase == "rounds" else []) + level_names
        if not isinstance(st.get("sparsity"), dict) or set(st["sparsity"]) != set(names):
            self.fail("its recorded sparsities do not name its policies")
        pols = {name: self.policy(name) for name in names}
        levels = tuple(pols[n] for n in level_names)
        spars = [lv.sparsity() for lv in levels]
        if any(b <= a for a, b in itertools.pairwise(spars)):
            self.fail(f"its levels are not in order of rising sparsity ({', '.join(f'{s:.2%}' for s in spars)})")
        anchors = self.arrays.get("anchors")
        if anchors is not None and (anchors.ndim != 2 or anchors.shape[1] != self.dense.obs_dim
                                    or anchors.dtype.kind != "f" or not np.isfinite(anchors).all()):
            self.fail("its training states are mis-shaped or not finite")
        times = st.get("times")
        if not isinstance(times, dict) or not all(_is_num(v) and 0 <= v < math.inf for v in times.values()):
            self.fail("its times are not finite non-negative seconds")
        if phase == "schedule":
            return self.schedule(levels, anchors, times)
        return self.progress(pols, levels, anchors, times)

    def schedule(self, levels: tuple[Any, ...], anchors: np.ndarray | None, times: dict[str, float]) -> ScheduleState:
        sc = self.state["schedule"]
        if anchors is None or not len(anchors):
            self.fail("its schedule has no training states")
        step = sc["step"]
        if not _is_num(step) or not 0 < step < 1:
            self.fail(f"its schedule's step {step!r} is not in (0, 1)")
        gathered = sc["gathered"]
        if not _is_int(gathered) or not 2 <= gathered <= 10**9:
            self.fail(f"its schedule's collect count {gathered!r} is not an integer >= 2")
        dense_r = self.reward(sc["dense_reward"], "the dense policy's mean reward")
        history = tuple(self.schedule_step(h, j) for j, h in enumerate(sc["history"]))
        adopted = [h for h in history if h.accepted]
        if len(adopted) != len(levels) or any(abs(h.sparsity - lv.sparsity()) > 1e-9
                                              for h, lv in zip(adopted, levels)):
            self.fail("its levels do not match the levels its history adopted")
        cur_r = self.reward(sc["current_reward"], "the current level's mean reward")
        if cur_r != (adopted[-1].mean_reward if adopted else dense_r):
            self.fail("its current mean reward is not the last adopted level's")
        return ScheduleState(dense_r, cur_r, float(step), history, levels, anchors, gathered, dict(times))

    def schedule_step(self, h: dict[str, Any], j: int) -> ScheduleStep:
        where = f"schedule level {j + 1}"
        out = ScheduleStep(**{**h, "screen": None if h.get("screen") is None else ScreenCheck(**h["screen"]),
                              "confirmation": _confirm_from_json(h.get("confirmation"))})
        if not isinstance(out.accepted, bool):
            self.fail(f"{where}: 'accepted' is not true or false")
        self.fraction(out.target, f"{where}'s target", open_low=True)
        self.fraction(out.sparsity, f"{where}'s sparsity")
        self.reward(out.mean_reward, f"{where}'s mean reward", failed=not out.accepted)
        return out

    def progress(self, pols: dict[str, Any], levels: tuple[Any, ...], anchors: np.ndarray | None,
                 times: dict[str, float]) -> Progress:
        st = self.state
        h = st["step1"]
        k = self.fraction(h["k"], "step 1's k")
        mean = self.reward(h["mean_reward"], "step 1's mean reward")
        scan = []
        for j, x in enumerate(h["scan"]):
            step = _step_from_json(x)
            if not isinstance(step.passes, bool):
                self.fail(f"step 1's scan entry {j + 1}: 'passes' is not true or false")
            self.fraction(step.k, f"step 1's scan entry {j + 1}: k")
            self.fraction(step.sparsity, f"step 1's scan entry {j + 1}: sparsity")
            self.reward(step.mean_reward, f"step 1's scan entry {j + 1}: mean reward", failed=not step.passes)
            scan.append(step)
        if h["stop"] is not None and not isinstance(h["stop"], str):
            self.fail("step 1's stop reason is not text")
        rounds = [_round_from_json(r) for r in st["rounds"]]
        for i, r in enumerate(rounds):
            if r.index != i + 1:
                self.fail(f"its rounds are not numbered 1, 2, ... in order (round {i + 1} says {r.index!r})")
            self.fraction(r.sparsity, f"round {r.index}'s sparsity")
        if rounds and abs(rounds[-1].sparsity - pols["sparse"].sparsity()) > 1e-9:
            self.fail(f"round {rounds[-1].index} records sparsity {rounds[-1].sparsity:.4%} but the saved policy "
                      f"has {pols['sparse'].sparsity():.4%}")
        if not isinstance(st["converged"], bool):
            self.fail("'converged' is not true or false")
        seen = _seen_from_json(st["seen"])
        if any(s.obs is not None and (s.obs.shape != (self.dense.obs_dim,) or not np.isfinite(s.obs).all())
               for s in seen):
            self.fail("a recovery state is mis-shaped or not finite")
        step1 = SparsitySearch(k, pols["step1"], mean, tuple(scan), h["stop"])
        return Progress(step1, pols["sparse"], st["converged"], rounds, seen, dict(times), anchors, levels)

    def policy(self, name: str) -> Any:
        """The saved policy `name`, its masks, weights and recorded sparsity checked."""
        arrays, dense = self.arrays, self.dense
        for i, lin in enumerate(dense.linears):
            m = arrays.get(f"{name}_{i}")
            if m is None or m.shape != tuple(lin.weight.shape) or not np.isin(m, (0, 1)).all():
                self.fail(f"mask {name}_{i} is missing, mis-shaped or not 0/1")
            for key, want in ((f"{name}_w{i}", lin.weight), (f"{name}_b{i}", lin.bias)):
                a = arrays.get(key)
                if a is None or a.shape != tuple(want.shape) or a.dtype.kind != "f" or not np.isfinite(a).all():
                    self.fail(f"{key} is missing, mis-shaped or not finite")
                if np.abs(a).max(initial=0.0) > self.largest:
                    self.fail(f"{key} holds {np.abs(a).max():.3g}, over a million times the dense policy's "
                              "largest weight")
            if np.any(arrays[f"{name}_w{i}"][m == 0] != 0):
                self.fail(f"{name}_w{i} is not zero where its mask prunes it")
        n = len(dense.linears)
        out = _with_masks(dense, [torch.as_tensor(arrays[f"{name}_{i}"].astype(np.float32)) for i in range(n)])
        with torch.no_grad():
            for i, lin in enumerate(out.linears):
                lin.weight.copy_(torch.as_tensor(arrays[f"{name}_w{i}"]))
                lin.bias.copy_(torch.as_tensor(arrays[f"{name}_b{i}"]))
        out.apply_masks()
        recorded = self.state["sparsity"][name]
        if not _is_num(recorded) or abs(recorded - out.sparsity()) > 1e-9:
            self.fail(f"policy {name} records sparsity {recorded!r} but its masks prune {out.sparsity():.4%}")
        return out

    def fraction(self, x: Any, what: str, open_low: bool = False) -> float:
        if not _is_num(x) or not (0 < x < 1 if open_low else 0 <= x < 1):
            self.fail(f"{what} is {x!r}, not in {'(0' if open_low else '[0'}, 1)")
        return float(x)

    def reward(self, x: Any, what: str, failed: bool = False) -> float:
        """A mean reward: finite (or -inf for a level that failed, as a non-finite
        episode scores) and within the env's bounds when known."""
        if failed and x == -math.inf:
            return -math.inf
        if not _is_num(x) or not math.isfinite(x):
            self.fail(f"{what} is {x!r}, not a finite number")
        if self.bounds is not None and not self.bounds[0] - 1e-6 <= x <= self.bounds[1] + 1e-6:
            self.fail(f"{what} {x:g} is outside the env's range [{self.bounds[0]:g}, {self.bounds[1]:g}]")
        return float(x)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _with_masks(dense: Any, masks: list[torch.Tensor]) -> Any:
    """`dense` with `masks` (combined with its own); the caller sets the saved weights."""
    out = dense.clone()
    out.set_masks([m * d for m, d in zip(masks, dense.masks)])
    return out


def seen_to_json(seen: list[RecoveryState]) -> list[dict[str, Any]]:
    return [
        {
            "point": s.counterexample.point, "violated": list(s.counterexample.violated),
            "min_robustness": s.counterexample.min_robustness, "cex_step": s.counterexample.step,
            "step": s.step, "obs": None if s.obs is None else np.asarray(s.obs, dtype=np.float64).tolist(),
            "total_reward": s.total_reward,
        }
        for s in seen
    ]


def _seen_from_json(items: list[dict[str, Any]]) -> list[RecoveryState]:
    out = []
    for it in items:
        cex = Counterexample(it["point"], tuple(it["violated"]), {}, it["min_robustness"],
                             it["cex_step"], None, -1)  # type: ignore[arg-type]
        obs = None if it["obs"] is None else np.asarray(it["obs"], dtype=np.float32)
        out.append(RecoveryState(cex, it["step"], obs, it["total_reward"]))
    return out


def round_to_json(r: Round) -> dict[str, Any]:
    d = asdict(r)
    d["counterexamples"] = [asdict(c) for c in r.counterexamples]
    return d


def _round_from_json(d: dict[str, Any]) -> Round:
    d = dict(d)
    d["counterexamples"] = tuple(
        CexSummary(c["point"], tuple(c["violated"]), c["min_robustness"], c["step"])
        for c in d["counterexamples"]
    )
    d["restored"] = None if d["restored"] is None else tuple(d["restored"])
    d["trials"] = tuple(tuple(t) for t in d["trials"])
    return Round(**d)


def _step_from_json(x: dict[str, Any]) -> SparsityStep:
    return SparsityStep(**{**x, "screen": None if x.get("screen") is None else ScreenCheck(**x["screen"]),
                           "confirmation": _confirm_from_json(x.get("confirmation"))})


def _confirm_from_json(x: dict[str, Any] | None) -> ConfirmCheck | None:
    return None if x is None else ConfirmCheck(**x)
