"""Issue 32, items 4 and 5, and the hostile coverage of `sanp prove`, `--backend ray` and
env entry points: each case runs the real `sanp` command in its own process, in an
empty working directory under tmp_path, with an address-space limit and a timeout;
a refused input exits 2 (an interrupt 130) with exactly one line on stderr, no
traceback, and nothing written in the working directory.

Everything here uses the project's own policies (zoo/) and specs, so a clone alone runs
it. The Ray cases contact nothing but 127.0.0.1 (a port found closed by binding and
closing a socket, or a listener of the test's own), with Ray's files under tmp_path.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CARTPOLE = str(ROOT / "zoo/cartpole/dense.onnx")
CARTPOLE_SPEC = str(ROOT / "specs/cartpole.stl")
LANDER = str(ROOT / "zoo/lunar_lander/dense.onnx")
LANDER_SPEC = str(ROOT / "specs/lunar_lander.stl")
MEMORY = 2 << 30
RAY_MEMORY = 64 << 30  # a Ray driver maps its node's whole object store (30% of RAM) and more
TIMEOUT = 120.0
HAS_RAY = importlib.util.find_spec("ray") is not None
# without what an earlier Ray start in this pytest process may have left (its token mode...)
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}


@dataclass
class Run:
    code: int | None
    out: str
    err: str
    seconds: float


def _limit(memory: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return apply


@pytest.fixture
def ray_env(tmp_path):
    """Ray's token ($HOME/.ray) and session dir ($RAY_TMPDIR) in temporary directories
    (the session's is short: Ray's socket paths have a length limit); a loopback address
    stays loopback (Ray otherwise swaps it for this machine's outward address)."""
    short = Path(tempfile.mkdtemp(prefix="sanp-hr-"))
    yield {"HOME": str(tmp_path / "home"), "RAY_TMPDIR": str(short), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    shutil.rmtree(short, ignore_errors=True)


def sanp(tmp_path: Path, *argv: str, env: dict[str, str] | None = None, memory: int = MEMORY,
         interrupt=None) -> Run:
    """`sanp ARGV` in tmp_path/cwd (which must stay empty). `interrupt(proc)` returns
    once the process should get SIGTERM."""
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "sanp.cli", *argv], cwd=cwd, text=True,
                            env={**CLEAN_ENV, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_limit(memory))  # noqa: PLW1509 - the test starts no threads
    if interrupt is not None:
        interrupt(proc)
        proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return Run(None, out, err, time.monotonic() - start)
    assert sorted(p.name for p in cwd.iterdir()) == [], "sanp wrote into its working directory"
    return Run(proc.returncode, out, err, time.monotonic() - start)


def refused(r: Run, match: str, code: int = 2) -> None:
    assert r.code == code, (r.code, r.err[-3000:])
    assert "Traceback" not in r.err
    assert len(r.err.splitlines()) == 1, r.err[-3000:]
    assert match in r.err, r.err


def props_file(tmp_path: Path, doc: dict | str) -> str:
    p = tmp_path / "props.json"
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(p)


WIDE = {"x": [-1, 1], "x_dot": [-1, 1], "theta": [-0.2, 0.2], "theta_dot": [-1, 1]}
PUSH_RIGHT = {"name": "q", "over": "r", "then": {"kind": "action", "op": "==", "value": 1}}


# ------------------------------------------------------------------ prove's options


@pytest.mark.parametrize("argv, match", [
    (["--timeout", "1e12"], "--timeout: 1e12 is over the maximum of 86400 seconds"),
    (["--timeout", "nan"], "--timeout: must be positive and finite"),
    (["--depth", "1000000"], "--depth: 1000000 is over the maximum of 256"),
    (["--workers", "1000"], "1,000 is over sanp's limit of 64 worker processes; raise it with SANP_MAX_WORKERS"),
    (["--visited-episodes", "1000000000"], "--visited-episodes: 1000000000 is over the maximum of 100000"),
], ids=["timeout", "timeout-nan", "depth", "workers", "visited-episodes"])
def test_prove_refuses_out_of_range_options(tmp_path, argv, match):
    refused(sanp(tmp_path, "prove", CARTPOLE, CARTPOLE_SPEC, *argv), match)


def test_prune_refuses_a_huge_prove_timeout_before_pruning(tmp_path):
    r = sanp(tmp_path, "prune", CARTPOLE, CARTPOLE_SPEC, "-o", str(tmp_path / "s.onnx"), "--prove",
             "--prove-timeout", "1e12")
    refused(r, "--prove-timeout: 1e12 is over the maximum of 86400 seconds")


def test_prove_workers_limit_is_the_environment_variable(tmp_path):
    r = sanp(tmp_path, "prove", CARTPOLE, CARTPOLE_SPEC, "--workers", "3", env={"SANP_MAX_WORKERS": "2"})
    refused(r, "3 is over sanp's limit of 2 worker processes")


# --------------------------------- refused inputs, forked from one process (forkrun.py)


def _tanh_policy(path: Path) -> str:
    """A CartPole-shaped tanh MLP: sanp reads and runs it, Marabou cannot encode it."""
    import torch

    from sanp.formats.onnx_writer import export_onnx
    from sanp.model import MLPPolicy

    torch.manual_seed(0)
    export_onnx(MLPPolicy([4, 8, 2], "tanh", action_kind="discrete"), path)
    return str(path)


def _prove(props: dict | str, policy: str = CARTPOLE) -> list[str]:
    return ["prove", policy, CARTPOLE_SPEC, "--properties", props, "--timeout", "5"]


# id -> (the inputs it needs written, argv, the message), with {dir} the case's directory
BATCH: dict[str, tuple] = {
    "region-width-overflows": ({"props.json": {"regions": {"r": {"x": [-1e308, 1e308]}}, "props": [PUSH_RIGHT]}},
                               _prove("{dir}/props.json"),
                               "x in [-1e+308, 1e+308]: a region's bounds must lie within +-3.403e+38"),
    "region-nan-bound": ({"props.json": '{"regions": {"r": {"x": [NaN, 1]}}, "props": [{"name": "q", "over": "r", '
                                        '"then": {"kind": "action", "op": "==", "value": 1}}]}'},
                         _prove("{dir}/props.json"), "a region needs finite bounds"),
    "infinite-action": ({"props.json": {"regions": {"r": WIDE}, "props": [
                            {**PUSH_RIGHT, "then": {"kind": "action", "op": "==", "value": 1e400}}]}},
                        _prove("{dir}/props.json"), "a discrete action conclusion is 'action == k' or 'action != k'"),
    "huge-action": ({"props.json": {"regions": {"r": WIDE}, "props": [
                        {**PUSH_RIGHT, "then": {"kind": "action", "op": "==", "value": 1e300}}]}},
                    _prove("{dir}/props.json"), "does not exist (the policy has 2)"),
    "infinite-bound": ({"props.json": {"regions": {"r": WIDE}, "props": [
                           {**PUSH_RIGHT, "then": {"kind": "output", "index": 0, "op": "<=", "value": 1e400}}]}},
                       _prove("{dir}/props.json"), "the bound must be finite"),
    "huge-index": ({"props.json": {"regions": {"r": WIDE}, "props": [
                       {**PUSH_RIGHT, "then": {"kind": "output", "index": 10 ** 30, "op": "<=", "value": 0}}]}},
                   _prove("{dir}/props.json"), "out of range (the policy has 2 outputs)"),
    "infinite-coefficient": ({"props.json": {"regions": {"r": WIDE}, "props": [
                                 {**PUSH_RIGHT, "assume": [{"terms": {"x": 1e400}, "op": "<=", "rhs": 0}]}]}},
                             _prove("{dir}/props.json"), "a linear condition needs finite coefficients"),
    "prove-tanh-policy": ({"props.json": {"regions": {"r": WIDE}, "props": [PUSH_RIGHT]}, "tanh.onnx": None},
                          _prove("{dir}/props.json", "{dir}/tanh.onnx"),
                          "the verifier handles ReLU networks with a linear output layer; this policy uses tanh"),
    "prune-prove-tanh-policy": ({"tanh.onnx": None},
                                ["prune", "{dir}/tanh.onnx", CARTPOLE_SPEC, "-o", "{dir}/s.onnx", "--prove"],
                                "--prove: the verifier handles ReLU networks with a linear output layer"),
    "prune-prove-prop-does-not-fit": (
        {"spec.stl": Path(CARTPOLE_SPEC).read_text().replace("action == 1", "action == 7")},
        ["prune", CARTPOLE, "{dir}/spec.stl", "-o", "{dir}/s.onnx", "--prove"],
        "action 7 does not exist (the policy has 2)"),
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Every BATCH case in a child forked from one process that imported sanp once
    (forkrun.py: 2 GiB address space, 90 s), in an empty working directory; per case
    its exit code, stderr, and the files of its directory afterwards."""
    root = tmp_path_factory.mktemp("batch")
    cwd = root / "cwd"
    cwd.mkdir()
    jobs = []
    for case, (inputs, argv, _) in BATCH.items():
        d = root / case
        d.mkdir()
        for name, body in inputs.items():
            if body is None:
                _tanh_policy(d / name)
            else:
                (d / name).write_text(body if isinstance(body, str) else json.dumps(body))
        jobs.append({"id": case, "argv": [a.replace("{dir}", str(d)) for a in argv], "env": {},
                     "stdout": str(root / f"{case}.out"), "stderr": str(root / f"{case}.err")})
    (root / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([sys.executable, str(Path(__file__).with_name("forkrun.py")), str(root / "jobs.json"),
                    str(root / "results.json")], cwd=cwd, check=True, timeout=TIMEOUT * len(jobs))
    done = json.loads((root / "results.json").read_text())
    assert sorted(p.name for p in cwd.iterdir()) == [], "a case wrote into its working directory"
    return {case: (done[case]["code"], (root / f"{case}.err").read_text(), sorted(p.name for p in (root / case).iterdir()))
            for case in BATCH}


@pytest.mark.parametrize("case", list(BATCH))
def test_refused_in_one_line_before_any_work(batch, case):
    code, err, files = batch[case]
    inputs, _, match = BATCH[case]
    refused(Run(code, "", err, 0.0), match)
    # no output and no checkpoint (the lock file of -o stays by design: sanp.atomic.hold_lock)
    assert [f for f in files if f != ".s.onnx.lock"] == sorted(inputs), f"{case} left {files}"


def test_prove_depth_is_bounded_by_the_timeout_and_marabou_stays_quiet(tmp_path):
    # A refuted property over a wide box with the deepest split allowed: the halves that
    # inherit a counterexample need no query, and used to split on long past the timeout.
    report = tmp_path / "r.json"
    r = sanp(tmp_path, "prove", CARTPOLE, CARTPOLE_SPEC, "--properties",
             props_file(tmp_path, {"regions": {"r": WIDE}, "props": [PUSH_RIGHT]}),
             "--depth", "256", "--timeout", "3", "--json", str(report))
    assert r.code == 1, r.err
    prop = json.loads(report.read_text())["properties"][0]
    assert prop["verdict"] == "refuted"
    assert prop["seconds"] < 3 + 2.5  # one query may finish its own (whole-second) timeout
    assert abs(sum(prop["fractions"].values()) - 1) < 1e-9
    # only sanp's table and lines: Marabou's search log goes nowhere
    assert r.out.startswith(" ") and "sanp prove (timeout 3 s per property)" in r.out
    assert "Engine" not in r.out and "Marabou" not in r.out
    # nothing on stderr but sanp's one progress line (piped)
    assert re.fullmatch(r"\[ *[\d.]+s\] phase 1 of 1: property q \(at most 3 s\)\n", r.err), r.err


def test_prove_volume_fractions_of_degenerate_and_huge_regions_are_numbers(tmp_path):
    # a point, a box too thin for its volume to be a float, and one too wide for it
    point = {k: [0.1, 0.1] for k in WIDE}
    thin = {k: [0.0, 1e-90] for k in WIDE}
    huge = {k: [-1e38, 1e38] for k in WIDE}
    props = [{**PUSH_RIGHT, "name": n, "over": n} for n in ("point", "thin", "huge")]
    report = tmp_path / "r.json"
    r = sanp(tmp_path, "prove", CARTPOLE, CARTPOLE_SPEC, "--properties",
             props_file(tmp_path, {"regions": {"point": point, "thin": thin, "huge": huge}, "props": props}),
             "--timeout", "2", "--depth", "2", "--json", str(report))
    assert r.code in (0, 1, 3), r.err
    # nothing on stderr but sanp's progress lines (piped), one per property
    assert all(re.fullmatch(r"\[ *[\d.]+s\] phase \d of 3: property \w+ \(at most 2 s\)", ln)
               for ln in r.err.splitlines()) and len(r.err.splitlines()) == 3, r.err
    assert "nan" not in r.out.lower()
    # the huge box makes Marabou fail, log its search and dump its query: all out of sight
    assert "Engine" not in r.out and "failedMarabouQuery" not in r.out
    for p in json.loads(report.read_text())["properties"]:
        assert abs(sum(p["fractions"].values()) - 1) < 1e-9, (p["name"], p["fractions"])


# -------------------------------------------------------------- prune --prove


def test_a_failed_proof_keeps_the_finished_prune(tmp_path, monkeypatch, capsys):
    # Whatever makes the proof fail once the prune is done (here: a failure planted in
    # the proof step), the ONNX and the report are written, the checkpoint removed,
    # and the exit code says the proof failed.
    from sanp import cli
    from sanp.prove import after_prune
    from sanp.prove.properties import PropertyError

    def fail(*args, **kwargs):
        raise PropertyError("every episode of the reference policy went non-finite: no visited region")

    monkeypatch.setattr(after_prune, "prove_pruned", fail)
    out, report = tmp_path / "s.onnx", tmp_path / "r.json"
    code = cli.main(["prune", CARTPOLE, CARTPOLE_SPEC, "-o", str(out), "--report", str(report), "--prove",
                     "--recipe", "paper", "--sparsity", "0.5", "--episodes", "5", "--budget", "4", "--rounds", "1",
                     "--round-uniform", "10", "--heldout-budget", "4", "--heldout-uniform", "10"])
    assert code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (f"sanp prune: error: --prove failed after the prune was written to {out}: every "
                       "episode of the reference policy went non-finite: no visited region")
    doc = json.loads(report.read_text())
    assert doc["proof"]["verdict"] == "error" and "non-finite" in doc["proof"]["error"]
    assert doc["final"]["sparsity"] > 0.4
    from sanp import formats

    assert formats.load(str(out)).obs_dim == 4
    assert not Path(f"{out}.ckpt.npz").exists()


# ---------------------------------------------------------------------- Ray


@pytest.mark.parametrize("address, match", [
    ("nonsense", "--address 'nonsense' is not HOST:PORT"),
    ("127.0.0.1:0", "port 0 is not in 1-65535"),
    ("127.0.0.1:99999", "port 99999 is not in 1-65535"),
    ("a b:6379", "'a b' is not a host name or IP address"),
    ("[zz]:6379", "'[zz]' is not an IPv6 address"),
    ("x\ny:6379", "is not a host name or IP address"),
], ids=["no-port", "port-0", "port-high", "space", "ipv6", "newline"])
def test_garbage_ray_addresses_are_refused_up_front(tmp_path, ray_env, address, match):
    # CartPole's 5 episodes are one batch task: no batch would ever need Ray here
    r = sanp(tmp_path, "eval", CARTPOLE, CARTPOLE_SPEC, "--episodes", "5", "--backend", "ray",
             "--address", address, env=ray_env)
    refused(r, match)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.skipif(not HAS_RAY, reason="needs the Ray extra: pip install 'sanp[ray]'")
def test_ray_closed_port_fails_at_once(tmp_path, ray_env):
    # 20 lander episodes are two batch tasks: the first batch joins the cluster
    r = sanp(tmp_path, "eval", LANDER, LANDER_SPEC, "--episodes", "20", "--backend", "ray",
             "--address", f"127.0.0.1:{_closed_port()}", env=ray_env, memory=RAY_MEMORY)
    refused(r, "cannot reach the Ray cluster at 127.0.0.1:")
    assert "Connection refused" in r.err and r.seconds < 60  # Ray alone retried for over 90 s


@pytest.mark.skipif(not HAS_RAY, reason="needs the Ray extra: pip install 'sanp[ray]'")
def test_sigterm_while_ray_connects_exits_130(tmp_path, ray_env):
    # A listener that accepts and never answers: Ray's connection attempt hangs on it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    accepted = []

    def when_ray_connects(proc) -> None:
        # the first connection is sanp's TCP probe, the second Ray's own
        deadline = time.monotonic() + TIMEOUT
        while len(accepted) < 2 and proc.poll() is None and time.monotonic() < deadline:
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                pass
        time.sleep(1.0)

    try:
        r = sanp(tmp_path, "eval", LANDER, LANDER_SPEC, "--episodes", "20", "--backend", "ray", "--address",
                 f"127.0.0.1:{listener.getsockname()[1]}", env=ray_env, memory=RAY_MEMORY,
                 interrupt=when_ray_connects)
    finally:
        for c in accepted:
            c.close()
        listener.close()
    assert len(accepted) == 2, r.err
    refused(r, "sanp eval: interrupted", code=130)
    assert r.seconds < 10


@pytest.mark.skipif(not HAS_RAY, reason="needs the Ray extra: pip install 'sanp[ray]'")
def test_sigterm_while_ray_runs_exits_130(tmp_path, ray_env):
    session = Path(ray_env["RAY_TMPDIR"]) / "ray"

    def when_workers_run(proc) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not list(session.glob("session_*/logs/worker-*")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.0)

    r = sanp(tmp_path, "eval", LANDER, LANDER_SPEC, "--episodes", "2000", "--backend", "ray", "--workers", "2",
             env=ray_env, memory=RAY_MEMORY, interrupt=when_workers_run)
    refused(r, "sanp eval: interrupted", code=130)
    assert r.seconds < 20


# ------------------------------------------------------------ env entry points


ADAPTERS = '''
import gymnasium as gym

from sanp.envs import EnvAdapter

NOT_AN_ADAPTER = 42


class BadReset(EnvAdapter):
    def reset(self, env, point, seed):
        raise RuntimeError("the simulator is not licensed on this machine")


def register_badly():
    raise KeyError("no such table")


gym.register("BadReset-v0", "gymnasium.envs.classic_control.cartpole:CartPoleEnv", max_episode_steps=20)
'''


@pytest.fixture
def plugin_site(tmp_path) -> dict[str, str]:
    """A package declaring `sanp.envs` entry points, importable through PYTHONPATH: a
    dist-info directory is all importlib.metadata needs to list them."""
    site = tmp_path / "site"
    info = site / "sanp_hostile_plugin-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sanp-hostile-plugin\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(
        "[sanp.envs]\n"
        "Missing-v0 = sanp_no_such_module:Adapter\n"
        "NotAnEnv-v0 = hostile_plugin:NOT_AN_ADAPTER\n"
        "BadReset-v0 = hostile_plugin:BadReset\n"
        "hostile_plugin = hostile_plugin:register_badly\n"
    )
    (site / "hostile_plugin.py").write_text(ADAPTERS)
    return {"PYTHONPATH": str(site)}


def _spec(tmp_path: Path, env_id: str) -> str:
    p = tmp_path / f"{env_id}.stl"
    p.write_text(f"env {env_id}\nsignal a = obs[0]\nreq r: always (abs(a) <= 100)\n")
    return str(p)


@pytest.mark.parametrize("env_id, match", [
    ("Missing-v0", ("env 'Missing-v0': the sanp.envs entry point 'Missing-v0' (sanp_no_such_module:Adapter) "
                    "does not load (ModuleNotFoundError: No module named 'sanp_no_such_module')")),
    ("NotAnEnv-v0", "is neither a sanp.envs.EnvAdapter subclass nor a function"),
    ("Elsewhere-v0", ("does not load (ModuleNotFoundError: No module named 'sanp_no_such_module'); it may be "
                      "what provides this env")),
])
def test_broken_entry_points_are_one_line(tmp_path, plugin_site, env_id, match):
    refused(sanp(tmp_path, "check", _spec(tmp_path, env_id), env=plugin_site), match)


def test_an_adapter_that_raises_in_reset_is_one_line(tmp_path, plugin_site):
    r = sanp(tmp_path, "eval", CARTPOLE, _spec(tmp_path, "BadReset-v0"), "--episodes", "2", env=plugin_site)
    refused(r, "the env adapter hostile_plugin.BadReset raised RuntimeError in reset: the simulator is not "
               "licensed on this machine")


def test_a_broken_entry_point_leaves_other_envs_alone(tmp_path, plugin_site):
    r = sanp(tmp_path, "check", CARTPOLE_SPEC, env=plugin_site)
    # stderr holds only the spec's own short-horizon warning, nothing of the broken plugin
    assert r.code == 0 and r.err.startswith(f"{CARTPOLE_SPEC}: warning: horizon 200 is shorter") \
        and len(r.err.splitlines()) == 1, r.err
