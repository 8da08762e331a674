"""Checks for `region` and `prop` statements: one-step properties over observation boxes.

    region lean_right: x in [0.5, 2.4], theta in [0.05, 0.2]
    region domain: visited
    prop push_right over lean_right: theta_dot >= 0.5 implies action == 1
    prop bounded over domain: action[0] <= 0.9
    prop same_as_dense over domain: agrees within 0.05

A property's assumptions are a conjunction of linear comparisons over observation
signals and consts; its conclusion is one linear comparison over the policy's action
(`action`, `action[i]`, or signals bound to it) or raw outputs (`output[i]`), or
`agrees [within d]` against a reference policy. Anything else is refused at its
line:col: a verifier can only take linear constraints over one step.

The functions take the `stl.checker.Checker` of the spec being checked (for its
scope, its error positions and its number checks).
"""
from __future__ import annotations

from typing import Any

from lark import Token

from stl import ast as A
from stl.errors import did_you_mean
from stl.printer import format_node


def check_region(ck: Any, kw: Token, name_tok: Token, ranges: list | None) -> A.Region:
    """The Region of `region NAME: x in [lo, hi], ...` or `region NAME: visited`."""
    name = ck.declare(name_tok, "region")
    where = {"line": name_tok.line, "column": name_tok.column}
    if ranges is None:
        return A.Region(name, {}, visited=True, **where)
    bounds: dict[str, tuple[float, float]] = {}
    for sig_tok, lo, hi in ranges:
        sig = str(sig_tok)
        _observation_signal(ck, sig, sig_tok, "a region")
        if sig in bounds:
            raise ck.error(f"'{sig}' is bounded twice in region '{name}'", sig_tok,
                           "give each signal one range")
        lo_v, hi_v = ck.finite(lo, "region bound"), ck.finite(hi, "region bound")
        if lo_v > hi_v:
            raise ck.error(f"empty range [{lo_v}, {hi_v}] for '{sig}': lo is above hi", lo.tok,
                           f"write [{hi_v}, {lo_v}]")
        bounds[sig] = (lo_v, hi_v)
    return A.Region(name, bounds, **where)


def check_property(ck: Any, kw: Token, name_tok: Token, region_tok: Token,
                   body: A.Node | tuple) -> A.Property:
    """The Property of `prop NAME over REGION: ...`."""
    name = ck.declare(name_tok, "prop")
    region = str(region_tok)
    if region not in ck.regions:
        hint = did_you_mean(region, ck.regions) or "declare it first with `region NAME: ...`"
        raise ck.error(f"unknown region '{region}'", region_tok, hint)
    where = {"line": name_tok.line, "column": name_tok.column}
    if isinstance(body, tuple):  # agrees [within d]
        agrees_tok, eps = body
        within = None
        if eps is not None:
            within = ck.finite(eps, "agreement distance")
            if within < 0:
                raise ck.error(f"the agreement distance must not be negative, got {eps.text}",
                               eps.tok)
        at = {"line": agrees_tok.line, "column": agrees_tok.column}
        return A.Property(name, region, (), A.Agrees(within, **at), **where)
    if isinstance(body, A.Binary) and body.op == "implies":
        assumptions = tuple(_assumption(ck, c) for c in _conjuncts(ck, body.left))
        conclusion = _conclusion(ck, body.right)
    else:
        assumptions, conclusion = (), _conclusion(ck, body)
    return A.Property(name, region, assumptions, conclusion, **where)


# ------------------------------------------------------------------ parts
def _observation_signal(ck: Any, name: str, at: Any, where: str) -> None:
    sig = ck.signals.get(name)
    if sig is None:
        hint = did_you_mean(name, ck.signals) or "declare it with `signal NAME = obs[i]`"
        raise ck.error(f"unknown signal '{name}'", at, hint)
    if sig.source != "obs":
        bound = "reward" if sig.source == "reward" else (
            "action" if sig.index is None else f"action[{sig.index}]")
        raise ck.error(f"'{name}' is bound to {bound}, not to an observation: {where} can "
                       "only constrain observations", at,
                       "a prop's conclusion is where the action goes")


def _conjuncts(ck: Any, node: A.Node) -> list[A.Node]:
    """The operands of a chain of `and` (only `and`: a verifier takes a conjunction)."""
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, A.Binary) and n.op == "and":
            stack.extend((n.right, n.left))
        elif isinstance(n, (A.Binary, A.Not)):
            op = n.op if isinstance(n, A.Binary) else "not"
            raise ck.error(f"'{op}' in a prop's assumptions: only 'and' of comparisons is "
                           "allowed", n, "split the property, one per case")
        else:
            out.append(n)
    return out


def _comparison(ck: Any, node: A.Node, part: str) -> A.Compare:
    if isinstance(node, (A.Temporal, A.TemporalBinary)):
        raise ck.error(f"temporal operator '{node.op}' in a prop: a prop is about one step",
                       node, "use a `req` for properties over time")
    if not isinstance(node, A.Compare):
        raise ck.error(f"a prop's {part} must be a comparison, got `{format_node(node)}`",
                       node, "e.g. `theta >= 0.05` or `action == 1`")
    return node


def _assumption(ck: Any, node: A.Node) -> A.Compare:
    cmp = _comparison(ck, node, "assumptions")
    resolved, _, _ = ck.resolve(cmp, ck.const_scope(), "", {})
    for n in A.walk(resolved):
        if isinstance(n, (A.ActionRef, A.OutputRef)):  # pragma: no cover - refused earlier
            raise ck.error("the action in a prop's assumptions", n)
        if isinstance(n, A.SignalRef):
            _observation_signal(ck, n.name, n, "an assumption")
    _linear(ck, resolved.left)
    _linear(ck, resolved.right)
    return resolved


def _conclusion(ck: Any, node: A.Node) -> A.Compare:
    cmp = _comparison(ck, node, "conclusion")
    ck.policy_refs_allowed = True
    try:
        resolved, _, _ = ck.resolve(cmp, ck.const_scope(), "", {})
    finally:
        ck.policy_refs_allowed = False
    on_policy = False
    for n in A.walk(resolved):
        if isinstance(n, (A.ActionRef, A.OutputRef)):
            on_policy = True
        elif isinstance(n, A.SignalRef):
            if ck.signals[n.name].source != "action":
                raise ck.error(f"'{n.name}' is not the action: a prop's conclusion is a "
                               "condition on the action or the network's outputs", n,
                               "move conditions on observations before 'implies'")
            on_policy = True
    if not on_policy:
        raise ck.error("a prop's conclusion must name the action (`action`, `action[i]`, a "
                       "signal bound to it) or an output (`output[i]`)", resolved)
    _linear(ck, resolved.left)
    _linear(ck, resolved.right)
    return resolved


def _linear(ck: Any, node: A.Node) -> int:
    """The degree of `node` (0 constant, 1 linear); refuses anything non-linear."""
    if isinstance(node, (A.Num, A.ConstRef)):
        return 0
    if isinstance(node, (A.SignalRef, A.ActionRef, A.OutputRef)):
        return 1
    if isinstance(node, A.Neg):
        return _linear(ck, node.operand)
    if isinstance(node, A.Abs):
        if _linear(ck, node.operand) == 0:
            return 0
        raise ck.error(f"`{format_node(node)}` is not linear", node,
                       "write `-a <= x and x <= a` for `abs(x) <= a`, or split the region")
    assert isinstance(node, A.Arith)
    left, right = _linear(ck, node.left), _linear(ck, node.right)
    if node.op in "+-":
        return max(left, right)
    if node.op == "*" and left + right <= 1:
        return left + right
    if node.op == "/" and right == 0:
        return left
    raise ck.error(f"`{format_node(node)}` is not linear", node,
                   "multiply or divide only by numbers and consts")
