"""What `sanp verify` and `sanp prune` print on the console: the result tables, the
verdict sentences and the progress bar. Rich output, no logic: the numbers come from
the results.

Example:
    >>> print_prune(result)
"""
from __future__ import annotations

import math
from typing import Any


def fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.4g}"


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def progress_bar(description: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best robustness {task.fields[best]}"),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=True,
    )


def print_verify(result: Any, spec: Any) -> None:
    from rich.table import Table

    con = console()
    table = Table(title=f"{spec.env_id}: {len(result.evaluations)} evaluations "
                        f"({result.config.optimizer}, seed {result.config.seed})")
    for col in ("requirement", "evaluations", "min robustness", "counterexamples", "worst point"):
        table.add_column(col)
    for name in result.requirements:
        evs = sum(name in e.robustness for e in result.evaluations)
        cexs = [c for c in result.counterexamples if name in c.violated]
        worst = min(cexs, key=lambda c: c.robustness[name], default=None)
        point = ", ".join(f"{k}={v:.4g}" for k, v in worst.point.items()) if worst else "-"
        table.add_row(name, str(evs), fmt(result.min_robustness(name)), str(len(cexs)), point)
    con.print(table)
    n = len(result.evaluations)
    if result.falsified:
        first = result.first_counterexample_at()
        con.print(
            f"FALSIFIED: {len(result.counterexamples)} counterexample(s); the first after "
            f"{first} rollout(s). Wall time {result.wall_time:.1f} s."
        )
    else:
        con.print(
            f"No counterexample found within {n} evaluations. This is evidence, not proof: "
            f"a larger budget or another seed may still find one. Wall time {result.wall_time:.1f} s."
        )


def print_prune(result: Any) -> None:
    from rich.table import Table

    con = console()
    t = Table(title="sanp prune", show_header=False)
    t.add_column("", style="bold")
    t.add_column("")
    s1 = result.step1
    t.add_row("sparsity after step 1", f"{s1.policy.sparsity():.2%} (k={s1.k:.3f})")
    t.add_row("sparsity after refinement", f"{result.policy.sparsity():.2%}")
    t.add_row("per layer", ", ".join(f"{x:.1%}" for x in result.policy.layer_sparsity()))
    t.add_row("mean reward dense / pruned / refined",
              f"{result.dense_reward:.2f} / {s1.mean_reward:.2f} / {result.final_reward:.2f}")
    t.add_row("counterexamples per round",
              ", ".join(str(len(r.counterexamples)) for r in result.rounds) or "-")
    restored = [sum(x) for x in zip(*(r.restored for r in result.rounds if r.restored))]
    t.add_row("weights restored per layer", ", ".join(map(str, restored)) or "0")
    hd, hs = result.heldout_dense, result.heldout_sparse
    if hd and hs:
        t.add_row("held-out BO counterexamples dense / sparse",
                  f"{hd.bo_counterexamples} / {hs.bo_counterexamples} (of {hs.bo_evaluations} each)")
        t.add_row("held-out uniform violations dense / sparse",
                  f"{hd.uniform_violations} / {hs.uniform_violations} (of {hs.uniform_points} each)")
        t.add_row("held-out mean reward dense / sparse", f"{hd.mean_reward:.2f} / {hs.mean_reward:.2f}")
    t.add_row("wall time per phase", ", ".join(f"{k} {v:.1f}s" for k, v in result.times.items()))
    con.print(t)
    if not result.converged:
        con.print(f"NOT CONVERGED: the falsifier still found counterexamples after "
                  f"{len(result.rounds)} rounds; raise --rounds or --budget.")
    elif not result.safe_as_dense:
        con.print("WARNING: the held-out check found more violations on the sparse policy than on "
                  "the dense one; do not deploy it as is.")
    else:
        con.print("The falsifier found no counterexample on the refined policy, and the held-out "
                  "check found no more violations than on the dense policy. This is evidence, "
                  "not proof.")
