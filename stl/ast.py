"""Frozen dataclass nodes of the specification language.

Two kinds of node share one tree: *expressions* (numbers: `Num`, `SignalRef`,
`ConstRef`, `Neg`, `Arith`, `Abs`) and *formulas* (conditions: `BoolConst`,
`Compare`, `Not`, `Binary`, `Temporal`, `TemporalBinary`, `ReqRef`). Every node
carries the 1-based `line` and `column` where it starts; positions take no part
in equality, so a spec and its printed form compare equal.

`str(node)` is the canonical text (see `stl.printer`).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Union

ArithOp = Literal["+", "-", "*", "/"]
CompareOp = Literal["<", "<=", ">", ">=", "==", "!="]
BoolOp = Literal["and", "or", "xor", "implies", "iff"]
UnaryTemporalOp = Literal["always", "eventually", "historically", "once", "next", "prev"]
BinaryTemporalOp = Literal["until", "since"]

FUTURE_OPS = frozenset({"always", "eventually", "next", "until"})
PAST_OPS = frozenset({"historically", "once", "prev", "since"})


@dataclass(frozen=True)
class Node:
    """Base of every AST node: a source position that equality ignores."""

    line: int = field(default=0, compare=False, repr=False, kw_only=True)
    column: int = field(default=0, compare=False, repr=False, kw_only=True)

    def __str__(self) -> str:
        from stl.printer import format_node

        return format_node(self)

    def children(self) -> tuple[Node, ...]:
        """The direct sub-nodes (a `ReqRef` has its referenced formula as child)."""
        return ()


# ---------------------------------------------------------------- intervals
@dataclass(frozen=True)
class Interval:
    """A discrete-time window `[lo:hi]` in steps; `hi is None` means `inf`."""

    lo: int
    hi: int | None

    def __str__(self) -> str:
        return f"[{self.lo}:{'inf' if self.hi is None else self.hi}]"


# ---------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Num(Node):
    """A numeric literal (always >= 0; a minus sign is a `Neg`)."""

    value: float


@dataclass(frozen=True)
class SignalRef(Node):
    """A use of a declared signal."""

    name: str


@dataclass(frozen=True)
class ConstRef(Node):
    """A use of a declared constant; `value` is inlined at parse time."""

    name: str
    value: float


@dataclass(frozen=True)
class Neg(Node):
    """Unary minus."""

    operand: Expr

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Arith(Node):
    """`left op right` for op in + - * /."""

    op: ArithOp
    left: Expr
    right: Expr

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Abs(Node):
    """`abs(operand)`."""

    operand: Expr

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


# ---------------------------------------------------------------- formulas
@dataclass(frozen=True)
class BoolConst(Node):
    """`true` (robustness +inf) or `false` (robustness -inf)."""

    value: bool


@dataclass(frozen=True)
class Compare(Node):
    """A comparison atom `left op right` (a predicate)."""

    op: CompareOp
    left: Expr
    right: Expr

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Not(Node):
    """`not operand`."""

    operand: Formula

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Binary(Node):
    """`left op right` for op in and, or, xor, implies, iff."""

    op: BoolOp
    left: Formula
    right: Formula

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Temporal(Node):
    """A unary temporal operator; `interval` is None for the unbounded form (and next/prev)."""

    op: UnaryTemporalOp
    operand: Formula
    interval: Interval | None = None

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class TemporalBinary(Node):
    """`left until[interval] right` or `left since[interval] right`."""

    op: BinaryTemporalOp
    left: Formula
    right: Formula
    interval: Interval | None = None

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class ReqRef(Node):
    """A use of an earlier requirement by name; evaluates as its formula.

    Equality compares the name only (the referenced requirement is compared on its own
    in `SpecFile.requirements`), which keeps comparisons linear on shared sub-formulas.
    """

    name: str
    formula: Formula = field(compare=False, repr=False)

    def children(self) -> tuple[Node, ...]:
        return (self.formula,)


Expr = Union[Num, SignalRef, ConstRef, Neg, Arith, Abs]
Formula = Union[BoolConst, Compare, Not, Binary, Temporal, TemporalBinary, ReqRef]
EXPR_TYPES = (Num, SignalRef, ConstRef, Neg, Arith, Abs)
FORMULA_TYPES = (BoolConst, Compare, Not, Binary, Temporal, TemporalBinary, ReqRef)


def walk(node: Node) -> Iterator[Node]:
    """Every node reachable from `node` (through requirement references too), each once."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        yield n
        stack.extend(reversed(n.children()))


def signal_names(node: Node) -> frozenset[str]:
    """Names of the signals `node` uses, through requirement references too."""
    return frozenset(n.name for n in walk(node) if isinstance(n, SignalRef))


def predicates(node: Node) -> list[Compare]:
    """The comparison atoms of `node` in source order, duplicates (by identity) once."""
    return [n for n in walk(node) if isinstance(n, Compare)]


# ---------------------------------------------------------------- spec files
@dataclass(frozen=True)
class Signal:
    """A named signal bound to the environment: `obs[i]`, `action[i]`, `action` or `reward`."""

    name: str
    source: Literal["obs", "action", "reward"]
    index: int | None = None


@dataclass(frozen=True)
class Predicate:
    """A comparison atom of a requirement, for plotting a signal against its bound.

    `text` is its canonical source text, `op` its comparison operator; `left_values`
    and `right_values` evaluate its two sides over a signals mapping (arrays [T] or
    [N, T]); `robustness` evaluates the atom itself.
    """

    text: str
    op: CompareOp
    left: Expr
    right: Expr
    node: Compare = field(repr=False, compare=False)

    @property
    def signal_names(self) -> frozenset[str]:
        """Signals this predicate reads."""
        return signal_names(self.node)

    def left_values(self, signals):
        """The left side evaluated over `signals` (same shape as the signals)."""
        from stl.robustness import evaluate

        return evaluate(self.left, signals)

    def right_values(self, signals):
        """The right side evaluated over `signals` (broadcast to the signals' shape)."""
        from stl.robustness import evaluate

        return evaluate(self.right, signals)

    def robustness(self, signals):
        """The predicate's own robustness signal."""
        from stl.robustness import evaluate

        return evaluate(self.node, signals)


@dataclass(frozen=True)
class Requirement:
    """A named requirement `req NAME: formula`."""

    name: str
    formula: Formula
    line: int = field(default=0, compare=False, repr=False)
    column: int = field(default=0, compare=False, repr=False)

    def __str__(self) -> str:
        return str(self.formula)

    def to_text(self) -> str:
        """The canonical `req NAME: formula` line."""
        return f"req {self.name}: {self.formula}"

    @property
    def signal_names(self) -> frozenset[str]:
        """Signals the requirement uses, through the requirements it references too."""
        return signal_names(self.formula)

    def robustness(self, signals):
        """Batched robustness signal, RTAMT's discrete-time offline semantics.

        `signals` maps every used signal name to a float array of shape [T] or [N, T]
        (all the same shape); the result has that shape and `[..., 0]` is each trace's
        robustness.
        """
        from stl.robustness import evaluate

        return evaluate(self.formula, signals)

    def to_rtamt(self) -> str:
        """The formula as RTAMT specification text (see `stl.rtamt_backend`)."""
        from stl.rtamt_backend import to_rtamt

        return to_rtamt(self.formula)

    def predicates(self) -> list[Predicate]:
        """The comparison atoms, in source order."""
        return [Predicate(str(c), c.op, c.left, c.right, c) for c in predicates(self.formula)]


@dataclass(frozen=True)
class SpecFile:
    """A parsed specification file.

    Equality is semantic: `source`, `text`, `sha256` and `positions` take no part in
    it, so `parse(spec.to_text()) == spec`.
    """

    env_id: str
    env_kwargs: dict[str, bool | int | float | str]
    horizon: int | None
    reward_threshold: float | None
    signals: dict[str, Signal]
    consts: dict[str, float]
    search: dict[str, tuple[float, float]]
    requirements: dict[str, Requirement]
    source: str = field(default="<string>", compare=False)
    text: str = field(default="", compare=False, repr=False)
    sha256: str = field(default="", compare=False, repr=False)
    positions: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False,
                                                  repr=False)

    def __hash__(self) -> int:
        return hash(self.to_text())

    def to_text(self) -> str:
        """Canonical text; parses back to an equal SpecFile."""
        from stl.printer import format_spec

        return format_spec(self)
