"""A prune run's progress, and its checkpoint file: saved after step 1 and after every
round, so an interrupted run resumes where it stopped.

Example:
    >>> ckpt = Checkpoint("out.onnx.ckpt.npz", fingerprint)
    >>> progress = ckpt.load(dense)   # None: start from step 1
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sanp.atomic import write_bytes
from sanp.errors import OptionError, first_line
from sanp.falsify import Counterexample
from sanp.limits import check_file, check_zip
from sanp.method.recover import RecoveryState
from sanp.method.rounds import CexSummary, Round
from sanp.method.screen import ScreenCheck
from sanp.method.step1 import SparsitySearch, SparsityStep


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


class Checkpoint:
    """The state of a prune run after each phase, in one .npz file (masks, weights,
    biases and the deep recipe's training states as arrays, the rest as JSON; no
    pickle), written atomically so an interruption never corrupts it.

    Every phase is a pure function of the inputs, the seed and this state, so a resumed
    run reaches the same result as an uninterrupted one.
    """

    VERSION = 5

    def __init__(self, path: str | os.PathLike, fingerprint: dict[str, Any]):
        self.path = Path(path)
        self.fingerprint = fingerprint

    @classmethod
    def beside(cls, output: str | os.PathLike, fingerprint: dict[str, Any], resume: bool) -> Checkpoint:
        """The checkpoint of a run writing `output` (`OUTPUT.ckpt.npz`); one left by an
        interrupted run is refused unless the caller resumes it."""
        path = Path(str(output) + ".ckpt.npz")
        if path.exists() and not resume:
            raise OptionError(f"{path} holds an interrupted run: add --resume to continue it, or delete it")
        return cls(path, fingerprint)

    def load(self, dense: Any) -> Progress | None:
        """The saved progress of this run (None when there is none); the sparse policies
        are rebuilt from `dense` and the saved masks and weights (the deep recipe's are
        fine-tuned, not the dense values)."""
        if not self.path.exists():
            return None
        check_file(self.path)
        try:
            with zipfile.ZipFile(self.path) as zf:
                check_zip(zf, self.path)
            with np.load(self.path, allow_pickle=False) as z:
                text = str(z["state"])
                arrays = {k: z[k] for k in z.files if k not in ("state", "digest")}
                digest = str(z["digest"]) if "digest" in z.files else None
            state = json.loads(text)
        except Exception as exc:
            raise OptionError(f"{self.path}: not a readable sanp checkpoint ({first_line(exc)}); delete it "
                              "to start over") from None
        if digest != _digest(text, arrays):
            raise OptionError(f"{self.path}: its contents do not match their digest (edited or damaged); "
                              "delete it to start over")
        if state.get("version") != self.VERSION or state.get("fingerprint") != self.fingerprint:
            raise OptionError(
                f"{self.path} belongs to another run (different policy, spec or options); "
                "delete it or run without --resume"
            )
        n = len(dense.linears)
        n_levels = state.get("levels", 0)
        if not isinstance(n_levels, int) or not 0 <= n_levels <= 10_000:
            raise OptionError(f"{self.path}: its level count is not a small integer; delete it to start over")
        _check_masks(self.path, arrays, dense, ["step1", "sparse", *(f"level{j}" for j in range(n_levels))])

        def policy(name: str) -> Any:
            out = _with_masks(dense, [torch.as_tensor(arrays[f"{name}_{i}"].astype(np.float32)) for i in range(n)])
            with torch.no_grad():
                for i, lin in enumerate(out.linears):
                    lin.weight.copy_(torch.as_tensor(arrays[f"{name}_w{i}"]))
                    lin.bias.copy_(torch.as_tensor(arrays[f"{name}_b{i}"]))
            out.apply_masks()
            return out

        h = state["step1"]
        step1 = SparsitySearch(h["k"], policy("step1"), h["mean_reward"],
                               tuple(_step_from_json(x) for x in h["scan"]), h["stop"])
        return Progress(step1, policy("sparse"), bool(state["converged"]),
                        [_round_from_json(r) for r in state["rounds"]], _seen_from_json(state["seen"]),
                        dict(state["times"]), arrays.get("anchors"),
                        tuple(policy(f"level{j}") for j in range(n_levels)))

    def save(self, progress: Progress) -> None:
        s1 = progress.step1
        doc = {
            "step1": {"k": s1.k, "mean_reward": s1.mean_reward, "scan": [asdict(h) for h in s1.scan],
                      "stop": s1.stop},
            "rounds": [_round_to_json(r) for r in progress.rounds],
            "seen": _seen_to_json(progress.seen),
            "converged": progress.converged,
            "times": progress.times,
            "levels": len(progress.levels),
            "version": self.VERSION,
            "fingerprint": self.fingerprint,
        }
        arrays: dict[str, np.ndarray] = {}
        named = [("step1", s1.policy), ("sparse", progress.sparse)]
        for name, pol in named + [(f"level{j}", p) for j, p in enumerate(progress.levels)]:
            for i, (lin, m) in enumerate(zip(pol.linears, pol.masks)):
                arrays[f"{name}_{i}"] = m.detach().cpu().numpy().astype(np.uint8)
                arrays[f"{name}_w{i}"] = lin.weight.detach().cpu().numpy()
                arrays[f"{name}_b{i}"] = lin.bias.detach().cpu().numpy()
        if progress.anchors is not None:
            arrays["anchors"] = np.asarray(progress.anchors)
        text = json.dumps(doc, allow_nan=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, state=np.array(text), digest=np.array(_digest(text, arrays)), **arrays)
        write_bytes(self.path, buf.getvalue())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _digest(text: str, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the state and every array (name, shape, bytes): an edited checkpoint
    is refused instead of resuming into a run nobody made."""
    h = hashlib.sha256(text.encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}{a.shape}{a.dtype.str}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _check_masks(path: Path, masks: dict[str, np.ndarray], dense: Any, names: list[str]) -> None:
    for name in names:
        for i, lin in enumerate(dense.linears):
            m = masks.get(f"{name}_{i}")
            if m is None or m.shape != tuple(lin.weight.shape) or not np.isin(m, (0, 1)).all():
                raise OptionError(f"{path}: mask {name}_{i} is missing, mis-shaped or not 0/1; "
                                  "delete the checkpoint to start over")
            for key, want in ((f"{name}_w{i}", lin.weight), (f"{name}_b{i}", lin.bias)):
                a = masks.get(key)
                if a is None or a.shape != tuple(want.shape) or not np.isfinite(a).all():
                    raise OptionError(f"{path}: {key} is missing, mis-shaped or not finite; "
                                      "delete the checkpoint to start over")


def _with_masks(dense: Any, masks: list[torch.Tensor]) -> Any:
    """`dense` with `masks` (combined with its own); the caller sets the saved weights."""
    out = dense.clone()
    out.set_masks([m * d for m, d in zip(masks, dense.masks)])
    return out


def _seen_to_json(seen: list[RecoveryState]) -> list[dict[str, Any]]:
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


def _round_to_json(r: Round) -> dict[str, Any]:
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
    return SparsityStep(**{**x, "screen": None if x.get("screen") is None else ScreenCheck(**x["screen"])})
