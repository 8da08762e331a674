"""Deployment: dense vs pruned ONNX policies — file size, sparsity, onnxruntime and
torch latency — and a prototype that turns pruning into a real speed-up by removing
dead neurons.

    .venv/bin/python benchmarks/deploy.py

Writes benchmarks/results/deploy.md (and the ONNX files it measures under
out/bench/deploy/). For every zoo policy whose ONNX file and spec exist (a missing one
is skipped with a note):

* dense: the zoo's dense.onnx;
* sparse: the newest refined output of `sanp prune` under out/ for that env (ONNX metadata
  `produced_by = sanp prune`, same env_id and obs_dim: e.g. out/demo/sparse.onnx from
  `make demo`); when there is none, the dense policy pruned one-shot at the sparsity of
  step 1 of the method (`sanp.method.step1.search_sparsity`: the largest k, to 0.001, whose mean
  reward over 100 episodes stays >= the spec's cutoff; magnitude criterion, global scope,
  the defaults of `sanp prune`), exported with `sanp.formats.onnx_writer.export_onnx` (sparse
  initializers);
* shrunk (prototype, not in sanp): the sparse policy with every hidden neuron removed
  whose outgoing weights are all pruned (it feeds nothing) or whose incoming weights are
  all pruned (it is the constant act(bias): its contribution is folded into the next
  layer's bias), repeated until nothing changes; exported as a smaller dense ONNX. Its
  outputs are checked equal to the sparse policy's to 1e-5 (and its actions identical)
  on visited states and on random observations.

Latency: onnxruntime with 1 intra-op and 1 inter-op thread, and torch with 1 thread
(`torch.set_num_threads(1)`, `no_grad`): sanp's `MLPPolicy.forward` (weight * mask on every
call) and the same network as a plain `nn.Sequential` of Linear layers with the masks
folded in. Medians of repeated runs of many calls each.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import numpy as np
import torch
from torch import nn

from sanp import rollout
from sanp.formats import load
from sanp.formats.onnx_writer import export_onnx
from sanp.method.step1 import importance, search_sparsity
from sanp.model import MLPPolicy
from sanp.runtime import OrtPolicy, deployed

OUT = C.ROOT / "out" / "bench" / "deploy"

# -------------------------------------------------------------- finding the sparse policy


def onnx_meta(path: Path) -> dict[str, str]:
    import onnx

    try:
        m = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - any unreadable file is just not a candidate
        return {}
    return {p.key: p.value for p in m.metadata_props}


def refined_output(case: C.Case, env_id: str, obs_dim: int) -> Path | None:
    """The newest `sanp prune` output under out/ for this env, if any."""
    found = []
    for path in (C.ROOT / "out").rglob("*.onnx") if (C.ROOT / "out").exists() else []:
        if OUT in path.parents:
            continue
        meta = onnx_meta(path)
        if meta.get("produced_by") == "sanp prune" and meta.get("env_id") == env_id and meta.get("obs_dim") == str(obs_dim):
            found.append(path)
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def one_shot(dense, binding, spec, episodes: int, criterion: str):
    """Step 1 of the method: the largest k whose mean reward stays above the cutoff."""
    states = None
    if criterion == "activation":
        visits = rollout.run_batch(dense, binding, [None] * 20, list(range(20)), record_states=False)
        states = np.concatenate([t.observations for t in visits])
    scores = importance(dense, criterion, states)
    ort_cache = {}

    def mean_reward(pol):
        r = rollout.returns(deployed(pol), binding, episodes, 0)
        ort_cache["last"] = r
        return float(np.mean(r)) if np.all(np.isfinite(r)) else float("-inf")

    threshold = spec.reward_threshold if spec.reward_threshold is not None else -np.inf
    res = search_sparsity(dense, scores, mean_reward, threshold, scope="global", resolution=0.001,
                          on_step=lambda s: print(f"    step 1: k={s.k:.3f} reward {s.mean_reward:.2f}", flush=True))
    return res


# --------------------------------------------------------------------- dead neurons


def _act_np(name: str, x: np.ndarray) -> np.ndarray:
    return {"relu": lambda v: np.maximum(v, 0), "tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            "identity": lambda v: v}[name](x)


def shrink(pol) -> tuple[MLPPolicy, list[tuple[int, int, int]]]:
    """The policy without dead hidden neurons; per hidden layer (units, no outgoing,
    no incoming) removed."""
    W = [w.numpy().astype(np.float64) for w in pol.effective_weights()]
    b = [lin.bias.detach().numpy().astype(np.float64) for lin in pol.layers]
    acts = list(pol.activations)
    removed = [[0, 0] for _ in range(len(W) - 1)]
    changed = True
    while changed:
        changed = False
        for i in range(len(W) - 1):
            n = W[i].shape[0]
            no_out = np.all(W[i + 1] == 0, axis=0)
            no_in = np.all(W[i] == 0, axis=1) & ~no_out
            drop = no_out | no_in
            if drop.all():  # keep one unit so that the layer exists; it stays dead
                drop[np.argmax(drop)] = False
            if not drop.any():
                continue
            if no_in.any():  # a constant unit: fold act(bias) into the next bias
                idx = np.flatnonzero(no_in & drop)
                b[i + 1] = b[i + 1] + W[i + 1][:, idx] @ _act_np(acts[i], b[i][idx])
            removed[i][0] += int((no_out & drop).sum())
            removed[i][1] += int((no_in & drop).sum())
            keep = ~drop
            W[i], b[i] = W[i][keep], b[i][keep]
            W[i + 1] = W[i + 1][:, keep]
            changed = changed or n != int(keep.sum())
    sizes = [W[0].shape[1]] + [w.shape[0] for w in W]
    kw: dict = {"action_kind": pol.action_kind}
    if pol.action_kind == "continuous":
        kw.update(action_low=pol.action_low, action_high=pol.action_high)
    if pol.has_normalizer:
        kw.update(obs_mean=pol.obs_mean.numpy(), obs_var=pol.obs_var.numpy(), obs_clip=pol.obs_clip,
                  obs_eps=pol.obs_eps)
    out = MLPPolicy(sizes, acts, **kw)
    with torch.no_grad():
        for lin, w, bb in zip(out.layers, W, b):
            lin.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
            lin.bias.copy_(torch.as_tensor(bb, dtype=torch.float32))
        if pol.has_normalizer:
            out.obs_std.copy_(pol.obs_std)  # the exact float32 std, not recomputed
    return out, [(sizes[i + 1], r[0], r[1]) for i, r in enumerate(removed)]


def folded_sequential(pol) -> nn.Module:
    """Plain torch: normaliser, then Linear layers with the masks folded in."""
    mods: list[nn.Module] = []
    for lin, w, act in zip(pol.layers, pol.effective_weights(), pol.activations):
        new = nn.Linear(lin.in_features, lin.out_features)
        with torch.no_grad():
            new.weight.copy_(w)
            new.bias.copy_(lin.bias)
        mods.append(new)
        if act != "identity":
            mods.append({"relu": nn.ReLU(), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid()}[act])
    seq = nn.Sequential(*mods)

    class Folded(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = seq

        def forward(self, x):
            return self.seq(pol.normalize(x))

    return Folded().eval()


# -------------------------------------------------------------------------- latency


def latencies(variants: list[tuple[str, Path, object]], obs: dict[int, np.ndarray],
              repeats: int) -> dict[str, dict[str, float]]:
    """Seconds per call for every variant, runtime and batch size. The variants are timed
    round-robin (one run of each in turn, `repeats` rounds, after one untimed round) so
    that drift of the machine does not favour one of them; medians over the rounds."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    calls_of = {1: 2000, 1024: 200}
    fns: dict[tuple[str, str], object] = {}
    for key, path, pol in variants:
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        name, out_name = sess.get_inputs()[0].name, sess.get_outputs()[0].name
        folded = folded_sequential(pol)
        for batch, x in obs.items():
            xt = torch.from_numpy(x)
            fns[(key, f"ort{batch}")] = lambda s=sess, n=name, o=out_name, x=x: s.run([o], {n: x})
            fns[(key, f"torch{batch}")] = lambda p=pol, xt=xt: p(xt)
            fns[(key, f"folded{batch}")] = lambda f=folded, xt=xt: f(xt)
    runs: dict[tuple[str, str], list[float]] = {k: [] for k in fns}
    with torch.no_grad():
        for r in range(repeats + 1):
            for k, fn in fns.items():
                calls = calls_of[int("".join(ch for ch in k[1] if ch.isdigit()))]
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn()
                if r:  # round 0 is the warm-up
                    runs[k].append((time.perf_counter() - t0) / calls)
    out: dict[str, dict[str, float]] = {}
    for (key, what), ts in runs.items():
        out.setdefault(key, {})[what] = float(np.median(ts))
    return out


def fmt_us(s: float) -> str:
    return f"{s * 1e6:.1f}" if s < 1e-3 else f"{s * 1e6:.0f}"


# ----------------------------------------------------------------------------- main


def run_case(case: C.Case, args) -> tuple[list[list], list[str], list[list]]:
    spec, binding, dense = C.load_case(case)
    out_dir = OUT / case.name
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{case.name}:", flush=True)
    refined = None if args.one_shot else refined_output(case, spec.env_id, dense.obs_dim)
    if refined is not None:
        sparse_path = refined
        sparse = load(refined, observation_space=binding.observation_space, action_space=binding.action_space)
        meta = onnx_meta(refined)
        how = (f"the refined output of `sanp prune` found at {refined.relative_to(C.ROOT)} (env {meta.get('env_id')}, "
               f"sparsity {float(meta.get('sparsity', 'nan')):.2%}, mean reward {meta.get('mean_reward')}, "
               f"converged {meta.get('converged')}, sha256 {hashlib.sha256(refined.read_bytes()).hexdigest()[:12]})")
    else:
        t0 = time.perf_counter()
        step1 = one_shot(dense, binding, spec, args.episodes, args.criterion)
        sparse = step1.policy
        sparse_path = out_dir / "one_shot.onnx"
        export_onnx(sparse, sparse_path, {"env_id": spec.env_id, "produced_by": "benchmarks/deploy.py one-shot"})
        how = (f"no refined output of `sanp prune` under out/: pruned one-shot at the step-1 sparsity (k = {step1.k:.3f}, "
               f"{args.criterion} criterion, global scope, mean reward {step1.mean_reward:.2f} over {args.episodes} "
               f"episodes, cutoff {spec.reward_threshold}; search took {time.perf_counter() - t0:.0f} s) — "
               "not refined, so not checked safe")
    dense_path = case.policy
    dense_store = out_dir / "sparse_dense_storage.onnx"
    export_onnx(sparse, dense_store, {"env_id": spec.env_id}, sparse=False)
    reexport = out_dir / "sparse_reexported.onnx"
    export_onnx(sparse, reexport, {"env_id": spec.env_id})
    small, removed = shrink(sparse)
    small_path = out_dir / "shrunk.onnx"
    export_onnx(small, small_path, {"env_id": spec.env_id, "produced_by": "benchmarks/deploy.py shrink prototype"},
                  sparse=False)

    # equivalence: visited states and random observations
    visits = rollout.run_batch(deployed(sparse), binding, [None] * 10, list(range(10)), record_states=False)
    states = np.concatenate([t.observations for t in visits]).astype(np.float32)
    rng = np.random.default_rng(0)
    scale = np.maximum(np.abs(states).max(axis=0), 1.0)
    rand = (rng.standard_normal((5000, dense.obs_dim)) * scale).astype(np.float32)
    X = np.concatenate([states, rand])
    sp_ort = OrtPolicy(str(sparse_path), obs_dim=sparse.obs_dim, action_kind=sparse.action_kind,
                         action_low=sparse.action_low, action_high=sparse.action_high)
    sm_ort = OrtPolicy(str(small_path), obs_dim=small.obs_dim, action_kind=small.action_kind,
                         action_low=small.action_low, action_high=small.action_high)
    diff = float(np.max(np.abs(sp_ort.values(X) - sm_ort.values(X))))
    same_actions = bool(np.array_equal(sp_ort.act(states), sm_ort.act(states)))
    with torch.no_grad():
        diff_torch = float(np.max(np.abs(sparse(torch.from_numpy(X)).numpy() - small(torch.from_numpy(X)).numpy())))
    ok = diff <= 1e-5 and diff_torch <= 1e-5
    print(f"  shrunk {small.sizes}: max |diff| ort {diff:.2e} torch {diff_torch:.2e}, same actions {same_actions}",
          flush=True)

    obs = {1: states[:1].copy(), 1024: np.ascontiguousarray(X[rng.integers(0, len(X), 1024)])}
    rows = []
    base = None
    measured: dict[str, dict[str, float]] = {}
    labels = {"dense": "dense", "sparse": "sparse", "sparse_dense": "sparse, dense storage (`export_onnx(sparse=False)`)",
              "sparse_re": "sparse, re-exported with the current `export_onnx` defaults",
              "shrunk": "shrunk (prototype)"}
    variants = [("dense", dense_path, dense), ("sparse", sparse_path, sparse),
                ("sparse_dense", dense_store, sparse), ("sparse_re", reexport, sparse), ("shrunk", small_path, small)]
    all_lat = latencies(variants, obs, args.repeats)
    for key, path, pol in variants:
        label = labels[key]
        lat = all_lat[key]
        lat["bytes"] = path.stat().st_size
        measured[key] = lat
        nz = sum(int((w != 0).sum()) for w in pol.effective_weights())
        if base is None:
            base = lat
        rows.append([
            case.name, label, "-".join(str(s) for s in pol.sizes), f"{path.stat().st_size:,}",
            f"{pol.sparsity():.2%}", f"{nz:,}",
            fmt_us(lat["ort1"]), fmt_us(lat["ort1024"]), fmt_us(lat["torch1"]), fmt_us(lat["torch1024"]),
            fmt_us(lat["folded1"]), fmt_us(lat["folded1024"]),
            f"{base['ort1'] / lat['ort1']:.2f}x / {base['ort1024'] / lat['ort1024']:.2f}x",
        ])
        print(f"  {label}: {rows[-1][3:]}", flush=True)
    layer = ", ".join(f"{s:.1%}" for s in sparse.layer_sparsity())
    rem = "; ".join(f"hidden layer {i + 1}: {u} of {sparse.sizes[i + 1]} kept ({a} fed nothing, {c} had no input)"
                    for i, (u, a, c) in enumerate(removed))
    notes = [f"**{case.name}** — sparse policy: {how}. Per-layer sparsity {layer}. Shrinking: {rem}. "
             f"Shrunk vs sparse on {len(states)} visited states and 5000 random observations: max |output diff| "
             f"{diff:.1e} (onnxruntime), {diff_torch:.1e} (torch); actions on visited states identical: {same_actions}"
             + ("" if ok else " — **FAILED the 1e-5 check**") + "."]
    d, sp, sm = measured["dense"], measured["sparse"], measured["shrunk"]
    finding = (
        f"- **{case.name}** ({sparse.sparsity():.1%} sparse): the sparse file is {sp['bytes'] / d['bytes']:.2f}x the "
        f"dense file's size; onnxruntime latency sparse/dense {sp['ort1'] / d['ort1']:.2f} (batch 1) and "
        f"{sp['ort1024'] / d['ort1024']:.2f} (batch 1024), torch (folded) {sp['folded1'] / d['folded1']:.2f} and "
        f"{sp['folded1024'] / d['folded1024']:.2f}: a ratio near 1 is no speed-up (both runtimes hold the pruned "
        f"matrices dense in memory). The shrunk network ({'-'.join(str(x) for x in small.sizes)}) runs at "
        f"{d['ort1'] / sm['ort1']:.2f}x (batch 1) and {d['ort1024'] / sm['ort1024']:.2f}x (batch 1024) the dense "
        f"speed in onnxruntime, {d['folded1024'] / sm['folded1024']:.2f}x at batch 1024 in torch, in a "
        f"{sm['bytes'] / d['bytes']:.2f}x file."
    )
    return rows, notes, finding


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", help="only these zoo cases (repeatable)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--episodes", type=int, default=100, help="episodes per reward estimate of the one-shot search")
    ap.add_argument("--criterion", default="magnitude", choices=["magnitude", "activation"])
    ap.add_argument("--one-shot", action="store_true", help="ignore refined outputs under out/")
    ap.add_argument("--out", type=Path, default=C.RESULTS / "deploy.md")
    args = ap.parse_args()

    C.one_thread()
    mach = C.machine()
    t_start = time.perf_counter()
    cases, missing = C.zoo(args.case)
    for m in missing:
        print(m, flush=True)
    rows, notes, found = [], [], []
    for case in cases:
        r, n, f = run_case(case, args)
        rows += r
        notes += n
        found.append(f)
    intro = [
        ("Sizes are of the ONNX files; sparsity is the masked fraction of the Linear weights (biases kept); 'non-zero "
        "weights' counts the effective weights. Latency per call in microseconds, the median of "
        f"{args.repeats} runs of 2000 calls (batch 1) or 200 calls (batch 1024), every variant timed in turn "
        "(round-robin, after an untimed round); observations are visited states "
        "(batch 1) and a mix of visited states and random observations (batch 1024). onnxruntime: "
        "1 intra-op, 1 inter-op thread, CPU provider, the file as written. torch (1 thread, no_grad): "
        "`MLPPolicy.forward` as loaded (multiplies each weight by its mask on every call) and 'folded': a plain "
        "`nn.Sequential` of the effective weights. The last column is the onnxruntime speed-up over the dense "
        "file at batch 1 / 1024, measured in the same run."),
    ]
    body = C.table(
        ["policy", "network", "sizes", "file bytes", "sparsity", "non-zero weights", "ORT b=1 µs", "ORT b=1024 µs",
         "torch MLPPolicy b=1 µs", "torch MLPPolicy b=1024 µs", "torch folded b=1 µs", "torch folded b=1024 µs",
         "ORT speed-up b=1 / b=1024"],
        rows,
    )
    body += [""] + notes
    body += ["", "## Findings (computed from the table above)", ""] + found
    if missing:
        body += ["", "Skipped: " + "; ".join(missing) + " (re-run the script once they exist)."]
    C.write_results(args.out, "Deployment: dense vs pruned ONNX", mach, intro, body, wall=time.perf_counter() - t_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
