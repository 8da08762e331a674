"""The checking pass: statements from the parser -> a resolved, checked `SpecFile`.

Names are resolved (signal, const or an earlier requirement), expressions and
conditions are kept apart, numbers and intervals are range-checked, and every error
points at the offending token.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any

from lark import Token

from stl import ast as A
from stl.builder import FORMULA_KEYWORDS, MAX_DEPTH, RESERVED, RawNum, pos
from stl.errors import SpecError, did_you_mean
from stl.printer import format_node
from stl.properties import check_property, check_region

Resolved = tuple[A.Node, str, int]
"""(resolved node, 'expr' | 'formula', nesting depth)."""


# Signals are held in memory as [traces, steps] arrays: a longer episode is a mistake.
MAX_HORIZON = 1_000_000
# Each piece of a disturbance is one more dimension of the falsifier's search space.
MAX_PIECES = 100


class Checker:
    """Checks the statements of one spec text; `build` returns the `SpecFile`."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.seen_line: dict[str, int] = {}
        self.declared: dict[str, tuple[str, int]] = {}  # name -> (kind, line)
        self.positions: dict[str, tuple[int, int]] = {}
        self.env: tuple[str, dict] | None = None
        self.horizon: int | None = None
        self.reset_seed: int | None = None
        self.reward: float | None = None
        self.signals: dict[str, A.Signal] = {}
        self.consts: dict[str, float] = {}
        self.search: dict[str, tuple[float, float]] = {}
        self.disturbances: dict[str, A.Disturbance] = {}
        self.reqs: dict[str, A.Requirement] = {}
        self.regions: dict[str, A.Region] = {}
        self.props: dict[str, A.Property] = {}
        self.policy_refs_allowed = False  # set while checking a prop's conclusion

    def error(self, msg: str, at: Any, hint: str | None = None) -> SpecError:
        where = pos(at) if at is not None else {"line": 1, "column": 1}
        return SpecError(msg, source=self.source, text=self.text, hint=hint, **where)

    # ---- values
    def finite(self, n: RawNum, what: str) -> float:
        if not math.isfinite(n.value):
            raise self.error(f"{what} {n.text} is out of range", n.tok,
                             "numbers must be finite double-precision values")
        return n.value

    def whole(self, n: RawNum, what: str, minimum: int) -> int:
        value = self.finite(n, what)
        if not float(value).is_integer():
            raise self.error(f"{what} must be a whole number, got {n.text}", n.tok)
        if value < minimum:
            raise self.error(f"{what} must be at least {minimum}, got {n.text}", n.tok)
        return int(value)

    def interval(self, raw: Any) -> A.Interval | None:
        if raw is None:
            return None
        _, lo, hi = raw
        if isinstance(lo, Token):  # inf
            raise self.error("an interval cannot start at inf", lo,
                             "write [a:b] or [a:inf] with a a whole number of steps")
        lo_v = self.bound(lo, "interval start")
        hi_v = None if isinstance(hi, Token) else self.bound(hi, "interval end")
        if hi_v is not None and lo_v > hi_v:
            raise self.error(f"empty interval [{lo_v}:{hi_v}]: the start is after the end", lo.tok,
                             f"write [{hi_v}:{lo_v}]")
        return A.Interval(lo_v, hi_v)

    def bound(self, n: RawNum, what: str) -> int:
        if not math.isfinite(n.value):
            raise self.error(f"{what} {n.text} is out of range", n.tok, "use inf for no end")
        if not float(n.value).is_integer():
            raise self.error(f"{what} must be a whole number of steps, got {n.text}",
                             n.tok, "time is discrete: bounds count steps")
        if n.value < 0:
            raise self.error(f"{what} must not be negative, got {n.text}", n.tok,
                             "past operators (historically, once, since, prev) look back")
        return int(n.value)

    def env_value(self, val: Any) -> bool | int | float | str:
        if isinstance(val, RawNum):
            v = self.finite(val, "env argument")
            return int(v) if val.is_int else v
        if val.type == "TRUE":
            return True
        if val.type == "FALSE":
            return False
        return _unquote(str(val))

    # ---- formulas
    def resolve(self, node: A.Node, scope: dict[str, Any], req_name: str,
                later: dict[str, int]) -> Resolved:
        """Resolve names under `node` and check that numbers and conditions meet right."""
        if isinstance(node, A.Num):
            if not math.isfinite(node.value):
                raise self.error("number is out of range", node)
            return node, "expr", 1
        if isinstance(node, A.BoolConst):
            return node, "formula", 1
        if isinstance(node, A.SignalRef):
            return self.resolve_name(node, scope, req_name, later)
        if isinstance(node, (A.ActionRef, A.OutputRef)):
            return self.resolve_policy_ref(node), "expr", 1
        kids = node.children()
        resolved = [self.resolve(k, scope, req_name, later) for k in kids]
        depth = 1 + max(r[2] for r in resolved)
        if depth > MAX_DEPTH:
            raise self.error(f"formula nested too deeply (more than {MAX_DEPTH} levels, "
                             "counting the requirements it uses)", node,
                             "split it into several requirements")
        wants = "expr" if isinstance(node, A.EXPR_TYPES + (A.Compare,)) else "formula"
        for (sub, kind, _), orig in zip(resolved, kids):
            if kind == wants:
                continue
            if wants == "expr":
                raise self.error(f"expected a number here, but `{format_node(sub)}` is a "
                                 "condition", orig, "arithmetic and comparisons work on numbers")
            raise self.error(f"expected a condition here, but `{format_node(sub)}` is a number",
                             orig, f"compare it, e.g. `{format_node(sub)} > 0`")
        rebuilt = self.rebuild(node, [r[0] for r in resolved])
        return rebuilt, "formula" if isinstance(rebuilt, A.FORMULA_TYPES) else "expr", depth

    def resolve_name(self, node: A.SignalRef, scope: dict[str, Any], req_name: str,
                     later: dict[str, int]) -> Resolved:
        name = node.name
        at = {"line": node.line, "column": node.column}
        entry = scope.get(name)
        if entry is None:
            if name == req_name:
                raise self.error(f"requirement '{name}' refers to itself", node)
            if name in later:
                raise self.error(f"requirement '{name}' is defined later (line {later[name]})",
                                 node, "a requirement may only use requirements defined above it")
            hint = did_you_mean(name, list(scope) + list(FORMULA_KEYWORDS))
            raise self.error(f"unknown name '{name}'", node,
                             hint or "declare it with `signal`, `const` or `req`")
        kind, value = entry
        if kind == "signal":
            return A.SignalRef(name, **at), "expr", 1
        if kind == "const":
            return A.ConstRef(name, value, **at), "expr", 1
        return A.ReqRef(name, value.formula, **at), "formula", 1 + getattr(value, "_depth", 1)

    def resolve_policy_ref(self, node: A.ActionRef | A.OutputRef) -> A.Node:
        """`action`, `action[i]`, `output[i]`: allowed in a prop's conclusion only."""
        what = "output" if isinstance(node, A.OutputRef) else "action"
        raw = getattr(node, "_raw_index", None)
        text = what if raw is None else f"{what}[{raw.text}]"
        if not self.policy_refs_allowed:
            hint = (f"declare a signal, e.g. `signal a = {text}`, and use its name"
                    if what == "action" else "network outputs can only be used in a prop")
            raise self.error(f"`{text}` can only be used in the conclusion of a prop", node,
                             hint)
        index = None if raw is None else self.whole(raw, f"{what} index", 0)
        at = {"line": node.line, "column": node.column}
        return A.OutputRef(index, **at) if what == "output" else A.ActionRef(index, **at)

    def rebuild(self, node: A.Node, subs: list[A.Node]) -> A.Node:
        """`node` again with its children replaced by `subs` (and its interval checked)."""
        at = {"line": node.line, "column": node.column}
        if isinstance(node, (A.Neg, A.Abs, A.Not)):
            return type(node)(subs[0], **at)
        if isinstance(node, (A.Arith, A.Compare, A.Binary)):
            return type(node)(node.op, subs[0], subs[1], **at)
        iv = self.interval(getattr(node, "_raw_interval", None))
        if isinstance(node, A.Temporal):
            return A.Temporal(node.op, subs[0], iv, **at)
        if isinstance(node, A.TemporalBinary):
            return A.TemporalBinary(node.op, subs[0], subs[1], iv, **at)
        raise TypeError(node)  # pragma: no cover

    # ---- statements
    def once(self, kind: str, kw: Token) -> None:
        if kind in self.seen_line:
            raise self.error(f"duplicate '{kind}' line", kw,
                             f"'{kind}' was already given at line {self.seen_line[kind]}")
        self.seen_line[kind] = kw.line
        self.positions[kind] = (kw.line, kw.column)

    def declare(self, tok: Token, kind: str) -> str:
        name = str(tok)
        if name in RESERVED:
            raise self.error(f"'{name}' is a reserved word and cannot name a {kind}", tok,
                             f"pick another name, e.g. '{name}_'")
        if name in self.declared:
            other, line = self.declared[name]
            raise self.error(f"duplicate name '{name}'", tok,
                             f"'{name}' is already declared as a {other} at line {line}")
        self.declared[name] = (kind, tok.line)
        self.positions[name] = (tok.line, tok.column)
        return name

    def stmt_env(self, kw: Token, env_id: Token, args: list) -> None:
        self.once("env", kw)
        kwargs: dict[str, bool | int | float | str] = {}
        for name_tok, val in args:
            key = str(name_tok)
            if key in kwargs:
                raise self.error(f"duplicate env argument '{key}'", name_tok)
            kwargs[key] = self.env_value(val)
        self.env = (str(env_id), kwargs)

    def stmt_horizon(self, kw: Token, n: RawNum) -> None:
        self.once("horizon", kw)
        self.horizon = self.whole(n, "horizon", 1)
        if self.horizon > MAX_HORIZON:
            raise self.error(f"horizon {n.text} is over the limit of {MAX_HORIZON:,} steps",
                             n.tok, "split the episode, or evaluate fewer steps")

    def stmt_reset_seed(self, kw: Token, n: RawNum) -> None:
        self.once("reset_seed", kw)
        self.reset_seed = self.whole(n, "reset_seed", 0)
        if self.reset_seed >= 2**63:
            raise self.error(f"reset_seed {n.text} is over the limit of 2**63 - 1", n.tok)

    def stmt_reward(self, kw: Token, op: Token, n: RawNum) -> None:
        self.once("reward", kw)
        if str(op) != ">=":
            raise self.error(f"the reward line takes '>=', not '{op}'", op,
                             "write `reward >= 195`")
        self.reward = self.finite(n, "reward threshold")

    def stmt_signal(self, kw: Token, name_tok: Token, src: tuple) -> None:
        source, _src_tok, idx = src
        name = self.declare(name_tok, "signal")
        index = None if idx is None else self.whole(idx, f"{source} index", 0)
        self.signals[name] = A.Signal(name, source, index)

    def stmt_const(self, kw: Token, name_tok: Token, n: RawNum) -> None:
        self.consts[self.declare(name_tok, "const")] = self.finite(n, "constant")

    def stmt_search(self, kw: Token, name_tok: Token, lo: RawNum, hi: RawNum) -> None:
        name = str(name_tok)
        key = f"search:{name}"
        if key in self.positions:
            raise self.error(f"duplicate search range for '{name}'", name_tok,
                             f"first given at line {self.positions[key][0]}")
        lo_v, hi_v = self.finite(lo, "search bound"), self.finite(hi, "search bound")
        if lo_v > hi_v:
            raise self.error(f"empty search range [{lo_v}, {hi_v}]: lo is above hi",
                             lo.tok, f"write [{hi_v}, {lo_v}]")
        if not math.isfinite(hi_v - lo_v):
            raise self.error(f"search range [{lo_v:g}, {hi_v:g}] is wider than a float can span",
                             lo.tok, "give bounds that the environment can actually take")
        self.search[name] = (lo_v, hi_v)
        self.positions[key] = (name_tok.line, name_tok.column)

    def stmt_disturb(self, kw: Token, name_tok: Token, lo: RawNum, hi: RawNum, k: RawNum) -> None:
        name = str(name_tok)
        key = f"disturb:{name}"
        if key in self.positions:
            raise self.error(f"duplicate disturbance '{name}'", name_tok,
                             f"first given at line {self.positions[key][0]}")
        lo_v, hi_v = self.finite(lo, "disturbance bound"), self.finite(hi, "disturbance bound")
        if lo_v > hi_v:
            raise self.error(f"empty disturbance range [{lo_v:g}, {hi_v:g}]: lo is above hi",
                             lo.tok, f"write [{hi_v:g}, {lo_v:g}]")
        if not math.isfinite(hi_v - lo_v):
            raise self.error(f"disturbance range [{lo_v:g}, {hi_v:g}] is wider than a float can span",
                             lo.tok, "give bounds that the environment can actually take")
        pieces = self.whole(k, "number of pieces", 1)
        if pieces > MAX_PIECES:
            raise self.error(f"{pieces} pieces is over the limit of {MAX_PIECES}", k.tok,
                             "each piece is one more search dimension: use fewer, longer pieces")
        self.disturbances[name] = A.Disturbance(name, lo_v, hi_v, pieces,
                                                line=name_tok.line, column=name_tok.column)
        self.positions[key] = (name_tok.line, name_tok.column)

    def const_scope(self) -> dict[str, Any]:
        """Names a formula may use besides requirements: the signals and consts."""
        scope: dict[str, Any] = {n: ("signal", None) for n in self.signals}
        scope.update({n: ("const", v) for n, v in self.consts.items()})
        return scope

    def requirements(self, stmts: list[tuple]) -> None:
        req_lines = {str(s[2]): s[2].line for s in stmts if s[0] == "req"}
        scope = self.const_scope()
        for _, _kw, name_tok, formula in (s for s in stmts if s[0] == "req"):
            name = self.declare(name_tok, "requirement")
            # names already in scope never reach this lookup, so it only finds later ones
            node, kind, depth = self.resolve(formula, scope, name, req_lines)
            if kind != "formula":
                raise self.error(f"requirement '{name}' is a number, not a condition", formula,
                                 f"compare it, e.g. `{format_node(node)} <= 1`")
            req = A.Requirement(name, node, line=name_tok.line, column=name_tok.column)
            object.__setattr__(req, "_depth", depth)
            self.reqs[name] = req
            scope[name] = ("req", req)

    # ---- the file
    def build(self, stmts: list[tuple]) -> A.SpecFile:
        """The checked SpecFile of the parser's statements (raises SpecError)."""
        # declarations first, so a requirement may use signals and consts declared anywhere
        for st in stmts:
            if st[0] not in ("req", "region", "prop"):
                getattr(self, f"stmt_{st[0]}")(*st[1:])
        self.requirements(stmts)
        for st in stmts:  # after every signal, const and requirement they may name
            if st[0] == "region":
                self.regions[str(st[2])] = check_region(self, *st[1:])
        for st in stmts:
            if st[0] == "prop":
                self.props[str(st[2])] = check_property(self, *st[1:])
        if self.env is None:
            raise self.error("missing 'env' line", None,
                             "start the spec with the environment, e.g. `env CartPole-v1`")
        if not self.reqs and not self.props:
            last = max(1, len(self.text.rstrip("\n").split("\n")))
            raise SpecError("the spec has no requirement", line=last, column=1,
                            source=self.source, text=self.text,
                            hint="add one, e.g. `req safe: always (abs(x) <= 1)`")
        return A.SpecFile(
            env_id=self.env[0], env_kwargs=self.env[1], horizon=self.horizon, reset_seed=self.reset_seed,
            reward_threshold=self.reward, signals=self.signals, consts=self.consts,
            search=self.search, disturbances=self.disturbances, requirements=self.reqs, regions=self.regions,
            properties=self.props, source=self.source, text=self.text,
            sha256=hashlib.sha256(self.text.encode("utf-8")).hexdigest(),
            positions=self.positions,
        )


def _unquote(s: str) -> str:
    body = s[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            out.append({"n": "\n", "t": "\t"}.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)
