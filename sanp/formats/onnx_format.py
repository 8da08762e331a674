"""ONNX as a policy format of the formats registry (`sanp.formats.readers`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sanp.formats.onnx_reader import load_onnx
from sanp.model import MLPPolicy


class OnnxReader:
    """ONNX as a policy format (`sanp.formats.readers`): a ModelProto's first field is
    ir_version (field 1, a varint), so any exporter's file starts with the tag byte 0x08."""

    name, description, suffixes = "onnx", "an ONNX file", (".onnx",)

    def claims(self, file: Any) -> bool:
        return bool(file.head[:1] == b"\x08")

    def load(self, path: Path, *, action_space: Any = None) -> MLPPolicy:
        return load_onnx(path, action_space=action_space)
