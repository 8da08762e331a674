"""Limits on what sanp reads, checked against what a file *declares* before anything is
allocated, so that a small hostile file cannot expand into gigabytes.

A policy that legitimately needs more raises the limit with the environment variable
the error names, e.g. `SANP_MAX_PARAMETERS=100000000 sanp verify big.onnx spec.stl`.

    >>> check_parameters([4, 30000, 30000, 2], "policy.pt")   # doctest: +SKIP
    PolicyError: policy.pt: a network of 900,240,002 parameters is over sanp's limit of ...
"""
from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence

from sanp.errors import PolicyError

DEFAULTS = {
    "MAX_PARAMETERS": 20_000_000,      # weights and biases of one policy network
    "MAX_FILE_BYTES": 1 << 30,         # one input file, or one member of a zip once inflated
    "MAX_WORKERS": 64,                 # worker processes of a local pool
}
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def limit(name: str) -> int:
    """The limit `name` (a key of DEFAULTS), raised by the environment variable SANP_<name>."""
    raw = os.environ.get(f"SANP_{name}")
    if raw is None:
        return DEFAULTS[name]
    try:
        value = int(raw)
        assert value > 0
    except (ValueError, AssertionError):
        raise PolicyError(f"SANP_{name}={raw!r} is not a positive whole number") from None
    return value


def _over(where: object, what: str, name: str) -> PolicyError:
    return PolicyError(f"{where}: {what} is over sanp's limit of {limit(name):,}; "
                       f"if the file is genuine, raise it with SANP_{name}=N")


def check_parameters(sizes: Sequence[int], where: object) -> None:
    """Refuse a fully connected network with layer sizes `sizes` that has too many parameters."""
    total = sum(int(a) * int(b) + int(b) for a, b in zip(sizes[:-1], sizes[1:]))
    if total > limit("MAX_PARAMETERS"):
        raise _over(where, f"a network of {total:,} parameters", "MAX_PARAMETERS")


def check_count(n: int, where: object, what: str) -> None:
    """Refuse a declared tensor of `n` values (weights of one layer, a sparse initializer...)."""
    if n > limit("MAX_PARAMETERS"):
        raise _over(where, f"{what} of {n:,} values", "MAX_PARAMETERS")


def check_file(path: "os.PathLike[str] | str") -> None:
    """Refuse an input that is not a regular file, or that is too large."""
    if not os.path.isfile(path):
        raise PolicyError(f"{path}: not a regular file; give the path of a policy file")
    size = os.path.getsize(path)
    if size > limit("MAX_FILE_BYTES"):
        raise _over(path, f"a file of {size:,} bytes", "MAX_FILE_BYTES")


def check_zip(z: zipfile.ZipFile, where: object) -> None:
    """Refuse a zip whose members are encrypted, use a compression sanp cannot read, or
    declare more bytes than the limit once inflated."""
    total = 0
    for info in z.infolist():
        if info.flag_bits & 0x1:
            raise PolicyError(f"{where}: member {info.filename} is encrypted; save the model without a password")
        if info.compress_type not in _ZIP_METHODS:
            raise PolicyError(f"{where}: member {info.filename} uses zip compression method "
                              f"{info.compress_type}; re-save the file with standard deflate")
        total += info.file_size
        if total > limit("MAX_FILE_BYTES"):
            raise _over(where, f"a zip that inflates to over {total:,} bytes", "MAX_FILE_BYTES")
