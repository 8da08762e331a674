"""Atomic output files: write to a temporary name in the same directory, then
`os.replace` it onto the target, so that a reader never sees a half-written file and
a failed write leaves any previous file untouched.

Example:
    >>> from sanp.atomic import write_bytes, atomic_output
    >>> write_bytes("out/model.onnx", data)
    >>> with atomic_output("out/report.json") as tmp:
    ...     tmp.write_text(text)

Outputs never clobber what they should not: an output that is a device, a FIFO or a
symbolic link, or that names an input or another output of the same command, is refused
before any work (`check_outputs`); a replaced file keeps its permission bits; a run
holds a lock on its main output (`hold_lock`) so that two runs cannot write the same
file; temporary files of runs that were killed are removed by the next write.

Names: `atomic_output`, `write_bytes`, `write_text`, `check_writable`, `check_outputs`,
`hold_lock`.
"""
from __future__ import annotations

import errno
import fcntl
import os
import secrets
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path

from sanp.errors import OutputError


def check_writable(path: str | os.PathLike) -> Path:
    """Raise OutputError unless `path`'s directory exists and is writable; return the Path."""
    path = Path(path)
    _check_dir(path)
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"cannot write {path}: directory {path.parent} is not writable; choose another path")
    return path


def check_outputs(outputs: Mapping[str, str | os.PathLike | None],
                  inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Refuse, before any work, outputs that cannot be written, that are not plain files
    (devices, FIFOs, symbolic links, a name ending in '/'), or that coincide with an input
    or with each other. `outputs` maps an option name (for the message) to a path.

        >>> check_outputs({"-o": "sparse.onnx", "--report": "sparse.onnx"})  # doctest: +SKIP
        OutputError: --report sparse.onnx is also -o; give each output its own file
    """
    seen: dict[Path, str] = {}
    ins = {_key(Path(i)): str(i) for i in inputs if i}
    for label, raw in outputs.items():
        if raw is None:
            continue
        if str(raw).endswith(os.sep):
            raise OutputError(f"{label} {raw}: names a directory; give a file name")
        path = check_writable(raw)
        if path.is_symlink():
            raise OutputError(f"{label} {path}: is a symbolic link; give the real file's path")
        if path.exists() and not stat.S_ISREG(path.stat().st_mode):
            raise OutputError(f"{label} {path}: is not a regular file (a device or FIFO); give a file path")
        key = _key(path)
        if key in ins:
            raise OutputError(f"{label} {path}: is an input of this command ({ins[key]}); write the output elsewhere")
        if key in seen:
            raise OutputError(f"{label} {path}: is also {seen[key]}; give each output its own file")
        seen[key] = label


def _key(path: Path) -> Path:
    return Path(os.path.realpath(path))


_HELD: list[int] = []


def hold_lock(path: str | os.PathLike) -> None:
    """Take an exclusive lock on `path`'s lock file (`.NAME.lock` beside it) for the rest
    of the process, or raise OutputError when another run holds it. The kernel releases
    the lock when the process ends, however it ends."""
    path = Path(path)
    lock = path.with_name(f".{path.name}.lock")
    if len(os.fsencode(lock.name)) > _name_max(path.parent):  # a long, legal output name
        import hashlib

        lock = path.with_name(f".sanp-{hashlib.sha256(os.fsencode(path.name)).hexdigest()[:16]}.lock")
    try:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o666)
    except OSError as exc:
        raise OutputError(f"cannot lock {path}: {exc.strerror or exc}; choose a writable directory") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise OutputError(f"{path}: another sanp run is writing it; wait for it to finish or "
                              "choose another output") from None
        raise OutputError(f"cannot lock {path}: {exc.strerror or exc}") from None
    _HELD.append(fd)


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
    _remove_stale_temporaries(path)
    tmp = path.with_name(_temporary_name(path))
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)  # umask applies
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; choose a writable directory") from None
    try:
        yield tmp
        if path.exists() and stat.S_ISREG(path.stat().st_mode):
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))  # a replaced file keeps its mode
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; choose a writable directory") from None
    except BaseException:
        _unlink(tmp)
        raise


_SHORT = ".sanp"
"""Stem of the temporary name of an output whose own name leaves no room for a suffix."""


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _temporary_name(path: Path) -> str:
    """`.NAME.PID-RANDOM.tmp`, or `.sanp.PID-RANDOM.tmp` where that would be longer than
    the file system allows (a 242-character NAME is legal; with the suffix it is not)."""
    tail = f".{os.getpid()}-{secrets.token_hex(4)}.tmp"
    name = f".{path.name}{tail}"
    return name if len(os.fsencode(name)) <= _name_max(path.parent) else _SHORT + tail


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (fsynced before the rename)."""
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically."""
    write_bytes(path, text.encode(encoding))


def _remove_stale_temporaries(path: Path) -> None:
    """Temporaries left by a run that was killed (its pid no longer exists)."""
    for stem in (f".{path.name}", _SHORT):
        for old in path.parent.glob(f"{glob_escape(stem)}.*-*.tmp"):
            pid = old.name[len(stem) + 1:].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                _unlink(old)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlink(p: Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass
