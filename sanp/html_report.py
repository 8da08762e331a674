"""One self-contained HTML page for a verify or prune run, from its JSON report.

The page needs nothing but itself: the CSS is inline, and every plot is drawn here with
matplotlib from the JSON (evaluations, counterexample signals, the step-1 search, the
rounds, per-layer sparsity, the held-out check) and embedded as a base64 PNG data URI.
PNG files the JSON cannot reproduce (such as the prune plots' weights.png, which needs
the weights) can be embedded too through `images`.

    >>> from sanp import html_report
    >>> doc = html_report.load("out/demo/prune.json")
    >>> html_report.write(doc, "prune.html", images={"|weights|": "out/demo/prune/weights.png"})

Names: `render(doc, images=None) -> str`, `write(doc, path, images=None)`,
`load(path) -> dict`, `ReportError`.

The JSON documents are those of `sanp.report` (schemas "sanp.verify/1" and
"sanp.prune/1"). Non-finite numbers appear there as the strings "inf", "-inf" and
"nan"; they are shown as such and drawn at the edge of a plot. Requirement formulas are
text only (the JSON carries no parsed predicates and no consts), so counterexample plots
evaluate each comparison of a violated requirement with a small arithmetic evaluator
over the recorded signals; where a side names something the JSON does not carry (a
const), the signals of that comparison are drawn without the bound. Every piece of text
from the JSON is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sanp.atomic import write_text
from sanp.errors import SanpError

VERIFY_SCHEMA = "sanp.verify/1"
PRUNE_SCHEMA = "sanp.prune/1"
SCHEMAS = (VERIFY_SCHEMA, PRUNE_SCHEMA)

MAX_CEX_PLOTS = 8
"""Counterexample trajectories drawn (the worst of each violated requirement first)."""
MAX_TABLE_ROWS = 100
"""Rows of a counterexample table; the rest are counted, not listed."""
MAX_PANELS = 6
"""Panels (comparisons or signals) per counterexample figure."""

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GREEN, RED, AMBER, GREY = "#1a7f37", "#cf222e", "#9a6700", "#57606a"


class ReportError(SanpError):
    """Raised when a report cannot be read or rendered (unknown schema, bad JSON, missing image)."""


# ---------------------------------------------------------------------------- API


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON report written by `sanp verify --json` or `sanp prune --report`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ReportError(f"{path} is not a JSON report (not UTF-8 text)") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    _check_schema(doc, str(path))
    return doc


def render(doc: Mapping[str, Any], images: Mapping[str, str | os.PathLike] | None = None) -> str:
    """The HTML page of a verify or prune report, self-contained.

    `images` maps captions to existing PNG files to embed as well (e.g. the prune
    plots' weights.png, which the JSON cannot reproduce)."""
    _check_schema(doc, "report")
    extra = _read_images(images or {})
    try:
        if doc["schema"] == VERIFY_SCHEMA:
            body = _verify_page(doc)
        else:
            body = _prune_page(doc)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        what = (
            f"missing field {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        )
        raise ReportError(
            f"malformed {doc['schema']} report ({what}); regenerate it with sanp"
        ) from None
    if extra:
        body.append(
            _section(
                "Figures from the run",
                "".join(_figure_html(uri, caption) for caption, uri in extra),
                "figures",
            )
        )
    body.append(_timing_html(doc.get("timing")))
    body.append(
        f"<footer>Rendered by sanp.html_report from a {_e(doc['schema'])} report. "
        "The page is self-contained: plots are embedded images, no external resources.</footer>"
    )
    title = f"sanp {doc.get('command', '')} — {_basename(_get(doc, 'inputs', 'policy'))}"
    return _PAGE.format(title=_e(title), css=_CSS, body="\n".join(body))


def write(
    doc: Mapping[str, Any],
    path: str | os.PathLike,
    images: Mapping[str, str | os.PathLike] | None = None,
) -> None:
    """Render `doc` and write the page to `path` atomically."""
    write_text(path, render(doc, images))


# ---------------------------------------------------------------------------- checks


def _check_schema(doc: Any, where: str) -> None:
    if not isinstance(doc, Mapping):
        raise ReportError(
            f"{where} is not a sanp report: expected a JSON object, got {type(doc).__name__}"
        )
    schema = doc.get("schema")
    if schema not in SCHEMAS:
        shown = "no schema field" if schema is None else f"schema {str(schema)[:60]!r}"
        raise ReportError(
            f"{where} has {shown}; expected {' or '.join(SCHEMAS)} (a sanp verify/prune JSON report)"
        )


def _read_images(images: Mapping[str, str | os.PathLike]) -> list[tuple[str, str]]:
    out = []
    for caption, path in images.items():
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ReportError(f"cannot read image {path}: {exc.strerror or exc}") from None
        if not data.startswith(PNG_MAGIC):
            raise ReportError(f"image {path} is not a PNG file; only PNG images can be embedded")
        out.append(
            (str(caption), "data:image/png;base64," + base64.b64encode(data).decode("ascii"))
        )
    return out


# ---------------------------------------------------------------------------- values


def _num(v: Any) -> float | None:
    """A float from a JSON number or "inf"/"-inf"/"nan"; None for anything else."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v.strip().lower() in (
        "inf",
        "+inf",
        "-inf",
        "nan",
        "infinity",
        "-infinity",
    ):
        return float(v.strip().lower())
    return None


def _fmt(v: Any, digits: int = 4) -> str:
    """Display text (unescaped) of a JSON value."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    x = _num(v)
    if x is None:
        if isinstance(v, (list, tuple)):
            return ", ".join(_fmt(u, digits) for u in v)
        if isinstance(v, Mapping):
            return ", ".join(f"{k}={_fmt(u, digits)}" for k, u in v.items())
        return str(v)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}g}"


def _pct(v: Any) -> str:
    x = _num(v)
    if x is None or not math.isfinite(x):
        return _fmt(v)
    return f"{100 * x:.2f}%"


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _get(doc: Any, *keys: Any, default: Any = None) -> Any:
    for k in keys:
        if (
            isinstance(doc, Mapping)
            and k in doc
            or isinstance(doc, list)
            and isinstance(k, int)
            and -len(doc) <= k < len(doc)
        ):
            doc = doc[k]
        else:
            return default
    return doc


def _basename(p: Any) -> str:
    return os.path.basename(str(p)) if p else ""


def _floats(values: Any) -> np.ndarray:
    vals = [_num(v) for v in (values or [])]
    return np.array([np.nan if v is None else v for v in vals], dtype=float)


# ---------------------------------------------------------------------------- HTML pieces


def _section(title: str, inner: str, sid: str = "") -> str:
    ident = f' id="{_e(sid)}"' if sid else ""
    return f"<section{ident}><h2>{_e(title)}</h2>\n{inner}</section>"


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    numeric: Sequence[int] = (),
    cls: str = "",
) -> str:
    """Rows are cells of raw HTML (already escaped) — use `_e` / `_fmt` when building them."""
    num = set(numeric)
    head = "".join(
        f"<th{' class=n' if i in num else ''}>{_e(h)}</th>" for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        body.append(
            "<tr>"
            + "".join(f"<td{' class=n' if i in num else ''}>{c}</td>" for i, c in enumerate(row))
            + "</tr>"
        )
    c = f' class="{cls}"' if cls else ""
    return f"<table{c}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>\n"


def _kv(rows: Iterable[tuple[str, str]]) -> str:
    return (
        '<table class="kv"><tbody>'
        + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
        + "</tbody></table>\n"
    )


def _badge(text: str, colour: str) -> str:
    return f'<span class="badge" style="background:{colour}">{_e(text)}</span>'


def _figure_html(uri: str, caption: str) -> str:
    return (
        f'<figure><img src="{uri}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>\n"
    )


def _verdict_html(verdict: str, colour: str, summary: Sequence[str]) -> str:
    lines = "".join(f"<p>{_e(s)}</p>" for s in summary if s)
    return (
        f'<div class="verdict" style="border-color:{colour}">'
        f'<div class="verdict-head" style="background:{colour}">{_e(verdict)}</div>'
        f'<div class="verdict-body">{lines}</div></div>\n'
    )


def _inputs_html(doc: Mapping[str, Any], extra: Sequence[tuple[str, str]] = ()) -> str:
    inp = doc.get("inputs") or {}
    rows = [
        ("policy", f"<code>{_e(inp.get('policy', '–'))}</code>"),
        ("policy SHA-256", f"<code class=hash>{_e(inp.get('policy_sha256', '–'))}</code>"),
        ("spec", f"<code>{_e(inp.get('spec', '–'))}</code>"),
        ("spec SHA-256", f"<code class=hash>{_e(inp.get('spec_sha256', '–'))}</code>"),
        ("environment", _e(inp.get("env_id", "–"))),
        ("seed", _e(_fmt(inp.get("seed")))),
        *extra,
    ]
    opts = inp.get("options") or {}
    if opts:
        rows.append(
            (
                "options",
                "<br>".join(f"<code>{_e(k)}</code> = {_e(_fmt(v))}" for k, v in opts.items()),
            )
        )
    out = _kv(rows)
    vers = inp.get("versions") or {}
    if vers:
        out += (
            '<p class="versions">versions: '
            + ", ".join(f"{_e(k)} {_e(v)}" for k, v in vers.items())
            + "</p>\n"
        )
    return out


def _timing_html(timing: Any) -> str:
    if not isinstance(timing, Mapping) or not timing:
        return ""
    rows = [
        (_e(re.sub(r"_s$", "", str(k)).replace("_", " ")), _e(_fmt(v, 3)) + " s")
        for k, v in timing.items()
    ]
    return _section(
        "Timing",
        _kv(rows) + '<p class="note">Wall-clock times are the only part '
        "of the report that does not repeat for the same inputs and seed.</p>",
    )


# ---------------------------------------------------------------------------- plots


def _new_figure(width: float, height: float, rows: int = 1, cols: int = 1, **kw: Any):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kw)
    return fig, axes


def _png_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _edge_values(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(y with ±inf moved to just beyond the finite range, bottom, top)."""
    finite = y[np.isfinite(y)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = -1.0, 1.0
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    bottom, top = lo - pad, hi + pad
    out = y.copy()
    out[np.isneginf(y)] = bottom
    out[np.isposinf(y)] = top
    return out, bottom - pad, top + pad


_PALETTE = [
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
    "tab:gray",
]


def _robustness_plot(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    evs = [e for e in doc.get("evaluations") or [] if isinstance(e, Mapping)]
    if not evs:
        return None
    x = np.array([int(e.get("index", i)) + 1 for i, e in enumerate(evs)])
    y = _floats([e.get("objective") for e in evs])
    shown, bottom, top = _edge_values(y)
    targets = [e.get("target") for e in evs]
    groups = list(dict.fromkeys(t for t in targets if t)) if any(targets) else [None]
    fig, axes = _new_figure(9, 3.8)
    ax = axes[0, 0]
    for gi, g in enumerate(groups):
        sel = np.array([(t == g) if g else True for t in targets])
        colour = _PALETTE[gi % len(_PALETTE)]
        label = f"{g}: evaluation" if g else "evaluation"
        xs, ys = x[sel], shown[sel]
        fin = np.isfinite(y[sel])
        ax.plot(xs[fin], ys[fin], ".", color=colour, ms=6, label=label)
        best = ys.copy()
        best[np.isnan(best)] = np.inf
        best = np.minimum.accumulate(best)
        best[np.isinf(best)] = np.nan
        ax.step(
            xs,
            best,
            where="post",
            color=colour if g else "tab:red",
            lw=1.6,
            label=f"{g}: best so far" if g else "best so far",
        )
    neg, pos = np.isneginf(y), np.isposinf(y)
    if neg.any():
        ax.plot(x[neg], shown[neg], "v", color="darkred", ms=7, label="−∞ (non-finite episode)")
    if pos.any():
        ax.plot(x[pos], shown[pos], "^", color="0.4", ms=7, label="+∞")
    cex_evals = {
        c.get("evaluation") for c in doc.get("counterexamples") or [] if isinstance(c, Mapping)
    }
    hit = np.array([e.get("index") in cex_evals for e in evs])
    if hit.any():
        ax.plot(
            x[hit], shown[hit], "o", mfc="none", mec="red", ms=11, mew=1.4, label="counterexample"
        )
    ax.axhline(0.0, color="k", lw=0.8)
    ax.axhspan(bottom, 0.0, color="red", alpha=0.06, lw=0)
    ax.set_ylim(bottom, top)
    ax.set_xlabel("evaluation")
    ylabel = (
        "robustness of the target requirement"
        if groups != [None]
        else "robustness (min over requirements)"
    )
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", ncol=2 if len(groups) > 1 else 1)
    nonfin = int(neg.sum() + pos.sum() + np.isnan(y).sum())
    caption = (
        "Robustness of each evaluation (one rollout) and the best so far; below the "
        "black line (shaded) a requirement is violated."
    )
    if nonfin:
        caption += (
            f" {nonfin} non-finite value(s) are drawn at the edge of the plot (NaN is not drawn)."
        )
    return _png_uri(fig), caption


# --- formulas: comparisons, evaluated over the recorded signals without the stl parser

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op><->|->|<=|>=|==|!=|<|>|[-+*/()\[\]:,]))"
)
_COMPARE = {"<=", ">=", "<", ">", "==", "!="}
_KEYWORDS = {
    "not",
    "and",
    "or",
    "xor",
    "implies",
    "iff",
    "always",
    "eventually",
    "historically",
    "once",
    "until",
    "since",
    "next",
    "prev",
    "G",
    "F",
    "H",
    "O",
    "U",
    "S",
    "true",
    "false",
    "inf",
    "in",
}
_BOUNDARY = _KEYWORDS | _COMPARE | {"->", "<->", "[", "]", ":", ","}


class _Unsupported(Exception):
    pass


def _tokens(text: str) -> list[str] | None:
    out, pos, text = [], 0, text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            return None
        out.append(m.group(m.lastgroup))
        pos = m.end()
    return out


def _inline(tokens: list[str], formulas: Mapping[str, str], depth: int = 0) -> list[str]:
    """Replace names of other requirements by their (parenthesised) formulas."""
    if depth > 20:
        return tokens
    out: list[str] = []
    for t in tokens:
        sub = _tokens(formulas[t]) if t in formulas else None
        if sub:
            out += ["(", *_inline(sub, formulas, depth + 1), ")"]
        else:
            out.append(t)
    return out


def _comparisons(tokens: list[str]) -> list[tuple[list[str], str, list[str]]]:
    """Every comparison atom (left tokens, operator, right tokens)."""
    atoms = []
    for i, t in enumerate(tokens):
        if t not in _COMPARE:
            continue
        j, depth = i - 1, 0
        while j >= 0:
            u = tokens[j]
            if u == ")":
                depth += 1
            elif u == "(":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and u in _BOUNDARY:
                break
            j -= 1
        k, depth = i + 1, 0
        while k < len(tokens):
            u = tokens[k]
            if u == "(":
                depth += 1
            elif u == ")":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and u in _BOUNDARY:
                break
            k += 1
        left, right = tokens[j + 1 : i], tokens[i + 1 : k]
        if left and right:
            atoms.append((left, t, right))
    return atoms


def _text(tokens: Sequence[str]) -> str:
    out = ""
    prev = None
    for t in tokens:
        unary = t == "-" and (prev is None or prev in _COMPARE or prev in {"(", "+", "-", "*", "/"})
        if out and not (t == ")" or prev == "(" or (t == "(" and prev == "abs") or prev == "unary"):
            out += " "
        out += t
        prev = "unary" if unary else t
    return out


class _Arith:
    """+ - * / abs() unary minus, numbers, signals (arrays over time) and known consts."""

    def __init__(self, tokens: Sequence[str], values: Mapping[str, Any]):
        self.t, self.i, self.values = list(tokens), 0, values

    def run(self) -> Any:
        v = self.sum()
        if self.i != len(self.t):
            raise _Unsupported(" ".join(self.t[self.i :]))
        return v

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise _Unsupported(want or "end")
        self.i += 1
        return tok

    def sum(self) -> Any:
        v = self.product()
        while self.peek() in ("+", "-"):
            v = v + self.product() if self.take() == "+" else v - self.product()
        return v

    def product(self) -> Any:
        v = self.unary()
        while self.peek() in ("*", "/"):
            if self.take() == "*":
                v = v * self.unary()
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    v = np.divide(v, self.unary())
        return v

    def unary(self) -> Any:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        return self.atom()

    def atom(self) -> Any:
        tok = self.take()
        if tok == "(":
            v = self.sum()
            self.take(")")
            return v
        if tok == "abs" and self.peek() == "(":
            self.take("(")
            v = self.sum()
            self.take(")")
            return np.abs(v)
        if tok in self.values:
            return self.values[tok]
        if tok[0].isdigit() or tok[0] == ".":
            return float(tok)
        raise _Unsupported(tok)


def _signal_arrays(cex: Mapping[str, Any]) -> dict[str, np.ndarray]:
    out = {}
    for name, values in (cex.get("signals") or {}).items():
        if isinstance(values, list) and all(not isinstance(v, (list, dict)) for v in values):
            out[str(name)] = _floats(values)
    return out


def _cex_panels(cex: Mapping[str, Any], formulas: Mapping[str, str], consts: Mapping[str, float]):
    """[(title, [(label, values, kind)], names the report lacks)] for the violated requirements;
    kind is "left", "right" (the bound) or "signal" (a raw signal, when a side cannot be computed)."""
    signals = _signal_arrays(cex)
    values: dict[str, Any] = {k: float(v) for k, v in consts.items() if _num(v) is not None}
    values.update(signals)
    panels, seen = [], set()
    for req in cex.get("violated") or []:
        toks = _tokens(formulas.get(req, "")) or []
        for left, op, right in _comparisons(_inline(toks, formulas)):
            text = f"{_text(left)} {op} {_text(right)}"
            if text in seen:
                continue
            seen.add(text)
            try:
                lv, rv = _Arith(left, values).run(), _Arith(right, values).run()
                lines = [(_text(left), lv, "left"), (_text(right), rv, "right")]
                panels.append((f"{req}: {text}", lines, ()))
            except _Unsupported:
                used = [t for t in dict.fromkeys(left + right) if t in signals]
                missing = tuple(
                    sorted(
                        {
                            t
                            for t in left + right
                            if t[:1].isalpha()
                            and t not in values
                            and t != "abs"
                            and t not in _KEYWORDS
                        }
                    )
                )
                panels.append(
                    (f"{req}: {text}", [(t, signals[t], "signal") for t in used], missing)
                )
    if not panels:  # no formula to read: the recorded signals as they are
        for name, arr in signals.items():
            panels.append((name, [(name, arr, "signal")], ()))
    return panels[:MAX_PANELS], max(0, len(panels) - MAX_PANELS)


def _cex_plot(
    i: int, cex: Mapping[str, Any], formulas: Mapping[str, str], consts: Mapping[str, float]
) -> tuple[str, str]:
    panels, dropped = _cex_panels(cex, formulas, consts)
    n = max(1, len(panels))
    fig, axes = _new_figure(9, 1.2 + 1.9 * n, rows=n, sharex=True)
    step = cex.get("step")
    length = max((len(np.atleast_1d(v)) for _, ls, _ in panels for _, v, _ in ls), default=1)
    t = np.arange(length)
    for ax, (title, lines, missing) in zip(axes[:, 0], panels):
        note = f"bound not drawn: {', '.join(missing)} not in the report" if missing else ""
        for gi, (label, v, kind) in enumerate(lines):
            arr = np.asarray(v, dtype=float)
            if arr.ndim == 0:
                if kind == "right":
                    ax.axhline(float(arr), color="tab:red", ls="--", lw=1.4, label=f"bound {label}")
                    continue
                arr = np.full(length, float(arr))
            arr, _, _ = _edge_values(arr)
            tt = t[: len(arr)]
            if kind == "right":
                ax.plot(tt, arr, "--", color="tab:red", lw=1.4, label=f"bound {label}")
            else:
                colour = "tab:blue" if kind == "left" else _PALETTE[gi % len(_PALETTE)]
                discrete = (
                    np.all(np.isfinite(arr))
                    and np.all(arr == np.round(arr))
                    and len(np.unique(arr)) <= 4
                )
                ax.plot(
                    tt,
                    arr,
                    color=colour,
                    lw=1.4,
                    label=label,
                    drawstyle="steps-post" if discrete else "default",
                )
                if isinstance(step, int) and 0 <= step < len(arr):
                    ax.plot([step], [arr[step]], "o", color="red", ms=6, zorder=5)
        if isinstance(step, int):
            ax.axvline(step, color="0.45", lw=0.9, ls=":")
        ax.set_title(title + (f"   ({note})" if note else ""), fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        if lines:
            ax.legend(fontsize=8, loc="best")
    axes[-1, 0].set_xlabel("step")
    violated = ", ".join(str(v) for v in cex.get("violated") or [])
    caption = (
        f"Counterexample #{i + 1}: violates {violated or '–'}, robustness "
        f"{_fmt(cex.get('min_robustness'))}; critical step {_fmt(step)} (dotted line, red dot) "
        f"of {_fmt(cex.get('length'))}. Point: {_fmt(cex.get('point'))}."
    )
    missing = sorted({n for _, _, names in panels for n in names})
    if missing:
        caption += (
            f" No bound is drawn where a comparison uses {', '.join(missing)}, which the report "
            "does not carry (a spec const); the signals are shown."
        )
    if dropped:
        caption += f" {dropped} more comparison(s) not drawn."
    return _png_uri(fig), caption


def _pick_cex(cexs: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices to draw: the worst counterexample of each violated requirement, then the worst."""

    def key(i: int) -> tuple[float, int]:
        r = _num(cexs[i].get("min_robustness"))
        return (np.inf if r is None or math.isnan(r) else r, i)

    order = sorted(range(len(cexs)), key=key)
    chosen: list[int] = []
    for req in dict.fromkeys(r for c in cexs for r in c.get("violated") or []):
        for i in order:
            if req in (cexs[i].get("violated") or []):
                if i not in chosen:
                    chosen.append(i)
                break
    for i in order:
        if i not in chosen:
            chosen.append(i)
    return chosen[:MAX_CEX_PLOTS]


# ---------------------------------------------------------------------------- verify


def _verify_page(doc: Mapping[str, Any]) -> list[str]:
    inp = doc.get("inputs") or {}
    opts = inp.get("options") or {}
    reqs = [r for r in doc.get("requirements") or [] if isinstance(r, Mapping)]
    evs = doc.get("evaluations") or []
    cexs = [c for c in doc.get("counterexamples") or [] if isinstance(c, Mapping)]
    verdict = str(doc.get("verdict", "–"))
    falsified = verdict == "falsified" or bool(cexs)
    colour = RED if falsified else (GREEN if verdict == "no counterexample found" else GREY)
    how = (
        f"{len(evs)} evaluations ({_fmt(opts.get('optimizer', '?'))}, seed {_fmt(inp.get('seed'))})"
    )
    if falsified:
        first = min(
            (c.get("evaluation") for c in cexs if isinstance(c.get("evaluation"), int)),
            default=None,
        )
        names = sorted({r for c in cexs for r in c.get("violated") or []})
        summary = [
            f"{len(cexs)} counterexample(s) in {how}"
            + (f"; the first after {first + 1} rollout(s)" if first is not None else "")
            + ".",
            f"Violated: {', '.join(names)}." if names else "",
        ]
    else:
        summary = [
            f"No counterexample found within {how}.",
            "This is evidence, not proof: a larger budget or another seed may still find one.",
        ]
    out = [
        (
            f'<header><h1>sanp verify <span class="sub">{_e(_basename(inp.get("policy")))} against '
            f"{_e(_basename(inp.get('spec')))}</span></h1></header>"
        ),
        _verdict_html(verdict.upper() if falsified else verdict, colour, summary),
    ]
    out.append(_section("Inputs", _inputs_html(doc), "inputs"))

    rows = []
    for r in reqs:
        n_cex = r.get("counterexamples") or 0
        mr = _num(r.get("min_robustness"))
        bad = bool(n_cex) or (mr is not None and mr < 0)
        status = _badge("violated", RED) if bad else _badge("held", GREEN)
        rows.append(
            [
                f"<b>{_e(r.get('name', '–'))}</b>",
                f"<code>{_e(r.get('formula', '–'))}</code>",
                _e(_fmt(r.get("evaluations"))),
                _e(_fmt(r.get("min_robustness"))),
                _e(_fmt(n_cex)),
                status,
            ]
        )
    out.append(
        _section(
            "Requirements",
            _table(
                [
                    "requirement",
                    "formula",
                    "evaluations",
                    "min robustness",
                    "counterexamples",
                    "status",
                ],
                rows,
                numeric=(2, 3, 4),
            ),
            "requirements",
        )
    )

    plot = _robustness_plot(doc)
    if plot:
        out.append(_section("Robustness against evaluation", _figure_html(*plot), "robustness"))

    if cexs:
        rows = []
        for i, c in enumerate(cexs[:MAX_TABLE_ROWS]):
            rows.append(
                [
                    _e(i + 1),
                    _e(_fmt(_plus1(c.get("evaluation")))),
                    _e(", ".join(map(str, c.get("violated") or []))),
                    _e(_fmt(c.get("min_robustness"))),
                    _e(_fmt(c.get("step"))),
                    _e(_fmt(c.get("length"))),
                    _e(_fmt(c.get("total_reward"))),
                    _e(_fmt(c.get("terminated"))),
                    _badge("non-finite", RED) if c.get("nonfinite") else "no",
                    f"<code>{_e(_fmt(c.get('point')))}</code>",
                ]
            )
        inner = _table(
            [
                "#",
                "evaluation",
                "violated",
                "robustness",
                "step",
                "length",
                "reward",
                "terminated",
                "NaN/inf",
                "point",
            ],
            rows,
            numeric=(0, 1, 3, 4, 5, 6),
        )
        if len(cexs) > MAX_TABLE_ROWS:
            inner += f'<p class="note">{len(cexs) - MAX_TABLE_ROWS} more counterexamples are in the JSON.</p>'
        formulas = {str(r.get("name")): str(r.get("formula", "")) for r in reqs}
        consts = inp.get("consts") if isinstance(inp.get("consts"), Mapping) else {}
        picked = _pick_cex(cexs)
        inner += (
            f"<h3>Trajectories</h3><p class=note>Each comparison of the violated requirement: "
            f"the compared quantity (solid) and its bound (dashed red) over the episode; the "
            f"critical step is marked. Showing {len(picked)} of {len(cexs)}.</p>"
        )
        inner += "".join(_figure_html(*_cex_plot(i, cexs[i], formulas, consts)) for i in picked)
        out.append(_section("Counterexamples", inner, "counterexamples"))
    return out


def _plus1(v: Any) -> Any:
    return v + 1 if isinstance(v, int) and not isinstance(v, bool) else v


# ---------------------------------------------------------------------------- prune


def _prune_verdict(doc: Mapping[str, Any]) -> tuple[str, str]:
    verdict = str(doc.get("verdict", "–"))
    converged = _get(doc, "final", "converged")
    worse = "worse than dense" in verdict and "no worse" not in verdict
    if converged is True and not worse:
        return verdict, GREEN
    if worse:
        return verdict, RED
    if converged is False:
        return verdict, AMBER
    return verdict, GREY


def _prune_page(doc: Mapping[str, Any]) -> list[str]:
    inp = doc.get("inputs") or {}
    step1 = doc.get("step1") or {}
    final = doc.get("final") or {}
    rounds = [r for r in doc.get("rounds") or [] if isinstance(r, Mapping)]
    held = doc.get("heldout") or {}
    verdict, colour = _prune_verdict(doc)
    n_cex = [len(r.get("counterexamples") or []) for r in rounds]
    summary = [
        (
            f"Sparsity {_pct(final.get('sparsity'))} after refinement ({_pct(step1.get('sparsity'))} after "
            f"step 1, k = {_fmt(step1.get('k'))})."
        ),
        (
            f"Mean reward dense / pruned / refined: {_fmt(doc.get('dense_reward'))} / "
            f"{_fmt(step1.get('mean_reward'))} / {_fmt(final.get('mean_reward'))}."
        ),
        f"Counterexamples per round: {', '.join(map(str, n_cex)) or 'no rounds run'}.",
    ]
    hd, hs = held.get("dense"), held.get("sparse")
    if isinstance(hd, Mapping) and isinstance(hs, Mapping):
        summary.append(
            f"Held-out violations dense / sparse: BO {_fmt(hd.get('bo_counterexamples'))} / "
            f"{_fmt(hs.get('bo_counterexamples'))}, uniform {_fmt(hd.get('uniform_violations'))} / "
            f"{_fmt(hs.get('uniform_violations'))}."
        )
    summary.append("Falsification is evidence, not proof.")
    out = [
        (
            f'<header><h1>sanp prune <span class="sub">{_e(_basename(inp.get("policy")))} with '
            f"{_e(_basename(inp.get('spec')))}</span></h1></header>"
        ),
        _verdict_html(verdict, colour, summary),
    ]
    extra = [
        ("output", f"<code>{_e(doc.get('output', '–'))}</code>"),
        ("masks SHA-256", f"<code class=hash>{_e(final.get('masks_sha256', '–'))}</code>"),
    ]
    out.append(_section("Inputs", _inputs_html(doc, extra), "inputs"))

    # summary table
    rows = [
        (
            "sparsity",
            _e(f"step 1: {_pct(step1.get('sparsity'))}   refined: {_pct(final.get('sparsity'))}"),
        ),
        (
            "mean reward",
            _e(
                f"dense {_fmt(doc.get('dense_reward'))}, pruned (step 1) "
                f"{_fmt(step1.get('mean_reward'))}, refined {_fmt(final.get('mean_reward'))}"
            ),
        ),
        ("converged", _badge("yes", GREEN) if final.get("converged") else _badge("no", AMBER)),
        ("rounds run", _e(len(rounds))),
    ]
    out.append(_section("Summary", _kv(rows), "summary"))

    # requirements
    names = list(
        dict.fromkeys(
            [
                str(v)
                for r in rounds
                for c in r.get("counterexamples") or []
                for v in c.get("violated") or []
            ]
            + [
                str(k)
                for h in (hd, hs)
                if isinstance(h, Mapping)
                for k in (h.get("per_requirement") or {})
            ]
        )
    )
    if names:
        rows = []
        for name in names:
            per_round = [
                sum(name in (c.get("violated") or []) for c in r.get("counterexamples") or [])
                for r in rounds
            ]
            d = _get(hd, "per_requirement", name)
            s = _get(hs, "per_requirement", name)
            worse = _num(d) is not None and _num(s) is not None and _num(s) > _num(d)
            cell = _e(_fmt(s)) + (" " + _badge("more than dense", RED) if worse else "")
            rows.append([f"<b>{_e(name)}</b>", *[_e(n) for n in per_round], _e(_fmt(d)), cell])
        heads = [
            "requirement",
            *[f"round {_fmt(r.get('round', i + 1))}" for i, r in enumerate(rounds)],
            "held-out uniform, dense",
            "held-out uniform, sparse",
        ]
        out.append(
            _section(
                "Requirements",
                _table(heads, rows, numeric=range(1, len(heads)))
                + '<p class="note">Counterexamples violating each requirement per refinement '
                "round, and uniformly drawn held-out points violating it.</p>",
                "requirements",
            )
        )

    # sparsity per layer
    s1, sf = step1.get("layer_sparsity") or [], final.get("layer_sparsity") or []
    if s1 or sf:
        restored = np.zeros(max(len(s1), len(sf)), dtype=int)
        for r in rounds:
            for li, n in enumerate(r.get("restored_per_layer") or []):
                if li < len(restored) and isinstance(n, int):
                    restored[li] += n
        rows = [
            [_e(li + 1), _e(_pct(_get(s1, li))), _e(_pct(_get(sf, li))), _e(int(restored[li]))]
            for li in range(len(restored))
        ]
        inner = _figure_html(*_sparsity_plot(s1, sf)) + _table(
            ["layer", "sparsity after step 1", "after refinement", "weights restored"],
            rows,
            numeric=(0, 1, 2, 3),
        )
        out.append(_section("Sparsity per layer", inner, "sparsity"))

    hist = [h for h in step1.get("scan") or [] if isinstance(h, Mapping)]
    if hist:
        rows = [
            [
                _e(i + 1),
                _e(_fmt(h.get("k"))),
                _e(_pct(h.get("sparsity"))),
                _e(_fmt(h.get("mean_reward"))),
                _badge("accepted", GREEN) if h.get("passes") else _badge("rejected", RED),
            ]
            for i, h in enumerate(hist)
        ]
        inner = (
            _figure_html(*_step1_plot(doc, hist))
            + "<details><summary>every trial</summary>"
            + _table(
                ["trial", "k", "sparsity", "mean reward", "reward cutoff"],
                rows,
                numeric=(0, 1, 2, 3),
            )
            + "</details>"
        )
        out.append(_section("Step 1: the sparsity search", inner, "step1"))

    if rounds:
        rows = []
        for r in rounds:
            rows.append(
                [
                    _e(_fmt(r.get("round"))),
                    _e(_fmt(r.get("seed"))),
                    _e(_fmt(r.get("evaluations"))),
                    _e(_fmt(r.get("uniform_evaluations"))),
                    _e(len(r.get("counterexamples") or [])),
                    _e(_fmt(r.get("recovered"))),
                    _e(_fmt(r.get("unrecoverable"))),
                    _e(_fmt(r.get("p"))),
                    _e(_fmt(r.get("restored_per_layer"))),
                    _e(_fmt(r.get("unfixed"))),
                    _e(_pct(r.get("sparsity"))),
                ]
            )
        inner = _figure_html(*_rounds_plot(rounds)) + _table(
            [
                "round",
                "seed",
                "BO rollouts",
                "uniform points",
                "counterexamples",
                "recovered",
                "unrecoverable",
                "p",
                "restored per layer",
                "unfixed",
                "sparsity after",
            ],
            rows,
            numeric=(0, 1, 2, 3, 4, 5, 6, 7, 9, 10),
        )
        if any(r.get("p_trials") for r in rounds):
            inner += _figure_html(*_p_plot(rounds))
        worst = [c for r in rounds for c in r.get("counterexamples") or []]
        if worst:
            worst = sorted(worst, key=lambda c: _sort_num(c.get("min_robustness")))[:10]
            crow = [
                [
                    _e(", ".join(map(str, c.get("violated") or []))),
                    _e(_fmt(c.get("min_robustness"))),
                    _e(_fmt(c.get("step"))),
                    f"<code>{_e(_fmt(c.get('point')))}</code>",
                ]
                for c in worst
            ]
            inner += (
                "<details><summary>the worst counterexamples of all rounds</summary>"
                + _table(["violated", "robustness", "step", "point"], crow, numeric=(1, 2))
                + "</details>"
            )
        out.append(_section("Refinement rounds", inner, "rounds"))

    if isinstance(hd, Mapping) or isinstance(hs, Mapping):
        out.append(_section("Held-out check: dense vs sparse", _heldout_html(hd, hs), "heldout"))
    return out


def _sort_num(v: Any) -> float:
    x = _num(v)
    return math.inf if x is None or math.isnan(x) else x


def _heldout_html(hd: Any, hs: Any) -> str:
    hd = hd if isinstance(hd, Mapping) else {}
    hs = hs if isinstance(hs, Mapping) else {}

    def row(label: str, key: str, lower_better: bool = True) -> list[str]:
        d, s = hd.get(key), hs.get(key)
        dn, sn = _num(d), _num(s)
        mark = ""
        if (
            dn is not None
            and sn is not None
            and not (math.isnan(dn) or math.isnan(sn))
            and lower_better
        ):
            mark = " " + (_badge("more than dense", RED) if sn > dn else _badge("no more", GREEN))
        return [_e(label), _e(_fmt(d)), _e(_fmt(s)) + mark]

    rows = [
        [_e("BO rollouts"), _e(_fmt(hd.get("bo_evaluations"))), _e(_fmt(hs.get("bo_evaluations")))],
        row("BO counterexamples", "bo_counterexamples"),
        [
            _e("BO min robustness"),
            _e(_fmt(hd.get("bo_min_robustness"))),
            _e(_fmt(hs.get("bo_min_robustness"))),
        ],
        [
            _e("uniform points"),
            _e(_fmt(hd.get("uniform_points"))),
            _e(_fmt(hs.get("uniform_points"))),
        ],
        row("uniform violations", "uniform_violations"),
    ]
    for name in dict.fromkeys(
        [*(hd.get("per_requirement") or {}), *(hs.get("per_requirement") or {})]
    ):
        d, s = _get(hd, "per_requirement", name), _get(hs, "per_requirement", name)
        rows.append(
            [f"&nbsp;&nbsp;uniform violations of <b>{_e(name)}</b>", _e(_fmt(d)), _e(_fmt(s))]
        )
    rows.append(
        [_e("mean reward"), _e(_fmt(hd.get("mean_reward"))), _e(_fmt(hs.get("mean_reward")))]
    )
    table = _table(["", "dense", "sparse"], rows, numeric=(1, 2))
    counts = [
        _num(h.get(k)) for h in (hd, hs) for k in ("bo_counterexamples", "uniform_violations")
    ]
    if all(c == 0 for c in counts):  # nothing to draw
        return table + '<p class="note">No held-out violation on either policy.</p>'
    return _figure_html(*_heldout_plot(hd, hs)) + table


def _sparsity_plot(s1: Sequence[Any], sf: Sequence[Any]) -> tuple[str, str]:
    n = max(len(s1), len(sf))
    a, b = _floats(list(s1) + [None] * (n - len(s1))), _floats(list(sf) + [None] * (n - len(sf)))
    fig, axes = _new_figure(max(5.0, 1.4 * n + 2.5), 3.2)
    ax = axes[0, 0]
    x = np.arange(n)
    for off, vals, label, colour in (
        (-0.2, a, "after step 1", "tab:orange"),
        (0.2, b, "after refinement", "tab:blue"),
    ):
        bars = ax.bar(x + off, np.nan_to_num(vals * 100), 0.4, label=label, color=colour)
        ax.bar_label(
            bars, labels=[_pct(v) if np.isfinite(v) else "" for v in vals], fontsize=7, padding=2
        )
    ax.set_xticks(x, [f"layer {i + 1}" for i in x])
    ax.set_ylabel("sparsity (%)")
    ax.set_ylim(0, 125)
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return _png_uri(fig), "Fraction of zero weights per layer after step 1 and after refinement."


def _step1_plot(doc: Mapping[str, Any], hist: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    k = _floats([h.get("k") for h in hist])
    r = _floats([h.get("mean_reward") for h in hist])
    acc = np.array([bool(h.get("passes")) for h in hist])
    fig, axes = _new_figure(9, 3.3, cols=2)
    ax = axes[0, 0]
    shown, _, _ = _edge_values(r)
    kept = np.clip(1.0 - k, 1e-4, 1.0)  # log scale spreads the trials near k = 1
    ax.plot(kept[acc], shown[acc], "o", color=GREEN, label="reward ≥ cutoff (accepted)")
    ax.plot(kept[~acc], shown[~acc], "x", color=RED, ms=8, mew=2, label="below cutoff (rejected)")
    dense = _num(doc.get("dense_reward"))
    if dense is not None and math.isfinite(dense):
        ax.axhline(dense, color="0.4", ls=":", lw=1, label="dense policy")
    delta = _num(_get(doc, "inputs", "reward_threshold"))
    if delta is not None and math.isfinite(delta):
        ax.axhline(delta, color=RED, ls="--", lw=1, label=f"cutoff δ = {_fmt(delta)}")
    kk = _num(_get(doc, "step1", "k"))
    if kk is not None and math.isfinite(kk):
        ax.axvline(
            min(max(1.0 - kk, 1e-4), 1.0), color="tab:blue", lw=1, label=f"chosen k = {_fmt(kk)}"
        )
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("1 − k (fraction of weights kept; log scale)")
    ax.set_ylabel("mean reward")
    ax.set_title("mean reward of the one-shot pruned policy", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[0, 1]
    trial = np.arange(1, len(k) + 1)
    ax.plot(trial, k, "-", color="0.7", lw=1)
    ax.plot(trial[acc], k[acc], "o", color=GREEN)
    ax.plot(trial[~acc], k[~acc], "x", color=RED, ms=8, mew=2)
    ax.set_xlabel("trial")
    ax.set_ylabel("k (fraction of weights pruned)")
    ax.set_title("bisection on k", fontsize=9)
    ax.grid(alpha=0.3)
    caption = (
        "Step 1: the largest k whose one-shot pruned policy keeps the mean reward at or above "
        "the cutoff, found by bisection (green: accepted, red: rejected)."
    )
    return _png_uri(fig), caption


def _rounds_plot(rounds: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    labels = [str(_fmt(r.get("round", i + 1))) for i, r in enumerate(rounds)]
    counts = [len(r.get("counterexamples") or []) for r in rounds]
    fig, axes = _new_figure(max(4.5, 0.8 * len(rounds) + 3), 3.0)
    ax = axes[0, 0]
    bars = ax.bar(labels, counts, color=[RED if c else GREEN for c in counts])
    ax.bar_label(bars, fontsize=8, padding=2)
    ax.set_xlabel("round")
    ax.set_ylabel("counterexamples")
    ax.set_ylim(0, max(counts + [1]) * 1.18)
    ax.grid(axis="y", alpha=0.3)
    return (
        _png_uri(fig),
        "Counterexamples found on the pruned policy in each refinement round (BO plus uniform points).",
    )


def _p_plot(rounds: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    fig, axes = _new_figure(7, 3.0)
    ax = axes[0, 0]
    for gi, r in enumerate(rounds):
        trials = [t for t in r.get("p_trials") or [] if isinstance(t, list) and len(t) >= 2]
        if not trials:
            continue
        p = _floats([t[0] for t in trials])
        bad = _floats([t[1] for t in trials])
        colour = _PALETTE[gi % len(_PALETTE)]
        ax.plot(p, bad, "o", color=colour, label=f"round {_fmt(r.get('round', gi + 1))}")
        chosen = _num(r.get("p"))
        if chosen is not None:
            ax.axvline(chosen, color=colour, ls="--", lw=1)
    pos = [t[0] for r in rounds for t in r.get("p_trials") or [] if _num(t[0]) and _num(t[0]) > 0]
    if pos:
        ax.set_xscale("log")
    ax.set_xlabel("p (fraction of pruned weights restored)")
    ax.set_ylabel("counterexamples still failing")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png_uri(fig), (
        "Repair: the bisection on p; each trial's number of counterexamples that still "
        "fail, and the chosen p (dashed)."
    )


def _heldout_plot(hd: Mapping[str, Any], hs: Mapping[str, Any]) -> tuple[str, str]:
    cats = ["BO counterexamples", "uniform violations"]
    keys = ["bo_counterexamples", "uniform_violations"]
    names = list(
        dict.fromkeys([*(hd.get("per_requirement") or {}), *(hs.get("per_requirement") or {})])
    )
    d = [_num(hd.get(k)) for k in keys] + [_num(_get(hd, "per_requirement", n)) for n in names]
    s = [_num(hs.get(k)) for k in keys] + [_num(_get(hs, "per_requirement", n)) for n in names]
    labels = cats + [f"uniform: {n}" for n in names]
    fig, axes = _new_figure(max(6.0, 1.2 * len(labels) + 2), 3.2)
    ax = axes[0, 0]
    x = np.arange(len(labels))
    for off, vals, label, colour in ((-0.2, d, "dense", "0.55"), (0.2, s, "sparse", "tab:blue")):
        v = np.array([np.nan if u is None else u for u in vals], dtype=float)
        bars = ax.bar(x + off, np.nan_to_num(v), 0.4, label=label, color=colour)
        ax.bar_label(bars, labels=[_fmt(u) for u in vals], fontsize=8, padding=2)
    ax.set_xticks(x, labels, fontsize=8)
    top = max([u for u in d + s if u is not None and math.isfinite(u)] + [1])
    ax.set_ylim(0, top * 1.2)
    ax.set_ylabel("violations")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png_uri(fig), (
        "Held-out check with a seed the loop never used: violations found on the dense "
        "and on the sparse policy (lower is better)."
    )


# ---------------------------------------------------------------------------- page

_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1f2328; background: #f6f8fa; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 40px; background: #fff;
       min-height: 100vh; box-shadow: 0 0 12px rgba(0,0,0,.06); }
h1 { font-size: 26px; margin: 0 0 14px; }
h1 .sub { font-weight: 400; color: #57606a; font-size: 18px; }
h2 { font-size: 20px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin: 30px 0 12px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.verdict { border: 3px solid; border-radius: 8px; overflow: hidden; margin: 8px 0 18px; }
.verdict-head { color: #fff; font-size: 28px; font-weight: 700; padding: 12px 18px;
                letter-spacing: .02em; }
.verdict-body { padding: 8px 18px; font-size: 15px; }
.verdict-body p { margin: 4px 0; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 4px 9px; text-align: left; vertical-align: top; }
thead th { background: #eef1f4; }
tbody tr:nth-child(even) td { background: #f8fafb; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { background: #eef1f4; white-space: nowrap; width: 1%; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
code.hash { font-size: 12px; word-break: break-all; }
.badge { color: #fff; border-radius: 10px; padding: 1px 8px; font-size: 12px; font-weight: 600;
         white-space: nowrap; }
figure { margin: 12px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { color: #57606a; font-size: 13px; margin-top: 3px; }
.note, .versions { color: #57606a; font-size: 13px; }
details { margin: 6px 0; }
summary { cursor: pointer; color: #0969da; }
footer { margin-top: 36px; color: #8c959f; font-size: 12px; border-top: 1px solid #eaeef2;
         padding-top: 8px; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""
