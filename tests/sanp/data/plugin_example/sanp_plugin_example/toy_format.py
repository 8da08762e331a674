"""A toy policy format: the line `TOY-POLICY`, then the MLP as JSON (sizes, activations,
action semantics, weights and biases as nested lists).

Example:
    >>> write_toy(sanp.formats.load("zoo/cartpole/dense.onnx"), "cartpole.toy")
    >>> sanp.formats.load("cartpole.toy").sizes
    [4, 128, 128, 2]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from sanp.errors import PolicyError
from sanp.model import MLPPolicy

MAGIC = b"TOY-POLICY\n"


def write_toy(policy: MLPPolicy, path: str | Path) -> None:
    """Write `policy` (no observation normaliser) in the toy format."""
    doc = {"sizes": policy.sizes, "activations": list(policy.activations), "action_kind": policy.action_kind,
           "weights": [w.tolist() for w in policy.effective_weights()],
           "biases": [lin.bias.detach().tolist() for lin in policy.linears]}
    if policy.action_kind == "continuous":
        doc.update(action_low=list(map(float, policy.action_low)), action_high=list(map(float, policy.action_high)))
    Path(path).write_bytes(MAGIC + json.dumps(doc).encode())


class ToyReader:
    """sanp's PolicyReader protocol (sanp.formats.readers) for the toy format."""

    name, description, suffixes = "toy", "a toy .toy file", (".toy",)

    def claims(self, file: Any) -> bool:
        return file.head.startswith(MAGIC)

    def load(self, path: Path, *, action_space: Any = None) -> MLPPolicy:
        try:
            doc = json.loads(Path(path).read_bytes()[len(MAGIC):])
            policy = MLPPolicy(doc["sizes"], doc["activations"], action_kind=doc["action_kind"],
                               action_low=doc.get("action_low"), action_high=doc.get("action_high"))
            with torch.no_grad():
                for lin, w, b in zip(policy.linears, doc["weights"], doc["biases"]):
                    lin.weight.copy_(torch.tensor(w))
                    lin.bias.copy_(torch.tensor(b))
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise PolicyError(f"{path}: not a toy policy ({exc}); write one with write_toy") from None
        return policy
