"""Does a rare-failure case fail because of the searched values or because of the reset
seed (the env's own randomness: the walker's terrain)? Measured before choosing a
search for benchmarks/falsify.py's BipedalWalker case, where no corner fails.

    nice -n 19 .venv/bin/python benchmarks/falsify_terrain.py --case bipedal_walker

Every point of a falsifier run gets its own reset seed (`sanp.envs.binding.episode_seed`,
hashed from its values), so the searched values and the terrain change together. Four
designs take them apart (the raw episodes go to benchmarks/results/falsify_terrain.json,
a rerun with the same settings reuses them; --fresh measures again):

1. uniform: points drawn uniformly with their own seeds, as `random` draws them; the
   violation rate by region of the box (exact intervals) and a logistic fit of
   violation on the values (likelihood-ratio test against a constant rate);
2. crossed: S reset seeds x P uniform points, every pair rolled out; a two-way analysis
   of variance of the objective (seed, point, interaction) and of its violations;
3. around failures: each violating episode of design 1 replayed with the same seed at
   very near and nearby points (Gaussian, sd 0.5% and 5% of each range), with the same
   seed anywhere in the box, and at the same point with fresh seeds;
4. around near misses: the same for the least robust safe episodes of design 1 (what a
   search knows before it finds a violation);
5. sensitivity: each violating episode replayed exactly (it must repeat) and with its
   seed at points a millionth of each range away.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import falsify_cases as FC
import numpy as np
from scipy import optimize, stats

from sanp import rollout
from sanp.falsify import score
from sanp.types import RESET_SEED

RAW = C.RESULTS / "falsify_terrain.json"
OUT = C.RESULTS / "falsify_terrain.md"


# -------------------------------------------------------------------------- measuring


class Case:
    """A rare-failure case and the objective (minimum robustness) of an episode."""

    def __init__(self, name: str):
        self.spec, self.binding, _, self.actor = FC.load(name)
        self.names = list(self.spec.requirements)
        self.lo, self.hi = self.binding.bounds[:, 0], self.binding.bounds[:, 1]

    def objectives(self, unit: np.ndarray, seeds: list[int | None], batch: int = 100) -> list[float]:
        """The objective of each unit-cube point with its reset seed (None: its own)."""
        out: list[float] = []
        for s in range(0, len(unit), batch):
            pts = []
            for u, seed in zip(unit[s:s + batch], seeds[s:s + batch]):
                p = self.binding.point(self.lo + u * (self.hi - self.lo))
                if seed is not None:
                    p[RESET_SEED] = int(seed)
                pts.append(p)
            trajs = rollout.run_batch(self.actor, self.binding, pts, record_states=False)
            out += [min(score(self.spec, self.names, t).values()) for t in trajs]
        return out

    def own_seeds(self, unit: np.ndarray) -> list[int]:
        return [int(self.binding.point(self.lo + u * (self.hi - self.lo))[RESET_SEED]) for u in unit]


def measure(case: Case, n_uniform: int, crossed: tuple[int, int], around: int, near_misses: int) -> dict:
    rng = np.random.default_rng(12345)
    t0 = time.perf_counter()
    U = rng.uniform(size=(n_uniform, len(case.lo)))
    seeds = case.own_seeds(U)
    y = case.objectives(U, [None] * n_uniform)
    print(f"  uniform: {int(np.sum(~(np.array(y) >= 0)))}/{n_uniform} violate ({time.perf_counter() - t0:.0f} s)",
          flush=True)
    S, P = crossed
    cross_seeds = [int(s) for s in rng.integers(0, 2**53, size=S)]
    cross_pts = rng.uniform(size=(P, len(case.lo)))
    grid_u = np.repeat(cross_pts[None], S, axis=0).reshape(S * P, -1)
    grid_s = [s for s in cross_seeds for _ in range(P)]
    grid_y = np.array(case.objectives(grid_u, grid_s)).reshape(S, P)
    print(f"  crossed: {int(np.sum(~(grid_y >= 0)))}/{S * P} violate ({time.perf_counter() - t0:.0f} s)", flush=True)
    order = np.argsort(y)
    bad = [int(i) for i in order if not y[i] >= 0]
    safe_low = [int(i) for i in order if y[i] >= 0][:near_misses]
    return {"uniform": {"unit": U.tolist(), "seeds": seeds, "y": list(map(float, y))},
            "crossed": {"seeds": cross_seeds, "unit": cross_pts.tolist(), "y": grid_y.tolist()},
            "failures": replays(case, U, seeds, bad, around, rng),
            "near_misses": replays(case, U, seeds, safe_low, around, rng),
            "wall": time.perf_counter() - t0}


def replays(case: Case, U: np.ndarray, seeds: list[int], which: list[int], k: int, rng) -> list[dict]:
    """Per episode `i`: k points very near it (sd 0.5% of each range) and k nearby (sd 5%)
    with its seed, k uniform points with its seed, and its point with k fresh seeds."""
    out = []
    for i in which:
        tiny = np.clip(U[i] + rng.normal(0.0, 0.005, size=(k, U.shape[1])), 0.0, 1.0)
        near = np.clip(U[i] + rng.normal(0.0, 0.05, size=(k, U.shape[1])), 0.0, 1.0)
        far = rng.uniform(size=(k, U.shape[1]))
        fresh = [int(s) for s in rng.integers(0, 2**53, size=k)]
        ys = case.objectives(np.vstack([tiny, near, far, np.repeat(U[i][None], k, axis=0)]),
                             [seeds[i]] * (3 * k) + fresh)
        out.append({"index": i, **{kind: ys[j * k:(j + 1) * k] for j, kind in enumerate(KINDS)}})
    return out


KINDS = ("tiny", "near", "far", "fresh")
"""The replays of designs 3-4, in the order `replays` draws them."""


def micro(case: Case, raw: dict, k: int) -> dict:
    """Design 5: each violating episode with its seed at k points a millionth of each range
    away (sd), and the episode itself again (it must repeat exactly)."""
    U, y, seeds = np.array(raw["uniform"]["unit"]), raw["uniform"]["y"], raw["uniform"]["seeds"]
    rng = np.random.default_rng(54321)
    out = []
    for i in [r["index"] for r in raw["failures"]]:
        pts = np.vstack([U[i][None], np.clip(U[i] + rng.normal(0.0, 1e-6, size=(k, U.shape[1])), 0.0, 1.0)])
        ys = case.objectives(pts, [seeds[i]] * (k + 1))
        out.append({"index": i, "again": ys[0], "original": y[i], "micro": ys[1:]})
    return {"k": k, "episodes": out}


# -------------------------------------------------------------------------- analysis


def ci(bad: int, n: int) -> str:
    if n == 0:
        return "–"
    lo, hi = stats.binomtest(bad, n).proportion_ci(0.95, method="exact")
    return f"{bad}/{n} = {bad / n:.1%} [{lo:.1%}, {hi:.1%}]"


def by_region(raw: dict, dims: list[str]) -> list[list[str]]:
    """Violation rate in thirds of each searched dimension, and in the box's 3x3 cells."""
    U, y = np.array(raw["uniform"]["unit"]), np.array(raw["uniform"]["y"])
    v = ~(y >= 0)
    third = np.minimum((U * 3).astype(int), 2)
    rows = []
    for d, name in enumerate(dims):
        for t in range(3):
            m = third[:, d] == t
            rows.append([f"{name} in {_third(t)} of its range", ci(int(v[m].sum()), int(m.sum()))])
    cell = third[:, 0] * 3 + third[:, 1]  # the first two dimensions' 3x3 cells
    table = np.bincount(cell[v], minlength=9)
    counts = np.bincount(cell, minlength=9)
    rows.append(["3x3 cells: chi-square test of one rate in every cell",
                 f"p = {homogeneity(table, counts):.2g} (cells: "
                 + ", ".join(f"{a}/{c}" for a, c in zip(table, counts)) + ")"])
    return rows


def _third(t: int) -> str:
    return ("the lowest third", "the middle third", "the highest third")[t]


def logistic_lrt(raw: dict) -> dict:
    """Logistic fit of violation on the values (linear and quadratic terms, interaction)
    against a constant rate: likelihood-ratio statistic, df and p."""
    U, y = np.array(raw["uniform"]["unit"]), np.array(raw["uniform"]["y"])
    v = (~(y >= 0)).astype(float)
    Z = (U - 0.5) * 2
    cols = [np.ones(len(Z))] + [Z[:, d] for d in range(Z.shape[1])] + [Z[:, d] ** 2 for d in range(Z.shape[1])]
    cols += [Z[:, a] * Z[:, b] for a in range(Z.shape[1]) for b in range(a + 1, Z.shape[1])]
    X = np.column_stack(cols)

    def nll(beta):
        eta = X @ beta
        return float(np.sum(np.logaddexp(0, eta) - v * eta))
    full = optimize.minimize(nll, np.zeros(X.shape[1]), method="BFGS")
    p0 = v.mean()
    null = -float(np.sum(v * np.log(p0) + (1 - v) * np.log(1 - p0))) if 0 < p0 < 1 else 0.0
    lr = 2 * (null - full.fun)
    df = X.shape[1] - 1
    return {"lr": lr, "df": df, "p": float(stats.chi2.sf(lr, df)), "n": len(v), "events": int(v.sum())}


def two_way(y: np.ndarray) -> dict:
    """Two-way ANOVA without replication (rows: seeds, columns: points) on `y`: the share
    of the total sum of squares of each effect, and the F-tests of the main effects
    against the interaction."""
    S, P = y.shape
    g = y.mean()
    ss_s = P * np.sum((y.mean(axis=1) - g) ** 2)
    ss_p = S * np.sum((y.mean(axis=0) - g) ** 2)
    ss_t = np.sum((y - g) ** 2)
    ss_e = ss_t - ss_s - ss_p
    df_s, df_p, df_e = S - 1, P - 1, (S - 1) * (P - 1)
    f_s, f_p = (ss_s / df_s) / (ss_e / df_e), (ss_p / df_p) / (ss_e / df_e)
    return {"seed": ss_s / ss_t, "point": ss_p / ss_t, "interaction": ss_e / ss_t,
            "p_seed": float(stats.f.sf(f_s, df_s, df_e)), "p_point": float(stats.f.sf(f_p, df_p, df_e))}


def crossed_rows(raw: dict) -> list[list[str]]:
    y = np.array(raw["crossed"]["y"])
    v = ~(y >= 0)
    rows = []
    for label, a in (("objective", y), ("rank of the objective", stats.rankdata(y).reshape(y.shape))):
        t = two_way(a)
        rows.append([label, f"{t['seed']:.0%} (p = {t['p_seed']:.2g})", f"{t['point']:.0%} (p = {t['p_point']:.2g})",
                     f"{t['interaction']:.0%}"])
    by_seed, by_point = v.sum(axis=1), v.sum(axis=0)
    rows.append(["violations (count per seed / per point)", " ".join(map(str, by_seed)), " ".join(map(str, by_point)),
                 f"{int(v.sum())}/{v.size} in all"])
    return rows


def homogeneity(bad: np.ndarray, n: np.ndarray | int) -> float:
    """p of a chi-square test that every group (a cell, a seed, a point) has the same
    violation rate: `bad[i]` violations of `n[i]` episodes."""
    n = np.broadcast_to(n, bad.shape)
    keep = n > 0
    bad, n = bad[keep], n[keep]
    if bad.sum() == 0 or bad.sum() == n.sum() or len(n) < 2:
        return 1.0
    return float(stats.chi2_contingency(np.stack([bad, n - bad])).pvalue)


def replay_rows(raw: dict) -> list[list[str]]:
    y0 = np.array(raw["uniform"]["y"])
    rows = []
    for key, what in (("failures", "violating episodes"), ("near_misses", "least robust safe episodes")):
        reps = raw[key]
        if not reps:
            continue
        for part, how in (("tiny", "same seed, very near point (sd 0.5% of range)"),
                          ("near", "same seed, nearby point (sd 5% of range)"),
                          ("far", "same seed, uniform point"), ("fresh", "same point, fresh seed")):
            ys = np.array([r[part] for r in reps])
            orig = y0[[r["index"] for r in reps]]
            rho = stats.spearmanr(np.repeat(orig, ys.shape[1]), ys.ravel()).statistic if key == "near_misses" else None
            rows.append([f"{len(reps)} {what}", how, ci(int(np.sum(~(ys >= 0))), ys.size),
                         f"{np.median(ys):.3g}", "–" if rho is None else f"{rho:.2f}"])
    return rows


def micro_lines(raw: dict) -> list[str]:
    """Design 5: exact repeats, and the same seed a millionth of each range away."""
    eps = raw.get("micro", {}).get("episodes", [])
    if not eps:
        return []
    same = sum(e["again"] == e["original"] for e in eps)
    ys = np.array([e["micro"] for e in eps])
    return ["", "## 5. Sensitivity: the same seed a millionth of each range away", "",
            (f"Each of the {len(eps)} violating episodes, replayed at its own point and seed, repeated exactly "
             f"({same} of {len(eps)}: the same objective to the last bit). Replayed with its seed at "
             f"{ys.shape[1]} points each drawn with a standard deviation of 1e-6 of each range around it, "
             f"{ci(int(np.sum(~(ys >= 0))), ys.size)} violate (the uniform rate, not the original's 100%), "
             f"median objective {np.median(ys):.3g} (a typical episode's): a change in the sixth significant "
             "digit of the push or the roughness, on the same terrain, gives another episode.")]


def report(raw: dict, case: str, dims: list[str], args, mach, t_start: float) -> None:
    u = np.array(raw["uniform"]["y"])
    lr = logistic_lrt(raw)
    y = np.array(raw["crossed"]["y"])
    v = ~(y >= 0)
    S, P = y.shape
    body = [f"## 1. Uniform points ({len(u)}, each with its own reset seed, as `random` draws them)", ""]
    body += [f"Violations: {ci(int(np.sum(~(u >= 0))), len(u))} (two-sided exact 95% intervals throughout).", ""]
    body += C.table(["region", "violation rate"], by_region(raw, dims))
    body += ["", (f"Logistic fit of violation on {', '.join(dims)} (linear, quadratic and interaction terms, "
                  f"{lr['df']} of them) against a constant rate: likelihood ratio {lr['lr']:.2f}, df {lr['df']}, "
                  f"p = {lr['p']:.2g} ({lr['events']} violations in {lr['n']} points)."), ""]
    body += [f"## 2. Crossed: {S} reset seeds x {P} uniform points, every pair", ""]
    body += C.table(["response", "share of variance: seed", "share: point", "share: interaction + noise"],
                    crossed_rows(raw))
    body += ["", (f"Chi-square tests that every seed (row) has the same violation rate: p = "
                  f"{homogeneity(v.sum(axis=1), P):.2g}; that every point (column) has: p = "
                  f"{homogeneity(v.sum(axis=0), S):.2g}."), ""]
    body += ["## 3-4. Replays around failures and near misses", ""]
    body += [("Each episode replayed 4 ways, k times each: its reset seed at very near and at nearby points, its reset seed at "
              "uniform points, its point with fresh seeds. 'Spearman' is the rank correlation between the "
              "original episode's objective and its replays' (near misses only)."), ""]
    body += C.table(["episodes", "replay", "violation rate of the replays", "median objective", "Spearman"],
                    replay_rows(raw))
    body += micro_lines(raw)
    intro = [(f"Case `{case}` of benchmarks/falsify_cases.py; searched: {', '.join(dims)}. Raw episodes: "
              f"{RAW.relative_to(C.ROOT)}; measuring took {raw['wall']:.0f} s.")]
    C.write_results(args.out, f"What drives the failures of `{case}`: the searched values or the reset seed", mach,
                    intro, body, wall=time.perf_counter() - t_start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="bipedal_walker", choices=sorted(FC.CASES))
    ap.add_argument("--uniform", type=int, default=400)
    ap.add_argument("--crossed", type=int, nargs=2, default=(16, 16), metavar=("SEEDS", "POINTS"))
    ap.add_argument("--around", type=int, default=6, help="replays of each kind per episode (designs 3-4)")
    ap.add_argument("--near-misses", type=int, default=30)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    C.one_thread()
    mach, t_start = C.machine(), time.perf_counter()
    settings = {"case": args.case, "uniform": args.uniform, "crossed": list(args.crossed), "around": args.around,
                "near_misses": args.near_misses}
    cache = json.loads(RAW.read_text()) if RAW.exists() else {}
    case = Case(args.case)
    raw = cache.get(args.case)
    if args.fresh or not raw or raw.get("settings") != settings:
        raw = cache[args.case] = {"settings": settings, **measure(case, args.uniform, tuple(args.crossed),
                                                                  args.around, args.near_misses)}
        RAW.write_text(json.dumps(cache) + "\n")
    if "micro" not in raw or raw["micro"]["k"] != args.around:
        raw["micro"] = micro(case, raw, args.around)
        RAW.write_text(json.dumps(cache) + "\n")
    report(raw, args.case, [d.name for d in case.binding.space], args, mach, t_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
