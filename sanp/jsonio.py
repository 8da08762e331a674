"""JSON documents on disk, below every layer that writes or reads one: plain JSON values
(`jsonable`), the atomic write (`write_json`), a file's digest (`file_sha256`) and the
nesting depth of JSON text found without parsing it (`json_depth`). The reports
(`sanp.report`), the prover's declarations and the prune checkpoint all use these, so
none of them imports another's layer for them.

    >>> jsonable({"x": float("inf"), "n": np.int64(3)})
    {'x': 'inf', 'n': 3}
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from sanp.atomic import write_bytes


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def jsonable(value: Any) -> Any:
    """Plain JSON types; non-finite floats become "inf", "-inf", "nan"."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def write_json(doc: Mapping[str, Any], path: str | os.PathLike) -> None:
    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    write_bytes(path, text.encode())


# possessive: a long string is matched without one backtracking frame per character
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_CHUNK = 1 << 22


def json_depth(text: str) -> int:
    """Deepest nesting of arrays and objects in JSON text, found without parsing it (so
    that no nesting can exhaust the parser's stack): brackets outside strings, summed, a
    chunk at a time (memory stays a few tens of MB whatever the text)."""
    code = np.frombuffer(_STRING.sub('""', text).encode("utf-8", "replace"), dtype=np.uint8)
    depth = deepest = 0
    for start in range(0, len(code), _CHUNK):
        part = code[start:start + _CHUNK]
        step = ((part == ord("[")) | (part == ord("{"))).astype(np.int32)
        step -= (part == ord("]")) | (part == ord("}"))
        level = np.cumsum(step, dtype=np.int64) + depth
        deepest = max(deepest, int(level.max(initial=depth)))
        depth = int(level[-1]) if len(level) else depth
    return deepest
