"""Where batches of rollouts run: in this process (the default), a local process pool
(`--workers N`), or a Ray cluster (`--backend ray`).

A backend only maps a module-level function over the tasks of one batch; the caller
(`sanp.rollout`) cuts the batch into tasks the same way on every backend and for any
number of workers, so a seeded run gives the same result wherever it runs.

Example:
    >>> with backends.use(BackendConfig("local", workers=2)):
    ...     trajs = rollout.run_batch(actor, binding, points)   # spread over 2 processes
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from sanp.backends.address import parse_address
from sanp.errors import BackendError

T = TypeVar("T")
R = TypeVar("R")

Kind = Literal["local", "ray"]


@dataclass(frozen=True)
class BackendConfig:
    """Where rollouts run."""

    kind: Kind = "local"
    """`local`: this machine (a process pool when `workers` > 1); `ray`: Ray tasks."""
    workers: int | None = 1
    """Local: worker processes (1: no pool). Ray without `address`: CPUs of the local
    instance it starts (None: all cores). Ray with `address`: ignored (the cluster's)."""
    address: str | None = None
    """Ray only: the address of a running cluster (`ray start --head` prints it), HOST:PORT."""

    def __post_init__(self) -> None:
        if self.address is not None:
            parse_address(self.address)




class Backend(Protocol):
    """Runs `fn(shared, item)` for every item, in parallel, results in item order.
    `shared` is sent once per call (Ray: one object-store entry), not once per item."""

    name: str

    def map(self, fn: Callable[[Any, T], R], shared: Any, items: Sequence[T]) -> list[R]: ...

    def close(self) -> None: ...

    def terminate(self) -> None: ...


_CURRENT: Backend | None = None


def current() -> Backend | None:
    """The backend of the enclosing `use()` block; None runs everything in-process."""
    return _CURRENT


@contextlib.contextmanager
def use(config: BackendConfig) -> Iterator[Backend | None]:
    """Run the rollout batches inside the block on `config`'s backend. On leaving
    normally the workers finish and exit; on an error, Ctrl-C or SIGTERM they are
    stopped at once. A block nested in another keeps the outer backend."""
    global _CURRENT
    if _CURRENT is not None or (config.kind == "local" and (config.workers or 1) <= 1):
        yield _CURRENT
        return
    backend = _start(config)
    _CURRENT = backend
    try:
        yield backend
    except BaseException:
        _CURRENT = None
        backend.terminate()
        raise
    _CURRENT = None
    backend.close()


def _start(config: BackendConfig) -> Backend:
    if config.kind == "local":
        from sanp.backends.local import LocalPool

        return LocalPool(int(config.workers or 1))
    if config.kind == "ray":
        from sanp.extras import require

        require("ray", "--backend ray")  # now, not at the first batch after the setup
        return _Deferred(config)
    raise BackendError(f"unknown backend {config.kind!r}: use 'local' or 'ray'")


class _Deferred:
    """Ray starts (~10 s) at the first batch that needs it, not before the inputs are
    checked, and not at all for a run whose batches are all single tasks."""

    name = "ray"

    def __init__(self, config: BackendConfig):
        self.config = config
        self._backend: Backend | None = None

    def map(self, fn: Callable[[Any, T], R], shared: Any, items: Sequence[T]) -> list[R]:
        if self._backend is None:
            from sanp.backends.ray import RayBackend

            self._backend = RayBackend(self.config.address, self.config.workers)
        return self._backend.map(fn, shared, items)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    def terminate(self) -> None:
        if self._backend is not None:
            self._backend.terminate()
