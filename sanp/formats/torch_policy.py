"""sanp's own torch checkpoint (`.pt`): the architecture as JSON beside the state dict,
read back with `torch.load(weights_only=True)` (no pickled code runs).

Example:
    >>> save_checkpoint(policy, "policy.pt")
    >>> same = load_checkpoint("policy.pt")
"""
from __future__ import annotations

import io
import json
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from sanp.errors import PolicyError, first_line
from sanp.limits import check_constants, check_file, check_parameters, check_zip
from sanp.model import MLPPolicy, floats_from_json

CHECKPOINT_FORMAT = "sanp-mlp-policy"
LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"
"""How a file of torch's legacy (non-zip) serialisation starts: a pickled magic number."""


def save_checkpoint(policy: MLPPolicy, path: str | os.PathLike) -> None:
    """Write sanp's torch checkpoint (architecture JSON + state dict), atomically."""
    from sanp.atomic import write_bytes

    buf = io.BytesIO()
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "version": 1,
            "architecture": json.dumps(policy.architecture()),
            "state_dict": {k: v.detach().clone() for k, v in policy.state_dict().items()},
        },
        buf,
    )
    write_bytes(path, buf.getvalue())


def torch_load(source: Any) -> Any:
    """torch.load with weights_only (nothing pickled runs) and its warnings held back: a
    file it refuses (a TorchScript archive...) is then refused in one line, not after a
    warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(source, map_location="cpu", weights_only=True)


def torch_reason(exc: BaseException) -> str:
    """torch.load's reason for refusing a file, in one short line without terminal codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", first_line(exc))
    if "TorchScript" in text:
        return "a TorchScript archive, which sanp does not run; export the policy to ONNX"
    return text if len(text) <= 160 else text[:157] + "..."


def load_checkpoint(path: str | os.PathLike) -> MLPPolicy:
    """The MLPPolicy of a file written by `save_checkpoint`; PolicyError otherwise."""
    path = Path(path)
    check_file(path)
    try:
        with zipfile.ZipFile(path) as z:  # torch's own zip format
            check_zip(z, path)
    except zipfile.BadZipFile:
        pass  # not a zip: torch.load refuses it below
    try:
        ck = torch_load(path)
    except Exception as exc:  # noqa: BLE001 - torch/onnx/pickle raise many kinds
        raise PolicyError(
            f"{path}: not a readable sanp checkpoint ({torch_reason(exc)}); "
            "write one with sanp.formats.save(policy, 'policy.pt')"
        ) from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT or "architecture" not in ck:
        raise PolicyError(
            f"{path}: a torch file but not a sanp checkpoint (expected a dict with format={CHECKPOINT_FORMAT!r}); "
            "write one with sanp.formats.save(policy, 'policy.pt') or export the policy to ONNX"
        )
    sd = ck.get("state_dict")
    if not isinstance(sd, dict):
        raise PolicyError(f"{path}: corrupt sanp checkpoint (no state_dict mapping); re-export it")
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            what = str(value.dtype).replace("torch.", "") + " values" if isinstance(value, torch.Tensor) \
                else f"a {type(value).__name__}"
            raise PolicyError(f"{path}: corrupt sanp checkpoint (state_dict entry {str(key)[:80]!r} holds {what}, "
                              "not a real floating-point tensor); re-export it")
    try:
        arch = json.loads(ck["architecture"])
        check_parameters(arch["sizes"], path)
        kw = {}
        if arch.get("has_normalizer"):
            kw = dict(obs_mean=sd["obs_mean"].numpy(), obs_var=sd["obs_var"].numpy(), obs_clip=arch.get("obs_clip"))
        pol = MLPPolicy(
            arch["sizes"],
            arch["activations"],
            action_kind=arch["action_kind"],
            action_low=floats_from_json(arch.get("action_low")),
            action_high=floats_from_json(arch.get("action_high")),
            obs_eps=arch.get("obs_eps", 1e-8),
            **kw,
        )
        pol.load_state_dict(sd)
    except (KeyError, ValueError, TypeError, RuntimeError, AttributeError, RecursionError) as exc:
        raise PolicyError(f"{path}: corrupt sanp checkpoint ({first_line(exc)}); re-export it") from None
    check_constants(pol, path)
    return pol


def is_torch_archive(members: tuple[str, ...]) -> bool:
    """Whether zip member names are a torch.save archive: every member in one folder,
    which holds data.pkl and a version record (another zip that merely holds a data.pkl,
    an SB3 model for one, is not)."""
    folders = {m.partition("/")[0] for m in members}
    if len(folders) != 1 or not all("/" in m for m in members):
        return False
    top = folders.pop()
    return f"{top}/data.pkl" in members and bool({f"{top}/version", f"{top}/.data/version"} & set(members))


class TorchPolicyReader:
    """sanp's `.pt` checkpoint as a policy format (`sanp.formats.readers`): claims torch
    archives and legacy torch files, which `load_checkpoint` reads or refuses in one line."""

    name = "pt"
    description = "a sanp .pt checkpoint"
    suffixes = (".pt", ".pth")

    def claims(self, file: Any) -> bool:
        if file.members is not None:
            return is_torch_archive(file.members)
        return bool(file.head.startswith(LEGACY_MAGIC))

    def load(self, path: Path, *, action_space: Any = None) -> MLPPolicy:
        return load_checkpoint(path)
