"""The formats layer's shape: the model depends on no format and no runtime, and each
format depends on the model (and shared helpers) but never on the runtime or the CLI.
Circles and module sizes are checked for the whole package in test_package_layout.py."""
from __future__ import annotations

import ast
from pathlib import Path

SANP = Path(__file__).resolve().parents[3] / "sanp"
OWN = ["model.py", "runtime.py", *(f"formats/{p.name}" for p in sorted((SANP / "formats").glob("*.py")))]


def module_name(rel: str) -> str:
    name = "sanp." + rel[:-3].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def imports(rel: str) -> set[str]:
    """Every sanp module `rel` imports, at the top or inside a function."""
    out = set()
    for node in ast.walk(ast.parse((SANP / rel).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sanp"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("sanp")}
    return out - {"sanp"}


def test_model_depends_on_no_format_and_formats_not_on_the_runtime():
    assert not {m for m in imports("model.py") if m.startswith(("sanp.formats", "sanp.runtime"))}
    for rel in OWN:
        if rel.startswith("formats/"):
            assert "sanp.runtime" not in imports(rel), rel
            assert "sanp.cli" not in imports(rel), rel
