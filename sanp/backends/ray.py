"""Rollout batches as Ray tasks (`pip install sanp[ray]`).

Each batch puts its shared part (the actor and the env binding) into the object store
once and sends one task per slice of the batch; a task whose worker dies is retried
(rollouts are deterministic, so a retry gives the same result). Without an address a
private Ray instance is started for the run, bound to 127.0.0.1, and stopped after it;
with `address` the run joins that cluster, whose nodes need sanp installed too.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from sanp.errors import BackendError
from sanp.extras import load

# Lost workers (a killed process, a lost node) are retried this often per task.
MAX_RETRIES = 3


def _call(fn: Callable[[Any, Any], Any], shared: Any, item: Any) -> Any:
    return fn(shared, item)


class RayBackend:
    """Ray tasks, on a cluster at `address` or on a local instance of `workers` CPUs.

    Example:
        >>> be = RayBackend(None, 2); be.map(pow_, 2, [1, 2, 3]); be.close()
    """

    name = "ray"

    def __init__(self, address: str | None, workers: int | None):
        if address is None:
            # A private instance is for this machine only: Ray's node address becomes
            # the loopback one (on Linux it otherwise binds the outward-facing address).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        ray = load("ray", "--backend ray")
        self._ray = ray
        self._owned = not ray.is_initialized()
        if self._owned:
            try:
                ray.init(
                    address=address,
                    num_cpus=workers if address is None else None,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {address}" if address else "a local Ray instance"
                raise BackendError(f"could not start or reach {where}: {exc}") from None
        self._task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_call)

    def map(self, fn: Callable[[Any, Any], Any], shared: Any, items: Sequence[Any]) -> list[Any]:
        ray = self._ray
        ref = ray.put(shared)  # once per batch; every task reads it from the store
        refs = [self._task.remote(fn, ref, item) for item in items]
        try:
            return ray.get(refs)
        except BaseException:
            for r in refs:
                ray.cancel(r, force=True)
            raise

    def close(self) -> None:
        if self._owned:
            self._ray.shutdown()

    def terminate(self) -> None:
        self.close()
