"""What `sanp verify`, `sanp prune` and `sanp prove` print on the console: the result tables, the
verdict sentences and the progress bar. Rich output, no logic: the numbers come from
the results.

Example:
    >>> print_prune(result)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sanp.report.values import fmt
from sanp.types import RESET_SEED

if TYPE_CHECKING:
    from sanp.prove.bab import PropertyResult


def point_text(point: Mapping[str, float]) -> str:
    """A point as `name=value, ...`; its reset seed in full, since a replay needs it exact."""
    return ", ".join(f"{k}={v}" if k == RESET_SEED else f"{k}={v:.4g}" for k, v in point.items())


PIPED_WIDTH = 100_000
"""Columns of a console that is not a terminal: wide enough that no table cell is cut
("theta_dot=-0.…") and no line wrapped, so piped output and logs keep every value."""


def console(stderr: bool = False):
    """A rich console on stdout (or stderr); when that is not a terminal, full width."""
    from rich.console import Console

    con = Console(stderr=stderr, highlight=False)
    if not con.is_terminal:
        con = Console(stderr=stderr, highlight=False, width=PIPED_WIDTH)
    return con


def progress_bar(description: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best robustness {task.fields[best]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # off a terminal it would only leave a blank line on stderr
    )


def print_verify(result: Any, spec: Any) -> None:
    from rich.table import Table

    from sanp.falsify.registry import UNIFORM, is_uniform, label

    con = console()
    table = Table(title=f"{spec.env_id}: {len(result.evaluations)} evaluations "
                        f"({result.config.optimizer}, seed {result.config.seed})")
    for col in ("requirement", "evaluations", "min robustness", "counterexamples", "worst point"):
        table.add_column(col)
    for name in result.requirements:
        evs = sum(name in e.robustness for e in result.evaluations)
        cexs = [c for c in result.counterexamples if name in c.violated]
        worst = min(cexs, key=lambda c: c.robustness[name], default=None)
        point = point_text(worst.point) if worst else "-"
        table.add_row(name, str(evs), fmt(result.min_robustness(name), plain=True), str(len(cexs)), point)
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
    for b in result.statistics():
        con.print(f"{b.label}: {b.text}", markup=False, soft_wrap=True)
    target = result.target_summary()
    if target:
        con.print(f"target rate: {target['text']}", markup=False, soft_wrap=True)
    elif not is_uniform(result.config.optimizer) and result.falsified:
        who = label(result.config.optimizer)
        con.print(f"{who}'s counterexamples show that violations exist; they carry no rate ({who} does not "
                  f"sample uniformly: use --optimizer {UNIFORM} for a bound).", markup=False, soft_wrap=True)


def print_replay(outcomes: Sequence[Any], report: str, note: str | None) -> None:
    """`sanp verify --replay`: per counterexample the recorded and the replayed
    robustness and whether the violation reproduces, then one summary line."""
    from rich.table import Table

    con = console()
    if note is not None:
        con.print(f"note: {note}.", markup=False, soft_wrap=True)
    t = Table(title=f"replay of {report}: {len(outcomes)} counterexample(s)")
    for col in ("counterexample", "violated", "recorded robustness", "replayed robustness", "match", "point"):
        t.add_column(col)
    for r in outcomes:
        rec = r.recorded
        match = ("bit-identical" if r.identical else
                 f"{'within' if r.matches else 'over'} tolerance (differs by {r.difference:.3g})")
        t.add_row(rec.label, ", ".join(rec.violated), fmt(rec.min_robustness, 10, plain=True),
                  fmt(r.min_robustness, 10, plain=True), match if r.violates else f"NOT VIOLATED; {match}",
                  point_text(rec.point))
    con.print(t)
    again = sum(r.violates for r in outcomes)
    exact = sum(r.identical for r in outcomes)
    con.print(f"{again} of {len(outcomes)} violated again, {exact} with bit-identical robustness, "
              f"{sum(r.reproduced for r in outcomes)} within the tolerance of {outcomes[0].tolerance:g}.",
              markup=False, soft_wrap=True)


_STOPS = {
    "step": "the step fell below its minimum (no sparser level passed)",
    "max_sparsity": "at --deep-max-sparsity",
    "time_limit": "by the safety time limit (--deep-time-limit): the result depends on machine speed",
}
"""Why the deep schedule stopped, for the summary."""


def print_prune(result: Any) -> None:
    """The verdict's headline first, then the figures, the rate bounds, and the verdict's
    sentences (what the last round found, the dense-versus-sparse test)."""
    from rich.table import Table

    from sanp.falsify.registry import label
    from sanp.method.verdict import last_round_sentence

    con = console()
    v = result.verdict
    con.print(("OK: " if v.ok else "") + v.headline, markup=False, soft_wrap=True)
    t = Table(title="sanp prune", show_header=False)
    t.add_column("", style="bold")
    t.add_column("")
    s1 = result.step1
    t.add_row("recipe", result.config.recipe)
    t.add_row("sparsity after step 1 (weights)", f"{s1.policy.sparsity():.2%} (k={s1.k:.3f})")
    if s1.stop is not None:
        t.add_row("step 1 stopped", _STOPS.get(s1.stop, s1.stop))
    t.add_row("sparsity after refinement (weights)",
              f"{result.policy.sparsity():.2%}; {result.parameter_sparsity:.2%} of all parameters "
              "(biases kept)")
    t.add_row("per layer", ", ".join(f"{x:.1%}" for x in result.policy.layer_sparsity()))
    t.add_row("mean reward dense / pruned / refined",
              f"{result.dense_reward:.2f} / {s1.mean_reward:.2f} / {result.final_reward:.2f}")
    t.add_row("counterexamples per round (also dense)",
              ", ".join(f"{len(r.counterexamples)} ({r.dense_also_violates})" for r in result.rounds) or "-")
    t.add_row("repair per round", ", ".join(r.repair or "-" for r in result.rounds) or "-")
    restored = [sum(x) for x in zip(*(r.restored for r in result.rounds if r.restored))]
    t.add_row("weights restored per layer", ", ".join(map(str, restored)) or "0")
    hd, hs = result.heldout_dense, result.heldout_sparse
    if hd and hs:
        t.add_row(f"held-out {label(result.config.optimizer)} counterexamples dense / sparse",
                  f"{hd.bo_counterexamples} / {hs.bo_counterexamples} (of {hs.bo_evaluations} each; "
                  "evidence of existence, no rate)")
        t.add_row("held-out uniform violations dense / sparse",
                  f"{hd.uniform_violations} / {hs.uniform_violations} (of {hs.uniform_points} each)")
        t.add_row("held-out mean reward dense / sparse", f"{hd.mean_reward:.2f} / {hs.mean_reward:.2f}")
    t.add_row("wall time per phase", ", ".join(f"{k} {v:.1f}s" for k, v in result.times.items()))
    con.print(t)
    for b in result.statistics:
        con.print(f"{b.label}: {b.text}", markup=False, soft_wrap=True)
    last = last_round_sentence(result.rounds, result.config.optimizer)
    for line in (last[0].upper() + last[1:],) + ((result.comparison.text,) if result.comparison else ()):
        con.print(line + ".", markup=False, soft_wrap=True)
    ni = getattr(result, "noninferiority", None)
    if ni is not None:  # the verdict's statement, with its margin, confidence and points
        con.print(f"Non-inferiority ({ni.verdict}): {ni.text}.", markup=False, soft_wrap=True)
    if v.alpha is not None:
        con.print(v.alpha.text(v.looks)[0].upper() + v.alpha.text(v.looks)[1:] + ".", markup=False, soft_wrap=True)
    con.print("This is evidence, not proof." if v.ok else "Do not deploy this policy as is (see the first line).",
              markup=False)
    if s1.stop == "time_limit":
        from sanp.method.schedule_parts import safety_stop_text

        con.print("NOT REPRODUCIBLE: step 1 " + safety_stop_text(len(s1.scan) - 1, result.config.deep.time_limit)
                  + ".", markup=False, soft_wrap=True)


def print_prove(results: Sequence[PropertyResult], timeout: float) -> None:
    """One table row per property (`sanp.prove.bab.PropertyResult`), then each
    counterexample and what is unknown; `timeout` is the seconds per property."""
    from rich.table import Table

    con = console()
    t = Table(title=f"sanp prove (timeout {timeout:g} s per property)")
    for col in ("property", "verdict", "proved", "refuted", "unknown", "queries", "time"):
        t.add_column(col)
    for r in results:
        f = r.fractions()
        t.add_row(r.prop.name, r.verdict + (f" ({r.reason})" if r.reason else ""), f"{f['proved']:.1%}",
                  f"{f['refuted']:.1%}", f"{f['unknown']:.1%}", str(r.queries), f"{r.seconds:.2f}s")
    con.print(t)
    for r in results:
        con.print(f"{r.prop.text()}\n  over {r.prop.region_name or 'region'}: {r.prop.region.text()}")
        if r.counterexamples:
            c = r.counterexamples[0]
            obs = ", ".join(f"{r.prop.region.label(i)}={v:.6g}" for i, v in enumerate(c.obs))
            outs = ", ".join(f"{v:.6g}" for v in c.values)
            ref = "" if c.reference_values is None else \
                f"; reference outputs {', '.join(f'{v:.6g}' for v in c.reference_values)}"
            con.print(f"  REFUTED at {obs}: outputs {outs}{ref} (onnxruntime float32, margin {c.margin:.4g}); "
                      f"{len(r.counterexamples)} counterexample(s) in all")
        if r.split:
            f = r.fractions()
            con.print(f"  split into {len(r.leaves)} boxes: proved {f['proved']:.1%}, refuted {f['refuted']:.1%}, "
                      f"unknown {f['unknown']:.1%}, vacuous {f['vacuous']:.1%} of the region's volume")
