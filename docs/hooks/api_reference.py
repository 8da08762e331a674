"""MkDocs hook: the `sanp` top level on the Python API page, one section per name.

`sanp/__init__.py` may export its names lazily (a module `__getattr__`), which static
analysis cannot follow, so `::: sanp` alone would not show them. At build time this
hook replaces the marker `<!-- api-top-level -->` in docs/reference/api.md with a
`::: module.name` block for every callable or class in `sanp.__all__`, at the module
that defines it; mkdocstrings then renders each from its docstring (strict mode fails
on one it cannot find).
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any

MARKER = "<!-- api-top-level -->"


def _where(package: Any, name: str) -> str | None:
    """Dotted path of the object `package.name` is, or None for plain values."""
    lazy = getattr(package, "_API", {})
    if name in lazy:  # the module the package's lazy loader takes the name from
        module = importlib.import_module(lazy[name])
        if hasattr(module, name) and not inspect.ismodule(getattr(module, name)):
            return f"{lazy[name]}.{name}"
    value = getattr(package, name)
    if inspect.ismodule(value) or not (inspect.isclass(value) or callable(value)):
        return None
    return f"{value.__module__}.{value.__qualname__}"


def top_level() -> str:
    import sanp

    lines: list[str] = []
    for name in getattr(sanp, "__all__", []):
        path = _where(sanp, name)
        if path is None:
            continue
        lines += [f"### `sanp.{name}`", "", f"::: {path}", "    options:",
                  "      heading_level: 4", "      show_root_heading: true",
                  "      show_root_full_path: false", ""]
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, top_level())
