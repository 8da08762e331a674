"""The repository's shape (issues 16, 31): no import circle among the modules of `sanp`
and `stl` (lazy imports inside functions count), `stl` never imports `sanp`, no module
imports a higher layer (`LAYERS`), no module over 400 lines and no function body over 60
lines (docstrings not counted)."""
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


LAYERS: list[tuple[str, set[str]]] = [
    ("base", {"sanp.errors", "sanp.types", "sanp.version", "sanp.limits", "sanp.extras", "sanp.plugins",
              "sanp.atomic", "sanp.jsonio", "sanp.stats", "sanp.provenance", "sanp.schemas", "sanp.seeds"}),
    ("spec language", {"stl"}),
    ("policies", {"sanp.model", "sanp.formats", "sanp.compact", "sanp.runtime"}),
    ("envs", {"sanp.envs", "sanp.horizon", "sanp.backends"}),
    ("rollout", {"sanp.rollout", "sanp.banks"}),
    ("falsify", {"sanp.falsify", "sanp.proposers"}),
    ("method", {"sanp.method"}),
    ("prove", {"sanp.prove", "sanp.reach"}),
    ("report", {"sanp.report", "sanp.console", "sanp.progress"}),
    ("commands", {"sanp.commands"}),
    ("cli", {"sanp.cli_options", "sanp.cli_parser", "sanp.options", "sanp.cli"}),
    ("api", {"sanp.api", "sanp.results", "sanp"}),
]
"""The layers, lowest first: a module may import its own layer and those below. An
entry names a module or a package (and so every module in it); a new module or package
gets a line here."""

UPWARD_ALLOWED = {
    ("sanp.prove", "sanp.api"): "calling the package sanp.prove calls sanp.api.prove (a lazy import in "
                                "__call__), so that the function and the package mean the same",
}
"""The only imports of a higher layer, each with its reason."""


def layer_of(module: str, layers: list[tuple[str, set[str]]] = LAYERS) -> int | None:
    """The index of the layer whose entry is `module` or the package holding it (the
    longest such entry), None when no entry covers it."""
    best: tuple[int, int] | None = None
    for i, (_, names) in enumerate(layers):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > best[1]):
                best = (i, len(name))
    return None if best is None else best[0]


def upward(graph: dict[str, set[str]], layers: list[tuple[str, set[str]]] = LAYERS) -> list[str]:
    """Every import of a higher layer, as `importer (layer) -> imported (layer)`."""
    out = []
    for m in sorted(graph):
        for n in sorted(graph[m]):
            lm, ln = layer_of(m, layers), layer_of(n, layers)
            if lm is not None and ln is not None and ln > lm and (m, n) not in UPWARD_ALLOWED:
                out.append(f"{m} ({layers[lm][0]}) -> {n} ({layers[ln][0]})")
    return out


def test_the_layer_check_finds_an_upward_import():
    layers = [("low", {"p.a"}), ("high", {"p.b"})]
    assert upward({"p.a.x": {"p.b"}, "p.b": {"p.a.x"}}, layers) == ["p.a.x (low) -> p.b (high)"]
    assert upward({"p.b.y": {"p.a"}}, layers) == []
    assert layer_of("p.c", layers) is None


def test_every_module_has_a_layer():
    assert [m for m in sorted(MODULES) if layer_of(m) is None] == [], "add it to LAYERS"


def test_no_module_imports_a_higher_layer():
    graph = {m: imports(p) for m, p in MODULES.items()}
    assert upward(graph) == []


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


def test_the_wheel_lists_every_package():
    """pyproject names its packages one by one; a new package missing there is left out
    of the wheel (the wheel check would fail only after building it)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(p) for p in FILES if p.name == "__init__.py"}
    assert found - listed == set(), f"packages missing from pyproject's [tool.setuptools] packages: {found - listed}"
