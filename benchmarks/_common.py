"""Helpers shared by the benchmark scripts: the machine, median timing, the zoo cases,
and writing a results file that names the exact command.

Every script sets torch to one thread (sanp itself sets OMP/OpenBLAS to one thread on
import) and records the load average at its start: the machine has 2 cores and other
jobs (training) may share them.
"""
from __future__ import annotations

import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sanp
from sanp.provenance import cpu_model


def one_thread() -> None:
    """torch and every BLAS/OpenMP pool to a single thread."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


# ------------------------------------------------------------------------ the machine


def other_jobs() -> list[str]:
    """Other processes busy on the CPU now: training (`zoo/train.py`) and anything else
    above 20% CPU that is not this script or its children (`ps`)."""
    me = os.getpid()
    try:
        out = subprocess.run(["ps", "-eo", "pid=,ppid=,pcpu=,args="], capture_output=True, text=True,
                             check=False).stdout
    except OSError:
        return []
    jobs = []
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4:
            continue
        pid, ppid, pcpu, args = int(parts[0]), int(parts[1]), float(parts[2]), parts[3]
        if me in (pid, ppid) or args.startswith("ps "):
            continue
        if "zoo/train.py" in args or pcpu > 20:
            jobs.append(f"{args[:100]} ({pcpu:.0f}% CPU)")
    return jobs


@dataclass(frozen=True)
class Machine:
    nproc: int
    cpu: str
    load_start: tuple[float, float, float]
    jobs_start: tuple[str, ...]
    python: str
    versions: str

    def describe(self, load_end: tuple[float, float, float] | None = None,
                 jobs_end: list[str] | None = None) -> list[str]:
        la = ", ".join(f"{v:.2f}" for v in self.load_start)
        lines = [
            (f"Machine: {self.cpu}, nproc = {self.nproc}, Python {self.python}, {platform.system()} "
            f"{platform.machine()}; {self.versions}."),
            f"Load average at start (1, 5, 15 min): {la}"
            + (f"; at end: {', '.join(f'{v:.2f}' for v in load_end)}" if load_end else "")
            + ".",
        ]
        if self.jobs_start:
            lines.append(
                f"**The machine was loaded**: {len(self.jobs_start)} other process(es) were busy on its "
                f"{self.nproc} cores when this started ({'; '.join(f'`{j}`' for j in self.jobs_start)}), so absolute "
                "times are inflated and noisy; ratios measured in one run are more reliable than absolute numbers."
            )
        elif self.load_start[0] >= 1:
            lines.append(f"No process above 20% CPU in `ps` when this started, but `ps` gives lifetime averages and "
                         f"the 1-min load average was {self.load_start[0]:.2f}: other jobs may have shared the "
                         "cores, so absolute times may be inflated.")
        else:
            lines.append("No other busy process when this started (no `zoo/train.py`, nothing above 20% CPU in `ps`).")
        if jobs_end:
            lines.append(
                f"**Busy at the end**: {'; '.join(f'`{j}`' for j in jobs_end)} — other jobs ran during part of "
                "this run (CPU share is the process's lifetime average), so some timings were taken on a loaded "
                "machine."
            )
        return lines


def machine() -> Machine:
    import numpy as np
    import onnxruntime
    import torch

    return Machine(
        nproc=os.cpu_count() or 0,
        cpu=cpu_model(),
        load_start=os.getloadavg(),
        jobs_start=tuple(other_jobs()),
        python=platform.python_version(),
        versions=(
            f"numpy {np.__version__}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
            f"sanp {sanp.__version__}"
        ),
    )


# ------------------------------------------------------------------------------ timing


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 0) -> tuple[float, list[float], Any]:
    """(median seconds, every run's seconds, the last result) of `repeats` runs."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def per_call(fn: Callable[[], Any], calls: int, repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Median seconds per call of `fn`, timed as `repeats` runs of `calls` calls."""
    for _ in range(warmup):
        for _ in range(max(1, calls // 10)):
            fn()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - t0) / calls)
    return statistics.median(runs), runs


def spread(times: list[float]) -> str:
    """'min-max' of a list of seconds, for the tables."""
    return f"{min(times):.3g}-{max(times):.3g}"


# --------------------------------------------------------------------------- the zoo


@dataclass(frozen=True)
class Case:
    name: str
    policy: Path
    spec: Path
    vecnormalize: Path | None = None

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.policy, self.spec) + ((self.vecnormalize,) if self.vecnormalize else ())

    @property
    def available(self) -> bool:
        return all(p.exists() for p in self.files)

    def missing(self) -> str:
        gone = [str(p) for p in self.files if not p.exists()]
        return f"{self.name}: missing {' and '.join(gone)}"


ZOO = (
    Case("cartpole", ROOT / "zoo/cartpole/dense.onnx", ROOT / "specs/cartpole.stl"),
    Case("cartpole_full", ROOT / "zoo/cartpole/dense.onnx", ROOT / "specs/cartpole_full.stl"),
    Case("lunar_lander", ROOT / "zoo/lunar_lander/dense.onnx", ROOT / "specs/lunar_lander.stl"),
    Case("bipedal_walker", ROOT / "zoo/bipedal_walker/dense.onnx", ROOT / "specs/bipedal_walker.stl"),
)

FIXTURES = ROOT.parent / "shared" / "fixtures"
SB3 = (
    Case("sb3_ppo_cartpole", FIXTURES / "sb3-ppo-CartPole-v1.zip", ROOT / "specs/cartpole.stl"),
    Case("sb3_qrdqn_cartpole", FIXTURES / "sb3-qrdqn-CartPole-v1.zip", ROOT / "specs/cartpole.stl"),
    Case("sb3_trpo_lander", FIXTURES / "sb3-trpo-LunarLanderContinuous-v2.zip", ROOT / "specs/lunar_lander.stl",
         FIXTURES / "sb3-trpo-LunarLanderContinuous-v2.vecnormalize.pkl"),
    Case("sb3_ppo_walker", FIXTURES / "sb3-ppo-BipedalWalker-v3.zip", ROOT / "specs/bipedal_walker.stl",
         FIXTURES / "sb3-ppo-BipedalWalker-v3.vecnormalize.pkl"),
)
"""Real Stable-Baselines3 zoo models (../shared/fixtures, not ours) against our specs."""


def zoo(names: list[str] | None = None) -> tuple[list[Case], list[str]]:
    """The zoo cases asked for that exist, and a note for each one that does not."""
    cases = [c for c in ZOO + SB3 if (c in ZOO and not names) or (names and c.name in names)]
    return [c for c in cases if c.available], [c.missing() for c in cases if not c.available]


def load_case(case: Case):
    """(spec, binding, dense MLPPolicy) of a zoo case."""
    import stl
    from sanp import formats as policy
    from sanp.envs import bind

    spec = stl.load(case.spec)
    binding = bind(spec)
    dense = policy.load(case.policy, observation_space=binding.observation_space, action_space=binding.action_space,
                        vecnormalize=case.vecnormalize)
    return spec, binding, dense


# --------------------------------------------------------------------------- results


def command() -> str:
    """The command that ran this script, from the repository root."""
    exe = Path(sys.executable)
    try:
        exe_s = str(exe.relative_to(ROOT))
    except ValueError:
        exe_s = str(exe)
    script = Path(sys.argv[0]).resolve()
    try:
        script_s = str(script.relative_to(ROOT))
    except ValueError:
        script_s = str(script)
    return shlex.join([exe_s, script_s, *sys.argv[1:]])


def write_results(path: Path, title: str, mach: Machine, intro: list[str], body: list[str],
                  wall: float | None = None) -> None:
    """Write a markdown results file: title, exact command, machine, then the body."""
    lines = [f"# {title}", "", f"Command (from the repository root): `{command()}`", ""]
    lines += mach.describe(os.getloadavg(), other_jobs())
    if wall is not None:
        lines.append(f"Wall time of the whole script: {wall:.0f} s.")
    lines.append("")
    lines += intro
    if intro:
        lines.append("")
    lines += body
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines).rstrip() + "\n")
    tmp.replace(path)
    print(f"wrote {path}", flush=True)


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out
