"""The spec's `region` and `prop` statements as declarations (the JSON shape of
`sanp.prove.declarations`), so the spec and `--properties FILE.json` give the same
properties through one compiler.

    region lean_right: x in [0.5, 2.4], theta in [0.15, 0.2]
    prop push_right over lean_right: theta_dot >= 0.5 implies action == 1

becomes {"regions": {"lean_right": {"x": [0.5, 2.4], "theta": [0.15, 0.2]}},
"props": [{"name": "push_right", "over": "lean_right",
"assume": [{"terms": {"theta_dot": 1.0}, "op": ">=", "rhs": 0.5}],
"then": {"kind": "action", "op": "==", "value": 1.0}}]}.

Example:
    >>> props = properties_from_spec(stl.load("specs/cartpole.stl"), resolver)
"""
from __future__ import annotations

import re
from typing import Any

import stl
from stl import ast as A

from sanp.prove.declarations import compile_declarations
from sanp.prove.domain import Resolver
from sanp.prove.properties import Property, PropertyError

_FLIP = {"<=": ">=", ">=": "<=", "<": ">", ">": "<", "==": "==", "!=": "!="}
_INDEXED = re.compile(r"^(action|output)\[(\d+)\]$")


def properties_from_spec(spec: A.SpecFile, resolver: Resolver) -> list[Property]:
    """The spec's props as properties, names resolved by `resolver`.

    Raises PropertyError (with the prop's line:col) for a spec without props and for
    conclusions the prover cannot take (more than one output in one comparison)."""
    if not spec.properties:
        raise PropertyError(
            f"{spec.source}: no prop statements to prove; add e.g. `region r: x in [0, 1]` and "
            "`prop p over r: action == 1`, or give the properties as JSON with --properties FILE.json"
        )
    regions = {name: "visited" if r.visited else {s: list(b) for s, b in r.bounds.items()}
               for name, r in spec.regions.items()}
    return compile_declarations(regions, [_declaration(spec, p) for p in spec.properties.values()], resolver)


def _declaration(spec: A.SpecFile, p: A.Property) -> dict[str, Any]:
    where = f"{spec.source}:{p.line}:{p.column}: prop {p.name!r}"
    assume = []
    for cmp in p.assumptions:
        terms, op, rhs = stl.linear_constraint(cmp)
        if op == "!=":
            raise PropertyError(f"{where}: '!=' in an assumption is not a convex condition; "
                                "split the property into the '<' and '>' cases")
        assume.append({"terms": terms, "op": op, "rhs": rhs})
    return {"name": p.name, "over": p.region, "assume": assume, "then": _conclusion(spec, p.conclusion, where)}


def _conclusion(spec: A.SpecFile, c: A.Compare | A.Agrees, where: str) -> dict[str, Any]:
    if isinstance(c, A.Agrees):
        return {"kind": "agrees"} if c.within is None else {"kind": "agrees", "within": c.within}
    terms, op, rhs = stl.linear_constraint(c)
    if len(terms) != 1:
        raise PropertyError(f"{where}: the conclusion `{stl.format_node(c)}` compares "
                            f"{len(terms) or 'no'} policy outputs; the prover takes one (e.g. output[1] >= 0.5)")
    (var, coeff), = terms.items()
    value = rhs / coeff
    if coeff < 0:
        op = _FLIP[op]
    sig = spec.signals.get(var)
    if sig is not None:  # a signal bound to the action (the checker allows no other)
        var = "action" if sig.index is None else f"action[{sig.index}]"
    if var == "action":
        return {"kind": "action", "op": op, "value": value}
    m = _INDEXED.match(var)
    if m is None or op in ("==", "!="):
        raise PropertyError(f"{where}: the conclusion `{stl.format_node(c)}` is not one the prover takes; "
                            "use 'action == k', 'action != k', 'action[i] <= c' or 'output[i] >= c'")
    return {"kind": m.group(1), "index": int(m.group(2)), "op": op, "value": value}
