"""The policy-format registry: a file goes to the reader that claims its content, not
its suffix; a zip goes to the .pt reader only when it is a torch archive; messages name
every registered format, a registered reader's included."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from sanp.errors import PolicyError
from sanp.formats import load
from sanp.formats.readers import READERS, PolicyFile, reader_for, readers, supported_formats
from sanp.formats.torch_policy import save_checkpoint
from sanp.plugins import PluginError

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]
SB3_ZIP = ROOT / "zoo" / "cartpole" / "sb3.zip"
ONNX = ROOT / "zoo" / "cartpole" / "dense.onnx"


def reader_name(path: Path) -> str:
    return reader_for(PolicyFile.read(path)).name


@pytest.fixture
def own_registrations():
    """READERS is process-wide: a test's register() must not leak into the next test."""
    saved = dict(READERS._registered)
    yield READERS
    READERS._registered.clear()
    READERS._registered.update(saved)


def test_the_builtins_claim_their_files_by_content_whatever_the_suffix(tmp_path, make_policy):
    save_checkpoint(make_policy(), tmp_path / "p.pt")
    torch.save({"a": torch.zeros(2)}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    shutil.copy(tmp_path / "p.pt", tmp_path / "checkpoint.zip")
    shutil.copy(SB3_ZIP, tmp_path / "model.pt")
    shutil.copy(ONNX, tmp_path / "policy.bin")
    assert [reader_name(p) for p in (ONNX, SB3_ZIP, tmp_path / "p.pt", tmp_path / "legacy.pth")] == \
        ["onnx", "sb3", "pt", "pt"]
    assert load(tmp_path / "checkpoint.zip").sizes == [5, 16, 8, 3]
    assert load(tmp_path / "model.pt").sizes == load(SB3_ZIP).sizes
    assert load(tmp_path / "policy.bin").sizes == load(ONNX).sizes


def test_a_zip_holding_a_data_pkl_is_not_taken_for_a_torch_archive(tmp_path, make_policy):
    # An SB3 zip missing its policy.pth but holding some other library's data.pkl went
    # to the .pt reader before ("not a readable sanp checkpoint"): SB3's reader names
    # what is really wrong.
    with zipfile.ZipFile(tmp_path / "model.zip", "w") as z:
        z.writestr("data", "{}")
        z.writestr("extra/data.pkl", b"\x80\x04N.")
        z.writestr("extra/version", "3\n")
    assert reader_name(tmp_path / "model.zip") == "sb3"
    with pytest.raises(PolicyError, match=r"model\.zip: SB3 zip without policy\.pth"):
        load(tmp_path / "model.zip")
    # one folder with data.pkl but no version record: no reader claims it, the suffix decides
    with zipfile.ZipFile(tmp_path / "loose.zip", "w") as z:
        z.writestr("loose/data.pkl", b"\x80\x04N.")
    assert reader_name(tmp_path / "loose.zip") == "sb3"
    shutil.copy(tmp_path / "loose.zip", tmp_path / "loose.pt")
    assert reader_name(tmp_path / "loose.pt") == "pt"


def test_an_unclaimed_file_without_a_known_suffix_is_refused_naming_every_format(tmp_path):
    (tmp_path / "notes.txt").write_text("not a policy\n")
    assert reader_name(tmp_path / "notes.txt") == "onnx"
    with pytest.raises(PolicyError, match=r"notes\.txt: not an ONNX model; give an ONNX file, a sanp \.pt "
                                          r"checkpoint or an SB3 \.zip$"):
        load(tmp_path / "notes.txt")


class _ToyReader:
    """A format whose files start with b"TOY": a fixed 2-4-1 policy, whatever follows."""

    name, description, suffixes = "toy", "a .toy file", (".toy",)

    def claims(self, file: PolicyFile) -> bool:
        return file.head.startswith(b"TOY")

    def load(self, path: Path, *, action_space=None):
        from sanp.model import MLPPolicy

        return MLPPolicy([2, 4, 1], "tanh", action_kind="continuous", action_low=[-1.0], action_high=[1.0])


def test_a_registered_reader_is_dispatched_to_and_named_in_messages(tmp_path, own_registrations):
    own_registrations.register("toy", _ToyReader)
    (tmp_path / "policy.dat").write_bytes(b"TOY v1\n")
    assert reader_name(tmp_path / "policy.dat") == "toy"
    assert load(tmp_path / "policy.dat").sizes == [2, 4, 1]
    assert [r.name for r in readers()] == ["onnx", "pt", "sb3", "toy"]
    assert supported_formats() == "an ONNX file, a sanp .pt checkpoint, an SB3 .zip or a .toy file"
    (tmp_path / "empty.toy").write_bytes(b"")  # claimed by nobody: its suffix decides
    assert reader_name(tmp_path / "empty.toy") == "toy"


def test_a_reader_that_returns_something_else_than_a_policy_is_refused(tmp_path, own_registrations):
    class Wrong(_ToyReader):
        def load(self, path, *, action_space=None):
            return {"weights": []}

    own_registrations.register("toy", Wrong)
    (tmp_path / "p.toy").write_bytes(b"TOY")
    with pytest.raises(PolicyError, match=r"p\.toy: the 'toy' policy format's reader returned a dict, not a "
                                          r"sanp\.model\.MLPPolicy"):
        load(tmp_path / "p.toy")


def test_a_broken_plug_in_is_named_when_needed_and_left_out_of_messages(tmp_path, own_registrations, monkeypatch):
    monkeypatch.setattr(READERS, "_entry_points", {"broken": "sanp_no_such_module:Reader"})
    assert supported_formats() == "an ONNX file, a sanp .pt checkpoint or an SB3 .zip"
    assert load(ONNX).sizes == [4, 128, 128, 2]  # a built-in claims it: the plug-in is never imported
    (tmp_path / "notes.txt").write_text("not a policy\n")
    with pytest.raises(PluginError, match=r"policy format 'broken' \(sanp_no_such_module:Reader\) does not load"):
        load(tmp_path / "notes.txt")
