"""Policy file formats: one module per format, each depending on the model
(`sanp.model`) and never the other way, and one `load` that dispatches among them.

- `onnx_reader` / `onnx_writer`: ONNX (the MLP subset in; sanp's export out);
- `torch_policy`: sanp's torch checkpoint (`.pt`);
- `sb3`: Stable-Baselines3 model zips, read without SB3 and without unpickling;
- `vecnormalize`: SB3 VecNormalize statistics, folded into the network;
- `c_writer`: C99 source and header for a microcontroller;
- `readers`: the `PolicyReader` protocol and the registry of the formats `load` reads.

`load(path)` reads any of them; `save(policy, path)` writes ONNX, C or a checkpoint,
chosen by the suffix.

Example:
    >>> from sanp.formats import load, save
    >>> pi = load("ppo.zip", vecnormalize="vecnormalize.pkl", action_space=env.action_space)
    >>> save(pi, "policy.c", source="ppo.zip")     # policy.c + policy.h
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from sanp.errors import OutputError, PolicyError
from sanp.formats.c_writer import export_c
from sanp.formats.onnx_writer import Storage, export_onnx
from sanp.formats.readers import PolicyFile, reader_for, supported_formats
from sanp.formats.spaces import check_fit
from sanp.formats.torch_policy import save_checkpoint
from sanp.formats.vecnormalize import fold_vecnormalize
from sanp.formats.zoo_config import normalization_required, vecnormalize_guess
from sanp.limits import check_constants, check_file
from sanp.model import MLPPolicy

__all__ = ["SAVE_SUFFIXES", "load", "save"]

SAVE_SUFFIXES = (".onnx", ".c", ".pt")


def load(
    path: str | os.PathLike,
    *,
    observation_space: Any = None,
    action_space: Any = None,
    vecnormalize: str | os.PathLike | None = None,
) -> MLPPolicy:
    """Read a policy file (ONNX, sanp checkpoint `.pt`, SB3 `.zip`, or a format an
    installed package adds) into an MLPPolicy with the reader that claims its content,
    else the reader of its suffix (`sanp.formats.readers`).

    `observation_space` / `action_space` (gymnasium spaces) check that the network
    fits the env and supply the action semantics when the file does not carry them.
    `vecnormalize` is an SB3 VecNormalize pickle whose observation statistics are
    folded into the network (read with a restricted unpickler: nothing is executed).
    Raises PolicyError with a one-line message on any problem.
    """
    p = Path(path)
    if not p.exists():
        raise PolicyError(f"{p}: no such policy file; check the path")
    if p.is_dir():
        raise PolicyError(f"{p}: is a directory; give a policy file ({supported_formats()})")
    check_file(p)
    file = PolicyFile.read(p)
    reader = reader_for(file)
    policy = reader.load(p, action_space=action_space)
    if not isinstance(policy, MLPPolicy):
        raise PolicyError(f"{p}: the {reader.name!r} policy format's reader returned a {type(policy).__name__}, "
                          "not a sanp.model.MLPPolicy; fix the package that provides it")
    if vecnormalize is not None:
        policy = fold_vecnormalize(policy, vecnormalize)
    elif file.members is not None and (cfg := normalization_required(p)) is not None:
        guess = vecnormalize_guess(p)
        raise PolicyError(f"{p}: {cfg} says it was trained with normalize: true; pass --vecnormalize "
                          f"{guess or 'FILE (the VecNormalize .pkl saved with it)'}")
    _check_finite(policy, p)
    check_fit(policy, p, observation_space=observation_space, action_space=action_space)
    return policy


def _check_finite(policy: MLPPolicy, path: Path) -> None:
    # A NaN weight makes every action NaN, which a discrete policy's argmax turns into
    # action 0 without a word; an infinite clip writes C code that does not compile.
    check_constants(policy, path)


def save(
    policy: MLPPolicy,
    path: str | os.PathLike,
    *,
    metadata: Mapping[str, str] | None = None,
    storage: Storage = "dense",
    source: str | os.PathLike | None = None,
    compacted_from: list[int] | None = None,
) -> str:
    """Write `policy` by the suffix of `path`: `.onnx` (with `metadata` and `storage`),
    `.c` (+ `.h`; `source` and `compacted_from` are named in the header) or `.pt`
    (sanp's checkpoint). Returns one line saying what was written."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        export_onnx(policy, p, metadata, storage=storage)
        return f"{p}: ONNX, network {'-'.join(map(str, policy.sizes))}, {storage} storage, {p.stat().st_size:,} bytes"
    if storage != "dense":
        raise OutputError(f"{p}: --storage {storage} is for ONNX output; a .c file chooses its layout per layer")
    if suffix == ".c":
        code = export_c(policy, p, source=source, compacted_from=compacted_from)
        return (f"{p} + {p.with_suffix('.h').name}: C99, network {'-'.join(map(str, policy.sizes))}, layers "
                f"{', '.join(code.layouts)}; flash {code.flash_bytes:,} bytes, RAM {code.ram_bytes:,} bytes")
    if suffix == ".pt":
        save_checkpoint(policy, p)
        return f"{p}: sanp checkpoint, network {'-'.join(map(str, policy.sizes))}"
    raise OutputError(f"{p}: unknown output type {suffix or '(no suffix)'}; name it .onnx, .c or .pt")
