"""Rollouts per second in-process, on the local pool and on Ray, and a model of a
BipedalWalker prune's wall time on 8, 32 and 128 cores.

One batch per zoo case — uniform points of the spec's search space, as in a prune
round's uniform check, run by the deployed (onnxruntime) policy — on: in-process
(`--workers 1`), the local pool of 2 (`--workers 2`), and a private Ray instance with 1
and with 2 CPUs (`--backend ray`), one run, side by side. Wall time and CPU seconds of
every process involved (this one, pool workers, Ray workers; Ray's own daemons apart),
and whether every trajectory equals the in-process one. Then the per-task overhead
(no-op tasks), the per-episode costs and a GP step, from which the model is computed.

    .venv/bin/python benchmarks/scaling.py --out benchmarks/results/scaling.md
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

import _common as C  # noqa: E402  (puts the repository on sys.path)

from sanp import backends, rollout
from sanp.backends import BackendConfig

BATCH = {"cartpole": 1024, "lunar_lander": 96, "bipedal_walker": 24}
NOOP_TASKS = 200


# ------------------------------------------------------------------ CPU accounting


def _cpu(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def _ray_pids() -> tuple[set[int], set[int]]:
    """(Ray task workers, Ray's daemons) of this machine, by command line."""
    workers, daemons = set(), set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()[:300]
        except OSError:
            continue
        if cmd.startswith((b"ray::_call", b"ray::IDLE")):
            workers.add(int(p.name))
        elif b"ray/" in cmd or cmd.startswith(b"ray::"):
            daemons.add(int(p.name))
    return workers, daemons


def _others(backend) -> tuple[set[int], set[int]]:
    if backend is None:
        return set(), set()
    inner = getattr(backend, "_backend", backend)
    if hasattr(inner, "_procs"):
        return {p.pid for p in inner._procs}, set()
    return _ray_pids()


def run_timed(fn, backend) -> dict:
    """Wall and CPU seconds of one call: this process, the workers, Ray's daemons."""
    w0, d0 = _others(backend)
    c0 = {p: _cpu(p) for p in w0 | d0}
    t0, p0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, me = time.perf_counter() - t0, time.process_time() - p0
    w1, d1 = _others(backend)
    work = sum(_cpu(p) - c0.get(p, 0.0) for p in w0 | w1)
    daemon = sum(_cpu(p) - c0.get(p, 0.0) for p in d0 | d1)
    return {"wall": wall, "driver": me, "workers": work, "daemons": daemon, "out": out}


# ------------------------------------------------------------------------ workloads


def uniform_points(binding, n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    lo, hi = binding.bounds[:, 0], binding.bounds[:, 1]
    return [binding.point(x) for x in rng.uniform(lo, hi, size=(n, len(lo)))]


def _noop(shared, item):
    return item


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.observations, y.observations) and np.array_equal(x.rewards, y.rewards)
        for x, y in zip(a, b)
    )


def measure_config(label: str, config: BackendConfig | None, cases: list, repeats: int) -> tuple[list, dict]:
    rows, extra = [], {}
    t0 = time.perf_counter()
    with backends.use(config or BackendConfig("local", 1)) as be:
        start = time.perf_counter() - t0
        for name, binding, actor, points, ref in cases:
            batch = lambda: rollout.run_batch(actor, binding, points, record_states=False)  # noqa: E731
            runs = [run_timed(batch, be) for _ in range(1 + repeats)][1:]  # first: warm-up
            r = min(runs, key=lambda x: x["wall"]) if len(runs) < 3 else sorted(runs, key=lambda x: x["wall"])[len(runs) // 2]
            eps = len(points)
            cpu = r["driver"] + r["workers"]
            rows.append([name, label, f"{eps / r['wall']:.1f}", f"{r['wall']:.2f}",
                         C.spread([x["wall"] for x in runs]), f"{cpu:.2f}", f"{r['daemons']:.2f}",
                         f"{1e3 * cpu / eps:.1f}", len(rollout.task_slices(binding, eps)) if be else 1,
                         "identical" if same(r["out"], ref) else "DIFFER"])
            extra[name] = {"wall": r["wall"], "cpu": cpu, "eps": eps}
        if be is not None:
            runs = [run_timed(lambda: be.map(_noop, b"x" * 1000, range(NOOP_TASKS)), be) for _ in range(3)]
            r = sorted(runs, key=lambda x: x["wall"])[1]
            extra["noop"] = {"wall": r["wall"] / NOOP_TASKS, "cpu": (r["driver"] + r["workers"] + r["daemons"]) / NOOP_TASKS}
    extra["start"] = start
    return rows, extra


# ---------------------------------------------------------------------------- model


def gp_step_seconds(dim: int, n: int = 60) -> float:
    """Median time of a GP proposal after 10..n evaluations (sanp's BO defaults)."""
    from sanp.falsify import BOConfig, BOProposer

    rng = np.random.default_rng(0)
    prop = BOProposer(dim, BOConfig(), n, 0)
    x = prop.propose(prop.chunk(n))
    prop.tell(x, rng.normal(size=len(x)))
    times = []
    while len(prop.X) < n:
        t0 = time.perf_counter()
        x = prop.propose(1)
        times.append(time.perf_counter() - t0)
        prop.tell(x, rng.normal(size=1))
    return statistics.median(times)


# Phases of the BipedalWalker row of benchmarks/results/paper_table.md (`--workers 2`,
# load 1.48): wall seconds, and what runs in them.
PAPER_PHASES = {
    "step1_sparsity": 83.8, "falsify (5 rounds)": 179.3 + 205.9 + 226.5 + 323.2 + 269.1,
    "recover (5 rounds)": 47.1 + 51.6 + 76.6 + 97.3 + 27.6,
    "repair (5 rounds)": 10.1 + 17.9 + 44.7 + 27.6 + 7.5,
    "final_reward": 15.1, "heldout": 441.5,
}


def model(c_ep: float, c_1: float, t_gp: float, o_task: float, per_task: int, cores: list[int]) -> tuple[list, dict]:
    """Wall seconds of the paper_table BipedalWalker prune on P cores (Ray; see the notes).

    Sequential: the BO loops (5 rounds x 90 GP steps + held-out 2 x 190), each step a
    GP proposal and a batch-1 rollout; the bisection's ~11 dependent batches per round.
    Parallel: everything else, measured as 2 x its wall at 2 workers (both busy), spread
    over min(P, tasks per batch) cores.
    """
    bo_steps = 5 * 90 + 2 * 190
    seq_bo = bo_steps * (t_gp + c_1)
    uniform_tasks = -(-250 // per_task)  # uniform points go in batches of 250
    reward_tasks = -(-100 // per_task)
    cex_tasks = -(-35 // per_task)  # ~35 counterexamples per round in that run
    # Phase -> (parallel CPU seconds at 2 workers, largest useful parallelism, batches).
    falsify_par = PAPER_PHASES["falsify (5 rounds)"] - 5 * 90 * (t_gp + c_1)
    held_par = PAPER_PHASES["heldout"] - 2 * 190 * (t_gp + c_1)
    phases = {
        "step1_sparsity": (2 * PAPER_PHASES["step1_sparsity"], reward_tasks, 8),
        "falsify uniform + BO initial designs": (2 * falsify_par, uniform_tasks, 5 * 5),
        "recover (bisection)": (2 * PAPER_PHASES["recover (5 rounds)"], cex_tasks, 5 * 12),
        "repair (reruns)": (2 * PAPER_PHASES["repair (5 rounds)"], cex_tasks, 5 * 6),
        "final reward": (2 * PAPER_PHASES["final_reward"], reward_tasks, 1),
        "held-out uniform + reward": (2 * max(held_par, 0.0), uniform_tasks, 12),
    }
    overhead = 1 + o_task / (per_task * c_ep)  # a task's dispatch beside its simulation
    rows = []
    for P in cores:
        # Work spread over the cores a batch can use; a batch lasts at least one task.
        par = {k: max(w * overhead / min(P, m), b * per_task * c_ep) for k, (w, m, b) in phases.items()}
        total = seq_bo + sum(par.values()) + 10.0  # + Ray's start-up
        rows.append([P, f"{total:.0f}", f"{seq_bo:.0f} ({seq_bo / total:.0%})",
                     ", ".join(f"{k} {v:.0f}" for k, v in par.items())])
    return rows, {"seq_bo": seq_bo, "bo_steps": bo_steps}


# Quiet-machine inputs: batched and batch-1 BipedalWalker episode (rollouts.md,
# falsify.md), GP proposal (falsify.md), CPU per Ray task (issue 15, ray 2.60).
QUIET = (0.140, 0.265, 0.036, 0.0015)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=C.RESULTS / "scaling.md")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    C.one_thread()
    mach = C.machine()
    t_all = time.perf_counter()
    from sanp.runtime import deployed

    found, missing = C.zoo()
    cases = []
    for case in found:
        spec, binding, dense = C.load_case(case)
        actor = deployed(dense)
        points = uniform_points(binding, BATCH[case.name])
        ref = rollout.run_batch(actor, binding, points, record_states=False)
        cases.append((case.name, binding, actor, points, ref))
    configs = [("in-process (--workers 1)", None), ("local pool of 2 (--workers 2)", BackendConfig("local", 2)),
               ("Ray, 1 CPU", BackendConfig("ray", 1)), ("Ray, 2 CPUs", BackendConfig("ray", 2))]
    rows, extra = [], {}
    for label, cfg in configs:
        print(f"{label} ...", flush=True)
        r, e = measure_config(label, cfg, cases, args.repeats)
        rows += r
        extra[label] = e
    rows.sort(key=lambda r: [c[0] for c in cases].index(r[0]))

    # Model inputs, BipedalWalker.
    bw = next(c for c in cases if c[0] == "bipedal_walker")
    _, binding, actor, points, _ = bw
    serial = extra["in-process (--workers 1)"]["bipedal_walker"]
    c_ep = serial["cpu"] / serial["eps"]
    ones = [run_timed(lambda q=q: rollout.run_batch(actor, binding, [q], record_states=False), None) for q in points[:6]]
    c_1 = statistics.median(o["driver"] for o in ones)
    t_gp = gp_step_seconds(len(binding.space))
    o_task = extra["Ray, 2 CPUs"]["noop"]["cpu"]
    per_task = max(1, -(-rollout.TASK_STEPS // binding.horizon))
    mrows, m = model(c_ep, c_1, t_gp, o_task, per_task, [2, 8, 32, 128])
    wall = time.perf_counter() - t_all

    body = ["## Rollouts per second (one run, side by side)", ""]
    body += C.table(["env", "where", "episodes/s", "median wall s", "wall min-max s", "CPU s (all workers)",
                     "Ray daemons CPU s", "CPU ms/episode", "tasks", "trajectories vs in-process"], rows)
    body += ["", f"Batches: {', '.join(f'{k} {v} uniform points' for k, v in BATCH.items())}; "
             f"{args.repeats} timed runs after one warm-up run per configuration (median shown)."]
    body += ["", "## Start-up and per-task overhead", ""]
    orow = []
    for label, _ in configs[1:]:
        e = extra[label]
        orow.append([label, f"{e['start']:.1f}", f"{1e3 * e['noop']['wall']:.2f}", f"{1e3 * e['noop']['cpu']:.2f}"])
    body += C.table(["backend", "start-up s (Ray: at the first batch)", f"wall ms per no-op task ({NOOP_TASKS} tasks)",
                     "CPU ms per no-op task (all processes)"], orow)
    body += ["", "## Model: a BipedalWalker prune on more cores", "",
             f"Inputs measured above: {1e3 * c_ep:.0f} ms CPU per BipedalWalker episode in a batch, "
             f"{1e3 * c_1:.0f} ms per batch-1 episode (a BO step's rollout, median of 6), "
             f"{1e3 * t_gp:.0f} ms per GP proposal (sanp's BO defaults, 10-60 points, dim {len(binding.space)}), "
             f"{1e3 * o_task:.2f} ms CPU per Ray task; {per_task} episodes per task at horizon {binding.horizon}. "
             "Phase walls of the BipedalWalker run at `--workers 2` from benchmarks/results/paper_table.md."]
    body += [""] + C.table(["cores", "modelled wall s", "sequential BO part s (share)", "parallel phases s"], mrows)
    qrows, _ = model(*QUIET, per_task, [2, 8, 32, 128])
    body += ["", "The same model with quiet-machine inputs (rollouts.md, falsify.md; the issue's Ray task cost):", ""]
    body += C.table(["cores", "modelled wall s", "sequential BO part s (share)", "parallel phases s"], qrows)
    C.write_results(args.out, "Scaling out: local pool and Ray", mach, [], body, wall)


if __name__ == "__main__":
    main()
