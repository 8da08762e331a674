"""The repository's shape (issue 16): no import circle among the modules of `sanp` and
`stl` (lazy imports inside functions count), `stl` never imports `sanp`, no module over
400 lines and no function body over 60 lines (docstrings not counted)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p for pkg in ("sanp", "stl") for p in (ROOT / pkg).rglob("*.py"))


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


MODULES = {module_name(p): p for p in FILES}


def imports(path: Path) -> set[str]:
    """The sanp/stl modules a file imports: `from a.b import c` counts as a.b.c where
    that is a module, else a.b."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in MODULES} - {module_name(path)}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, as the path that closes it (depth-first search)."""
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(m: str, path: list[str]) -> None:
        if state.get(m) == 1:
            found.append(path[path.index(m):] + [m])
            return
        if state.get(m) == 2:
            return
        state[m] = 1
        for n in sorted(graph[m]):
            visit(n, path + [m])
        state[m] = 2

    for m in sorted(graph):
        visit(m, [])
    return found


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_sanp_or_stl():
    graph = {m: imports(p) for m, p in MODULES.items()}
    assert circles(graph) == []


def test_stl_never_imports_sanp():
    for m, p in MODULES.items():
        if m.split(".")[0] == "stl":
            assert not {i for i in imports(p) if i.split(".")[0] == "sanp"}, m


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small(name):
    assert len(MODULES[name].read_text().splitlines()) <= 400


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1 if body else 0


def test_no_function_over_60_lines():
    long = [f"{module_name(p)}.{n.name}: {_body_lines(n)} lines" for p in FILES
            for n in ast.walk(ast.parse(p.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(n) > 60]
    assert long == []
