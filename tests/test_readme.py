"""The README is true: every `sanp` command in it runs as printed, every `make` target it
names exists, its sample `sanp check` output is what `sanp check` prints, and its Layout
names every module of `sanp` and `stl` (and no module that does not exist).

How the commands run (the rule, so a README edit knows what it is held to):

- Commands are the lines of the README's fenced code blocks that start with `sanp ` or
  `.venv/bin/sanp `, after an optional `$ ` prompt; a trailing `# comment` is dropped.
  A `$ ` line's following lines, up to the next `$ ` line, are its sample output.
- They run in the README's order, in one temporary directory where `specs/`, `zoo/` and
  `examples/` link to the repository's, so a later command reads what an earlier one
  wrote (`sparse.onnx`, `prune.json`).
- Long jobs get tiny budgets: TINY[command] is appended to the command line (argparse
  keeps an option's last value, so these override the README's own values). Nothing
  else is changed.
- Each must exit 0, except `sanp verify`, whose documented exit 1 means "counterexample
  found": then its output must say FALSIFIED (and with 0, "No counterexample"). No
  command may print a traceback.
- Sample output is compared only for `sanp check`, whose output is plain lines
  (the others print timings and tables whose width follows the terminal): each sample
  line must be a line of the real output, stdout or stderr (its warnings go to stderr).
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

TINY: dict[str, list[str]] = {
    "verify": ["--budget", "5"],
    "eval": ["--episodes", "3"],
    "prune": ["--episodes", "3", "--budget", "3", "--round-uniform", "10", "--rounds", "1",
              "--heldout-budget", "3", "--heldout-uniform", "10", "--deep-screen", "10",
              "--deep-max-sparsity", "0.5", "--deep-collect-points", "2",
              "--deep-finetune-steps", "20", "--deep-confirm", "10",
              # 10 held-out points cannot show half a point (the default margin); 30 points they can
              "--margin", "0.3"],
    "prove": ["--timeout", "5", "--depth", "1"],
}


def _blocks(text: str) -> list[list[str]]:
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    return [b.split("\n") for b in fenced]


def readme_commands(text: str) -> list[tuple[str, list[str]]]:
    """(command, sample output lines) for every sanp command in the README's code blocks."""
    found: list[tuple[str, list[str]]] = []
    for block in _blocks(text):
        current: list[str] | None = None
        for line in block:
            prompt = line.startswith("$ ")
            body = line[2:] if prompt else line
            if body.startswith(("sanp ", ".venv/bin/sanp ")):
                command = body.split(" #")[0].strip()
                current = [] if prompt else None
                found.append((command, current if current is not None else []))
            elif prompt:
                current = None
            elif current is not None and line.strip():
                current.append(line.rstrip())
    return found


def _argv(command: str) -> tuple[str, list[str]]:
    words = shlex.split(command)
    name = words[1]
    script = Path(sys.executable).with_name("sanp")
    # the installed script where there is one; the same entry point through -m otherwise
    sanp = [str(script)] if script.exists() else [sys.executable, "-m", "sanp.cli"]
    # a closed-loop proof runs as printed: its own depth is what decides it (and it is quick)
    tiny = [] if "--horizon" in words else TINY.get(name, [])
    return name, [*sanp, *words[1:], *tiny]


def test_readme_lists_its_session() -> None:
    commands = [c for c, _ in readme_commands(README.read_text())]
    names = {shlex.split(c)[1] for c in commands}
    assert {"check", "verify", "prune", "export"} <= names, commands


def test_every_readme_command_runs_as_printed(tmp_path: Path) -> None:
    for folder in ("specs", "zoo", "examples"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    env = dict(os.environ, COLUMNS="200")
    for command, sample in readme_commands(README.read_text()):
        name, argv = _argv(command)
        run = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env,
                             check=False, timeout=300)
        shown = f"{command}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
        assert "Traceback" not in run.stdout + run.stderr, shown
        if name == "verify" and run.returncode == 1:
            assert "FALSIFIED" in run.stdout, shown
        else:
            assert run.returncode == 0, shown
            if name == "verify":
                assert "No counterexample" in run.stdout, shown
        if name == "check":
            real = run.stdout.splitlines() + run.stderr.splitlines()
            for line in sample:
                assert line in real, f"README sample output is stale:\n{line}\n{shown}"


def test_every_make_target_named_exists() -> None:
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    named = {m for block in _blocks(README.read_text()) for line in block
             for m in re.findall(r"^make (?:PY=\S+ )?([\w-]+)", line)}
    assert named, "the README names no make target"
    assert named <= targets, named - targets


def layout_modules(text: str) -> set[str]:
    """Module paths the Layout block names: `dir/` lines set the folder of the lines after."""
    section = text.split("## Layout", 1)[1]
    block = _blocks(section)[0]
    folder, named = "", set()
    for line in block:
        if line and not line[0].isspace():
            head = line.split()[0]
            folder = head if head.endswith("/") else head.rsplit("/", 1)[0] + "/"
        for token in re.findall(r"(?<![\w/.])([\w/]+\.py)\b", line):
            named.add(token if "/" in token else folder + token)
    return named


def test_layout_names_every_module() -> None:
    modules = {str(p.relative_to(ROOT)) for d in ("sanp", "stl") for p in (ROOT / d).rglob("*.py")
               if p.name != "__init__.py"}
    named = layout_modules(README.read_text())
    missing, stale = sorted(modules - named), sorted(named - modules)
    assert not missing, f"modules missing from the README's Layout: {missing}"
    assert not stale, f"the README's Layout names modules that do not exist: {stale}"


def test_layout_parser_reads_folders() -> None:
    text = ("## Layout\n\n```\nsanp/x.py      a\nsanp/sub/      b (one.py)\n"
            "  two.py       c, three.py\n```\n")
    assert layout_modules(text) == {"sanp/x.py", "sanp/sub/one.py", "sanp/sub/two.py",
                                    "sanp/sub/three.py"}


@pytest.mark.parametrize("line, command", [
    ("$ sanp check a.stl", "sanp check a.stl"),
    ("sanp export s.onnx -o p.c   # C99", "sanp export s.onnx -o p.c"),
])
def test_commands_are_extracted(line: str, command: str) -> None:
    assert readme_commands(f"```\n{line}\nout\n```\n")[0][0] == command


def test_check_samples_in_the_docs_are_current() -> None:
    """The docs pages' `$ sanp check` samples (getting started, tutorial) are what it prints.

    A sample whose spec files are not in the repository (the tutorial's bad.stl, made up
    to show an error) is not run.
    """
    compared = 0
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for command, sample in readme_commands(page.read_text()):
            name, argv = _argv(command)
            files = shlex.split(command)[2:]
            if name != "check" or not sample or not all((ROOT / f).is_file() for f in files):
                continue
            run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False,
                                 timeout=120)
            assert run.returncode == 0, f"{page.name}: {command}\n{run.stdout}\n{run.stderr}"
            for line in sample:
                assert line in run.stdout.splitlines() + run.stderr.splitlines(), \
                    f"{page.name}: stale sample\n{line}\n{run.stdout}"
            compared += 1
    assert compared >= 2, "the docs show no `sanp check` sample to compare"
