"""Outputs never clobber what they should not: refused targets, kept permissions,
stale temporaries removed, one run per output."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sanp.atomic import check_outputs, hold_lock, write_bytes
from sanp.cli import main
from sanp.errors import OutputError

ROOT = Path(__file__).resolve().parents[2]
DENSE = ROOT / "zoo" / "cartpole" / "dense.onnx"
SPEC = ROOT / "specs" / "cartpole.stl"


def test_special_files_and_links_are_refused(tmp_path):
    target = tmp_path / "real.onnx"
    target.write_bytes(b"keep")
    (tmp_path / "link.onnx").symlink_to(target)
    os.mkfifo(tmp_path / "fifo.onnx")
    for path, why in [(tmp_path / "link.onnx", "symbolic link"), (tmp_path / "fifo.onnx", "not a regular file"),
                      ("/dev/null", "not a regular file"), (f"{tmp_path}/newdir/", "names a directory"),
                      (tmp_path, "is a directory")]:
        with pytest.raises(OutputError, match=why):
            check_outputs({"-o": path})
    assert target.read_bytes() == b"keep"


def test_outputs_must_differ_from_inputs_and_each_other(tmp_path):
    a = tmp_path / "a.onnx"
    with pytest.raises(OutputError, match=r"--report .*a\.onnx: is also -o"):
        check_outputs({"-o": a, "--report": a})
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputError, match="is also -o"):
        check_outputs({"-o": a, "--report": tmp_path / "sub" / ".." / "a.onnx"})
    a.write_bytes(b"in")
    with pytest.raises(OutputError, match="is an input of this command"):
        check_outputs({"-o": a}, [str(a)])


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    p = tmp_path / "secret.json"
    p.write_text("{}")
    p.chmod(0o600)
    write_bytes(p, b"{\"a\": 1}")
    assert (p.stat().st_mode & 0o777) == 0o600 and p.read_bytes() == b"{\"a\": 1}"


def test_temporaries_of_killed_runs_are_removed(tmp_path):
    p = tmp_path / "out.onnx"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".out.onnx.{dead}-abcd1234.tmp"
    stale.write_bytes(b"x" * 1000)
    live = tmp_path / f".out.onnx.{os.getpid()}-abcd1234.tmp"  # a live writer's: kept
    live.write_bytes(b"y")
    write_bytes(p, b"new")
    assert not stale.exists() and live.exists() and p.read_bytes() == b"new"


def test_a_second_run_on_the_same_output_is_refused(tmp_path):
    out = tmp_path / "sparse.onnx"
    hold_lock(out)
    code = subprocess.run(
        [sys.executable, "-c", "import sys; from sanp.cli import main; sys.exit(main(sys.argv[1:]))",
         "prune", str(DENSE), str(SPEC), "-o", str(out), "--recipe", "paper", "--sparsity", "0.5",
         "--rounds", "1"],
        capture_output=True, text=True, timeout=300)
    assert code.returncode == 2, code.stderr
    assert code.stderr.strip().splitlines() == [f"sanp prune: error: {out}: another sanp run is writing it; "
                                                "wait for it to finish or choose another output"]
    assert not out.exists()


@pytest.mark.parametrize("report", ["same", "checkpoint"])
def test_prune_refuses_a_report_that_would_replace_its_other_outputs(tmp_path, capsys, report):
    out = tmp_path / "sparse.onnx"
    out.write_bytes(b"previous policy")
    rep = out if report == "same" else Path(f"{out}.ckpt.npz")
    code = main(["prune", str(DENSE), str(SPEC), "-o", str(out), "--report", str(rep)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--report" in err[0] and "is also" in err[0]
    assert out.read_bytes() == b"previous policy"
