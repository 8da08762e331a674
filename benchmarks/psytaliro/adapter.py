"""sanp side of the PSY-TaLiRo adapter: creates PSY-TaLiRo's own venv when it is
missing, starts `worker.py` in it, and serves it sanp rollouts over a pipe.

PSY-TaLiRo (PyPI `psy-taliro`) needs Python < 3.13 and pulls its own numpy/scipy/rtamt;
it lives in `benchmarks/psytaliro/.venv` (ignored by git through the root `.venv/` rule)
and adds nothing to sanp's dependencies. The optimiser, the sampling and the robustness
(RTAMT, through PSY-TaLiRo's discrete-time specification) all run in that venv; this side
only runs the rollout of each sample and sends back the trace of the spec's signals.

Example:
    >>> from psytaliro.adapter import ensure_venv, run_psytaliro
    >>> python = ensure_venv()
    >>> res = run_psytaliro(python, actor, binding, spec, "UniformRandom", seed=1, budget=200)
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
WORKER = HERE / "worker.py"
PIP_SPEC = "psy-taliro"
PYTHON_FOR_VENV = "python3.11"


class PsyTaliroUnavailable(RuntimeError):
    """Raised when PSY-TaLiRo's venv cannot be created or imported."""


def ensure_venv(log=print) -> Path:
    """The python of PSY-TaLiRo's venv, created and `pip install psy-taliro`-ed if needed."""
    py = VENV / "bin" / "python"

    def importable() -> bool:
        return py.exists() and subprocess.run(
            [str(py), "-c", "import staliro, rtamt; from staliro.specifications import rtamt as r"],
            capture_output=True, check=False,
        ).returncode == 0

    if importable():
        return py
    steps = [
        [PYTHON_FOR_VENV, "-m", "venv", str(VENV)],
        [str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip", "setuptools<81", "wheel"],
        [str(py), "-m", "pip", "install", "--quiet", PIP_SPEC],
    ]
    for cmd in steps:
        log("$ " + " ".join(cmd))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise PsyTaliroUnavailable(f"`{' '.join(cmd)}` could not start: {exc}") from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise PsyTaliroUnavailable(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): " + " | ".join(tail))
    if not importable():
        raise PsyTaliroUnavailable(f"{PIP_SPEC} installed in {VENV} but `import staliro` fails")
    return py


@dataclass
class PsyTaliroRun:
    optimizer: str
    seed: int
    costs: list[float]
    """RTAMT robustness of every evaluation, as PSY-TaLiRo saw it."""
    sanp_robustness: list[float]
    """sanp's own robustness (minimum over the requirements) of the same rollouts."""
    wall_s: float
    """From sending the configuration to receiving the result (the worker's start-up and
    imports excluded: it reports ready first)."""
    rollout_s: float
    """sanp rollouts (this side)."""
    wait_s: float
    """Worker time blocked on us: rollouts plus pipe and JSON."""
    monitor_s: float
    """RTAMT evaluations in the worker."""
    total_s: float
    """The worker's `staliro.staliro(...)` call."""
    startup_s: float
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def evaluations(self) -> int:
        return len(self.costs)

    @property
    def first_counterexample_at(self) -> int | None:
        for i, c in enumerate(self.costs):
            if not c >= 0:
                return i + 1
        return None

    @property
    def optimizer_s(self) -> float:
        """PSY-TaLiRo's own time: the test minus rollouts/IPC minus the RTAMT monitor."""
        return self.total_s - self.wait_s - self.monitor_s

    @property
    def max_cost_mismatch(self) -> float:
        a, b = np.array(self.costs, float), np.array(self.sanp_robustness, float)
        both = np.isfinite(a) & np.isfinite(b)
        if not np.array_equal(np.isfinite(a), np.isfinite(b)):
            return float("inf")
        return float(np.max(np.abs(a[both] - b[both]))) if both.any() else 0.0


def requirement_text(spec: Any, names: list[str]) -> tuple[str, list[str]]:
    """The RTAMT text of the conjunction of `names` (its robustness at time 0 is the minimum
    of theirs, sanp's joint objective) and the RTAMT variables it uses, in column order."""
    from stl.rtamt_backend import rtamt_name, to_rtamt

    reqs = [spec.requirements[n] for n in names]
    text = " and ".join(to_rtamt(r) for r in reqs)
    if len(reqs) > 1:
        text = f"({text})"
    signals = sorted(set().union(*(r.signal_names for r in reqs)))
    return text, [rtamt_name(s) for s in signals]


def run_psytaliro(python: Path, actor: Any, binding: Any, spec: Any, optimizer: str, seed: int,
                  budget: int, requirements: list[str] | None = None) -> PsyTaliroRun:
    """One PSY-TaLiRo falsification run (stop at the first negative robustness) whose
    samples are rolled out by sanp with `actor` on `binding`."""
    from sanp.falsify import score
    from sanp.rollout import run_batch
    from stl.rtamt_backend import rtamt_name

    names = requirements or list(spec.requirements)
    formula, columns = requirement_text(spec, names)
    signal_of = {rtamt_name(s): s for s in spec.signals}
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(python), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, bufsize=1)
    rollout_s = 0.0
    try:
        ready = proc.stdout.readline()
        if not ready or json.loads(ready).get("op") != "ready":
            raise RuntimeError(f"PSY-TaLiRo worker did not start (exit code {proc.poll()})")
        startup = time.perf_counter() - t0
        t_start = time.perf_counter()
        proc.stdin.write(json.dumps({
            "optimizer": optimizer, "seed": int(seed), "budget": int(budget),
            "names": [d.name for d in binding.space], "bounds": binding.bounds.tolist(),
            "formula": formula, "columns": columns,
        }) + "\n")
        proc.stdin.flush()
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"PSY-TaLiRo worker exited (code {proc.wait()}) without a result")
            msg = json.loads(line)
            if msg["op"] == "done":
                wall = time.perf_counter() - t_start
                break
            t1 = time.perf_counter()
            traj = run_batch(actor, binding, [binding.point(msg["point"])], record_states=False)[0]
            sig = traj.signals(spec)
            states = np.stack([sig[signal_of[c]] for c in columns], axis=1).tolist()
            rob = min(score(spec, names, traj).values())
            rollout_s += time.perf_counter() - t1
            proc.stdin.write(json.dumps({"states": states, "sanp_robustness": rob}) + "\n")
            proc.stdin.flush()
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
        proc.wait(timeout=60)
    return PsyTaliroRun(
        optimizer=optimizer, seed=seed, costs=msg["costs"], sanp_robustness=msg["sanp_robustness"],
        wall_s=wall, rollout_s=rollout_s, wait_s=msg["wait_s"], monitor_s=msg["monitor_s"],
        total_s=msg["total_s"], startup_s=startup, versions=msg["versions"],
    )


if __name__ == "__main__":  # smoke test: python benchmarks/psytaliro/adapter.py
    sys.path.insert(0, str(HERE.parents[1]))
    import stl
    from sanp import formats as policy
    from sanp.envs import bind
    from sanp.runtime import deployed

    spec = stl.load(HERE.parents[1] / "specs" / "cartpole.stl")
    binding = bind(spec)
    pol = policy.load(HERE.parents[1] / "zoo" / "cartpole" / "dense.onnx",
                      observation_space=binding.observation_space, action_space=binding.action_space)
    py = ensure_venv()
    for name in ("UniformRandom", "DualAnnealing"):
        r = run_psytaliro(py, deployed(pol), binding, spec, name, seed=1, budget=50)
        print(name, r.evaluations, r.first_counterexample_at, f"wall {r.wall_s:.3f}s total {r.total_s:.3f} wait {r.wait_s:.3f} rollout {r.rollout_s:.3f} monitor {r.monitor_s:.3f}",
              f"mismatch {r.max_cost_mismatch:.2e}", r.versions)
