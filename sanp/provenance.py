"""What a rerun must match to repeat a run exactly, recorded in every JSON report.

A seeded run repeats exactly (every report field but the timing, byte for byte) on a
machine with the same CPU architecture, platform, package versions, BLAS library and
thread counts as recorded here. Anything else may change the last bits of the GP's
linear algebra and of L-BFGS, after which BO proposes other points: the counterexample
counts, the repair's p and the final sparsity can then differ (397 against 402 round-1
counterexamples for the same CartPole seed on two machines). Uniform sampling, step 1
and the held-out uniform check do not depend on BLAS.

Example:
    >>> record = rerun_requirements()
    >>> record["packages"]["numpy"], record["threadpools"][0]["internal_api"]
"""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

GUARANTEE = (
    "Same inputs, options and seed repeat every report field but timing exactly on a machine with the "
    "same CPU architecture, platform, package versions, BLAS library and thread counts as recorded here; "
    "elsewhere the Gaussian process's numerics (BLAS, L-BFGS) can differ in the last bits, BO then proposes "
    "other points, and counterexample counts, the repair's p and the final sparsity can differ."
)
PACKAGES = ("sanp", "numpy", "scipy", "torch", "gymnasium", "box2d", "box2d-py", "GPy", "GPyOpt",
            "onnx", "onnxruntime", "rtamt", "lark", "threadpoolctl")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def package_versions() -> dict[str, str]:
    """The installed version of each of PACKAGES (those not installed left out): the one
    list a report's `versions` and a rerun's requirements both read."""
    packages = {}
    for dist in PACKAGES:
        try:
            packages[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return packages


def rerun_requirements() -> dict[str, Any]:
    """Platform, package versions, BLAS/OpenMP pools (threadpoolctl) and thread counts."""
    from threadpoolctl import threadpool_info

    packages = package_versions()
    pools = [
        {k: pool.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "architecture",
                                  "threading_layer")}
        for pool in threadpool_info()
    ]
    # threadpoolctl lists pools in the order the libraries happened to be loaded, which
    # differs between two runs of the same command: sort them, so identical runs give
    # identical JSON
    pools.sort(key=lambda p: tuple(str(p[k]) for k in sorted(p)))
    torch_threads = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
    return {
        "guarantee": GUARANTEE,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "packages": packages,
        "threadpools": pools,
        "torch_threads": torch_threads,
        "onnxruntime_threads": 1,
        "thread_variables": {v: os.environ.get(v) for v in THREAD_VARIABLES},
    }


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
