"""Episodes per second of the 100-episode reward evaluation: a naive gymnasium loop vs
sanp's batched rollouts, on every zoo policy; plus a process-pool prototype.

    .venv/bin/python benchmarks/rollouts.py

Writes benchmarks/results/rollouts.md. For each zoo policy whose ONNX file and spec
exist (a missing one is skipped with a note), over reset seeds 0..99 and the spec's
horizon:

* naive: one env from `gym.make(env_id, max_episode_steps=horizon, **kwargs)`, one
  episode after another, one torch policy call (batch 1, no_grad) per step;
* sanp batched, torch: `sanp.rollout.returns(MLPPolicy, binding)`, one policy call per
  step for all 100 episodes;
* sanp batched, onnxruntime: the same with `sanp.runtime.deployed()`;
* prototype: `returns` split over a multiprocessing pool of 2 workers (fork), each
  worker with its own onnxruntime actor; timed with the pool's start-up and warm.

The returns of every variant are checked equal to the naive loop's, exactly.
The time of the batched runs is also split into policy calls, env steps and the rest
(sanp's per-step bookkeeping), by wrapping the actor and the env bank's `step`.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import gymnasium as gym
import numpy as np
import torch

from sanp import banks, rollout
from sanp.runtime import deployed

# ------------------------------------------------------------------------- variants


def naive_returns(dense, spec, binding, episodes: int, seed: int, fresh_env: bool = False) -> np.ndarray:
    """The textbook loop: one env, one episode after another, batch-1 torch calls
    (`fresh_env`: a new `gym.make` env for every episode instead of one reused env)."""
    def make():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gym.make(spec.env_id, max_episode_steps=binding.horizon, **dict(spec.env_kwargs))

    env = make()
    out = []
    try:
        for s in range(seed, seed + episodes):
            if fresh_env and s > seed:
                env.close()
                env = make()
            obs, _ = env.reset(seed=s)
            rewards = []
            done = False
            while not done:
                with torch.no_grad():
                    values = dense(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)).numpy()
                action = dense.values_to_actions(values)[0]
                obs, r, term, trunc, _ = env.step(action)
                rewards.append(r)
                done = term or trunc
            # summed like sanp's Trajectory.total_reward
            out.append(float(np.sum(np.asarray(rewards, dtype=np.float64), dtype=np.float64)))
    finally:
        env.close()
    return np.array(out)


def lean_returns(actor, binding, episodes: int, seed: int) -> np.ndarray:
    """Prototype of a returns-only loop: the same env banks and policy calls as
    `rollout.returns`, but rewards go into one preallocated [episodes, horizon] array
    instead of per-episode Python lists of observations, actions and rewards (no
    Trajectory is built). Each return is summed over exactly the episode's rewards, as
    `Trajectory.total_reward` does, so the results are bit-identical."""
    n, horizon = episodes, binding.horizon
    bank = banks.make_bank(binding, n)
    try:
        obs = np.array([bank.reset(i, None, seed + i) for i in range(n)], dtype=np.float32)
        rew = np.zeros((n, horizon))
        length = np.zeros(n, dtype=np.int64)
        active = np.all(np.isfinite(obs), axis=1)
        bad = ~active
        for t in range(horizon):
            idx = np.flatnonzero(active)
            if not len(idx):
                break
            o, r, term = bank.step(idx, actor.act(obs[idx]))
            obs[idx] = o
            rew[idx, t] = r
            length[idx] = t + 1
            finite = np.all(np.isfinite(o), axis=1) & np.isfinite(r)
            bad[idx[~finite]] = True
            active[idx] = ~term & finite
    finally:
        bank.close()
    out = np.array([np.sum(rew[i, : length[i]], dtype=np.float64) for i in range(n)])
    out[bad] = np.nan
    return out


_WORKER: dict = {}


def _pool_init(policy_path: str, spec_path: str) -> None:
    import torch as _t

    import stl
    from sanp import formats as policy
    from sanp.envs import bind

    _t.set_num_threads(1)
    spec = stl.load(spec_path)
    binding = bind(spec)
    dense = policy.load(policy_path, observation_space=binding.observation_space, action_space=binding.action_space)
    _WORKER["binding"] = binding
    _WORKER["actor"] = deployed(dense)


def _pool_chunk(args: tuple[int, int]) -> np.ndarray:
    start, n = args
    return rollout.returns(_WORKER["actor"], _WORKER["binding"], n, start, batch=n)


def _pool_chunk_cpu(args: tuple[int, int]) -> tuple[np.ndarray, int, float]:
    """The chunk's returns, the worker's pid and the CPU seconds the chunk took."""
    import os

    t0 = time.process_time()
    out = _pool_chunk(args)
    return out, os.getpid(), time.process_time() - t0


def cpu_view(ort, binding, E: int, S: int, workers: int, size: int, init) -> dict[str, float]:
    """CPU seconds (not wall): the serial batched run vs each worker of a warm pool.
    CPU time hardly depends on other jobs sharing the cores, so serial CPU / the busiest
    worker's CPU estimates the pool's speed-up on an idle machine (start-up excluded)."""
    t0 = time.process_time()
    rollout.returns(ort, binding, E, S)
    serial = time.process_time() - t0
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_pool_init, initargs=init) as pool:
        pool.map(_pool_chunk_cpu, chunks(E, S, size), chunksize=1)  # warm-up
        per_pid: dict[int, float] = {}
        for _, pid, cpu in pool.map(_pool_chunk_cpu, chunks(E, S, size), chunksize=1):
            per_pid[pid] = per_pid.get(pid, 0.0) + cpu
    busiest = max(per_pid.values())
    return {"serial": serial, "total": sum(per_pid.values()), "busiest": busiest, "speedup": serial / busiest}


def chunks(episodes: int, seed: int, size: int) -> list[tuple[int, int]]:
    return [(seed + s, min(size, episodes - s)) for s in range(0, episodes, size)]


# ---------------------------------------------------------------------- breakdown


class TimedActor:
    def __init__(self, actor):
        self.actor = actor
        self.seconds = 0.0
        self.calls = 0

    def act(self, obs):
        t0 = time.perf_counter()
        out = self.actor.act(obs)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


def breakdown(actor, binding, episodes: int, seed: int) -> dict[str, float]:
    """Seconds in policy calls, env-bank steps and the rest, for one `returns` call."""
    timed_actor = TimedActor(actor)
    step_s = [0.0]
    originals = {}
    for cls in (banks.ScalarBank, banks.CartPoleBank):
        originals[cls] = cls.step

        def wrapped(self, idx, actions, _orig=cls.step):
            t0 = time.perf_counter()
            out = _orig(self, idx, actions)
            step_s[0] += time.perf_counter() - t0
            return out

        cls.step = wrapped
    try:
        t0 = time.perf_counter()
        rollout.returns(timed_actor, binding, episodes, seed)
        total = time.perf_counter() - t0
    finally:
        for cls, orig in originals.items():
            cls.step = orig
    return {
        "total": total,
        "policy": timed_actor.seconds,
        "env": step_s[0],
        "rest": total - timed_actor.seconds - step_s[0],
        "calls": timed_actor.calls,
    }


# --------------------------------------------------------------------------- main


def same(a: np.ndarray, b: np.ndarray) -> str:
    if np.array_equal(a, b):
        return "identical"
    return (f"differ: {int(np.sum(a != b))} of {len(a)}, max |diff| {np.max(np.abs(a - b)):.3g}, "
            f"mean return {np.mean(a) - np.mean(b):+.2g} vs the reference")


def run_case(case: C.Case, args) -> tuple[list[list], list[str], list[list]]:
    spec, binding, dense = C.load_case(case)
    ort = deployed(dense)
    E, S = args.episodes, args.seed
    box2d = case.name != "cartpole"
    rep = args.repeats_box2d if box2d else args.repeats
    print(f"{case.name}: horizon {binding.horizon}", flush=True)

    # the reference returns: the naive loop with a fresh env per episode (untimed). A
    # reused env is not always reproducible: BipedalWalker's Box2D world keeps state across
    # resets, so the same reset seed can give another episode in a used env.
    ref = naive_returns(dense, spec, binding, E, S, fresh_env=True)
    variants = {
        "naive loop (gym.make, batch-1 torch)": lambda: naive_returns(dense, spec, binding, E, S),
        "sanp batched, torch (no_grad)": lambda: rollout.returns(dense, binding, E, S),
        "sanp, torch, batch=1 (`returns(..., batch=1)`)": lambda: rollout.returns(dense, binding, E, S, batch=1),
        "sanp batched, onnxruntime (to_ort)": lambda: rollout.returns(ort, binding, E, S),
        "lean returns-only loop, onnxruntime (prototype)": lambda: lean_returns(ort, binding, E, S),
    }
    rows, notes = [], []
    results = {}
    for label, fn in variants.items():
        med, times, out = C.timed(fn, rep, warmup=0 if label.startswith("naive") else 1)
        results[label] = (med, times, out)
        print(f"  {label}: {E / med:.1f} episodes/s (median of {rep}: {med:.3f} s)", flush=True)

    if args.workers > 1:
        ctx = mp.get_context("fork")
        init = (str(case.policy), str(case.spec))
        for size in sorted({max(1, -(-E // args.workers)), min(10, E)}, reverse=True):
            jobs = chunks(E, S, size)

            def cold(jobs=jobs):
                with ctx.Pool(args.workers, initializer=_pool_init, initargs=init) as pool:
                    return np.concatenate(pool.map(_pool_chunk, jobs, chunksize=1))

            med_c, times_c, out_c = C.timed(cold, rep)
            with ctx.Pool(args.workers, initializer=_pool_init, initargs=init) as pool:
                def warm(jobs=jobs, pool=pool):
                    return np.concatenate(pool.map(_pool_chunk, jobs, chunksize=1))

                med_w, times_w, out_w = C.timed(warm, rep, warmup=1)
            label = f"pool of {args.workers}, onnxruntime, {len(jobs)} chunks of {size}"
            results[label + " (start-up included)"] = (med_c, times_c, out_c)
            results[label + " (warm pool)"] = (med_w, times_w, out_w)
            print(f"  {label}: cold {E / med_c:.1f}, warm {E / med_w:.1f} episodes/s", flush=True)

    cpu_rows = []
    if args.workers > 1:
        for size in sorted({max(1, -(-E // args.workers)), min(10, E)}, reverse=True):
            views = [cpu_view(ort, binding, E, S, args.workers, size, (str(case.policy), str(case.spec)))
                     for _ in range(3 if box2d else 5)]
            v = sorted(views, key=lambda d: d["speedup"])[len(views) // 2]
            cpu_rows.append([case.name, f"{len(chunks(E, S, size))} chunks of {size}", f"{v['serial']:.3f}",
                             f"{v['total']:.3f}", f"{v['busiest']:.3f}", f"{v['speedup']:.2f}x"])
            print(f"  CPU view, chunks of {size}: serial {v['serial']:.3f}s, busiest worker {v['busiest']:.3f}s "
                  f"-> {v['speedup']:.2f}x", flush=True)
    base = results["naive loop (gym.make, batch-1 torch)"][0]
    batched_ort = results["sanp batched, onnxruntime (to_ort)"][0]
    for label, (med, times, out) in results.items():
        rows.append([
            case.name, label, f"{E / med:.1f}", f"{med:.3f}", C.spread(times), len(times),
            f"{base / med:.1f}x", f"{batched_ort / med:.2f}x", same(np.asarray(out), ref),
        ])

    # where the batched time goes
    bd_rows = []
    for label, actor in (("torch", dense), ("onnxruntime", ort)):
        parts = [breakdown(actor, binding, E, S) for _ in range(3)]
        med = sorted(parts, key=lambda p: p["total"])[len(parts) // 2]  # the run with the median total
        bd_rows.append([
            case.name, label, f"{med['total']:.3f}", f"{med['policy']:.3f} ({med['policy'] / med['total']:.0%})",
            f"{med['env']:.3f} ({med['env'] / med['total']:.0%})", f"{med['rest']:.3f} ({med['rest'] / med['total']:.0%})",
            int(med["calls"]), f"{1e6 * med['policy'] / max(med['calls'], 1):.0f}",
        ])
    t_ort, _, _ = C.timed(lambda: deployed(dense), 5, warmup=1)
    cont_note = ""
    if dense.action_kind == "continuous":
        import torch as _t

        st = np.concatenate([t.observations for t in rollout.run_batch(
            dense, binding, [None] * 5, list(range(S, S + 5)), record_states=False)])
        with _t.no_grad():
            full = dense(_t.from_numpy(st)).numpy()
            one = np.concatenate([dense(_t.from_numpy(o[None])).numpy() for o in st[:1000]])
        n_cmp = len(one)
        cont_note = (
            f"{case.name} has continuous actions: torch's float32 outputs for the same observation differ between a "
            f"batch of 1 and a batch of {len(st)} on {np.mean(np.any(full[:n_cmp] != one, axis=1)):.0%} of {n_cmp} "
            f"visited states (max |diff| {np.max(np.abs(full[:n_cmp] - one)):.1e}; onnxruntime vs torch: "
            f"{np.max(np.abs(ort.values(st) - full)):.1e}), and the Box2D dynamics amplify such last-bit "
            "differences over hundreds of steps, so returns are bit-identical to the fresh-env reference only at batch 1 "
            "with torch (the row `batch=1`, which shows the simulation itself is exact); the other rows differ "
            "by that rounding alone."
        )
    lengths = [t.length for t in rollout.run_batch(ort, binding, [None] * E, list(range(S, S + E)), record_states=False)]
    notes.append(
        f"{case.name}: {binding.env_id}, horizon {binding.horizon}, mean return {ref.mean():.2f}, "
        f"episode length mean {np.mean(lengths):.0f} (min {min(lengths)}, max {max(lengths)}), "
        f"{sum(lengths)} env steps per evaluation; building the onnxruntime actor (`deployed()`) takes "
        f"{1e3 * t_ort:.1f} ms (median of 5)."
    )
    if cont_note:
        notes.append(cont_note)
    reused = results["naive loop (gym.make, batch-1 torch)"][2]
    if not np.array_equal(np.asarray(reused), ref):
        notes.append(
            f"{case.name}: the naive loop with ONE reused env does not reproduce the fresh-env episodes "
            f"({same(np.asarray(reused), ref)}): the env keeps hidden state across `reset(seed=...)`. sanp's "
            "banks make fresh envs for every `run_batch`, so sanp's returns match the fresh-env reference."
        )
    speeds = {label: E / med for label, (med, _, _) in results.items()}
    return rows, notes, bd_rows, speeds, cpu_rows


def findings(all_speeds: dict[str, dict[str, float]]) -> list[str]:
    """Sentences computed from the measured episodes per second."""
    out = []
    naive, torch_b, ort_b = ("naive loop (gym.make, batch-1 torch)", "sanp batched, torch (no_grad)",
                             "sanp batched, onnxruntime (to_ort)")
    lean, one = "lean returns-only loop, onnxruntime (prototype)", "sanp, torch, batch=1 (`returns(..., batch=1)`)"
    for case, sp in all_speeds.items():
        line = (f"- **{case}**: sanp batched is {sp[torch_b] / sp[naive]:.1f}x (torch) and {sp[ort_b] / sp[naive]:.1f}x "
                f"(onnxruntime) the naive loop")
        if case == "cartpole":
            line += f" (target >= 10x: {'met' if sp[ort_b] / sp[naive] >= 10 else 'NOT met'})"
        line += (f"; onnxruntime is {sp[ort_b] / sp[torch_b]:.2f}x torch inside the batched loop; the lean "
                 f"returns-only loop is {sp[lean] / sp[ort_b]:.2f}x sanp's batched loop with the same actor; sanp "
                 f"at batch 1 runs at {sp[one] / sp[naive]:.2f}x the naive loop's speed.")
        pools = {k: v for k, v in sp.items() if k.startswith("pool")}
        if pools:
            warm = max((k for k in pools if "warm" in k), key=pools.get)
            cold = max((k for k in pools if "start-up" in k), key=pools.get)
            line += (f" Best pool of 2: {pools[warm] / sp[ort_b]:.2f}x batched onnxruntime with a warm pool "
                     f"({warm}), {pools[cold] / sp[ort_b]:.2f}x with its start-up included ({cold}).")
        out.append(line)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=7, help="timed runs per variant (CartPole)")
    ap.add_argument("--repeats-box2d", type=int, default=3, help="timed runs per variant (Box2D envs)")
    ap.add_argument("--workers", type=int, default=2, help="process-pool prototype size (0/1: skip)")
    ap.add_argument("--case", action="append", help="only these zoo cases (repeatable)")
    ap.add_argument("--out", type=Path, default=C.RESULTS / "rollouts.md")
    args = ap.parse_args()

    C.one_thread()
    mach = C.machine()
    t_start = time.perf_counter()
    cases, missing = C.zoo(args.case)
    for m in missing:
        print(m, flush=True)
    rows, notes, bd, cpu = [], [], [], []
    all_speeds = {}
    for case in cases:
        r, n, b, sp, c = run_case(case, args)
        cpu += c
        rows += r
        notes += n
        bd += b
        all_speeds[case.name] = sp

    intro = [
        (f"Workload: the reward evaluation of `sanp prune` step 1 — {args.episodes} episodes, reset seeds "
        f"{args.seed}..{args.seed + args.episodes - 1}, the spec's horizon, deterministic actions — on each "
        "zoo policy. Times are medians of the runs shown (min-max beside); speed-ups are ratios of medians "
        "measured in the same run of this script. torch runs with 1 thread, onnxruntime with 1 intra-op "
        f"thread. 'returns' compares every variant's {args.episodes} returns, exactly (float equality; rewards "
        "summed the same way as `Trajectory.total_reward`), with a reference: the naive loop with a fresh "
        "`gym.make` env for every episode (untimed). The timed naive loop reuses one env, which is not always "
        "the same thing (see the notes below the table)."),
        "",
        (f"Variants: *naive loop* — one `gym.make` env (with `max_episode_steps=horizon`), one episode after "
        "another, one batch-1 torch call under `no_grad` per step; *sanp batched* — `sanp.rollout.returns` "
        f"(all {args.episodes} episodes advance together: one policy call per step; CartPole steps as numpy arrays, "
        "Box2D envs as a bank of env instances stepped in turn); *pool* — a prototype (not in sanp): "
        "`returns` on chunks of the seeds in a `multiprocessing` pool (fork) of 2 workers, each with its "
        "own onnxruntime actor, with the pool's start-up (process fork, policy load) included or with a "
        "pool already running."),
    ]
    body = ["## Episodes per second", ""]
    body += C.table(
        ["policy", "variant", "episodes/s", "median s", "min-max s", "runs", "vs naive", "vs batched ORT", "returns"],
        rows,
    )
    body += [""]
    if missing:
        body += ["Skipped: " + "; ".join(missing) + " (re-run the script once they exist).", ""]
    body += [n for note in notes for n in ("- " + note,)] + [""]
    body += ["## Where the batched time goes", ""]
    body += [
        ("One `returns` call (the run with the median total of 3), split by wrapping the actor's `act` and the env bank's `step`; "
        "'rest' is sanp's per-step bookkeeping in `rollout._simulate` (per-episode list appends, "
        "masks, stacking)."),
        "",
    ]
    body += C.table(
        ["policy", "actor", "total s", "policy calls s", "env steps s", "rest s", "policy calls", "µs per call"], bd
    )
    if cpu:
        body += [
            "",
            "## The process pool in CPU time",
            "",
            ("Wall-time speed-ups of a pool need a free core. CPU time hardly depends on other jobs sharing the cores, "
            "so this table compares the CPU seconds of the serial batched run (onnxruntime) with those of each "
            "worker of a warm pool of 2 over the same episodes; serial CPU / the busiest worker's CPU is the "
            "speed-up to expect on an idle 2-core machine, start-up excluded (the run with the median ratio of "
            "3-5)."),
            "",
        ]
        body += C.table(["policy", "chunking", "serial CPU s", "pool CPU s (all workers)", "busiest worker CPU s",
                         "projected idle-machine speed-up"], cpu)
    body += ["", "## Findings (computed from the table above)", ""] + findings(all_speeds)
    C.write_results(args.out, "Rollouts: naive loop vs sanp batched rollouts", mach, intro, body,
                    wall=time.perf_counter() - t_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
