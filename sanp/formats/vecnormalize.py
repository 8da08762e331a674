"""SB3 VecNormalize statistics: read without running pickled code, folded into the network.

The pickle is read by `SafeUnpickler`, which admits only the numpy globals that
rebuild arrays, scalars and dtypes, and stands in inert field records for
VecNormalize, RunningMeanStd, gym(nasium) spaces and numpy RandomState; any other
global is refused before anything runs.

Example:
    >>> from sanp.formats.vecnormalize import fold_vecnormalize
    >>> pi = fold_vecnormalize(load_sb3_zip("ppo.zip"), "vecnormalize.pkl")
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sanp.errors import PolicyError, first_line
from sanp.model import MLPPolicy


class FieldRecord:
    """An inert stand-in for a pickled object: it only records the fields it is given."""

    _qualname = "object"

    def __init__(self, *args: Any, **kwargs: Any):
        self.__dict__["_args"] = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and all(
            x is None or isinstance(x, dict) for x in state
        ):
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state

    def __repr__(self) -> str:
        return f"<{self._qualname} fields={sorted(k for k in self.__dict__ if not k.startswith('_'))}>"


def _record(qualname: str) -> type:
    return type(qualname.rsplit(".", 1)[-1], (FieldRecord,), {"_qualname": qualname})


def _inert_ctor(*args: Any, **kwargs: Any) -> FieldRecord:
    return FieldRecord(*args)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray as ma
        from numpy._core import numeric as nu
    except ImportError:  # numpy < 2
        from numpy.core import multiarray as ma  # type: ignore[no-redef]
        from numpy.core import numeric as nu  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = ma._reconstruct
        allowed[(mod, "scalar")] = ma.scalar
    if hasattr(nu, "_frombuffer"):
        for mod in ("numpy.core.numeric", "numpy._core.numeric"):
            allowed[(mod, "_frombuffer")] = nu._frombuffer
    for name in ("float64", "float32", "int64", "int32", "bool_"):
        allowed[("numpy", name)] = getattr(np, name)
    # numpy dtype classes (numpy >= 1.25 pickles dtypes through them)
    for name in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "BoolDType", "UInt32DType"):
        if hasattr(np.dtypes, name):
            allowed[("numpy.dtypes", name)] = getattr(np.dtypes, name)
    return allowed


_RECORDS = {
    ("stable_baselines3.common.vec_env.vec_normalize", "VecNormalize"),
    ("stable_baselines3.common.running_mean_std", "RunningMeanStd"),
    ("gym.spaces.box", "Box"),
    ("gym.spaces.discrete", "Discrete"),
    ("gymnasium.spaces.box", "Box"),
    ("gymnasium.spaces.discrete", "Discrete"),
    ("collections", "OrderedDict"),
}
# numpy's bit generators and seed sequences appear in the env's RNG state that newer SB3
# pickles carry; sanp never needs them, so they are rebuilt as inert records too.
_RECORDS |= {
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._pcg64", "PCG64DXSM"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._philox", "Philox"),
    ("numpy.random._sfc64", "SFC64"),
    ("numpy.random.bit_generator", "SeedSequence"),
}
_INERT_CTORS = {
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
}


class SafeUnpickler(pickle.Unpickler):
    """Admits only numpy array/scalar/dtype rebuilders; SB3/gym objects become inert
    FieldRecords; every other global raises PolicyError before anything runs."""

    def __init__(self, f: Any, path: Path):
        super().__init__(f)
        self.path = path
        self.allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in self.allowed:
            return self.allowed[key]
        if key == ("collections", "OrderedDict"):
            import collections

            return collections.OrderedDict
        if key in _RECORDS:
            return _record(f"{module}.{name}")
        if key in _INERT_CTORS:
            return _inert_ctor
        raise PolicyError(
            f"{self.path}: the pickle references {module}.{name}, which a VecNormalize file never needs; "
            "refusing to load it (it could run code)"
        )


def read_vecnormalize(path: str | os.PathLike) -> dict[str, Any]:
    """The normalisation fields of a VecNormalize pickle: obs_mean, obs_var (float64
    arrays), clip_obs, epsilon, norm_obs. Nothing in the file is executed."""
    path = Path(path)
    if not path.exists():
        raise PolicyError(f"{path}: no such VecNormalize file; check the path")
    try:
        with open(path, "rb") as f:
            obj = SafeUnpickler(f, path).load()
    except PolicyError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch/onnx/pickle raise many kinds
        raise PolicyError(f"{path}: not a readable VecNormalize pickle ({first_line(exc)}); re-save it with VecNormalize.save") from None
    fields = obj.__dict__ if isinstance(obj, FieldRecord) else obj if isinstance(obj, dict) else None
    rms = fields.get("obs_rms") if fields else None
    rms_fields = rms.__dict__ if isinstance(rms, FieldRecord) else rms if isinstance(rms, dict) else None
    if not rms_fields or "mean" not in rms_fields or "var" not in rms_fields:
        if isinstance(rms, dict) and rms and all(isinstance(v, FieldRecord) for v in rms.values()):
            raise PolicyError(f"{path}: VecNormalize over a Dict observation space is not supported")
        raise PolicyError(f"{path}: no obs_rms mean/var in this pickle; is it a VecNormalize file?")
    return {
        "obs_mean": np.asarray(rms_fields["mean"], dtype=np.float64).reshape(-1),
        "obs_var": np.asarray(rms_fields["var"], dtype=np.float64).reshape(-1),
        "clip_obs": float(fields.get("clip_obs", 10.0)),
        "epsilon": float(fields.get("epsilon", 1e-8)),
        "norm_obs": bool(fields.get("norm_obs", True)),
    }


def with_normalizer(policy: MLPPolicy, mean: Any, var: Any, clip: float | None, eps: float) -> MLPPolicy:
    """A copy of `policy` with the given observation normaliser (weights, masks kept)."""
    new = MLPPolicy(
        policy.sizes,
        policy.activations,
        action_kind=policy.action_kind,
        action_low=policy.action_low,
        action_high=policy.action_high,
        obs_mean=mean,
        obs_var=var,
        obs_clip=clip,
        obs_eps=eps,
    )
    with torch.no_grad():
        for a, b in zip(new.layers, policy.layers):
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)
    new.set_masks(policy.masks)
    return new


def fold_vecnormalize(policy: MLPPolicy, path: str | os.PathLike) -> MLPPolicy:
    """`policy` with a VecNormalize file's observation normalisation inside it."""
    v = read_vecnormalize(path)
    if not v["norm_obs"]:
        return policy
    if policy.has_normalizer:
        raise PolicyError(f"{path}: the policy already normalises its observations; drop the VecNormalize file")
    n = v["obs_mean"].size
    if n != policy.obs_dim or v["obs_var"].size != n:
        raise PolicyError(
            f"{path}: VecNormalize statistics cover {n} observation values but the network takes {policy.obs_dim}; "
            "use the file saved with this model"
        )
    return with_normalizer(policy, v["obs_mean"], v["obs_var"], v["clip_obs"], v["epsilon"])
