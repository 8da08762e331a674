"""Small files that declare huge contents are refused before anything is allocated,
with one line naming the limit and how to raise it."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import torch

from sanp.errors import PolicyError
from sanp.formats import load
from sanp.formats.torch_policy import CHECKPOINT_FORMAT, save_checkpoint
from sanp.model import MLPPolicy

ROOT = Path(__file__).resolve().parents[2]
CARTPOLE_ZIP = ROOT / "zoo" / "cartpole" / "sb3.zip"


def test_checkpoint_declaring_a_huge_network(tmp_path):
    buf = io.BytesIO()
    arch = MLPPolicy([4, 8, 2], "tanh", action_kind="discrete").architecture()
    arch["sizes"] = [4, 30000, 30000, 2]
    torch.save({"format": CHECKPOINT_FORMAT, "version": 1, "architecture": json.dumps(arch),
                "state_dict": {}}, buf)
    (tmp_path / "big.pt").write_bytes(buf.getvalue())
    with pytest.raises(PolicyError, match=r"900,240,002 parameters is over sanp's limit .* SANP_MAX_PARAMETERS"):
        load(tmp_path / "big.pt")


def test_onnx_sparse_initializer_declaring_20000_squared(tmp_path):
    from onnx import TensorProto, helper

    values = helper.make_tensor("W", TensorProto.FLOAT, [1], [1.0])
    indices = helper.make_tensor("W_idx", TensorProto.INT64, [1], [0])
    sparse = helper.make_sparse_tensor(values, indices, [20000, 20000])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["obs", "W"], ["out"])], "g",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 20000])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 20000])],
        sparse_initializer=[sparse])
    path = tmp_path / "bomb.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(PolicyError, match=r"sparse initializer W of 400,000,000 values is over"):
        load(path)


def test_zip_inflating_past_the_limit_and_odd_members(tmp_path, monkeypatch):
    with zipfile.ZipFile(CARTPOLE_ZIP) as z:
        members = {n: z.read(n) for n in z.namelist()}
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in members.items():
            z.writestr(n, data)
        z.writestr("padding", b"\0" * (8 << 20))  # 8 MiB of zeros: a few kB on disk
    assert bomb.stat().st_size < (1 << 20)
    monkeypatch.setenv("SANP_MAX_FILE_BYTES", str(4 << 20))
    with pytest.raises(PolicyError, match=r"inflates to over .* SANP_MAX_FILE_BYTES=N"):
        load(bomb)
    monkeypatch.delenv("SANP_MAX_FILE_BYTES")
    odd = tmp_path / "odd.zip"
    odd.write_bytes(bomb.read_bytes())
    with zipfile.ZipFile(odd) as z:
        offset = z.getinfo("padding").header_offset
    raw = bytearray(odd.read_bytes())
    raw[offset + 8:offset + 10] = (9).to_bytes(2, "little")  # deflate64 in the local header...
    name_at = raw.rfind(b"padding")  # the central directory entry's file name
    cd = name_at - 46
    assert raw[cd:cd + 4] == b"PK\x01\x02"
    raw[cd + 10:cd + 12] = (9).to_bytes(2, "little")  # ...and in the central directory
    odd.write_bytes(bytes(raw))
    with pytest.raises(PolicyError, match="compression method 9"):
        load(odd)


def test_the_limit_is_raised_by_its_environment_variable(tmp_path, monkeypatch):
    p = MLPPolicy([4, 64, 64, 2], "tanh", action_kind="discrete")
    save_checkpoint(p, tmp_path / "p.pt")
    monkeypatch.setenv("SANP_MAX_PARAMETERS", "1000")
    with pytest.raises(PolicyError, match="4,610 parameters is over sanp's limit of 1,000"):
        load(tmp_path / "p.pt")
    monkeypatch.setenv("SANP_MAX_PARAMETERS", "5000")
    assert load(tmp_path / "p.pt").sizes == [4, 64, 64, 2]
    monkeypatch.setenv("SANP_MAX_PARAMETERS", "lots")
    with pytest.raises(PolicyError, match="SANP_MAX_PARAMETERS='lots' is not a positive whole number"):
        load(tmp_path / "p.pt")


def test_dev_zero_as_a_policy_is_refused_at_once():
    with pytest.raises(PolicyError, match="not a regular file"):
        load("/dev/zero")


def test_nan_weights_are_refused(tmp_path):
    p = MLPPolicy([4, 8, 2], "tanh", action_kind="discrete")
    with torch.no_grad():
        p.layers[1].bias[0] = float("inf")
    save_checkpoint(p, tmp_path / "inf.pt")
    with pytest.raises(PolicyError, match=r"layers\.1\.bias holds NaN or infinite values"):
        load(tmp_path / "inf.pt")
