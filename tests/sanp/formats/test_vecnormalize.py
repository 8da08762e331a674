"""VecNormalize pickles: folded into the network; nothing pickled is ever executed;
malformed files are refused."""
from __future__ import annotations

import builtins
import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from sanp.errors import PolicyError
from sanp.formats import load
from sanp.formats.vecnormalize import fold_vecnormalize, read_vecnormalize
from sanp.model import MLPPolicy

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "hostile"))
from make_corpus import forged_array as _array
from make_corpus import forged_dtype as _dtype
from make_corpus import laughs as _laughs

CARTPOLE = ROOT / "zoo" / "cartpole" / "sb3.zip"


class _Evil:
    def __init__(self, how, marker):
        self.how, self.marker = how, str(marker)

    def __reduce__(self):
        if self.how == "system":
            return (os.system, (f"touch {self.marker}",))
        if self.how == "exec":
            return (builtins.exec, (f"open({self.marker!r}, 'w').close()",))
        return (builtins.open, (self.marker, "w"))


@pytest.mark.parametrize("how,name", [("system", r"(posix|os)\.system"), ("exec", r"builtins\.exec"),
                                      ("open", r"(builtins|io)\.open")])
def test_vecnormalize_with_forbidden_global_never_runs(tmp_path, how, name):
    marker = tmp_path / "pwned"
    payload = {"obs_rms": {"mean": np.zeros(3), "var": np.ones(3)}, "clip_obs": 10.0, "x": _Evil(how, marker)}
    path = tmp_path / "vn.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(PolicyError, match=rf"vn\.pkl: the pickle references {name}"):
        read_vecnormalize(path)
    with pytest.raises(PolicyError):
        load(CARTPOLE, vecnormalize=path)
    assert not marker.exists()


@pytest.fixture
def fake_sb3(monkeypatch):
    """Importable stand-ins for SB3's classes, only so that the test can *write* a
    VecNormalize-shaped pickle; sanp never imports them."""
    mods = {}
    for name in ("stable_baselines3", "stable_baselines3.common", "stable_baselines3.common.vec_env",
                 "stable_baselines3.common.vec_env.vec_normalize", "stable_baselines3.common.running_mean_std"):
        mods[name] = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, mods[name])

    class VecNormalize:
        pass

    class RunningMeanStd:
        pass

    VecNormalize.__module__ = "stable_baselines3.common.vec_env.vec_normalize"
    RunningMeanStd.__module__ = "stable_baselines3.common.running_mean_std"
    VecNormalize.__qualname__, RunningMeanStd.__qualname__ = "VecNormalize", "RunningMeanStd"
    mods["stable_baselines3.common.vec_env.vec_normalize"].VecNormalize = VecNormalize
    mods["stable_baselines3.common.running_mean_std"].RunningMeanStd = RunningMeanStd
    return VecNormalize, RunningMeanStd


def _vecnormalize_pickle(fake, mean, var, clip=5.0, eps=1e-4, norm_obs=True, extra=None):
    VecNormalize, RunningMeanStd = fake
    rms = RunningMeanStd()
    rms.__dict__.update(mean=np.asarray(mean, np.float64), var=np.asarray(var, np.float64), count=np.float64(10.0))
    vn = VecNormalize()
    vn.__dict__.update(obs_rms=rms, clip_obs=clip, epsilon=eps, norm_obs=norm_obs, gamma=np.float32(0.99),
                       ret_rms=rms, **(extra or {}))
    return pickle.dumps(vn, protocol=4)


def test_vecnormalize_is_folded_into_the_network(tmp_path, fake_sb3):
    p = MLPPolicy([3, 8, 2], "tanh", action_kind="discrete")
    mean, var = [1.0, -2.0, 0.5], [4.0, 0.25, 1.0]
    (tmp_path / "vn.pkl").write_bytes(_vecnormalize_pickle(fake_sb3, mean, var))
    q = fold_vecnormalize(p, tmp_path / "vn.pkl")
    assert q.has_normalizer and q.obs_clip == 5.0 and q.obs_eps == 1e-4
    x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32) * 10
    normed = np.clip((x - np.array(mean)) / np.sqrt(np.array(var) + 1e-4), -5, 5).astype(np.float32)
    with torch.no_grad():
        assert np.allclose(q(torch.from_numpy(x)).numpy(), p(torch.from_numpy(normed)).numpy(), atol=1e-5)
    (tmp_path / "off.pkl").write_bytes(_vecnormalize_pickle(fake_sb3, mean, var, norm_obs=False))
    assert not fold_vecnormalize(p, tmp_path / "off.pkl").has_normalizer
    with pytest.raises(PolicyError, match="already normalises"):
        fold_vecnormalize(q, tmp_path / "vn.pkl")
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pkl").write_bytes(
        _vecnormalize_pickle(fake_sb3, mean, var, extra={"venv": _Evil("system", marker)}))
    with pytest.raises(PolicyError, match="system"):
        fold_vecnormalize(p, tmp_path / "evil.pkl")
    assert not marker.exists()


def test_vecnormalize_garbage_and_missing(tmp_path):
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(PolicyError, match=r"junk\.pkl: not a readable VecNormalize pickle"):
        read_vecnormalize(tmp_path / "junk.pkl")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(PolicyError, match="no obs_rms"):
        read_vecnormalize(tmp_path / "list.pkl")
    with pytest.raises(PolicyError, match="no such VecNormalize file"):
        read_vecnormalize(tmp_path / "missing.pkl")


def test_vecnormalize_saved_by_sb3_2_9_with_its_rng_state_loads():
    # Made with stable-baselines3 2.9.2 / gymnasium 1.4 / numpy 2.4: VecNormalize(make_vec_env(
    # "CartPole-v1", n_envs=2, seed=0)).save(...). Newer pickles carry the env's PCG64 and
    # SeedSequence state, which must load as inert records, not be refused.
    d = read_vecnormalize(ROOT / "tests" / "sanp" / "data" / "vecnormalize_sb3_2_9_cartpole.pkl")
    assert d["obs_mean"].shape == (4,) and d["obs_var"].shape == (4,)
    assert d["clip_obs"] == 10.0 and d["norm_obs"] is True


# ---------------------------------------------------------------- hostile pickles
# Each builds the opcodes numpy's own pickles use, with one part forged.

def _vn_file(tmp_path, fake, mean, var=None, **fields):
    VecNormalize, RunningMeanStd = fake
    rms = RunningMeanStd()
    rms.__dict__.update(mean=mean, var=var if var is not None else np.ones(3))
    vn = VecNormalize()
    vn.__dict__.update(obs_rms=rms, clip_obs=10.0, epsilon=1e-8, norm_obs=True)
    vn.__dict__.update(fields)
    path = tmp_path / "vn.pkl"
    path.write_bytes(pickle.dumps(vn, protocol=4))
    return path


@pytest.mark.parametrize("mean,match", [
    # an object field with its flags cleared: numpy would read raw bytes as pointers
    (_array(b"\0" * 8, (1,), _dtype("f8", (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0))),
     "'O8' is not a plain numeric type"),
    (_array(b"\0" * 8, (1,), _dtype("f8", (3, "|", None, ("a",), {"a": (_dtype("f8"), 0)}, 8, 1, 0))),
     "dtype with fields"),
    # a field offset outside the item: numpy would read past the buffer
    (_array(b"\0" * 8, (1,), _dtype("f8", (3, "|", None, ("a",), {"a": (np.dtype("f8"), 4096)}, 8, 1, 0))),
     "dtype with fields"),
    (_array(b"\0" * 8, (1,), _dtype("O")), "not a plain numeric type"),
    (_array(b"\0" * 8, (1_000_000_000,)), "more than"),
    (_array(b"\0" * 7, (1,)), "wrong size"),
    (_laughs(), "not a numeric array"),
    ("mean", "not a numeric array"),
    (np.array([np.nan, 0.0, 0.0]), "NaN or infinite"),
])
def test_forged_numpy_objects_are_refused(tmp_path, fake_sb3, mean, match):
    path = _vn_file(tmp_path, fake_sb3, mean)
    with pytest.raises(PolicyError, match=match):
        read_vecnormalize(path)


@pytest.mark.parametrize("fields,match", [
    ({"clip_obs": [1.0, 2.0]}, "clip_obs is list, not a number"),
    ({"clip_obs": -1.0}, "clip_obs = -1.0 is out of range"),
    ({"epsilon": float("nan")}, "epsilon = nan is out of range"),
    ({"norm_obs": "yes"}, "norm_obs is str"),
])
def test_fields_of_the_wrong_type_are_refused(tmp_path, fake_sb3, fields, match):
    with pytest.raises(PolicyError, match=match):
        read_vecnormalize(_vn_file(tmp_path, fake_sb3, np.zeros(3), **fields))


def test_negative_variance_and_non_files_are_refused(tmp_path, fake_sb3):
    with pytest.raises(PolicyError, match="negative"):
        read_vecnormalize(_vn_file(tmp_path, fake_sb3, np.zeros(3), var=np.array([1.0, -1.0, 1.0])))
    with pytest.raises(PolicyError, match="not a regular file"):
        read_vecnormalize("/dev/zero")


def test_plain_arrays_of_every_pickle_protocol_load(tmp_path, fake_sb3):
    for protocol in (2, 3, 4, 5):
        VecNormalize, RunningMeanStd = fake_sb3
        rms = RunningMeanStd()
        rms.__dict__.update(mean=np.array([1.0, 2.0], np.float32), var=np.array([4.0, 9.0]))
        vn = VecNormalize()
        vn.__dict__.update(obs_rms=rms, clip_obs=np.float64(5.0), epsilon=1e-8, norm_obs=np.bool_(True))
        (tmp_path / "p.pkl").write_bytes(pickle.dumps(vn, protocol=protocol))
        d = read_vecnormalize(tmp_path / "p.pkl")
        assert d["obs_mean"].tolist() == [1.0, 2.0] and d["obs_var"].tolist() == [4.0, 9.0]
        assert d["clip_obs"] == 5.0 and d["norm_obs"] is True
