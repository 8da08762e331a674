"""`sanp export`: a pruned policy compacted, as ONNX (dense storage, metadata kept and
extended) or as C with its header; bad requests are refused with nothing written."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest

from sanp.cli import main
from sanp.formats import load
from sanp.formats.onnx_writer import export_onnx
from sanp.method.step1 import importance, prune
from sanp.runtime import deployed

ROOT = Path(__file__).resolve().parents[2]
DENSE = ROOT / "zoo" / "cartpole" / "dense.onnx"


@pytest.fixture(scope="module")
def pruned_file(tmp_path_factory):
    dense = load(DENSE)
    path = tmp_path_factory.mktemp("src") / "pruned.onnx"
    export_onnx(prune(dense, 0.97, importance(dense, "magnitude"), scope="global"), path,
                {"env_id": "CartPole-v1", "produced_by": "test"}, storage="sparse")
    return path


def test_export_onnx_is_compacted_dense_and_the_same_function(tmp_path, pruned_file, capsys):
    out = tmp_path / "small.onnx"
    assert main(["export", str(pruned_file), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    small, src = load(out), load(pruned_file)
    assert small.sizes[1] < 128 and small.sizes[2] < 128
    assert f"compaction: 4-128-128-2 -> {'-'.join(map(str, small.sizes))}" in printed
    m = onnx.load(str(out))
    assert len(m.graph.sparse_initializer) == 0
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["env_id"] == "CartPole-v1" and meta["produced_by"] == "sanp export"
    assert meta["source_sha256"] == hashlib.sha256(pruned_file.read_bytes()).hexdigest()
    assert float(meta["sparsity_before_compaction"]) == pytest.approx(src.sparsity(), abs=1e-6)
    x = (np.random.default_rng(0).standard_normal((5000, 4)) * 2).astype(np.float32)
    assert np.array_equal(deployed(small).act(x), deployed(src).act(x))
    # exporting the compacted file again keeps the record of the first compaction
    again = tmp_path / "again.onnx"
    assert main(["export", str(out), "-o", str(again)]) == 0
    assert {p.key: p.value for p in onnx.load(str(again)).metadata_props}["compaction"] == meta["compaction"]


def test_export_c_writes_source_and_header(tmp_path, pruned_file, capsys):
    assert main(["export", str(pruned_file), "-o", str(tmp_path / "cartpole.c")]) == 0
    printed = capsys.readouterr().out
    assert "flash" in printed and "RAM" in printed
    header = (tmp_path / "cartpole.h").read_text()
    assert hashlib.sha256(pruned_file.read_bytes()).hexdigest() in header and "pruned.onnx" in header
    assert "int32_t cartpole_act(const float obs[CARTPOLE_OBS_DIM]);" in header
    assert '#include "cartpole.h"' in (tmp_path / "cartpole.c").read_text()


@pytest.mark.parametrize("out,extra,message", [
    ("p.txt", [], "unknown output type"),
    ("p.c", ["--storage", "sparse"], "is for ONNX output"),
    ("my-policy.c", [], "not a C identifier"),
])
def test_bad_requests_exit_2_and_write_nothing(tmp_path, pruned_file, capsys, out, extra, message):
    assert main(["export", str(pruned_file), "-o", str(tmp_path / out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
