"""The documentation site builds in strict mode (as `make docs` does).

Strict mode turns every MkDocs warning into a failure: a broken link or anchor, a page
missing from the nav, an object `::: name` that mkdocstrings cannot import. The CLI
reference page is generated from sanp's parser during the build, so this also checks
that every command and option is documented there.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

for _module in ("mkdocs", "material", "mkdocstrings"):
    pytest.importorskip(_module, reason=f"{_module} is not installed: the docs extra "
                        "(pip install -e '.[docs]'; make install installs it)")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    return out


def test_site_builds_strict_with_every_page(site: Path) -> None:
    for page in ("index.html", "getting-started/index.html", "tutorial/index.html",
                 "reference/spec-language/index.html", "reference/cli/index.html",
                 "reference/api/index.html", "method/index.html", "results/index.html"):
        assert (site / page).is_file(), page


def test_cli_reference_lists_every_command_and_option(site: Path) -> None:
    from sanp.cli_parser import build_parser

    html = (site / "reference/cli/index.html").read_text()
    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices, "the parser has no commands"
    for name, parser in sub.choices.items():
        assert f"sanp {name}</code>" in html, f"command {name} missing from the CLI reference"
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in html, f"sanp {name} {option} missing from the CLI reference"


def test_api_reference_documents_the_packages(site: Path) -> None:
    import sanp
    import stl

    html = (site / "reference/api/index.html").read_text()
    # sanp's top level (verify, prune, prove, load_policy, load_spec) appears through its
    # __all__, as stl's does
    for name in getattr(sanp, "__all__", []):
        if name.startswith("__"):  # __version__: a value, not an API object
            continue
        assert f"sanp.{name}" in html, f"sanp.{name} missing from the API reference"
    for name in stl.__all__:
        assert f"stl.{name}" in html, f"stl.{name} missing from the API reference"
    for name in ("sanp.falsify.falsify", "sanp.method.prune_and_refine", "sanp.formats.load"):
        assert name in html, f"{name} missing from the API reference"
