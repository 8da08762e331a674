"""The policy formats sanp reads: the `PolicyReader` protocol, the built-in readers as a
lazy table, and the choice of a reader for a file.

A file goes to the first reader that claims it by its content (`claims`: a magic
number, a zip's members), built-ins first; a file nobody claims goes to the reader of
its suffix, else to the first built-in (ONNX), whose refusal names every format. A
package adds a format in its `pyproject.toml`:

    [project.entry-points."sanp.formats"]
    tscript = "my_pkg.torchscript:TorchScriptReader"

Example:
    >>> [r.name for r in readers()][:3]
    ['onnx', 'pt', 'sb3']
    >>> reader_for(PolicyFile.read("zoo/cartpole/sb3.zip")).name       # doctest: +SKIP
    'sb3'
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sanp.errors import PolicyError
from sanp.plugins import PluginError, Registry

if TYPE_CHECKING:
    from sanp.model import MLPPolicy

HEAD_BYTES = 64
"""Bytes of a file's start a reader sees in `PolicyFile.head`."""


@dataclass(frozen=True)
class PolicyFile:
    """What readers decide on: the path, the file's first bytes, and its member names
    when it is a zip (None otherwise)."""

    path: Path
    head: bytes
    members: tuple[str, ...] | None

    @classmethod
    def read(cls, path: str | os.PathLike) -> PolicyFile:
        """The start of `path` (and its members when it is a zip); PolicyError when it
        cannot be read or is a damaged zip."""
        p = Path(path)
        try:
            with open(p, "rb") as f:
                head = f.read(HEAD_BYTES)
        except OSError as exc:
            raise PolicyError(f"{p}: cannot read ({exc.strerror}); check permissions") from None
        members = None
        if head.startswith(b"PK"):
            try:
                with zipfile.ZipFile(p) as z:
                    members = tuple(z.namelist())
            except zipfile.BadZipFile:
                raise PolicyError(f"{p}: a damaged zip file; re-download or re-save the policy") from None
        return cls(p, head, members)


@runtime_checkable
class PolicyReader(Protocol):
    """One policy file format: `name` (its table key), `description` (how messages name
    it: "an ONNX file"), `suffixes` (lower case, with the dot: the fallback for files
    nobody claims), `claims` (decide by content), `load` (the file as an MLPPolicy;
    PolicyError with a one-line message on any problem). Readers are built with no
    arguments."""

    name: str
    description: str
    suffixes: tuple[str, ...]

    def claims(self, file: PolicyFile) -> bool: ...

    def load(self, path: Path, *, action_space: Any = None) -> MLPPolicy: ...


READERS: Registry[type[PolicyReader]] = Registry("sanp.formats", "policy format", {
    "onnx": "sanp.formats.onnx_format:OnnxReader",
    "pt": "sanp.formats.torch_policy:TorchPolicyReader",
    "sb3": "sanp.formats.sb3:SB3Reader",
})
"""Every policy format sanp reads; the first is the fallback for files nobody claims."""


def readers(*, builtin_only: bool = False) -> list[PolicyReader]:
    """One reader of every format: the built-ins in table order, then installed ones by
    name."""
    names = READERS.builtin_names()
    if not builtin_only:
        names += [n for n in READERS.names() if n not in names]
    return [READERS.load(n)() for n in names]


def reader_for(file: PolicyFile) -> PolicyReader:
    """The reader of `file`: the first that claims its content (built-ins first, so an
    installed package's readers load only when no built-in claims the file), else the
    one of its suffix, else the first built-in."""
    own = readers(builtin_only=True)
    for reader in own:
        if reader.claims(file):
            return reader
    every = readers()
    for reader in every[len(own):]:
        if reader.claims(file):
            return reader
    suffix = file.path.suffix.lower()
    return next((r for r in every if suffix in r.suffixes), own[0])


def supported_formats(*, builtin_only: bool = False) -> str:
    """The formats sanp reads, for messages and help: "an ONNX file, a sanp .pt
    checkpoint or an SB3 .zip"."""
    names = [r.description for r in readers(builtin_only=True)]
    for name in [] if builtin_only else READERS.names():
        if name not in READERS.builtin_names():
            try:  # a message about one file must not fail on an unrelated broken plug-in
                names.append(READERS.load(name)().description)
            except PluginError:
                continue
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"

