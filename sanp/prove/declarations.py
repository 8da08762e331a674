"""Properties from plain declarations (names, not indices), the shape of the spec
language's `region` and `prop` statements:

    region lean_right: x in [0.5, 2.4], theta in [0.05, 0.2]
    region domain: visited
    prop push_right over lean_right: theta_dot >= 0.5 implies action == 1

is, as data (and as the JSON file `sanp prove --properties` reads),

    {"regions": {"lean_right": {"x": [0.5, 2.4], "theta": [0.05, 0.2]}, "domain": "visited"},
     "props": [{"name": "push_right", "over": "lean_right",
                "assume": [{"terms": {"theta_dot": 1}, "op": ">=", "rhs": 0.5}],
                "then": {"kind": "action", "op": "==", "value": 1}}]}

Conclusions ("then"): {"kind": "action", "op": "==" | "!=", "value": k};
{"kind": "action", "index": i, "op": "<=" | ">=" | "<" | ">", "value": c};
{"kind": "output", "index": i, "op": ..., "value": c}; {"kind": "agrees"};
{"kind": "agrees", "within": eps}.

Example:
    >>> props = compile_declarations(doc["regions"], doc["props"], resolver)
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sanp.prove.domain import Resolver
from sanp.prove.properties import (
    ActionBound,
    ActionIs,
    Agrees,
    Box,
    Conclusion,
    OutputBound,
    Property,
    PropertyError,
)

VISITED = "visited"


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PropertyError(f"{what}: expected a number, got {value!r}")
    return float(value)


def compile_regions(regions: Mapping[str, Any], resolver: Resolver) -> dict[str, Box]:
    """name -> Box; a region is {signal: [lo, hi], ...} or "visited"."""
    out: dict[str, Box] = {}
    for name, body in regions.items():
        if body == VISITED:
            out[name] = resolver.visited()
        elif isinstance(body, Mapping) and body:
            ranges = {}
            for sig, rng in body.items():
                if not isinstance(rng, Sequence) or isinstance(rng, str) or len(rng) != 2:
                    raise PropertyError(f"region {name!r}: {sig} needs [lo, hi], got {rng!r}")
                ranges[sig] = (_number(rng[0], f"region {name!r}"), _number(rng[1], f"region {name!r}"))
            out[name] = resolver.region(ranges)
        else:
            raise PropertyError(f"region {name!r}: expected {{signal: [lo, hi], ...}} or \"visited\", got {body!r}")
    return out


def compile_conclusion(then: Mapping[str, Any], where: str) -> Conclusion:
    """A conclusion from its declaration (see the module docstring)."""
    kind, op = then.get("kind"), then.get("op")
    if kind == "agrees":
        within = then.get("within")
        return Agrees(None if within is None else _number(within, where))
    if kind not in ("action", "output"):
        raise PropertyError(f"{where}: conclusion kind must be action, output or agrees, got {kind!r}")
    value = _number(then.get("value"), where)
    if kind == "action" and "index" not in then:
        if op not in ("==", "!=") or not math.isfinite(value) or value != int(value):
            raise PropertyError(f"{where}: a discrete action conclusion is 'action == k' or 'action != k'")
        return ActionIs(int(value), op == "==")
    index = then.get("index", None)
    if not isinstance(index, int) or isinstance(index, bool):
        raise PropertyError(f"{where}: {kind}[i] needs a whole-number index, got {index!r}")
    if op not in ("<=", ">=", "<", ">"):
        raise PropertyError(f"{where}: {kind}[{index}] takes <=, >=, < or >, got {op!r}")
    return (ActionBound if kind == "action" else OutputBound)(index, op, value)


def compile_declarations(regions: Mapping[str, Any], props: Sequence[Mapping[str, Any]],
                         resolver: Resolver) -> list[Property]:
    """Properties from region and prop declarations, names resolved by `resolver`."""
    boxes = compile_regions(regions, resolver)
    out: list[Property] = []
    seen: set[str] = set()
    for p in props:
        if not isinstance(p, Mapping):
            raise PropertyError(f"a prop is {{\"name\", \"over\", \"then\"}}, got {str(p)[:80]}")
        name = p.get("name")
        if not isinstance(name, str) or not name:
            raise PropertyError(f"a prop needs a name, got {p!r}")
        if name in seen:
            raise PropertyError(f"prop {name!r} declared twice")
        seen.add(name)
        where = f"prop {name!r}"
        over = p.get("over")
        if over not in boxes:
            raise PropertyError(f"{where}: unknown region {over!r} (have {', '.join(boxes) or 'none'})")
        assume = []
        for a in p.get("assume", []):
            if not isinstance(a, Mapping) or not isinstance(a.get("terms"), Mapping):
                raise PropertyError(f"{where}: an assumption is {{\"terms\": {{signal: coeff}}, \"op\", \"rhs\"}}")
            terms = {k: _number(v, where) for k, v in a["terms"].items()}
            assume.append(resolver.linear(terms, a.get("op"), _number(a.get("rhs"), where)))
        if not isinstance(p.get("then"), Mapping):
            raise PropertyError(f"{where}: missing conclusion 'then'")
        out.append(Property(name, boxes[over], compile_conclusion(p["then"], where), tuple(assume), over))
    if not out:
        raise PropertyError("no properties to prove: declare at least one prop")
    return out


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """The declarations document of a JSON file, read within sanp's limits: a regular file
    of at most SANP_MAX_PROPERTIES_BYTES, nested at most SANP_MAX_JSON_DEPTH deep (checked
    before parsing, so no nesting reaches the parser's recursion), with at most
    SANP_MAX_PROPS props (a spec stops at 2000 statements)."""
    from sanp.limits import limit, read_bounded
    from sanp.jsonio import json_depth

    p = Path(path)
    data = read_bounded(p, "MAX_PROPERTIES_BYTES", "JSON declarations file", PropertyError)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PropertyError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    depth, most = json_depth(text), limit("MAX_JSON_DEPTH")
    if depth > most:
        raise PropertyError(f"{p}: JSON nested {depth:,} levels deep, over sanp's limit of {most} "
                            "(declarations need 5); raise it with SANP_MAX_JSON_DEPTH=N")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PropertyError(f"{p}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # an integer of over 4300 digits
        raise PropertyError(f"{p}: not valid JSON ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("props"), list):
        raise PropertyError(f"{p}: expected {{\"regions\": {{...}}, \"props\": [...]}}")
    if not isinstance(doc.get("regions", {}), Mapping):
        raise PropertyError(f"{p}: \"regions\" must be an object {{name: {{signal: [lo, hi]}}}}")
    most = limit("MAX_PROPS")
    if len(doc["props"]) > most:
        raise PropertyError(f"{p}: {len(doc['props']):,} props, over sanp's limit of {most:,}; "
                            "split them over several files or raise it with SANP_MAX_PROPS=N")
    return dict(doc)


def load_json(path: str | os.PathLike, resolver: Resolver) -> list[Property]:
    """Properties from a JSON file of declarations (see `read_json` for its limits)."""
    doc = read_json(path)
    return compile_declarations(doc.get("regions", {}), doc["props"], resolver)
