"""sanp: safety-aware neural pruning for deep RL controllers.

The Python API (`sanp.api`), imported on first use so that `import sanp` stays cheap:

    >>> import sanp
    >>> result = sanp.verify("zoo/cartpole/dense.onnx", "specs/cartpole.stl", budget=20)  # doctest: +SKIP
    >>> result.verdict, result.to_json("verify.json")                                      # doctest: +SKIP
"""
import os as _os

# sanp's matrices are tiny: multi-threaded BLAS/OpenMP only adds contention (a GP step
# measured 17x slower with the default threads on 2 busy cores). Set before numpy loads;
# sanp.falsify also limits threads at run time for callers who imported numpy first.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

from sanp.version import __version__

_API = {
    "load_policy": "sanp.api", "load_spec": "sanp.api", "verify": "sanp.api", "prune": "sanp.api",
    "prove": "sanp.api", "Policy": "sanp.results", "VerifyResult": "sanp.results",
    "PruneResult": "sanp.results", "ProveResult": "sanp.results", "SanpError": "sanp.errors",
}
"""Top-level names and the module each comes from, imported when first used."""

__all__ = [
    "Policy",
    "ProveResult",
    "PruneResult",
    "SanpError",
    "VerifyResult",
    "__version__",
    "load_policy",
    "load_spec",
    "prove",
    "prune",
    "verify",
]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'sanp' has no attribute {name!r}")
    if name == "prove":  # the package sanp.prove, which calls sanp.api.prove (it says why)
        import sanp.prove as module

        return module
    if _API[name] == "sanp.api":
        from sanp import api as module
    elif _API[name] == "sanp.results":
        from sanp import results as module
    else:
        from sanp import errors as module
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
