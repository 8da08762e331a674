"""Write output files whole or not at all: to a temporary name beside the target,
then renamed into place, so an error or Ctrl-C never leaves a half-written file."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from sanp.errors import OutputError


def check_writable(path: str | os.PathLike) -> Path:
    """Raise OutputError unless `path`'s directory exists and is writable."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{p}: directory {parent} does not exist; create it or choose another path")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{p}: directory {parent} is not writable")
    if p.is_dir():
        raise OutputError(f"{p} is a directory; give a file name")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces `path` only if the block succeeds."""
    target = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
