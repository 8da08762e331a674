"""Build sanp's wheel, install it into a fresh venv WITHOUT any extra, and run sanp from
there: what a user gets from `pip install sanp`, checked. `make wheel-check` runs it (part
of `make test`); for other Pythons run it by hand with `--log`.

    python benchmarks/wheel_install.py                        # this Python, torch==2.13.0
    python benchmarks/wheel_install.py --python ~/.pyenv/versions/3.12.1/bin/python \\
        --torch torch==2.14.1 --full --log benchmarks/results/wheel_install.md

Checks, each failing the run (exit 1) with what went wrong:
- the wheel holds the LICENSE and declares the extras prove/ray/highway/all, maraboupy
  only under `prove`;
- no extra and no dev tool was installed (maraboupy, ray, highway_env, pytest absent), and
  `sanp` runs from the venv, not from the source tree;
- `sanp check specs/cartpole.stl` exits 0 and names the spec's requirements;
- `sanp verify zoo/cartpole/dense.onnx specs/cartpole.stl --budget 3 --optimizer random`
  exits 0 or 1 and its report holds 3 evaluations equal to the ones the source tree's
  sanp computes (robustness to 1e-5: other torch/numpy builds may round differently);
- `sanp prove` says in one line that it needs `sanp[prove]` and exits 2;
- with --full also `sanp eval`, `sanp export` (to C) and a tiny `sanp prune` succeed.

The torch given by --torch is installed first, so pip keeps it instead of resolving
`torch>=2.2` to a multi-GB CUDA build; the source tree's Python needs sanp installed (it
computes the reference report).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "cartpole.stl"
POLICY = ROOT / "zoo" / "cartpole" / "dense.onnx"
VERIFY = ["verify", str(POLICY), str(SPEC), "--budget", "3", "--optimizer", "random", "--seed", "0"]
FORBIDDEN = ("maraboupy", "ray", "highway_env", "pytest")


class CheckFailed(Exception):
    """Raised when the installed wheel does not behave as sanp promises."""


class Run:
    """Runs commands in the scratch directory, timing them and keeping a log."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.log: list[str] = []
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def __call__(self, cmd: list[str], *, ok: tuple[int, ...] = (0,), show: bool = True) -> subprocess.CompletedProcess:
        start = time.perf_counter()
        p = subprocess.run(cmd, cwd=self.tmp, env=self.env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        shown = self._short(" ".join(map(str, cmd)))
        first = len(self.log)
        self.log.append(f"$ {shown}    # exit {p.returncode}, {seconds:.1f} s")
        if show:
            # this machine's pip config names local indexes; pip warns per package they lack
            lines = [ln for ln in self._short((p.stdout + p.stderr).strip()).splitlines()
                     if not ln.startswith("WARNING: Location 'file://")]
            self.log.extend(lines[-25:])
        print("\n".join(self.log[first:]), flush=True)
        if p.returncode not in ok:
            raise CheckFailed(f"{shown} exited {p.returncode}:\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
        return p

    def _short(self, text: str) -> str:
        return text.replace(str(self.tmp), "$TMP").replace(str(ROOT), "$REPO").replace(str(Path.home()), "~")


def check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    if not any(n.endswith((".dist-info/LICENSE", ".dist-info/licenses/LICENSE")) for n in names):
        raise CheckFailed(f"{wheel.name} has no LICENSE")
    extras = {line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Provides-Extra:")}
    if not {"prove", "ray", "highway", "all"} <= extras:
        raise CheckFailed(f"{wheel.name} declares extras {sorted(extras)}")
    marabou = [line for line in meta.splitlines() if line.startswith("Requires-Dist: maraboupy")]
    if not marabou or not all('extra == "prove"' in line for line in marabou):
        raise CheckFailed(f"maraboupy must be required only by the prove extra: {marabou}")


def same_evaluations(mine: dict, reference: dict) -> None:
    a, b = mine["evaluations"], reference["evaluations"]
    if len(a) != 3 or len(b) != 3:
        raise CheckFailed(f"verify --budget 3 reported {len(a)} evaluations (the source tree: {len(b)})")
    for x, y in zip(a, b):
        if x["point"].keys() != y["point"].keys() or x["robustness"].keys() != y["robustness"].keys():
            raise CheckFailed(f"evaluation {x['index']} differs in its names: {x} against {y}")
        for part in ("point", "robustness"):
            for k, v in x[part].items():
                if not (math.isfinite(v) and abs(v - y[part][k]) <= 1e-5):
                    raise CheckFailed(f"evaluation {x['index']}: {part} {k} = {v} here, {y[part][k]} from the source tree")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=sys.executable, help="the Python to make the fresh venv with")
    ap.add_argument("--torch", default="torch==2.13.0", help="pip requirement for torch, installed first")
    ap.add_argument("--full", action="store_true", help="also run eval, export and a tiny prune")
    ap.add_argument("--log", type=Path, help="append a Markdown record of the run to this file")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="sanp-wheel-"))
    run = Run(tmp)
    installed = None
    try:
        installed = _build_and_install(run, tmp, args)
        _exercise(run, tmp, args.full)
        verdict = "ok"
    except CheckFailed as exc:
        verdict = f"FAILED: {exc}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - start
    print(f"wheel check: {verdict} ({seconds:.0f} s)")
    if args.log:
        _write_log(args, run.log, installed, verdict, seconds)
    return 0 if verdict == "ok" else 1


def _build_and_install(run: Run, tmp: Path, args: argparse.Namespace) -> str:
    src = tmp / "src"  # a copy: building in the tree would leave build/ there
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src)
    for pkg in ("stl", "grammar", "sanp"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # with this Python's setuptools (no build isolation): no index needed to build
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"),
         str(src)])
    (wheel,) = (tmp / "dist").glob("sanp-*.whl")
    check_wheel(wheel)
    run([args.python, "-m", "venv", str(tmp / "venv")])
    pip = [str(tmp / "venv" / "bin" / "python"), "-m", "pip"]
    run(pip + ["install", "-q", args.torch])
    run(pip + ["install", "-q", str(wheel)])
    probe = f"import importlib.util as u, sanp; print(sanp.__file__); print([m for m in {FORBIDDEN!r} if u.find_spec(m)])"
    found = run([str(tmp / "venv" / "bin" / "python"), "-c", probe])
    where, present = found.stdout.splitlines()
    if not Path(where).resolve().is_relative_to((tmp / "venv").resolve()):
        raise CheckFailed(f"sanp was imported from {where}, not from the fresh venv")
    if present != "[]":
        raise CheckFailed(f"installed without extras, yet these are present: {present}")
    return run(pip + ["list", "--format", "freeze"], show=False).stdout


def _exercise(run: Run, tmp: Path, full: bool) -> None:
    sanp = str(tmp / "venv" / "bin" / "sanp")
    out = run([sanp, "check", str(SPEC)]).stdout
    if "ok" not in out or "3 requirements (position, momentum, angle)" not in out:
        raise CheckFailed(f"sanp check printed {out!r}")
    run([sanp, *VERIFY, "--json", str(tmp / "wheel.json")], ok=(0, 1))
    run([sys.executable, "-m", "sanp.cli", *VERIFY, "--json", str(tmp / "tree.json")], ok=(0, 1), show=False)
    mine = json.loads((tmp / "wheel.json").read_text())
    if mine.get("schema") != "sanp.verify/1":
        raise CheckFailed(f"verify wrote a report of schema {mine.get('schema')!r}")
    same_evaluations(mine, json.loads((tmp / "tree.json").read_text()))
    err = run([sanp, "prove", str(POLICY), str(SPEC)], ok=(2,)).stderr.strip()
    if len(err.splitlines()) != 1 or "pip install 'sanp[prove]'" not in err:
        raise CheckFailed(f"sanp prove without the extra printed {err!r}")
    if full:
        run([sanp, "eval", str(POLICY), "--env", "CartPole-v1", "--episodes", "3"])
        run([sanp, "export", str(POLICY), "-o", str(tmp / "policy.c")])
        run([sanp, "prune", str(POLICY), str(SPEC), "-o", str(tmp / "sparse.onnx"), "--budget", "2",
             "--rounds", "1", "--episodes", "2", "--heldout-budget", "1", "--heldout-uniform", "1",
             "--round-uniform", "0"], ok=(0, 1))
        if not (tmp / "sparse.onnx").is_file():
            raise CheckFailed("sanp prune wrote no sparse.onnx")


def _write_log(args: argparse.Namespace, log: list[str], installed: str | None, verdict: str, seconds: float) -> None:
    version = subprocess.run([args.python, "-VV"], capture_output=True, text=True, check=False).stdout.strip()
    cmd = "python benchmarks/wheel_install.py " + " ".join(a.replace(str(Path.home()), "~") for a in sys.argv[1:])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"## {version}: {verdict}", "", f"`{cmd}` — {when}, {seconds:.0f} s", "", "```", *log, "```", ""]
    if installed:
        lines += ["<details><summary>installed (pip list)</summary>", "", "```", installed.strip(), "```", "",
                  "</details>", ""]
    with args.log.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
