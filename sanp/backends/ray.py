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
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sanp.errors import BackendError
from sanp.extras import load

# Lost workers (a killed process, a lost node) are retried this often per task.
MAX_RETRIES = 3


PROBE_S = 3.0
"""Seconds a TCP connection to the cluster's address may take before it counts as closed."""
CONNECT_S = 30.0
"""Seconds `ray.init` may take to join a cluster at an address."""
abandoned = False
"""True once a `ray.init` was left running past its bound: the process must then leave
with os._exit (sanp.cli.entry), as Ray's exit handlers would wait for it."""


def probe(address: str, ray: Any = None) -> None:
    """BackendError unless a TCP connection to `address` (HOST:PORT) opens within
    PROBE_S seconds: Ray itself retries a closed port for over a minute. With `ray`, a
    loopback host is first resolved as Ray resolves it (to this node's address, unless
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0), so that the probe tries what Ray will."""
    from sanp.backends.address import parse_address

    host, port = parse_address(address)
    if ray is not None:
        try:
            host = ray._private.services.resolve_ip_for_localhost(host)
        except Exception:  # noqa: BLE001, S110 - a private helper of Ray's: without it, probe as given
            pass
    try:
        with socket.create_connection((host, port), timeout=PROBE_S):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise BackendError(f"cannot reach the Ray cluster at {address} ({why}); check that `ray start "
                           "--head` runs there and that the port is open to this machine") from None


_INIT = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}


def _start_private(ray: Any, workers: int | None) -> None:
    """A private instance of `workers` CPUs. Ray installs a SIGTERM handler of its own
    (sys.exit) on the way: sanp's is put back, so that SIGTERM still exits 130."""
    handler = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(num_cpus=workers, **_INIT)
    except (SystemExit, KeyboardInterrupt):
        # SIGTERM (Ray's handler of the moment exits) or Ctrl-C mid-start: stop what
        # was started (sanp leaves with os._exit, so Ray's exit hooks would not), and
        # report it as any interrupt
        try:
            ray.shutdown()
        except Exception:  # noqa: BLE001, S110 - best effort on the way out
            pass
        raise KeyboardInterrupt from None
    except Exception as exc:  # noqa: BLE001 - whatever Ray raises, as one line
        raise BackendError(f"could not start a local Ray instance: {type(exc).__name__}: "
                           f"{_one_line(exc)}") from None
    finally:
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)


def _bounded_join(ray: Any, address: str) -> None:
    """Join the cluster at `address` with `ray.init` in a helper thread, so that this
    (main) thread stays free to take SIGTERM and Ctrl-C (Ray's C++ connection loop would
    hold them off, and on the main thread Ray replaces sanp's SIGTERM handler with its
    own), and give up after CONNECT_S seconds with a BackendError."""
    global abandoned
    outcome: list[BaseException | None] = []

    def init() -> None:
        try:
            ray.init(address=address, **_INIT)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome.append(exc)

    thread = threading.Thread(target=init, name="sanp-ray-init", daemon=True)
    # Ray's C++ core logs each failed connection attempt on fd 2 whatever its log level;
    # sanp reports a failure in one line of its own.
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        thread.start()
        thread.join(CONNECT_S)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        abandoned = thread.is_alive()
    if abandoned:
        raise BackendError(f"could not reach the Ray cluster at {address} within {CONNECT_S:g} s; check "
                           "that a Ray cluster (not another service) listens there")
    exc = outcome[0]
    if isinstance(exc, Exception):  # refused, a version mismatch, a token it wants...
        raise BackendError(f"could not join the Ray cluster at {address}: {type(exc).__name__}: "
                           f"{_one_line(exc)}") from None
    if exc is not None:
        raise exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


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
            if address is not None:
                probe(address, ray)
                _bounded_join(ray, address)
            else:
                _start_private(ray, workers)
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
