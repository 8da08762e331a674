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
import json
import os
import secrets
import stat
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from sanp.atomic import atomic_output, write_bytes
from sanp.errors import OptionError, first_line
from sanp.limits import check_file, check_zip
from sanp.method.deep import ScheduleState
from sanp.method.run_state import RECOVER, Contents, Progress, round_to_json, seen_to_json


class Checkpoint:
    """The state of a prune run after each phase, in one .npz file (masks, weights,
    biases and the deep recipe's training states as arrays, the rest as JSON; no
    pickle), written atomically so an interruption never corrupts it, with a keyed
    digest (the module docstring says what it protects against).

    Every phase is a pure function of the inputs, the seed and this state, so a resumed
    run reaches the same result as an uninterrupted one.
    """

    VERSION = 7
    """7: states drawn from the seed tree (sanp.seeds); 6: the keyed digest and the deep
    schedule's levels. Other versions are refused: a state drawn from other streams
    would not resume to the result an uninterrupted run reaches."""

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
            return Contents(self.path, state, arrays, dense, reward_bounds).read()
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
            "rounds": [round_to_json(r) for r in progress.rounds],
            "seen": seen_to_json(progress.seen),
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
