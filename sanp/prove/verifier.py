"""The interface between sanp and a verifier: a `Query` in, a `QueryResult` out.

A query asks: is there an input x in `box`, satisfying every `assumptions` condition,
whose outputs satisfy the `violation` condition? The outputs are those of every network
in `nets` side by side on the same input (a product network: the policy, then the
reference), concatenated. `violation` is a disjunction of conjunctions of linear
conditions over the outputs (`Linear` with `<=` / `>=`), closed: ties count as
violations, so "unsat" proves the property over the reals and a "sat" point is re-checked
in float32 by the caller.

A verifier implements `Verifier`; `sanp.prove.verifiers` names the ones sanp can use
(the registry, with the default) and builds them.

Example:
    >>> result = make_verifier().find_violation(query, timeout=5.0)
    >>> result.status, result.point
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from sanp.prove.network import PLNet
from sanp.prove.properties import Box, Linear

Status = Literal["sat", "unsat", "timeout", "error"]


@dataclass(frozen=True, eq=False)
class Query:
    """Does some x in `box` meeting `assumptions` give outputs meeting `violation`?"""

    nets: tuple[PLNet, ...]
    box: Box
    assumptions: tuple[Linear, ...]
    violation: tuple[tuple[Linear, ...], ...]

    @property
    def out_dim(self) -> int:
        return sum(n.out_dim for n in self.nets)

    def tightened(self, tau: float) -> Query:
        """The same query with every violation condition moved `tau` away from its
        boundary (ties and near-ties no longer count)."""
        moved = tuple(
            tuple(Linear(c.terms, c.op, c.rhs + tau if c.op == ">=" else c.rhs - tau) for c in conj)
            for conj in self.violation
        )
        return Query(self.nets, self.box, self.assumptions, moved)

    def on(self, box: Box) -> Query:
        return Query(self.nets, box, self.assumptions, self.violation)


@dataclass(frozen=True)
class QueryResult:
    """`point` is the input the verifier found (status "sat"), in float64."""

    status: Status
    point: tuple[float, ...] | None
    seconds: float
    message: str = ""


@runtime_checkable
class Verifier(Protocol):
    """A complete verifier for piecewise-linear queries."""

    name: str
    """Its name in the registry and on the command line (`--verifier NAME`)."""
    label: str
    """Its name for people, in pages and messages."""

    def describe(self) -> str:
        """What reports record of it: its name and version, e.g. "NAME (package 1.2)"."""
        ...

    def find_violation(self, query: Query, timeout: float) -> QueryResult:
        """Decide `query` within `timeout` seconds ("timeout" when it could not)."""
        ...
