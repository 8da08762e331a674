"""Atomic output files: write to a temporary name in the same directory, then
`os.replace` it onto the target, so that a reader never sees a half-written file and
a failed write leaves any previous file untouched.

Example:
    >>> from sanp.atomic import write_bytes, atomic_output
    >>> write_bytes("out/model.onnx", data)
    >>> with atomic_output("out/report.json") as tmp:
    ...     tmp.write_text(text)

Names: `atomic_output`, `write_bytes`, `write_text`, `check_writable`.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sanp.errors import OutputError


def check_writable(path: str | os.PathLike) -> Path:
    """Raise OutputError unless `path`'s directory exists and is writable; return the Path."""
    path = Path(path)
    _check_dir(path)
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"cannot write {path}: directory {path.parent} is not writable; choose another path")
    return path


def _check_dir(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        raise OutputError(f"cannot write {path}: directory {parent} does not exist; create it first")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is not a directory; choose another output path")
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory; give a file name")


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary path next to `path` (the file already exists, empty);
    on normal exit move it onto `path`, on an exception remove it.

    Raises OutputError when the directory is missing or cannot be written.
    """
    path = Path(path)
    _check_dir(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)  # umask applies
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; choose a writable directory") from None
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; choose a writable directory") from None
    except BaseException:
        _unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (fsynced before the rename)."""
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically."""
    write_bytes(path, text.encode(encoding))


def _unlink(p: Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass
