"""Reading values out of a report document, and their display text.

Reports write non-finite numbers as the strings "inf", "-inf" and "nan"; these helpers
turn them back into floats and show them as ∞, −∞ and NaN.

    >>> fmt("-inf"), pct(0.975), num("nan") != num("nan")
    ('−∞', '97.50%', True)
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

_NONFINITE = {"inf", "+inf", "-inf", "nan", "infinity", "-infinity"}


def num(v: Any) -> float | None:
    """A float from a JSON number or "inf"/"-inf"/"nan"; None for anything else."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        try:
            return float(v)
        except OverflowError:  # an integer beyond the float range
            return math.inf if v > 0 else -math.inf
    if isinstance(v, str) and v.strip().lower() in _NONFINITE:
        return float(v.strip().lower())
    return None


def sort_key(v: Any) -> float:
    """Ascending order with NaN and non-numbers last."""
    x = num(v)
    return math.inf if x is None or math.isnan(x) else x


def fmt(v: Any, digits: int = 4, *, plain: bool = False) -> str:
    """Display text of a JSON value (the template escapes it); `plain`: non-finite
    numbers as Python prints them ("nan", "inf", "-inf"), for a terminal or a log."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v) if abs(v) < 10**15 else f"{num(v):.{digits}g}"
    x = num(v)
    if x is None:
        if isinstance(v, (list, tuple)):
            return ", ".join(fmt(u, digits, plain=plain) for u in v)
        if isinstance(v, Mapping):
            return ", ".join(f"{k}={fmt(u, digits, plain=plain)}" for k, u in v.items())
        return str(v)
    if plain or math.isfinite(x):
        return f"{x:.{digits}g}"
    if math.isnan(x):
        return "NaN"
    return "∞" if x > 0 else "−∞"


def pct(v: Any) -> str:
    """A fraction as a percentage with two decimals."""
    x = num(v)
    if x is None or not math.isfinite(x):
        return fmt(v)
    return f"{100 * x:.2f}%"


def get(doc: Any, *keys: Any, default: Any = None) -> Any:
    """doc[k1][k2]... or `default` where a key or index is missing."""
    for k in keys:
        if isinstance(doc, Mapping) and k in doc or isinstance(doc, list) and isinstance(k, int) and -len(doc) <= k < len(doc):
            doc = doc[k]
        else:
            return default
    return doc


def records(v: Any) -> list[Mapping[str, Any]]:
    """The JSON objects of a list (anything else is skipped)."""
    return [x for x in v if isinstance(x, Mapping)] if isinstance(v, list) else []


def floats(values: Any) -> np.ndarray:
    """A 1-D float array; NaN where a value is not a number ("inf"/"-inf"/"nan" are)."""
    if not isinstance(values, (list, tuple)):
        return np.zeros(0)
    try:  # the common case, at numpy speed: numbers and non-finite strings only
        arr = np.asarray(values, dtype=float)
        if arr.ndim == 1:
            return arr
    except (ValueError, TypeError, OverflowError):
        pass
    return np.array([np.nan if num(v) is None else num(v) for v in values], dtype=float)


def basename(p: Any) -> str:
    return os.path.basename(str(p)) if p else ""


def plus1(v: Any) -> Any:
    """A 0-based index shown 1-based."""
    return v + 1 if isinstance(v, int) and not isinstance(v, bool) else v


def verdict_text(doc: Mapping[str, Any]) -> str:
    """The report's verdict in words: the headline of a structured verdict, else the text."""
    v = doc.get("verdict")
    if isinstance(v, Mapping):
        return str(v.get("headline", "–"))
    return "–" if v is None else str(v)


def optimizer_label(doc: Mapping[str, Any]) -> str:
    """How the report's falsifier optimiser is called (`sanp.falsify.label` of its
    `inputs.options.optimizer`; a report without one ran prune's default, GP-BO)."""
    from sanp.falsify.registry import PRUNE_DEFAULT, label

    name = get(doc, "inputs", "options", "optimizer")
    return label(name if isinstance(name, str) and name else PRUNE_DEFAULT)
