"""A falsifier round on BipedalWalker at `--workers 1` and `--workers 2`: wall and CPU
time, results compared, and a model of the same round on 32 and 128 cores.

The round is one `sanp.falsify` search of the zoo walker (`zoo/bipedal_walker`,
`specs/bipedal_walker.stl`) by a batched optimiser (default "corners": the box's 4
corners, then batches of one CMA-ES generation plus edge points; "cmaes": one
generation per batch; "bo": the initial design, then one point per GP step), budget B,
collecting every counterexample, as a prune round's search does. It runs in-process
(`--workers 1`) and on a local pool of 2 (`--workers 2`), with sanp's task cut
(`rollout.TASK_STEPS`: 10 walker episodes per task) and with a finer cut
(`--task-steps`, default 1600: one walker episode per task), each config `--repeats`
times; the first run of each is the reference whose evaluations every other must equal.

Measured per run: wall, CPU of this process and of the pool's workers, the serial part
(CPU of this process outside the rollouts: the proposer, which runs between batches,
and the scoring of each episode), and per batch its size q, its tasks and the env steps
of each episode. The model (see `model` for the assumptions) schedules each
batch's tasks on P cores from those steps and the CPU per env step measured here.

    nice -n 19 .venv/bin/python benchmarks/scaling_falsify.py --budget 32 --repeats 3 \\
        --out benchmarks/results/scaling_falsify.md

On a loaded machine the wall times measure the load, not the speed-up: `--smoke`
(a budget of 8, one repeat, output to a temporary file) only checks that the script runs.
"""
from __future__ import annotations

import argparse
import heapq
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import _common as C  # noqa: E402  (puts the repository on sys.path)
from scaling import run_timed

from sanp import backends, rollout
from sanp.backends import BackendConfig
from sanp.falsify import FalsifyConfig, falsify
from sanp.falsify import run as falsify_run

CORES = (1, 2, 8, 32, 128)


@dataclass
class Batch:
    q: int
    tasks: int
    steps: list[int]
    """Env steps of each episode, in batch order."""
    wall: float
    driver_cpu: float
    """CPU seconds of this process inside the batch (the whole rollout in-process; in a
    pool: cutting, sending, receiving)."""


@dataclass
class Run:
    label: str
    workers: int
    task_steps: int
    wall: float
    cpu: float
    """CPU seconds of every process (this one and the pool's workers)."""
    serial_cpu: float
    """CPU seconds of this process outside the rollouts: the proposer, scoring, bookkeeping."""
    proposer: float
    """Wall seconds in the proposer (`FalsifyResult.optimizer_time`)."""
    batches: list[Batch] = field(default_factory=list)
    evaluations: list = field(default_factory=list)


def _recording(batches: list[Batch], binding):
    """`sanp.falsify.run.run_batch`, recording each batch's size, tasks and episode lengths."""
    inner = rollout.run_batch

    def run_batch(actor, b, points, *args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = inner(actor, b, points, *args, **kwargs)
        tasks = len(rollout.task_slices(binding, len(points))) if backends.current() is not None else 1
        batches.append(Batch(len(points), tasks, [t.length for t in out], time.perf_counter() - t0,
                             time.process_time() - c0))
        return out
    return run_batch


def one_run(label: str, workers: int, task_steps: int, actor, binding, spec, cfg: FalsifyConfig) -> Run:
    saved, saved_steps = falsify_run.run_batch, rollout.TASK_STEPS
    batches: list[Batch] = []
    falsify_run.run_batch = _recording(batches, binding)
    rollout.TASK_STEPS = task_steps
    try:
        with backends.use(BackendConfig("local", workers)) as be:
            r = run_timed(lambda: falsify(actor, binding, spec, cfg), be)
    finally:
        falsify_run.run_batch, rollout.TASK_STEPS = saved, saved_steps
    res = r["out"]
    serial = r["driver"] - sum(b.driver_cpu for b in batches)
    return Run(label, workers, task_steps, r["wall"], r["driver"] + r["workers"], max(serial, 0.0),
               res.optimizer_time, batches, [(e.point, e.robustness) for e in res.evaluations])


# ---------------------------------------------------------------------------- model


def makespan(task_steps: list[int], cores: int, c_step: float, o_task: float) -> float:
    """Seconds for tasks (their env steps) handed out in order to the first free core
    (the pool's chunksize 1), each costing its steps x c_step plus o_task to dispatch."""
    free = [0.0] * min(cores, len(task_steps))
    heapq.heapify(free)
    end = 0.0
    for s in task_steps:
        t = heapq.heappop(free) + s * c_step + o_task
        end = max(end, t)
        heapq.heappush(free, t)
    return end


def task_steps_of(batch: Batch, binding, task_steps: int) -> list[int]:
    """The env steps of each task the batch is cut into at `task_steps` per task."""
    saved = rollout.TASK_STEPS
    rollout.TASK_STEPS = task_steps
    try:
        slices = rollout.task_slices(binding, batch.q)
    finally:
        rollout.TASK_STEPS = saved
    return [sum(batch.steps[s]) for s in slices]


def model(batches: list[Batch], binding, task_steps: int, serial_s: float, c_step: float, o_task: float,
          cores=CORES) -> list[float]:
    """Modelled seconds of the round on each number of cores (Amdahl, batch by batch).

    Assumptions: the serial part — the proposer and the scoring of each batch's
    episodes, in this process between batches — takes its measured CPU time whatever
    the cores; a task's time is its env steps times
    the CPU per env step measured at this task cut (so the cost of small tasks — one
    policy call serves fewer episodes — is in c_step), plus o_task to dispatch it; the
    pool hands tasks to the first free core in batch order; a batch waits for its
    slowest task (the next proposal needs all of its results); nothing else competes
    for the cores; the same points and batches as measured (results do not depend on
    the cores)."""
    out = []
    for P in cores:
        roll = sum(makespan(task_steps_of(b, binding, task_steps), P, c_step, o_task) for b in batches)
        out.append(serial_s + roll)
    return out


# ----------------------------------------------------------------------------- main


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def _c_step(runs: list[Run]) -> float:
    """CPU seconds per env step of the rollouts (all processes, the serial part out)."""
    steps = sum(sum(b.steps) for b in runs[0].batches)
    return _median([max(r.cpu - r.serial_cpu, 0.0) for r in runs]) / max(steps, 1)


def measure(args, actor, binding, spec) -> dict[str, list[Run]]:
    cfg = FalsifyConfig(budget=args.budget, optimizer=args.optimizer, seed=args.seed, collect_all=True)
    configs = [("in-process (--workers 1)", 1, rollout.TASK_STEPS),
               (f"pool of 2 (--workers 2), sanp's cut ({rollout.TASK_STEPS} steps per task)", 2, rollout.TASK_STEPS),
               (f"pool of 2 (--workers 2), finer cut ({args.task_steps} steps per task)", 2, args.task_steps)]
    runs: dict[str, list[Run]] = {c[0]: [] for c in configs}
    print("warm-up run (imports, onnxruntime's first calls; not timed) ...", flush=True)
    falsify(actor, binding, spec, cfg)
    for k in range(args.repeats):  # interleaved, so that a change of load hits every config alike
        for label, workers, steps in configs:
            print(f"run {k + 1}/{args.repeats}: {label} ...", flush=True)
            runs[label].append(one_run(label, workers, steps, actor, binding, spec, cfg))
    return runs


def _rows(runs: dict[str, list[Run]], ref: Run) -> list[list]:
    rows = []
    base = _median([r.wall for r in next(iter(runs.values()))])
    for label, rs in runs.items():
        r0 = rs[0]
        same = all(r.evaluations == ref.evaluations for r in rs)
        wall = _median([r.wall for r in rs])
        rows.append([label, f"{wall:.2f}", C.spread([r.wall for r in rs]), f"{base / wall:.2f}x",
                     f"{_median([r.cpu for r in rs]):.2f}", f"{_median([r.serial_cpu for r in rs]):.3f}",
                     f"{_median([r.proposer for r in rs]):.3f}", " ".join(str(b.q) for b in r0.batches),
                     " ".join(str(b.tasks) for b in r0.batches), "identical" if same else "DIFFER"])
    return rows


def _model_rows(runs: dict[str, list[Run]], binding, o_task: float) -> tuple[list[list], list[str]]:
    labels = list(runs)
    serial = runs[labels[0]]
    proposer = _median([r.serial_cpu for r in serial])
    c_whole = _c_step(serial)
    steps = sum(sum(b.steps) for b in serial[0].batches)
    t1 = proposer + steps * c_whole
    f = proposer / t1
    rows = []
    for label in labels[1:]:
        rs = runs[label]
        c = _c_step(rs)
        times = model(serial[0].batches, binding, rs[0].task_steps, proposer, c, o_task)
        rows.append([label.split(", ", 1)[1], f"{1e6 * c:.0f}"]
                    + [f"{t:.1f} ({t1 / t:.2f}x)" for t in times])
    amdahl = [f"{1 / (f + (1 - f) / P):.1f}x" for P in CORES]
    rows.append(["Amdahl's bound (serial fraction only)", "-"] + amdahl)
    notes = [f"Serial run: {steps} env steps in {len(serial[0].batches)} batches, {1e6 * c_whole:.0f} µs CPU per "
             f"env step in whole batches, serial part (proposer, scoring) {proposer:.3f} s CPU: modelled 1-core time {t1:.1f} s, serial "
             f"fraction f = {f:.3%} (Amdahl's bound 1 / (f + (1 - f) / P))."]
    return rows, notes


def batch_size_rows(runs: dict[str, list[Run]], q_values=(9, 32, 128), cores=(2, 32, 128)) -> list[list]:
    """Amdahl per batch for proposals of q points: speed-up on P cores of one batch and
    its share of the serial part, tasks of one episode (the finer cut's CPU per step),
    against the whole batch in one process. Assumes the serial part per batch measured
    here (it grows with q for a GP; CMA-ES's is negligible) and episodes of the mean
    measured length."""
    labels = list(runs)
    serial, fine = runs[labels[0]], runs[labels[-1]]
    batches = serial[0].batches
    steps = [s for b in batches for s in b.steps]
    mean_steps = sum(steps) / len(steps)
    per_batch = _median([r.serial_cpu for r in serial]) / len(batches)
    c_whole, c_fine = _c_step(serial), _c_step(fine)
    rows = []
    for q in q_values:
        t1 = per_batch + q * mean_steps * c_whole
        row = [q, f"{per_batch / t1:.2%}"]
        for P in cores:
            tp = per_batch + -(-q // P) * mean_steps * c_fine
            row.append(f"{t1 / tp:.1f}x")
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=int, default=32, help="rollouts of the round's search (default 32)")
    ap.add_argument("--optimizer", default="corners", help="a batched optimiser (default corners)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--task-steps", type=int, default=1600, help="the finer task cut (default 1600 env steps)")
    ap.add_argument("--task-overhead-ms", type=float, default=1.5,
                    help="CPU per task dispatch in the model (default 1.5 ms: Ray's on a quiet machine, "
                    "scaling.md; the local pool's is 0.12 ms)")
    ap.add_argument("--out", type=Path, default=C.RESULTS / "scaling_falsify.md")
    ap.add_argument("--smoke", action="store_true", help="budget 8, one repeat, output to a temporary file")
    args = ap.parse_args()
    if args.smoke:
        args.budget, args.repeats = 8, 1
        args.out = Path(tempfile.mkdtemp(prefix="scaling_falsify_")) / "scaling_falsify.md"
    C.one_thread()
    mach = C.machine()
    t_all = time.perf_counter()
    from sanp.runtime import deployed

    case = next(c for c in C.zoo(["bipedal_walker"])[0])
    spec, binding, dense = C.load_case(case)
    runs = measure(args, deployed(dense), binding, spec)
    ref = next(iter(runs.values()))[0]
    body = [f"## A falsifier round: {args.optimizer}, budget {args.budget}, seed {args.seed}", ""]
    body += C.table(["config", "median wall s", "wall min-max s", "speed-up (wall)", "CPU s (all processes)",
                     "serial CPU s (proposer, scoring)", "proposer wall s", "batch sizes q", "tasks per batch",
                     "evaluations vs --workers 1"],
                    _rows(runs, ref))
    body += ["", f"{args.repeats} run(s) per config, interleaved; medians. The counterexamples found: "
             f"{sum(not (min(r.values()) >= 0) for _, r in ref.evaluations)} of {len(ref.evaluations)} "
             "evaluations violate."]
    mrows, notes = _model_rows(runs, binding, args.task_overhead_ms / 1e3)
    body += ["", "## Model: the same round on more cores", "", *notes, ""]
    body += C.table(["task cut", "µs CPU per env step (measured at 2 workers)"]
                    + [f"{P} core(s): s (speed-up)" for P in CORES], mrows)
    body += ["", "Speed-ups are against the modelled 1-core time of whole in-process batches. The model "
             "(`scaling_falsify.model`) replays the measured batches: each batch is cut into tasks as sanp "
             "cuts it, tasks go to the first free core in order, a batch ends with its slowest task and the "
             "serial part (proposer, scoring) runs between batches on one core; per-task dispatch "
             f"{args.task_overhead_ms:g} ms. It leaves out what a cluster adds (network, Ray's start-up) "
             "and the prune round's uniform batch (hundreds of points, as parallel as the cut allows)."]
    body += ["", "Per batch of q proposals (`batch_size_rows`: one batch's serial part as measured, episodes "
             "of the mean measured length, tasks of one episode at the finer cut's CPU per step, against the "
             "whole batch in one process):", ""]
    body += C.table(["q", "serial fraction"] + [f"{P} cores" for P in (2, 32, 128)], batch_size_rows(runs))
    C.write_results(args.out, "Scaling out: a batched falsifier round on BipedalWalker", mach, [], body,
                    time.perf_counter() - t_all)
    print("\n".join(body))


if __name__ == "__main__":
    main()
