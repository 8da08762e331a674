"""The Ray backend, against one private Ray instance on 127.0.0.1 (2 CPUs) whose session
directory and token live in a temporary directory, stopped afterwards: a verify report
made on Ray equals the in-process one (timing aside), and a batch whose worker is
killed mid-task finishes with the same trajectories (the task is retried)."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from sanp import cli, rollout
from sanp.commands.common import load_policy
from sanp.envs import bind

# Ray is imported only once sanp starts it: its node address is fixed at import time.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="the Ray backend's tests need the extra: pip install 'sanp[ray]'")

ROOT = Path(__file__).resolve().parents[3]
_ENV = ("HOME", "RAY_TMPDIR", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")


@pytest.fixture(scope="module")
def ray_local():
    """sanp's own start of a private instance, with Ray's files under a temp dir: the
    token under $HOME/.ray, the session under $RAY_TMPDIR/ray."""
    from sanp.backends.ray import RayBackend

    assert "ray" not in sys.modules, "imported before sanp set its node address to loopback"
    tmp = Path(tempfile.mkdtemp(prefix="sanp-ray-"))  # short: Ray's socket paths have a limit
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ["HOME"], os.environ["RAY_TMPDIR"] = str(tmp / "home"), str(tmp / "tmp")
    backend = RayBackend(None, 2)
    try:
        yield tmp
    finally:
        backend.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)
    assert not sys.modules["ray"].is_initialized()


def test_private_instance_stays_on_loopback_and_in_the_temp_dir(ray_local):
    import ray

    node = ray._private.worker._global_node
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    assert node.gcs_address.startswith("127.0.0.1:")
    assert Path(node.get_session_dir_path()).is_relative_to(ray_local / "tmp")
    assert (ray_local / "home" / ".ray" / "auth_token").is_file()
    assert ray.cluster_resources()["CPU"] == 2


def _verify(tmp: Path, name: str, *backend: str) -> dict:
    out = tmp / f"{name}.json"
    code = cli.main(["verify", str(ROOT / "zoo/lunar_lander/dense.onnx"), str(ROOT / "specs/lunar_lander.stl"),
                     "--optimizer", "random", "--budget", "40", "--all", "--seed", "3",
                     "--json", str(out), *backend])
    doc = json.loads(out.read_text())
    assert code == (1 if doc["counterexamples"] else 0)
    doc.pop("timing")
    return doc


def test_verify_report_on_ray_equals_the_local_one(ray_local, tmp_path):
    local = _verify(tmp_path, "local")
    on_ray = _verify(tmp_path, "ray", "--backend", "ray")
    assert len(local["evaluations"]) == 40  # batches of 32 (2 tasks on Ray) and 8
    assert on_ray == local


def _kill_first_task_worker(killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the first Ray worker seen running one of sanp's tasks."""
    while not stop.is_set():
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(b"ray::_call"):
                    os.kill(int(proc.name), 9)
                    killed.append(int(proc.name))
                    return
            except (OSError, ProcessLookupError):
                continue
        time.sleep(0.02)


def test_worker_killed_mid_batch_is_retried_with_the_same_result(ray_local, monkeypatch):
    import stl
    from sanp.backends import BackendConfig, use
    from sanp.runtime import deployed

    b = bind(stl.load(ROOT / "specs/bipedal_walker.stl"))
    actor = deployed(load_policy(str(ROOT / "zoo/bipedal_walker/dense.onnx"), b))
    seeds = list(range(6))
    monkeypatch.setattr(rollout, "TASK_STEPS", 4800)  # 3 episodes per task: 2 tasks
    assert len(rollout.task_slices(b, len(seeds))) == 2
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_task_worker, args=(killed, stop))
    killer.start()
    try:
        with use(BackendConfig("ray")):
            on_ray = rollout.run_batch(actor, b, [None] * 6, seeds, record_states=False)
    finally:
        stop.set()
        killer.join()
    assert killed, "no Ray task worker was seen to kill"
    here = rollout.run_batch(actor, b, [None] * 6, seeds, record_states=False)
    for a, c in zip(here, on_ray):
        np.testing.assert_array_equal(a.observations, c.observations)
        np.testing.assert_array_equal(a.rewards, c.rewards)
