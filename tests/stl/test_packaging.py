"""The wheel ships the stl package and its grammar, and works from outside the tree."""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_wheel_ships_stl_and_grammar(tmp_path: Path):
    # build from a copy so the shared tree gets no build/ directory
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    for name in ["README.md", "LICENSE"]:
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ["stl", "grammar", "sanp"]:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=ignore)
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", str(src), "--no-deps", "--no-build-isolation", "-w",
                          str(wheels)], check=True, cwd=tmp_path, timeout=120)
    (wheel,) = wheels.glob("*.whl")
    # the license ships; the prover, Ray and highway-env are extras, not requirements
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = z.read(metadata).decode().splitlines()
    assert any(n.endswith(("dist-info/LICENSE", "dist-info/licenses/LICENSE")) for n in names)
    extras = {m.split(": ", 1)[1] for m in meta if m.startswith("Provides-Extra:")}
    assert extras >= {"prove", "ray", "highway", "all"}
    needs = [m.split(": ", 1)[1] for m in meta if m.startswith("Requires-Dist:")]
    for optional in ("maraboupy", "ray", "highway-env"):
        assert all("extra ==" in n for n in needs if n.startswith(optional)), needs
    assert any(n.startswith("maraboupy") and 'python_version < "3.12"' in n for n in needs), needs
    subprocess.run(pip + ["install", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, cwd=tmp_path, timeout=120)
    assert (site / "stl" / "grammar" / "stl.lark").is_file()

    probe = textwrap.dedent(f"""
        import importlib.resources, pathlib, stl
        site = pathlib.Path({str(site)!r}).resolve()
        assert pathlib.Path(stl.__file__).resolve().is_relative_to(site), stl.__file__
        grammar = importlib.resources.files("stl.grammar").joinpath("stl.lark")
        assert pathlib.Path(str(grammar)).resolve().is_relative_to(site), grammar
        spec = stl.parse("env CartPole-v1\\nsignal x = obs[0]\\nreq ok: always (abs(x) <= 2.4)\\n")
        print(stl.format_node(spec.requirements["ok"].formula))
    """)
    out = subprocess.run([sys.executable, "-c", probe], check=False, cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "always (abs(x) <= 2.4)"
