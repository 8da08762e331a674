"""The deployed runtime: a policy run by onnxruntime, as it runs where it is deployed.

onnxruntime's results do not depend on the batch size; torch's differ in the last
bits, which a chaotic env can amplify, so every rollout that decides safety runs the
policy through `deployed(policy)`.

Example:
    >>> from sanp.runtime import deployed
    >>> actor = deployed(policy)              # an OrtPolicy for an MLPPolicy
    >>> actions = actor.act(obs)              # float32 [N, obs_dim] -> actions
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from sanp.model import MLPPolicy, batch_obs, to_actions
from sanp.types import ActionKind


class OrtPolicy:
    """A policy run by onnxruntime (one intra-op thread, batched); an `Actor`.

    `model` is the ONNX model (bytes or a path) whose first input takes float32
    [N, obs_dim] observations and whose first output gives raw action values.
    """

    def __init__(
        self,
        model: bytes | str | os.PathLike,
        *,
        obs_dim: int,
        action_kind: ActionKind,
        action_low: Any = None,
        action_high: Any = None,
    ):
        self._model = model if isinstance(model, bytes) else Path(model).read_bytes()
        self._open()
        self.obs_dim = int(obs_dim)
        self.action_kind: ActionKind = action_kind
        self.action_low = None if action_low is None else np.asarray(action_low, np.float32)
        self.action_high = None if action_high is None else np.asarray(action_high, np.float32)

    @classmethod
    def from_policy(cls, policy: MLPPolicy) -> OrtPolicy:
        """`policy` (masks applied) exported to ONNX in memory and opened."""
        from sanp.formats.onnx_writer import build_model

        return cls(
            build_model(policy).SerializeToString(),
            obs_dim=policy.obs_dim,
            action_kind=policy.action_kind,
            action_low=policy.action_low,
            action_high=policy.action_high,
        )

    def _open(self) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self._model, so, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def __getstate__(self) -> dict[str, Any]:
        # A session cannot be pickled; worker processes rebuild it from the model bytes.
        return {k: v for k, v in self.__dict__.items() if k != "session"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open()

    def values(self, obs: np.ndarray) -> np.ndarray:
        """Raw action values [N, out_dim]."""
        x, _ = batch_obs(obs, self.obs_dim)
        return self.session.run([self.output_name], {self.input_name: x})[0]

    def act(self, obs: np.ndarray) -> np.ndarray:
        x, single = batch_obs(obs, self.obs_dim)
        a = to_actions(self.values(x), self.action_kind, self.action_low, self.action_high)
        return a[0] if single else a


def deployed(policy: Any) -> Any:
    """The policy as it will be deployed: an `OrtPolicy` for an `MLPPolicy`, any other
    actor (already an `OrtPolicy`, or one without an ONNX form) as it is."""
    return OrtPolicy.from_policy(policy) if isinstance(policy, MLPPolicy) else policy
