"""Canonical text of AST nodes and spec files.

The printed form parses back to an equal AST: operators print by their long names
(`->` prints as `implies`, `G` as `always`), parentheses appear only where the
precedence ladder needs them, and the operand of a unary operator is parenthesised
unless it is an atom or another unary operator (`always (abs(x) <= 2.4)`).
"""
from __future__ import annotations

import math

from stl import ast as A

# Precedence, loosest first. Keep in step with grammar/stl.lark and docs/language.md.
PREC_IFF = 1
PREC_IMPLIES = 2
PREC_OR = 3
PREC_XOR = 4
PREC_AND = 5
PREC_UNTIL = 6
PREC_UNARY = 7
PREC_COMPARE = 8
PREC_SUM = 9
PREC_PRODUCT = 10
PREC_NEG = 11
PREC_ATOM = 12

_BOOL_PREC = {"iff": PREC_IFF, "implies": PREC_IMPLIES, "or": PREC_OR, "xor": PREC_XOR,
              "and": PREC_AND}
_RIGHT_ASSOC = {"implies"}


def format_number(value: float) -> str:
    """Shortest text that reads back as exactly `value` (finite); whole numbers without '.0'."""
    if not math.isfinite(value):
        raise ValueError(f"cannot print non-finite number {value!r}")
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def format_interval(interval: A.Interval) -> str:
    """`[lo:hi]`, with `inf` for an open end."""
    return f"[{interval.lo}:{'inf' if interval.hi is None else interval.hi}]"


def _prec(node: A.Node) -> int:
    if isinstance(node, A.Binary):
        return _BOOL_PREC[node.op]
    if isinstance(node, A.TemporalBinary):
        return PREC_UNTIL
    if isinstance(node, (A.Not, A.Temporal)):
        return PREC_UNARY
    if isinstance(node, A.Compare):
        return PREC_COMPARE
    if isinstance(node, A.Arith):
        return PREC_SUM if node.op in "+-" else PREC_PRODUCT
    if isinstance(node, A.Neg):
        return PREC_NEG
    return PREC_ATOM


def _wrap(node: A.Node, min_prec: int) -> str:
    text = format_node(node)
    return f"({text})" if _prec(node) < min_prec else text


def _unary_operand(node: A.Node) -> str:
    if _prec(node) in (PREC_ATOM, PREC_UNARY):
        return format_node(node)
    return f"({format_node(node)})"


def format_node(node: A.Node) -> str:
    """Canonical text of an expression or formula; it parses back to an equal node.

        >>> format_node(A.Temporal("always", A.Compare("<=", A.SignalRef("x"), A.Num(1.0))))
        'always (x <= 1)'
    """
    if isinstance(node, A.Num):
        return format_number(node.value)
    if isinstance(node, (A.SignalRef, A.ConstRef, A.ReqRef)):
        return node.name
    if isinstance(node, A.BoolConst):
        return "true" if node.value else "false"
    if isinstance(node, A.ActionRef):
        return "action" if node.index is None else f"action[{node.index}]"
    if isinstance(node, A.OutputRef):
        return f"output[{node.index}]"
    if isinstance(node, A.Agrees):
        return "agrees" if node.within is None else f"agrees within {format_number(node.within)}"
    if isinstance(node, A.Neg):
        return "-" + _wrap(node.operand, PREC_NEG)
    if isinstance(node, A.Abs):
        return f"abs({format_node(node.operand)})"
    if isinstance(node, A.Arith):
        p = _prec(node)
        return f"{_wrap(node.left, p)} {node.op} {_wrap(node.right, p + 1)}"
    if isinstance(node, A.Compare):
        return f"{_wrap(node.left, PREC_SUM)} {node.op} {_wrap(node.right, PREC_SUM)}"
    if isinstance(node, A.Not):
        return f"not {_unary_operand(node.operand)}"
    if isinstance(node, A.Binary):
        p = _prec(node)
        if node.op in _RIGHT_ASSOC:
            return f"{_wrap(node.left, p + 1)} {node.op} {_wrap(node.right, p)}"
        return f"{_wrap(node.left, p)} {node.op} {_wrap(node.right, p + 1)}"
    if isinstance(node, A.Temporal):
        iv = "" if node.interval is None else format_interval(node.interval)
        return f"{node.op}{iv} {_unary_operand(node.operand)}"
    if isinstance(node, A.TemporalBinary):
        iv = "" if node.interval is None else format_interval(node.interval)
        # right-associative: `a until b until c` is `a until (b until c)`
        return f"{_wrap(node.left, PREC_UNARY)} {node.op}{iv} {_wrap(node.right, PREC_UNTIL)}"
    raise TypeError(f"not an AST node: {node!r}")


def _format_value(value: bool | float | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # keeps the float type: 2.0, not 2
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    escaped = escaped.replace("\t", "\\t")
    return f'"{escaped}"'


def format_region(region: A.Region) -> str:
    """`region NAME: x in [lo, hi], ...` or `region NAME: visited`."""
    if region.visited:
        return f"region {region.name}: visited"
    box = ", ".join(f"{k} in [{format_number(lo)}, {format_number(hi)}]"
                    for k, (lo, hi) in region.bounds.items())
    return f"region {region.name}: {box}"


def format_disturbance(d: A.Disturbance) -> str:
    """`disturb NAME in [lo, hi] over K pieces` (`over 1 piece`)."""
    word = "piece" if d.pieces == 1 else "pieces"
    return f"disturb {d.name} in [{format_number(d.lo)}, {format_number(d.hi)}] over {d.pieces} {word}"


def format_property(prop: A.Property) -> str:
    """`prop NAME over REGION: a and b implies conclusion`."""
    body = format_node(prop.conclusion)
    if prop.assumptions:
        body = " and ".join(format_node(c) for c in prop.assumptions) + " implies " + body
    return f"prop {prop.name} over {prop.region}: {body}"


def to_text(item: A.SpecFile | A.Requirement | A.Region | A.Property | A.Disturbance) -> str:
    """Canonical text of a spec file (parses back to an equal `SpecFile`) or of one
    requirement's `req NAME: formula` line.

        >>> to_text(A.Requirement("pos", A.Compare(">", A.SignalRef("x"), A.Num(0.5))))
        'req pos: x > 0.5'
    """
    if isinstance(item, A.Requirement):
        return f"req {item.name}: {format_node(item.formula)}"
    if isinstance(item, A.Region):
        return format_region(item)
    if isinstance(item, A.Property):
        return format_property(item)
    if isinstance(item, A.Disturbance):
        return format_disturbance(item)
    if isinstance(item, A.SpecFile):
        return format_spec(item)
    raise TypeError("to_text() takes a SpecFile, Requirement, Region, Property or Disturbance, got "
                    f"{type(item).__name__}")


def format_spec(spec: A.SpecFile) -> str:
    """Canonical text of a whole spec file (ends with a newline)."""
    out: list[str] = []
    env = f"env {spec.env_id}"
    if spec.env_kwargs:
        args = ", ".join(f"{k}={_format_value(v)}" for k, v in spec.env_kwargs.items())
        env += f" ({args})"
    out.append(env)
    if spec.horizon is not None:
        out.append(f"horizon {spec.horizon}")
    if spec.reset_seed is not None:
        out.append(f"reset_seed {spec.reset_seed}")
    if spec.reward_threshold is not None:
        out.append(f"reward >= {format_number(spec.reward_threshold)}")
    for sig in spec.signals.values():
        if sig.source == "reward":
            src = "reward"
        elif sig.index is None:
            src = sig.source
        else:
            src = f"{sig.source}[{sig.index}]"
        out.append(f"signal {sig.name} = {src}")
    for name, value in spec.consts.items():
        out.append(f"const {name} = {format_number(value)}")
    for name, (lo, hi) in spec.search.items():
        out.append(f"search {name} in [{format_number(lo)}, {format_number(hi)}]")
    out.extend(format_disturbance(d) for d in spec.disturbances.values())
    for req in spec.requirements.values():
        out.append(to_text(req))
    out.extend(format_region(r) for r in spec.regions.values())
    out.extend(format_property(p) for p in spec.properties.values())
    return "\n".join(out) + "\n"
