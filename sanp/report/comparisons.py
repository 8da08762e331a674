"""What a counterexample panel shows: each comparison of a violated requirement, its two
sides evaluated over the counterexample's recorded signals.

The spec language has one parser, `stl`: the report carries the spec text
(`inputs.spec_text`), `spec_of` parses it, and `comparison_sides` is the one place that
calls stl's API for a requirement's comparisons. Consts are inlined by the parser, so a
side that names a const is drawn like any other.

    >>> spec, note = spec_of(doc)                       # doctest: +SKIP
    >>> [p.title for p in cex_view(doc["counterexamples"][0], spec, note).panels]  # doctest: +SKIP
    ['position: abs(x) <= 2.4']
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import stl
from sanp.report.values import floats, get
from stl import critical

MAX_PANELS = 6
"""Panels (comparisons or signals) per counterexample figure."""
MAX_SPEC_CHARS = 200_000
"""Longest spec text parsed for the panels; past it the recorded signals are drawn."""


@dataclass(frozen=True)
class Line:
    """One curve of a panel; `kind` is "left", "right" (the bound) or "signal"."""

    label: str
    values: Any
    kind: str


@dataclass(frozen=True)
class Panel:
    """One comparison of a requirement (or one recorded signal). `windows` are the
    (first, last) step ranges the requirement reads the comparison at (empty: the whole
    trace, for a signal); `mark` is the requirement's critical step (None: none decides
    it); `decides` says this comparison's value at `mark` is the requirement's
    robustness."""

    title: str
    lines: tuple[Line, ...]
    windows: tuple[tuple[int, int], ...] = ()
    mark: int | None = None
    decides: bool = False
    requirement: str | None = None


@dataclass(frozen=True)
class CexView:
    """The panels of one counterexample, how many more were left out, and why the
    comparisons could not be drawn (empty when they were)."""

    panels: tuple[Panel, ...]
    dropped: int
    note: str
    steps: Mapping[str, int | None] = field(default_factory=dict)
    """Each violated requirement's critical step, computed from the spec."""


def comparison_sides(requirement: Any, signals: Mapping[str, np.ndarray]
                     ) -> list[tuple[str, str, str, Any, Any, Any]]:
    """(left text, operator, right text, left values, right values, the comparison node)
    of each comparison of `requirement` in source order, both sides evaluated over
    `signals`.

    The only caller of stl's predicate API, so that a change of that API is one edit here."""
    return [(p.left_text, p.op, p.right_text,
             stl.evaluate_expr(p.left, signals), stl.evaluate_expr(p.right, signals), p.node)
            for p in stl.predicates(requirement)]


def spec_of(doc: Mapping[str, Any]) -> tuple[stl.SpecFile | None, str]:
    """The report's spec, parsed by stl, or None and the reason the panels cannot use it."""
    text = get(doc, "inputs", "spec_text")
    if not isinstance(text, str):
        return None, "The report carries no spec text (an older sanp wrote it)."
    if len(text) > MAX_SPEC_CHARS:
        return None, f"The report's spec text is over {MAX_SPEC_CHARS} characters."
    try:
        return stl.parse(text, str(get(doc, "inputs", "spec", default="spec"))), ""
    except stl.SpecError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "error"
        return None, f"The report's spec text does not parse ({first})."


def signal_arrays(cex: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The counterexample's recorded signals as float arrays (NaN where not a number)."""
    sig = cex.get("signals")
    return {str(k): floats(v) for k, v in (sig.items() if isinstance(sig, Mapping) else ())
            if isinstance(v, list)}


def cex_view(cex: Mapping[str, Any], spec: stl.SpecFile | None, note: str = "") -> CexView:
    """The panels of a counterexample: the comparisons of each requirement it violates
    (each once), or, where the spec cannot give them, its recorded signals. Each panel
    carries its requirement's own window and critical step (`stl.critical`)."""
    signals = signal_arrays(cex)
    panels: list[Panel] = []
    steps: dict[str, int | None] = {}
    seen: set[tuple] = set()
    problems = [note] if note else []
    violated = [str(v) for v in cex.get("violated") or [] if isinstance(v, (str, int))]
    for name in dict.fromkeys(violated) if spec is not None else ():
        req = spec.requirements.get(name)
        try:
            sides = comparison_sides(req, signals) if req is not None else None
            if sides:
                where = [w for _, w in critical.read_windows(req, int(np.size(sides[0][3])))]
                found = critical.decision(req, signals)
                steps[name] = found.step
        except (stl.StlError, KeyError, ValueError, TypeError, IndexError) as exc:
            sides = None
            problems.append(f"The comparisons of {name} cannot be evaluated over the recorded "
                            f"signals ({type(exc).__name__}).")
        if req is None:
            problems.append(f"The report's spec has no requirement {name!r}.")
        for (left, op, right, lv, rv, node), window in zip(sides or (), where if sides else ()):
            text = f"{left} {op} {right}"
            decides = node is found.compare
            key = (text, window, steps[name])
            if key not in seen:
                seen.add(key)
                panels.append(Panel(f"{name}: {text}", (Line(left, lv, "left"), Line(right, rv, "right")),
                                    window, steps[name], decides, name))
    if not panels:
        panels = [Panel(n, (Line(n, a, "signal"),)) for n, a in signals.items()]
        if problems:
            problems.append("The recorded signals are drawn instead.")
    return CexView(tuple(panels[:MAX_PANELS]), max(0, len(panels) - MAX_PANELS), " ".join(problems), steps)
