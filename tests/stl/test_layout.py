"""The stl package's shape: the AST is data (circles and sizes: tests/sanp/test_package_layout.py)."""
from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

import stl

PKG = Path(stl.__file__).parent
MODULES = sorted(p.stem for p in PKG.glob("*.py") if p.stem != "__init__")


def stl_imports(module: str) -> set[str]:
    """The stl modules `module` imports, at any depth of its code (lazy imports count)."""
    tree = ast.parse((PKG / f"{module}.py").read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stl"):
            names = [node.module.split(".", 1)[1]] if "." in node.module else [
                a.name for a in node.names]
            out.update(n for n in names if n in MODULES)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".", 1)[1] for a in node.names
                       if a.name.startswith("stl.") and a.name.split(".", 1)[1] in MODULES)
    return out


def test_the_ast_imports_no_other_stl_module():
    assert stl_imports("ast") == set()


@pytest.mark.parametrize("module", ["printer", "predicates", "robustness", "rtamt_backend", "linear",
                                    "parser"])
def test_docstring_examples_run(module, monkeypatch):
    monkeypatch.chdir(PKG.parent)
    mod = importlib.import_module(f"stl.{module}")
    result = doctest.testmod(mod, extraglobs={"stl": stl}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
