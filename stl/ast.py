"""Frozen dataclass nodes of the specification language.

Two kinds of node share one tree: *expressions* (numbers: `Num`, `SignalRef`,
`ConstRef`, `Neg`, `Arith`, `Abs`) and *formulas* (conditions: `BoolConst`,
`Compare`, `Not`, `Binary`, `Temporal`, `TemporalBinary`, `ReqRef`). Every node
carries the 1-based `line` and `column` where it starts; positions take no part
in equality, so a spec and its printed form compare equal.

This module is data only: it imports nothing else from `stl`. The canonical text is
`stl.format_node(node)` / `stl.to_text(spec)` (stl.printer), robustness is
`stl.robustness(requirement, signals)` (stl.robustness), the comparison atoms are
`stl.predicates(requirement)` (stl.predicates).
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

    def children(self) -> tuple[Node, ...]:
        """The direct sub-nodes (a `ReqRef` has its referenced formula as child)."""
        return ()


# ---------------------------------------------------------------- intervals
@dataclass(frozen=True)
class Interval:
    """A discrete-time window `[lo:hi]` in steps; `hi is None` means `inf`."""

    lo: int
    hi: int | None


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


@dataclass(frozen=True)
class ActionRef(Node):
    """`action` (the discrete action chosen) or `action[i]` (component i of a continuous
    action): the policy's output, only in the conclusion of a `prop`."""

    index: int | None = None


@dataclass(frozen=True)
class OutputRef(Node):
    """`output[i]`: the network's raw output i (a Q-value, a logit), only in a `prop`'s
    conclusion."""

    index: int


Expr = Union[Num, SignalRef, ConstRef, Neg, Arith, Abs, ActionRef, OutputRef]
Formula = Union[BoolConst, Compare, Not, Binary, Temporal, TemporalBinary, ReqRef]
EXPR_TYPES = (Num, SignalRef, ConstRef, Neg, Arith, Abs, ActionRef, OutputRef)
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


def compares(node: Node) -> list[Compare]:
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
    """A comparison atom `left op right` of a requirement (built by `stl.predicates`).

    `text`, `left_text` and `right_text` are canonical source texts; `left` and `right`
    are expressions with consts inlined, ready for `stl.evaluate_expr(p.left, signals)`;
    `node` is the atom itself, for `stl.robustness(p.node, signals)`.
    """

    text: str
    op: CompareOp
    left: Expr
    right: Expr
    left_text: str
    right_text: str
    node: Compare = field(repr=False, compare=False)

    @property
    def signal_names(self) -> frozenset[str]:
        """Signals this predicate reads."""
        return signal_names(self.node)


@dataclass(frozen=True)
class Disturbance:
    """`disturb NAME in [lo, hi] over K pieces`: a bounded input the environment applies
    at every step, piecewise constant over K equal pieces of the horizon; the falsifier
    searches the K values in [lo, hi] together with the initial state. Which names an
    environment accepts (LunarLander's `wind`, CartPole's `push`) is decided by the env
    binding, as for search names."""

    name: str
    lo: float
    hi: float
    pieces: int
    line: int = field(default=0, compare=False, repr=False)
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Requirement:
    """A named requirement `req NAME: formula`."""

    name: str
    formula: Formula
    line: int = field(default=0, compare=False, repr=False)
    column: int = field(default=0, compare=False, repr=False)

    @property
    def signal_names(self) -> frozenset[str]:
        """Signals the requirement uses, through the requirements it references too."""
        return signal_names(self.formula)


@dataclass(frozen=True)
class Region:
    """`region NAME: x in [lo, hi], ...` (a box over observation signals; the signals it
    leaves out are unconstrained) or `region NAME: visited` (the bounding box of the
    states the reference policy visits over the search space, derived from data)."""

    name: str
    bounds: dict[str, tuple[float, float]]
    visited: bool = False
    line: int = field(default=0, compare=False, repr=False)
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Agrees(Node):
    """`agrees`: the same discrete action as the reference policy; `agrees within d`:
    every component of a continuous action within d of the reference's."""

    within: float | None = None


@dataclass(frozen=True)
class Property:
    """`prop NAME over REGION: assumptions implies conclusion`, a one-step property.

    Over every observation in the region that satisfies all `assumptions` (linear
    comparisons over observation signals and consts), the policy's action or output
    satisfies `conclusion` (a comparison over `ActionRef`, `OutputRef` or signals bound
    to the action), or agrees with a reference policy (`Agrees`).
    """

    name: str
    region: str
    assumptions: tuple[Compare, ...]
    conclusion: Compare | Agrees
    line: int = field(default=0, compare=False, repr=False)
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class SpecFile:
    """A parsed specification file.

    Equality is semantic: `source`, `text`, `sha256` and `positions` take no part in
    it, so `parse(stl.to_text(spec)) == spec`.
    """

    env_id: str
    env_kwargs: dict[str, bool | int | float | str]
    horizon: int | None
    reward_threshold: float | None
    signals: dict[str, Signal]
    consts: dict[str, float]
    search: dict[str, tuple[float, float]]
    requirements: dict[str, Requirement]
    regions: dict[str, Region] = field(default_factory=dict)
    properties: dict[str, Property] = field(default_factory=dict)
    reset_seed: int | None = None
    """The reset seed every episode uses (`reset_seed N`); None: each episode draws its own."""
    disturbances: dict[str, Disturbance] = field(default_factory=dict)
    """The `disturb` lines, by name, in source order."""
    source: str = field(default="<string>", compare=False)
    text: str = field(default="", compare=False, repr=False)
    sha256: str = field(default="", compare=False, repr=False)
    positions: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False,
                                                  repr=False)

    def __hash__(self) -> int:
        # equal specs hash equal: only fields that take part in equality, coarsely
        return hash((self.env_id, self.horizon, self.reward_threshold,
                     tuple(self.signals.values()), tuple(self.requirements)))
