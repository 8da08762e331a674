"""SB3 VecNormalize statistics: read without running pickled code, folded into the network.

The pickle is read by `SafeUnpickler`, which maps the numpy globals that rebuild arrays,
scalars and dtypes to sanp's own checked rebuilders (plain numeric dtypes only, sizes
checked before anything is allocated; numpy's dtype state is never applied), and stands
in inert field records for
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
from sanp.limits import check_constants
from sanp.model import FLOAT32_MAX, MLPPolicy


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


# What a normaliser may hold: a few thousand values at most (limits documented in the
# README). Checked before anything is allocated.
MAX_FILE_BYTES = 64 << 20
MAX_ELEMENTS = 1 << 20
_PLAIN_CODES = {"f8", "f4", "f2", "i8", "i4", "i2", "i1", "u8", "u4", "u2", "u1", "b1"}
_SCALAR_CODES = {"float64": "f8", "float32": "f4", "int64": "i8", "int32": "i4", "bool_": "b1"}


class _Refused(PolicyError):
    """Raised when the pickle asks numpy for something a VecNormalize file never holds."""


class _DType:
    """A plain numeric dtype named by a whitelisted type string. numpy's own dtype is
    never rebuilt from the pickle: its BUILD state can forge object fields and offsets
    that read raw memory, so that state is checked here and only the byte order kept."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True):
        if not isinstance(spec, str) or spec.lstrip("<>=|") not in _PLAIN_CODES:
            raise _Refused(f"dtype {spec!r} is not a plain numeric type")
        self.code = spec.lstrip("<>=|")
        self.order = spec[0] if spec[0] in "<>=|" else "="

    def __setstate__(self, state: Any) -> None:
        ok = (isinstance(state, tuple) and len(state) in (8, 9) and state[1] in ("<", ">", "=", "|")
              and state[2] is None and state[3] is None and state[4] is None and state[-1] == 0)
        if not ok:
            raise _Refused("a dtype with fields, sub-arrays or flags (not a plain numeric type)")
        self.order = state[1]

    def numpy(self) -> np.dtype:
        return np.dtype(("=" if self.order == "|" else self.order) + self.code)


def _count(shape: Any) -> int:
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and 0 <= n for n in shape):
        raise _Refused(f"array shape {shape!r}")
    n = 1
    for d in shape:
        n *= d
        if n > MAX_ELEMENTS:
            raise _Refused(f"an array of more than {MAX_ELEMENTS} values (shape {shape})")
    return n


def _from_bytes(raw: Any, dtype: Any, shape: tuple, order: str = "C") -> np.ndarray:
    if not isinstance(dtype, _DType):
        raise _Refused("array data without a plain numeric dtype")
    dt = dtype.numpy()
    n = _count(shape)
    if isinstance(raw, str):  # protocol 2 strings, already latin-1 decoded
        raw = raw.encode("latin1")
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != n * dt.itemsize:
        raise _Refused(f"array data of the wrong size for shape {shape} and dtype {dt}")
    return np.frombuffer(bytes(raw), dtype=dt).reshape(shape, order="F" if order == "F" else "C").copy()


class _NDArrayClass:
    """Stands for numpy.ndarray as the pickle names it; never instantiated by the pickle."""


class _Array:
    """numpy's `_reconstruct` + BUILD, re-done from checked pieces: `.value` is the array."""

    def __init__(self, cls: Any, shape: Any, typecode: Any):
        if cls is not _NDArrayClass:
            raise _Refused("an ndarray subclass")
        self.value: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[0], int)):
            raise _Refused("an ndarray state of an unknown form")
        _version, shape, dtype, fortran, raw = state
        self.value = _from_bytes(raw, dtype, shape, "F" if fortran else "C")


def _scalar(dtype: Any, raw: Any = b"") -> Any:
    return _from_bytes(raw, dtype, ())[()]


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any = "C") -> np.ndarray:
    return _from_bytes(buf, dtype, tuple(shape) if isinstance(shape, list) else shape, order)


def _latin1(text: Any, encoding: Any = "utf-8") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it for bytes: latin-1 of a str, nothing else."""
    if not isinstance(text, str) or encoding != "latin1" or len(text) > MAX_FILE_BYTES:
        raise _Refused("_codecs.encode other than latin-1 bytes")
    return text.encode("latin1")


def _scalar_type(code: str) -> type:
    def ctor(*args: Any) -> Any:
        if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], (int, float)):
            raise _Refused(f"numpy.{code} of {args!r}")
        return _DType(code).numpy().type(args[0])
    return ctor


def _numpy_globals() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): _NDArrayClass,
        ("numpy", "dtype"): _DType,
        ("_codecs", "encode"): _latin1,
    }
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = _Array
        allowed[(mod, "scalar")] = _scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = _frombuffer
    for name, code in _SCALAR_CODES.items():
        allowed[("numpy", name)] = _scalar_type(code)
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
    arrays), clip_obs, epsilon, norm_obs. Nothing in the file is executed, and numpy
    objects are rebuilt only from checked plain numeric data.

        >>> read_vecnormalize("vecnormalize.pkl")["obs_mean"].shape   # doctest: +SKIP
        (24,)
    """
    path = Path(path)
    if not path.exists():
        raise PolicyError(f"{path}: no such VecNormalize file; check the path")
    if not path.is_file():
        raise PolicyError(f"{path}: not a regular file; give the .pkl saved by VecNormalize.save")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise PolicyError(f"{path}: over {MAX_FILE_BYTES >> 20} MiB, far more than a VecNormalize file holds; "
                          "give the .pkl saved by VecNormalize.save")
    try:
        with open(path, "rb") as f:
            obj = SafeUnpickler(f, path).load()
    except _Refused as exc:
        raise PolicyError(f"{path}: refused: {exc}; a VecNormalize file holds plain numeric arrays only") from None
    except PolicyError:
        raise
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - pickle raises many kinds
        raise PolicyError(f"{path}: not a readable VecNormalize pickle ({first_line(exc)}); re-save it with VecNormalize.save") from None
    fields = _fields(obj)
    rms = fields.get("obs_rms") if fields else None
    rms_fields = _fields(rms)
    if not rms_fields or "mean" not in rms_fields or "var" not in rms_fields:
        if isinstance(rms, dict) and rms and all(isinstance(v, FieldRecord) for v in rms.values()):
            raise PolicyError(f"{path}: VecNormalize over a Dict observation space is not supported")
        raise PolicyError(f"{path}: no obs_rms mean/var in this pickle; is it a VecNormalize file?")
    mean = _vector(path, "obs_rms.mean", rms_fields["mean"])
    var = _vector(path, "obs_rms.var", rms_fields["var"])
    if (var < 0).any():
        raise PolicyError(f"{path}: obs_rms.var has negative values; the file is damaged, re-save it")
    return {
        "obs_mean": mean,
        "obs_var": var,
        "clip_obs": _number(path, "clip_obs", fields.get("clip_obs", 10.0), positive=True),
        "epsilon": _number(path, "epsilon", fields.get("epsilon", 1e-8), positive=False),
        "norm_obs": _flag(path, "norm_obs", fields.get("norm_obs", True)),
    }


def _fields(obj: Any) -> dict[str, Any] | None:
    return obj.__dict__ if isinstance(obj, FieldRecord) else obj if isinstance(obj, dict) else None


def _vector(path: Path, name: str, value: Any) -> np.ndarray:
    arr = value.value if isinstance(value, _Array) else value
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiub":
        raise PolicyError(f"{path}: {name} is {type(value).__name__}, not a numeric array; "
                          "the file is damaged, re-save it with VecNormalize.save")
    arr = arr.astype(np.float64).reshape(-1)
    if not np.isfinite(arr).all() or (np.abs(arr) > FLOAT32_MAX).any():
        raise PolicyError(f"{path}: {name} holds NaN or infinite values (in float32, as the policy uses "
                          "them: beyond ±3.4e38 is infinite); the file is damaged, re-save it")
    return arr


def _number(path: Path, name: str, value: Any, positive: bool) -> float:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PolicyError(f"{path}: {name} is {type(value).__name__}, not a number; re-save the file")
    x = float(value)
    if not np.isfinite(x) or x < 0 or (positive and x == 0) or x > FLOAT32_MAX:  # float32 in the network
        raise PolicyError(f"{path}: {name} = {x} is out of range; re-save the file")
    return x


def _flag(path: Path, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise PolicyError(f"{path}: {name} is {type(value).__name__}, not true/false; re-save the file")
    return bool(value)


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
    folded = with_normalizer(policy, v["obs_mean"], v["obs_var"], v["clip_obs"], v["epsilon"])
    check_constants(folded, path)  # var + epsilon may still overflow, or be 0
    return folded
