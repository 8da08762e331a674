"""Deployment: what sanp's output costs where it runs — dense, pruned and compacted ONNX
in onnxruntime (and torch), and the C export on the CPU.

    .venv/bin/python benchmarks/deploy.py

Writes benchmarks/results/deploy.md (and the files it measures under out/bench/deploy/).
For every zoo policy whose ONNX file and spec exist:

* dense: the zoo's dense.onnx;
* pruned: the newest refined output of `sanp prune` under out/ for that env (ONNX
  metadata `produced_by = sanp prune`; compacted files are expanded back by nothing:
  they are measured as they are), or, when there is none, the dense policy pruned
  one-shot at the final sparsity of the README's results table (the refined sparsity
  of `benchmarks/paper_table.py`: CartPole 97.52%, LunarLander 48.25%, BipedalWalker
  34.91%; activation criterion, global scope, as that table) — not refined, so its
  safety is not checked; its mean reward is given;
* the pruned policy written four ways: dense storage at full width, sparse storage
  (`--storage sparse`), compacted as `sanp prune` / `sanp export` write it
  (`sanp.compact.compact`: a layer shrinks only where it loses >= 1/8 of its units) and
  compacted with every dead unit removed (`min_shrink=0`);
* C: the compacted policy as `sanp export -o policy.c` writes it (CSR or dense rows per
  layer), and with every layer forced dense and forced CSR; compiled with
  `cc -std=c99 -O2`, timed in C.

Every compacted file is checked against the pruned one, and every C build against
onnxruntime, on visited states and random observations (>= 10,000 each): identical
discrete actions, continuous outputs within 1e-5.
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import numpy as np
import torch
from torch import nn

from sanp import rollout
from sanp.compact import compact
from sanp.formats import load
from sanp.formats.c_writer import export_c
from sanp.formats.onnx_graph import onnx_metadata
from sanp.formats.onnx_writer import export_onnx
from sanp.method.step1 import importance, prune
from sanp.model import MLPPolicy
from sanp.runtime import OrtPolicy, deployed

OUT = C.ROOT / "out" / "bench" / "deploy"
README_SPARSITY = {"cartpole": 0.9752, "lunar_lander": 0.4825, "bipedal_walker": 0.3491}
CFLAGS = ["-std=c99", "-O2"]
TIMER = r"""#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "{name}.h"
static double now(void) {{ struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }}
int main(int argc, char **argv)
{{
    FILE *f = fopen(argv[1], "rb");
    static float obs[{n}][{M}_OBS_DIM];
    if (!f || fread(obs, sizeof(float), {n} * {M}_OBS_DIM, f) != {n} * {M}_OBS_DIM) return 2;
    int repeats = atoi(argv[2]), calls = atoi(argv[3]);
    volatile float sink = 0.0f;
    for (int r = 0; r <= repeats; ++r) {{
        double t0 = now();
        for (int k = 0; k < calls; ++k) {{
{call}
        }}
        if (r) printf("%.3f\n", (now() - t0) / calls * 1e9);  /* round 0 warms up */
    }}
    return 0;
}}
"""
CALL_DISCRETE = "            sink += (float){name}_act(obs[k % {n}]);"
CALL_CONTINUOUS = "            float a[{M}_OUT_DIM]; {name}_act(obs[k % {n}], a); sink += a[0];"
DRIVER = r"""#include <stdio.h>
#include "{name}.h"
int main(void)
{{
    float obs[{M}_OBS_DIM];
    while (fread(obs, sizeof(float), {M}_OBS_DIM, stdin) == {M}_OBS_DIM) {{
{body}
    }}
    return 0;
}}
"""


# ------------------------------------------------------------------ the pruned policy


def refined_output(env_id: str, obs_dim: int) -> Path | None:
    """The newest `sanp prune` output under out/ for this env, if any."""
    found = []
    for path in (C.ROOT / "out").rglob("*.onnx") if (C.ROOT / "out").exists() else []:
        meta = onnx_metadata(path) if OUT not in path.parents else {}
        if meta.get("produced_by") == "sanp prune" and meta.get("env_id") == env_id and meta.get("obs_dim") == str(obs_dim):
            found.append(path)
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def pruned_policy(case: C.Case, dense: MLPPolicy, spec, binding, args) -> tuple[MLPPolicy, str]:
    found = refined_output(binding.env_id, dense.obs_dim)
    if found is not None:
        meta = onnx_metadata(found)
        pol = load(found, observation_space=binding.observation_space, action_space=binding.action_space)
        return pol, (f"the refined output of `sanp prune` at {found.relative_to(C.ROOT)} (sparsity "
                     f"{meta.get('sparsity_before_compaction', meta.get('sparsity'))}, sha256 "
                     f"{hashlib.sha256(found.read_bytes()).hexdigest()[:12]})")
    visits = rollout.run_episodes(deployed(dense), binding, 20, 0)
    states = np.concatenate([t.observations for t in visits])
    k = README_SPARSITY[case.name]
    pol = prune(dense, k, importance(dense, "activation", states), scope="global")
    reward = rollout.returns(deployed(pol), binding, args.episodes, 0)
    return pol, (f"no refined output under out/: the dense policy pruned one-shot at k = {k} (the README's final "
                 f"sparsity; activation criterion over 20 dense episodes, global scope), sparsity "
                 f"{pol.sparsity():.2%}, mean reward {np.mean(reward):.1f} over {args.episodes} episodes (cutoff "
                 f"{spec.reward_threshold}); not refined")


def observations(policy: MLPPolicy, binding, n: int) -> tuple[np.ndarray, np.ndarray]:
    """At least n visited states (episodes of the policy) and n random observations
    scaled like them."""
    states: list[np.ndarray] = []
    seed = 0
    while sum(map(len, states)) < n:
        states += [t.observations for t in rollout.run_episodes(deployed(policy), binding, 10, seed)]
        seed += 10
    visited = np.concatenate(states).astype(np.float32)
    scale = np.maximum(np.abs(visited).max(axis=0), 1.0)
    rand = (np.random.default_rng(0).standard_normal((n, policy.obs_dim)) * scale).astype(np.float32)
    return visited, rand


# ------------------------------------------------------------------------------- ONNX


def folded_sequential(pol: MLPPolicy) -> nn.Module:
    """Plain torch: normaliser, then Linear layers with the masks folded in."""
    mods: list[nn.Module] = []
    for lin, w, act in zip(pol.layers, pol.effective_weights(), pol.activations):
        new = nn.Linear(lin.in_features, lin.out_features)
        with torch.no_grad():
            new.weight.copy_(w)
            new.bias.copy_(lin.bias)
        mods += [new] + ([{"relu": nn.ReLU(), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid()}[act]] if act != "identity" else [])
    seq = nn.Sequential(*mods).eval()
    return lambda x: seq(pol.normalize(x))


def onnx_latencies(variants: dict[str, tuple[Path, MLPPolicy]], obs: dict[int, np.ndarray],
                   repeats: int) -> dict[str, dict[str, float]]:
    """Seconds per call, every variant timed in turn (round-robin, after an untimed
    round) so that drift of the machine favours none; medians over the rounds."""
    calls_of = {1: 1000, 1024: 40}
    fns = {}
    for key, (path, pol) in variants.items():
        ort = OrtPolicy(path, obs_dim=pol.obs_dim, action_kind=pol.action_kind)
        folded = folded_sequential(pol)
        for batch, x in obs.items():
            fns[(key, f"ort{batch}")] = (calls_of[batch], lambda o=ort, x=x: o.values(x))
            fns[(key, f"torch{batch}")] = (calls_of[batch], lambda f=folded, xt=torch.from_numpy(x): f(xt))
    runs: dict = {k: [] for k in fns}
    with torch.no_grad():
        for r in range(repeats + 1):
            for k, (calls, fn) in fns.items():
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn()
                if r:
                    runs[k].append((time.perf_counter() - t0) / calls)
    out: dict[str, dict[str, float]] = {}
    for (key, what), ts in runs.items():
        out.setdefault(key, {})[what] = float(np.median(ts))
    return out


def onnx_check(a: Path, b: Path, pol: MLPPolicy, xs: list[np.ndarray]) -> tuple[float, bool]:
    """max |values(a) - values(b)| and whether the actions are identical, over xs."""
    oa, ob = (OrtPolicy(p, obs_dim=pol.obs_dim, action_kind=pol.action_kind, action_low=pol.action_low,
                        action_high=pol.action_high) for p in (a, b))
    diff = max(float(np.max(np.abs(oa.values(x) - ob.values(x)))) for x in xs)
    same = all(np.array_equal(oa.act(x), ob.act(x)) for x in xs)
    return diff, same


# ---------------------------------------------------------------------------------- C


def c_build(pol: MLPPolicy, d: Path, name: str, layouts: list[str] | None, source: Path, n_obs: int,
            discrete: bool):
    d.mkdir(parents=True, exist_ok=True)
    code = export_c(pol, d / f"{name}.c", source=source, layouts=layouts)
    M = name.upper()
    call = (CALL_DISCRETE if discrete else CALL_CONTINUOUS).format(name=name, M=M, n=n_obs)
    (d / f"{name}_timer.c").write_text(TIMER.format(name=name, M=M, n=n_obs, call=call))
    body = ("        int a = {name}_act(obs); fwrite(&a, sizeof a, 1, stdout);" if discrete else
            "        float a[{M}_OUT_DIM]; {name}_act(obs, a); fwrite(a, sizeof(float), {M}_OUT_DIM, stdout);")
    (d / f"{name}_driver.c").write_text(DRIVER.format(name=name, M=M, body=body.format(name=name, M=M)))
    for exe in ("timer", "driver"):
        subprocess.run(["cc", *CFLAGS, str(d / f"{name}.c"), str(d / f"{name}_{exe}.c"), "-o",
                        str(d / f"{name}_{exe}"), "-lm"], check=True)
    return code


def c_check(d: Path, name: str, pol: MLPPolicy, xs: list[np.ndarray]) -> tuple[float, bool]:
    """C against onnxruntime (the same policy exported with sanp): max |action diff|, identical."""
    ort = deployed(pol)
    diff, same = 0.0, True
    for x in xs:
        out = subprocess.run([str(d / f"{name}_driver")], input=x.tobytes(), capture_output=True, check=True).stdout
        got = np.frombuffer(out, np.int32 if pol.action_kind == "discrete" else np.float32).reshape(len(x), -1)
        want = ort.act(x).reshape(len(x), -1)
        diff = max(diff, float(np.max(np.abs(got.astype(np.float64) - want))))
        same = same and bool(np.array_equal(got, want))
    return diff, same


def c_latency(d: Path, name: str, obs: np.ndarray, repeats: int, calls: int) -> float:
    (d / "obs.bin").write_bytes(np.ascontiguousarray(obs, np.float32).tobytes())
    out = subprocess.run([str(d / f"{name}_timer"), str(d / "obs.bin"), str(repeats), str(calls)],
                         capture_output=True, text=True, check=True).stdout
    return float(np.median([float(v) for v in out.split()])) * 1e-9


# ------------------------------------------------------------------------------- main

N_TIMED = 1000  # visited states the C timer cycles through


def run_case(case: C.Case, args) -> dict:
    spec, binding, dense = C.load_case(case)
    d = OUT / case.name
    d.mkdir(parents=True, exist_ok=True)
    print(f"{case.name}:", flush=True)
    pol, how = pruned_policy(case, dense, spec, binding, args)
    small, exact = compact(pol), compact(pol, min_shrink=0)
    files = {"dense": (case.policy, dense), "pruned": (d / "pruned.onnx", pol), "sparse": (d / "pruned_sparse.onnx", pol),
             "compacted": (d / "compacted.onnx", small), "exact": (d / "compacted_exact.onnx", exact)}
    export_onnx(pol, files["pruned"][0], {"env_id": spec.env_id})
    export_onnx(pol, files["sparse"][0], {"env_id": spec.env_id}, storage="sparse")
    export_onnx(small, files["compacted"][0], {"env_id": spec.env_id})
    export_onnx(exact, files["exact"][0], {"env_id": spec.env_id})
    visited, rand = observations(pol, binding, args.check)
    xs = [visited, rand]
    checks = {k: onnx_check(files["pruned"][0], files[k][0], pol, xs) for k in ("compacted", "exact")}
    print(f"  {how}\n  compacted {small.sizes} / exact {exact.sizes}: {checks}", flush=True)
    rng = np.random.default_rng(1)
    obs = {1: visited[:1].copy(), 1024: np.ascontiguousarray(np.concatenate(xs)[rng.integers(0, len(visited) + len(rand), 1024)])}
    lat = onnx_latencies(files, obs, args.repeats)
    c_rows = {}
    timed_obs = visited[rng.integers(0, len(visited), N_TIMED)]
    for key, layouts in (("auto", None), ("dense", ["dense"] * len(small.layers)), ("csr", ["csr"] * len(small.layers))):
        name = f"{case.name}_{key}"
        code = c_build(small, d / "c", name, layouts, files["compacted"][0], N_TIMED, small.action_kind == "discrete")
        c_rows[key] = {"code": code, "check": c_check(d / "c", name, small, xs),
                       "latency": c_latency(d / "c", name, timed_obs, args.repeats, args.c_calls)}
        print(f"  C {key}: {code.layouts} flash {code.flash_bytes} RAM {code.ram_bytes} "
              f"{c_rows[key]['latency'] * 1e6:.3f} us, check {c_rows[key]['check']}", flush=True)
    return {"case": case.name, "how": how, "files": files, "lat": lat, "checks": checks, "c": c_rows,
            "n_visited": len(visited), "n_random": len(rand), "layer_sparsity": pol.layer_sparsity()}


def csr_sweep(args) -> list[list[str]]:
    """C latency of a 24-128-128-4 relu network, every layer dense vs CSR, by density."""
    rows = []
    d = OUT / "sweep"
    x = np.random.default_rng(2).standard_normal((N_TIMED, 24)).astype(np.float32)
    for density in (0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9):
        torch.manual_seed(0)
        p = MLPPolicy([24, 128, 128, 4], "relu", action_kind="discrete")
        gen = torch.Generator().manual_seed(1)
        p.set_masks([(torch.rand(m.shape, generator=gen) < density).float() for m in p.masks])
        t = {}
        for lay in ("dense", "csr"):
            name = f"sweep_{lay}"
            code = c_build(p, d, name, [lay] * 3, C.ROOT / "benchmarks" / "deploy.py", N_TIMED, True)
            t[lay] = (c_latency(d, name, x, args.repeats, args.c_calls // 10), code.flash_bytes)
        rows.append([f"{density:.0%}", f"{t['dense'][0] * 1e6:.2f}", f"{t['csr'][0] * 1e6:.2f}",
                     f"{t['dense'][0] / t['csr'][0]:.2f}x", f"{t['dense'][1]:,}", f"{t['csr'][1]:,}"])
        print("  sweep", rows[-1], flush=True)
    return rows


def fmt_us(s: float) -> str:
    return f"{s * 1e6:.2f}" if s < 1e-5 else f"{s * 1e6:.1f}" if s < 1e-3 else f"{s * 1e6:.0f}"


LABELS = {"dense": "dense (zoo file)", "pruned": "pruned, dense storage, full width",
          "sparse": "pruned, `--storage sparse`, full width", "compacted": "compacted (`sanp prune` / `sanp export`)",
          "exact": "compacted, every dead unit removed (`min_shrink=0`)"}


def onnx_rows(r: dict) -> list[list[str]]:
    rows, base = [], r["lat"]["dense"]
    for key, (path, pol) in r["files"].items():
        lat = r["lat"][key]
        nz = sum(int((w != 0).sum()) for w in pol.effective_weights())
        rows.append([r["case"], LABELS[key], "-".join(map(str, pol.sizes)), f"{path.stat().st_size:,}", f"{nz:,}",
                     fmt_us(lat["ort1"]), fmt_us(lat["ort1024"]), fmt_us(lat["torch1"]), fmt_us(lat["torch1024"]),
                     f"{base['ort1'] / lat['ort1']:.2f}x / {base['ort1024'] / lat['ort1024']:.2f}x"])
    return rows


def c_rows(r: dict) -> list[list[str]]:
    rows, ort_dense = [], r["lat"]["dense"]["ort1"]
    for key, c in r["c"].items():
        code, (diff, same), t = c["code"], c["check"], c["latency"]
        rows.append([r["case"], {"auto": "as exported (auto)", "dense": "all dense rows", "csr": "all CSR"}[key],
                     ", ".join(code.layouts), f"{code.flash_bytes:,}", f"{code.ram_bytes:,}", fmt_us(t),
                     f"{ort_dense / t:.1f}x", "identical" if same else f"max diff {diff:.1e}"])
    return rows


def findings(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        lat, c = r["lat"], r["c"]["auto"]
        ok_c = "" if r["case"] != "cartpole" else (
            f" Targets: C >= 10x onnxruntime-dense at batch 1: {'met' if lat['dense']['ort1'] / c['latency'] >= 10 else 'NOT met'}"
            f"; <= 3 KB constant data: {'met' if c['code'].flash_bytes <= 3072 else 'NOT met'}"
            f"; compacted >= 4x dense at batch 1024: {'met' if lat['dense']['ort1024'] / lat['compacted']['ort1024'] >= 4 else 'NOT met'}.")
        faster = lat["dense"]["ort1024"] / lat["compacted"]["ort1024"]
        sizes = "-".join(map(str, r["files"]["compacted"][1].sizes))
        out.append(
            f"- **{r['case']}**: compacted {sizes} runs at {faster:.2f}x the dense file's speed at batch 1024 in "
            f"onnxruntime ({'at least as fast' if faster >= 1 else 'SLOWER'}), {lat['dense']['ort1'] / lat['compacted']['ort1']:.2f}x "
            f"at batch 1; every-dead-unit compaction {lat['dense']['ort1024'] / lat['exact']['ort1024']:.2f}x (onnxruntime) "
            f"and {lat['dense']['torch1024'] / lat['exact']['torch1024']:.2f}x (torch) against the default's "
            f"{lat['dense']['torch1024'] / lat['compacted']['torch1024']:.2f}x (torch). C as exported: "
            f"{fmt_us(c['latency'])} µs per call, {lat['dense']['ort1'] / c['latency']:.1f}x onnxruntime on the dense file "
            f"at batch 1, {c['code'].flash_bytes:,} bytes of constants, {c['code'].ram_bytes:,} bytes of buffers." + ok_c)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", help="only these zoo cases (repeatable)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--episodes", type=int, default=20, help="episodes for the one-shot policy's mean reward")
    ap.add_argument("--check", type=int, default=10000, help="visited states and random observations checked")
    ap.add_argument("--c-calls", type=int, default=200000, help="calls per timed C run")
    ap.add_argument("--out", type=Path, default=C.RESULTS / "deploy.md")
    args = ap.parse_args()
    C.one_thread()
    mach = C.machine()
    t_start = time.perf_counter()
    cases, missing = C.zoo(args.case)
    results = [run_case(case, args) for case in cases]
    sweep = csr_sweep(args)
    intro = [
        "ONNX latency per call in microseconds: the median of "
        f"{args.repeats} rounds of 1000 calls (batch 1) or 40 calls (batch 1024), every file timed in turn "
        "(round-robin, after an untimed round); onnxruntime with 1 intra-op and 1 inter-op thread through "
        "its Python API (as sanp runs it), torch (1 thread, no_grad) as a plain `nn.Sequential` of the effective "
        "weights. Batch 1: a visited state; batch 1024: visited states and random observations. "
        f"C: `cc {' '.join(CFLAGS)}`, the function called {args.c_calls:,} times in a loop over {N_TIMED} visited "
        f"states, timed in C (`clock_gettime`), median of {args.repeats} runs after a warm-up run. Flash = the "
        "constant arrays, RAM = the two static buffers (no heap, no other state).",
    ]
    body = ["## ONNX", ""] + C.table(
        ["policy", "file", "network", "file bytes", "non-zero weights", "ORT b=1 µs", "ORT b=1024 µs",
         "torch b=1 µs", "torch b=1024 µs", "ORT speed-up vs dense b=1 / b=1024"],
        [row for r in results for row in onnx_rows(r)])
    body += ["", "## C (the compacted policy)", ""] + C.table(
        ["policy", "layers", "layout", "flash bytes", "RAM bytes", "C b=1 µs", "vs ORT dense b=1",
         "vs onnxruntime (compacted file)"], [row for r in results for row in c_rows(r)])
    body += ["", "## Policies and checks", ""]
    for r in results:
        ch = r["checks"]
        body.append(f"- **{r['case']}**: {r['how']}. Per-layer sparsity "
                    f"{', '.join(f'{s:.1%}' for s in r['layer_sparsity'])}. Compacted vs pruned on {r['n_visited']:,} "
                    f"visited states and {r['n_random']:,} random observations: max |output diff| {ch['compacted'][0]:.1e}"
                    f" (every-dead-unit: {ch['exact'][0]:.1e}), actions identical: {ch['compacted'][1] and ch['exact'][1]}.")
    body += ["", "## Dense rows vs CSR in C (24-128-128-4, relu, random masks)", ""] + C.table(
        ["kept weights", "dense µs", "CSR µs", "CSR speed-up", "dense flash bytes", "CSR flash bytes"], sweep)
    body += ["", "## Findings (computed from the tables above)", ""] + findings(results)
    if missing:
        body += ["", "Skipped: " + "; ".join(missing)]
    C.write_results(args.out, "Deployment: dense, pruned, compacted ONNX and C", mach, intro, body,
                    wall=time.perf_counter() - t_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
