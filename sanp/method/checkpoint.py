"""A prune run's progress, and its checkpoint file: saved after every level the deep
recipe's schedule tries, after step 1 and after every round, so an interrupted run
resumes where it stopped.

What the checkpoint's digest protects against: it is an HMAC-SHA256 keyed with a random
secret that the run writes beside its output (`OUT.onnx.sanp-key`, mode 0600), over the
checkpoint's contents and the run's fingerprint (the SHA-256 of the policy and spec
files, the options). A checkpoint edited or damaged without that key, or resumed with
other inputs, is refused; and whatever the digest says, the contents are checked on
load (finite values, 0/1 masks with the pruned weights zero, the recorded sparsities,
k, rewards within the env's bounds when its adapter knows them, levels in order). It is
not a security boundary: whoever can write the key file (the machine's owner, any
process of the same user) can forge a checkpoint that passes. It guards against
accidental and naive edits and against resuming with mismatched inputs.

Example:
    >>> ckpt = Checkpoint("out.onnx.ckpt.npz", fingerprint)
    >>> progress = ckpt.load(dense)   # None: start from scratch
"""
from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import json
import math
import os
import secrets
import stat
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from sanp.atomic import atomic_output, write_bytes
from sanp.errors import OptionError, first_line
from sanp.falsify import Counterexample
from sanp.limits import check_file, check_zip
from sanp.method.deep import ScheduleState, ScheduleStep
from sanp.method.recover import RecoveryState
from sanp.method.rounds import CexSummary, Round
from sanp.method.screen import ScreenCheck
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




class Checkpoint:
    """The state of a prune run after each phase, in one .npz file (masks, weights,
    biases and the deep recipe's training states as arrays, the rest as JSON; no
    pickle), written atomically so an interruption never corrupts it, with a keyed
    digest (the module docstring says what it protects against).

    Every phase is a pure function of the inputs, the seed and this state, so a resumed
    run reaches the same result as an uninterrupted one.
    """

    VERSION = 6
    """6: the keyed digest and the deep schedule's levels. Other versions are refused."""

    def __init__(self, path: str | os.PathLike, fingerprint: dict[str, Any],
                 key_path: str | os.PathLike | None = None):
        self.path = Path(path)
        self.fingerprint = fingerprint
        base = str(self.path).removesuffix(".ckpt.npz")
        self.key_path = Path(key_path) if key_path is not None else Path(base + ".sanp-key")
        self._key: bytes | None = None

    @classmethod
    def beside(cls, output: str | os.PathLike, fingerprint: dict[str, Any], resume: bool) -> Checkpoint:
        """The checkpoint of a run writing `output` (`OUTPUT.ckpt.npz`, its key
        `OUTPUT.sanp-key`); one left by an interrupted run is refused unless the caller
        resumes it."""
        path = Path(str(output) + ".ckpt.npz")
        if path.exists() and not resume:
            raise OptionError(f"{path} holds an interrupted run: add --resume to continue it, or delete it")
        return cls(path, fingerprint, str(output) + ".sanp-key")

    def load(self, dense: Any, reward_bounds: tuple[float, float] | None = None) -> Progress | ScheduleState | None:
        """The saved progress of this run: a `Progress` once step 1 is done, the deep
        schedule's `ScheduleState` before that, None when there is no checkpoint. The
        sparse policies are rebuilt from `dense` and the saved masks and weights (the
        deep recipe's are fine-tuned, not the dense values). `reward_bounds`: the least
        and greatest mean reward the env allows (None: unknown)."""
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
            if not isinstance(state, dict):
                raise TypeError("its state is not a JSON object")
        except Exception as exc:  # noqa: BLE001 - whatever the file holds, one line says so
            raise OptionError(f"{self.path}: not a readable sanp checkpoint ({first_line(exc)}); {RECOVER}") from None
        version = state.get("version")
        if version != self.VERSION:
            raise OptionError(f"{self.path}: written by another version of sanp (checkpoint version {version!r}; "
                              f"this one reads version {self.VERSION}), so it cannot be resumed; {RECOVER}")
        if state.get("fingerprint") != self.fingerprint:
            raise OptionError(f"{self.path} belongs to another run (different policy, spec or options); "
                              "delete it or run without --resume")
        key = self._read_key()
        if digest is None or not hmac.compare_digest(digest, self._digest(key, text, arrays)):
            raise OptionError(f"{self.path}: its contents do not match their digest (edited or damaged, or "
                              f"{self.key_path.name} is not the key it was written with); {RECOVER}")
        self._key = key
        try:
            return _Contents(self.path, state, arrays, dense, reward_bounds).read()
        except OptionError:
            raise
        except Exception as exc:  # noqa: BLE001 - a keyed file of the wrong shape (its key's holder made it)
            raise OptionError(f"{self.path}: malformed ({first_line(exc)}); {RECOVER}") from None

    def save(self, progress: Progress) -> None:
        """Save the run after step 1 or a round."""
        s1 = progress.step1
        doc = {
            "phase": "rounds",
            "step1": {"k": s1.k, "mean_reward": s1.mean_reward, "scan": [asdict(h) for h in s1.scan],
                      "stop": s1.stop},
            "rounds": [_round_to_json(r) for r in progress.rounds],
            "seen": _seen_to_json(progress.seen),
            "converged": progress.converged,
            "times": progress.times,
        }
        self._write(doc, [("step1", s1.policy), ("sparse", progress.sparse)], progress.levels, progress.anchors)

    def save_schedule(self, sched: ScheduleState) -> None:
        """Save the deep recipe's schedule after a level it tried (step 1 not done yet)."""
        doc = {
            "phase": "schedule",
            "schedule": {"dense_reward": sched.dense_reward, "current_reward": sched.current_reward,
                         "step": sched.step, "history": [asdict(h) for h in sched.history],
                         "gathered": sched.gathered},
            "times": sched.times,
        }
        self._write(doc, [], sched.levels, sched.states)

    def remove(self) -> None:
        """Remove the checkpoint and its key (the run is done)."""
        self.path.unlink(missing_ok=True)
        self.key_path.unlink(missing_ok=True)

    def _write(self, doc: dict[str, Any], named: list[tuple[str, Any]], levels: tuple[Any, ...],
               anchors: np.ndarray | None) -> None:
        arrays: dict[str, np.ndarray] = {}
        sparsity: dict[str, float] = {}
        for name, pol in named + [(f"level{j}", p) for j, p in enumerate(levels)]:
            sparsity[name] = pol.sparsity()
            for i, (lin, m) in enumerate(zip(pol.linears, pol.masks)):
                arrays[f"{name}_{i}"] = m.detach().cpu().numpy().astype(np.uint8)
                # what the policy computes with: a pruned position holds zero
                arrays[f"{name}_w{i}"] = (lin.weight * m).detach().cpu().numpy()
                arrays[f"{name}_b{i}"] = lin.bias.detach().cpu().numpy()
        if anchors is not None:
            arrays["anchors"] = np.asarray(anchors)
        doc = {**doc, "levels": len(levels), "sparsity": sparsity, "version": self.VERSION,
               "fingerprint": self.fingerprint}
        text = json.dumps(doc, allow_nan=True)
        # A run's first save (no checkpoint yet, or a resumed one deleted meanwhile) draws its key.
        key = self._key if self._key is not None and self.path.exists() else self._new_key()
        buf = io.BytesIO()
        np.savez_compressed(buf, state=np.array(text), digest=np.array(self._digest(key, text, arrays)), **arrays)
        write_bytes(self.path, buf.getvalue())

    def _digest(self, key: bytes, text: str, arrays: dict[str, np.ndarray]) -> str:
        """HMAC-SHA256 under `key` over this run's fingerprint (the policy's and spec's
        SHA-256, the options), the state and every array (name, shape, dtype, bytes)."""
        h = hmac.new(key, json.dumps(self.fingerprint, sort_keys=True).encode(), hashlib.sha256)
        h.update(b"\0" + text.encode())
        for name in sorted(arrays):
            a = np.ascontiguousarray(arrays[name])
            h.update(f"\0{name}{a.shape}{a.dtype.str}".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def _new_key(self) -> bytes:
        """A fresh random key, written (mode 0600) before the run's first checkpoint."""
        key = secrets.token_bytes(32)
        self.key_path.unlink(missing_ok=True)  # a stale key's mode must not pass to the new one
        with atomic_output(self.key_path) as tmp:
            os.chmod(tmp, 0o600)
            tmp.write_text(key.hex() + "\n")
        self._key = key
        return key

    def _read_key(self) -> bytes:
        try:
            st = os.lstat(self.key_path)
        except FileNotFoundError:
            raise OptionError(f"{self.path}: its key {self.key_path.name} is missing, so the checkpoint cannot "
                              f"be verified; {RECOVER}") from None
        key = b""
        if stat.S_ISREG(st.st_mode) and st.st_size <= 100:
            try:
                key = bytes.fromhex(self.key_path.read_text().strip())
            except (ValueError, UnicodeDecodeError):
                pass
        if len(key) != 32:
            raise OptionError(f"{self.key_path}: not a checkpoint key (a regular file of 64 hex digits), so "
                              f"{self.path.name} cannot be verified; {RECOVER}")
        return key


class _Contents:
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
        out = ScheduleStep(**{**h, "screen": None if h.get("screen") is None else ScreenCheck(**h["screen"])})
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
