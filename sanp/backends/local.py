"""A local process pool (fork) for batches of rollouts.

Why the workers reset their signal handlers: a forked worker inherits the parent's
Python SIGTERM handler (`sanp.cli` turns SIGTERM into KeyboardInterrupt). Such a handler
does not end a process; it sets a flag that the main thread acts on when it next runs
Python code. `Pool.terminate()` first takes the task queue's read lock for good
(`Pool._help_stuff_finish`), so an idle worker waiting for that lock never runs Python
code again, and when the kernel delivers the SIGTERM to another of the worker's threads
(onnxruntime and OpenMP start some) the wait in `sem_wait` is not even interrupted: the
worker, and `terminate()` joining it, wait forever. With SIGTERM at its default action
the kernel ends the whole worker, whichever thread receives it; SIGINT is ignored in
the workers so that Ctrl-C reaches only the parent, which stops the pool.

The reset runs in every process forked while a pool is alive, with SIGTERM and SIGINT
blocked across the fork (`os.register_at_fork`), not in the pool's initializer: the
pool replaces a dead worker from a thread of its own, and `terminate()` may signal the
replacement before any of its Python code has run.

A batch that finishes normally never needs signals: `close()` lets the workers read
their end-of-work sentinels and exit.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sanp.errors import BackendError

_POLL_S = 0.2
_ALIVE = 0  # pools of this process that are running
_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_MASK: list[set[signal.Signals]] = []


def _block_before_fork() -> None:
    # Blocked across the fork, a SIGTERM sent to a just-forked worker stays pending
    # until the child has put SIGTERM back to its default action: then it ends it.
    if _ALIVE:
        _MASK.append(signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS))


def _unblock_in_parent() -> None:
    if _MASK:
        signal.pthread_sigmask(signal.SIG_SETMASK, _MASK.pop())


def _reset_in_child() -> None:
    if _MASK:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, _MASK.pop())


os.register_at_fork(before=_block_before_fork, after_in_parent=_unblock_in_parent,
                    after_in_child=_reset_in_child)


def _init_worker() -> None:
    torch = sys.modules.get("torch")  # one thread per worker, without importing torch
    if torch is not None:
        torch.set_num_threads(1)


def _preload() -> None:
    """Import what unpickling an actor needs before forking, so that the workers
    inherit it instead of each importing torch (seconds) for its first task."""
    import importlib

    for name in ("torch", "onnxruntime"):
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - both are dependencies of sanp
            pass


def _call(job: tuple[Callable[[Any, Any], Any], Any, Any]) -> Any:
    fn, shared, item = job
    return fn(shared, item)


class LocalPool:
    """`workers` forked processes; `map` spreads the items over them (one item per
    dispatch, so short and long tasks balance).

    Example:
        >>> pool = LocalPool(2); pool.map(pow_, 2, [1, 2, 3]); pool.close()
    """

    name = "local"

    def __init__(self, workers: int):
        self.workers = workers
        ctx = multiprocessing.get_context("fork")
        _preload()
        global _ALIVE
        _ALIVE += 1
        before = set(multiprocessing.active_children())
        self._pool = ctx.Pool(workers, initializer=_init_worker)
        self._procs = [p for p in multiprocessing.active_children() if p not in before]

    def map(self, fn: Callable[[Any, Any], Any], shared: Any, items: Sequence[Any]) -> list[Any]:
        pending = self._pool.map_async(_call, [(fn, shared, it) for it in items], chunksize=1)
        # A worker killed from outside (e.g. the OOM killer) takes its task with it and
        # multiprocessing.Pool would wait for that task forever: notice and stop.
        while not pending.ready():
            pending.wait(_POLL_S)
            dead = [p for p in self._procs if p.exitcode is not None]
            if dead and not pending.ready():
                raise BackendError(
                    f"a rollout worker process died (exit code {dead[0].exitcode}, e.g. killed "
                    "for lack of memory) and took its task with it; rerun with fewer "
                    "--workers, or use --backend ray, which retries lost tasks"
                )
        return pending.get()

    def close(self) -> None:
        """Let the workers finish and exit (no signals)."""
        self._pool.close()
        self._pool.join()
        self._stopped()

    def terminate(self) -> None:
        """Stop the workers at once (SIGTERM, at its default action in the workers)."""
        self._pool.terminate()
        self._pool.join()
        self._stopped()

    def _stopped(self) -> None:
        global _ALIVE
        _ALIVE -= 1
