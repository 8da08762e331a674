"""Limits on what sanp reads, checked against what a file *declares* before anything is
allocated, so that a small hostile file cannot expand into gigabytes.

A policy that legitimately needs more raises the limit with the environment variable
the error names, e.g. `SANP_MAX_PARAMETERS=100000000 sanp verify big.onnx spec.stl`.

    >>> check_parameters([4, 30000, 30000, 2], "policy.pt")   # doctest: +SKIP
    PolicyError: policy.pt: a network of 900,240,002 parameters is over sanp's limit of ...
"""
from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Sequence
from typing import Any

from sanp.errors import PolicyError, SanpError

DEFAULTS = {
    "MAX_PARAMETERS": 20_000_000,      # weights and biases of one policy network (any reader, any writer)
    "MAX_FILE_BYTES": 1 << 30,         # one input file, or one member of a zip once inflated
    "MAX_WORKERS": 64,                 # worker processes of a local pool
    "MAX_C_PARAMETERS": 1_000_000,     # weights and biases of a C export (4 MB of float32 flash)
    "MAX_EPISODES": 100_000,           # eval --episodes
    "MAX_HORIZON": 1_000_000,          # eval --horizon (a spec's horizon has the same cap)
    "MAX_PROPS": 2000,                 # props of prove --properties (a spec stops at 2000 statements)
    "MAX_PROPERTIES_BYTES": 4 << 20,   # the prove --properties JSON file
    "MAX_JSON_DEPTH": 32,              # nesting of a prove --properties JSON file
    "MAX_CONFIG_BYTES": 1 << 20,       # a zoo config.yml beside a model
    "MAX_CONFIG_DEPTH": 32,            # nesting of a zoo config.yml (the zoo writes 3 levels)
    "MAX_REPORT_STRING": 100_000,      # characters of one JSON string that `sanp report` renders
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
        raise PolicyError(f"SANP_{name}={raw[:40]!r} is not a positive whole number; unset it, or set a "
                          f"whole number of at least 1 (the default is {DEFAULTS[name]})") from None
    return value


def check_environment() -> None:
    """Refuse, before any work, a SANP_MAX_* variable of DEFAULTS that is set to anything
    but a positive whole number (an empty string included): a limit the user meant to set
    must not be silently ignored on the paths that happen not to read it."""
    for name in DEFAULTS:
        limit(name)


def _over(where: object, what: str, name: str) -> PolicyError:
    return PolicyError(f"{where}: {what} is over sanp's limit of {limit(name):,}; "
                       f"if the file is genuine, raise it with SANP_{name}=N")


def check_parameters(sizes: Sequence[int], where: object, name: str = "MAX_PARAMETERS") -> None:
    """Refuse a fully connected network with layer sizes `sizes` that has more parameters
    than the limit `name` (MAX_PARAMETERS; MAX_C_PARAMETERS for a C export)."""
    total = sum(int(a) * int(b) + int(b) for a, b in zip(sizes[:-1], sizes[1:]))
    if total > limit(name):
        raise _over(where, f"a network of {total:,} parameters", name)


def check_count(n: int, where: object, what: str) -> None:
    """Refuse a declared tensor of `n` values (weights of one layer, a sparse initializer...)."""
    if n > limit("MAX_PARAMETERS"):
        raise _over(where, f"{what} of {n:,} values", "MAX_PARAMETERS")


def read_bounded(path: os.PathLike[str] | str, name: str, what: str,
                 error: type[SanpError] = PolicyError) -> bytes:
    """The bytes of the regular file `path`, at most limit(`name`) of them; `error` (a
    one-line message naming the variable) otherwise. Opened without blocking, so that a
    FIFO is refused instead of waiting for a writer; a device is refused before reading."""
    most = limit(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc}); check the path") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: not a regular file (a device, a FIFO or a directory); give the path of a {what}")
        if st.st_size > most:
            raise error(f"{path}: {what} of {st.st_size:,} bytes, over sanp's limit of {most:,} bytes; "
                        f"if the file is genuine, raise it with SANP_{name}=N")
        try:
            data = f.read(most + 1)
        except OSError as exc:
            raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > most:  # it grew while being read
        raise error(f"{path}: {what} over sanp's limit of {most:,} bytes; raise it with SANP_{name}=N")
    return data


def check_file(path: os.PathLike[str] | str) -> None:
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


def check_constants(policy: Any, where: object) -> None:
    """Refuse a policy (an MLPPolicy) with a constant that is NaN or infinite in float32:
    every reader calls it, so such a file is refused at load, in one line, whatever its
    format; an action bound alone may be infinite (an unbounded Box)."""
    bad = policy.nonfinite_constant()
    if bad is not None:
        raise PolicyError(f"{where}: {bad} holds NaN or infinite values (in float32, as sanp stores "
                          "it: beyond ±3.4e38 is infinite); the policy is damaged, re-export it")
