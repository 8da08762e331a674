"""C export: a policy as dependency-free C99 for a microcontroller (float32, no heap).

`policy.c` + `policy.h` hold the network's constants and one function from an
observation to an action: `int32_t NAME_act(const float obs[])` (the argmax, for
discrete actions) or `void NAME_act(const float obs[], float action[])` (clipped to the
action box). A normaliser is compiled in as (obs - mean) / std (and its clip), the
operations sanp's ONNX file performs, so both give the same values.

Each layer is stored as dense rows, or compressed (CSR: the kept weights of each row,
their column indices, row offsets) where that takes fewer bytes and the layer keeps at
most `CSR_MAX_DENSITY` of its weights: the CSR loop was faster than the dense one up to
70% density on a 24-128-128-4 network and slower at 80% (benchmarks/results/deploy.md
repeats that sweep). The header states the sizes, the source
policy's name and SHA-256, sanp's version, and the constant data (flash) and static
buffer (RAM) bytes.

Example:
    >>> c = export_c(compact(policy), "out/policy.c", source="sparse.onnx")
    >>> c.flash_bytes, c.ram_bytes        # also in policy.h
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sanp.errors import OutputError
from sanp.model import MLPPolicy

CSR_MAX_DENSITY = 0.7
STANDARD_HEADERS = frozenset(
    "assert complex ctype errno fenv float inttypes iso646 limits locale math setjmp signal stdalign stdarg "
    "stdatomic stdbit stdbool stdckdint stddef stdint stdio stdlib stdnoreturn string tgmath threads time "
    "uchar wchar wctype".split())
"""C standard headers (C89 to C23): an output named after one (`stdint.c`) would write a
`stdint.h` that shadows the system's for any code compiled with `-I.` (the generated
header itself includes <stdint.h>), so such names are refused. Compared in lower case:
macOS and Windows file systems ignore case."""
_ACT_CODE = {"identity": 0, "relu": 1, "tanh": 2, "sigmoid": 3}
_CTYPE_BYTES = {"float": 4, "uint8_t": 1, "uint16_t": 2, "uint32_t": 4}


@dataclass(frozen=True)
class CCode:
    """The generated files and what they cost on the target."""

    source: str
    header: str
    flash_bytes: int
    ram_bytes: int
    layouts: tuple[str, ...]


def choose_layout(weights: np.ndarray, mask: np.ndarray) -> str:
    """'csr' where compressed rows take fewer bytes than dense ones and the layer keeps
    at most CSR_MAX_DENSITY of its weights, else 'dense'."""
    kept = mask != 0
    n_out, n_in = weights.shape
    nnz = int(kept.sum())
    csr = nnz * (4 + _index_bytes(n_in - 1)) + (n_out + 1) * _index_bytes(nnz)
    return "csr" if csr < 4 * weights.size and nnz <= CSR_MAX_DENSITY * weights.size else "dense"


def _index_bytes(largest: int) -> int:
    return 1 if largest < 2**8 else 2 if largest < 2**16 else 4


def _ctype(largest: int) -> str:
    return {1: "uint8_t", 2: "uint16_t", 4: "uint32_t"}[_index_bytes(largest)]


def _floats(a: np.ndarray) -> list[str]:
    """C literals that read back as exactly these float32 values (INFINITY needs <math.h>;
    NaN has no literal: c_code refuses it before this is reached)."""
    out = []
    for v in np.asarray(a, np.float32).ravel():
        if np.isnan(v):
            raise OutputError("a NaN constant has no C literal; the policy is damaged, re-export it")
        if np.isinf(v):
            out.append("INFINITY" if v > 0 else "-INFINITY")
        else:
            text = f"{float(v):.9g}"
            out.append(text + ("f" if any(ch in text for ch in ".e") else ".0f"))
    return out


class _Constants:
    """Named C arrays; counts their bytes."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.bytes = 0

    def add(self, name: str, ctype: str, values: Any) -> None:
        vals = _floats(values) if ctype == "float" else [str(int(v)) for v in np.asarray(values).ravel()]
        lines = [", ".join(vals[i : i + 8]) for i in range(0, len(vals), 8)]
        self.items.append({"name": name, "ctype": ctype, "n": len(vals), "values": vals, "body": ",\n".join("    " + ln for ln in lines)})
        self.bytes += len(vals) * _CTYPE_BYTES[ctype]


def check_c_name(name: str) -> None:
    """Refuse a file stem that cannot name the C function and header (`NAME_act`, NAME.h):
    not a C identifier, or a C standard header's name."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise OutputError(f"{name.encode('utf-8', 'backslashreplace').decode()[:80]!r} is not a C identifier; "
                          "name the output file with letters, digits and _")
    if name.lower() in STANDARD_HEADERS:
        raise OutputError(f"{name}.h would shadow the C standard header <{name.lower()}.h> for code that "
                          "includes it; choose another output name, e.g. policy.c")


def c_code(
    policy: MLPPolicy,
    *,
    name: str = "policy",
    source_name: str = "(in memory)",
    source_sha256: str = "-",
    compacted_from: list[int] | None = None,
    layouts: list[str] | None = None,
) -> CCode:
    """The C source and header of `policy` (see the module docstring). `layouts` forces
    'dense' or 'csr' per layer (default: `choose_layout`)."""
    import jinja2

    from sanp.version import __version__

    from sanp.limits import check_parameters

    check_c_name(name)
    bad = policy.nonfinite_constant()
    if bad is not None:
        raise OutputError(f"{bad} holds NaN or infinite values (in float32); C code of it would not compile "
                          "or would compute NaN: the policy is damaged, re-export it")
    check_parameters(policy.sizes, f"{name}.c", "MAX_PARAMETERS")
    check_parameters(policy.sizes, f"{name}.c", "MAX_C_PARAMETERS")
    weights = [w.numpy() for w in policy.effective_weights()]
    masks = [m.numpy() for m in policy.masks]
    layouts = layouts or [choose_layout(w, m) for w, m in zip(weights, masks)]
    consts = _Constants()
    if policy.has_normalizer:
        consts.add("OBS_MEAN", "float", policy.obs_mean.numpy())
        consts.add("OBS_STD", "float", policy.obs_std.numpy())
    layers, index_types = _layers(policy, weights, masks, layouts, consts)
    clip_low = policy.action_kind == "continuous" and policy.action_low is not None
    clip_high = policy.action_kind == "continuous" and policy.action_high is not None
    if clip_low:
        consts.add("ACTION_LOW", "float", policy.action_low)
    if clip_high:
        consts.add("ACTION_HIGH", "float", policy.action_high)
    buf_len = max(policy.sizes[1:] + ([policy.obs_dim] if policy.has_normalizer else []))
    # The layers write buf_a, buf_b, buf_a, ...; the normalizer writes buf_b. One layer
    # without a normalizer never touches buf_b, and an unused static fails -Werror.
    two_bufs = policy.has_normalizer or len(layers) > 1
    ram = (2 if two_bufs else 1) * 4 * buf_len
    obs_clip = policy.obs_clip
    ctx = dict(
        name=name, macro=name.upper(), guard=f"{name.upper()}_H", version=__version__,
        source_name=source_name, source_sha256=source_sha256,
        network="-".join(map(str, policy.sizes)), activations=", ".join(policy.activations),
        compacted_from="-".join(map(str, compacted_from)) if compacted_from and compacted_from != policy.sizes else None,
        layer_layouts=", ".join(f"{n_out}x{n_in} {lay}" for lay, (n_out, n_in) in zip(layouts, (w.shape for w in weights))),
        discrete=policy.action_kind == "discrete", obs_dim=policy.obs_dim, out_dim=policy.out_dim,
        normalizer=policy.has_normalizer, obs_clip=obs_clip,
        obs_clip_c=None if obs_clip is None else _floats(np.float32(obs_clip))[0],
        constants=consts.items, layers=layers, buf_len=buf_len, two_bufs=two_bufs, flash_bytes=consts.bytes, ram_bytes=ram,
        any_dense="dense" in layouts, any_csr="csr" in layouts, used_acts=set(policy.activations),
        need_math=bool({"tanh", "sigmoid"} & set(policy.activations))
        or any("INFINITY" in v for c in consts.items for v in c["values"])
        or (obs_clip is not None and "INFINITY" in _floats(np.float32(obs_clip))[0]),
        clip_low=clip_low, clip_high=clip_high, **index_types,
    )
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sanp.formats", "templates"), keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, autoescape=False,
    )
    return CCode(env.get_template("policy.c.j2").render(ctx), env.get_template("policy.h.j2").render(ctx),
                 consts.bytes, ram, tuple(layouts))


def _layers(policy: MLPPolicy, weights: list[np.ndarray], masks: list[np.ndarray], layouts: list[str],
            consts: _Constants) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Add every layer's constants; the template's per-layer entries and the CSR index types."""
    csr = [i for i, lay in enumerate(layouts) if lay == "csr"]
    max_in = max((weights[i].shape[1] for i in csr), default=1)
    max_nnz = max((int((masks[i] != 0).sum()) for i in csr), default=1)
    col_type, ptr_type = _ctype(max_in - 1), _ctype(max_nnz)
    layers = []
    for i, (w, m, lin, act, lay) in enumerate(zip(weights, masks, policy.layers, policy.activations, layouts)):
        if lay not in ("dense", "csr"):
            raise ValueError(f"layout {lay!r}: use 'dense' or 'csr'")
        if lay == "csr":
            kept = m != 0
            consts.add(f"L{i}_V", "float", w[kept])
            consts.add(f"L{i}_COL", col_type, np.nonzero(kept)[1])
            consts.add(f"L{i}_PTR", ptr_type, np.concatenate([[0], np.cumsum(kept.sum(axis=1))]))
        else:
            consts.add(f"L{i}_W", "float", w)
        consts.add(f"L{i}_B", "float", lin.bias.detach().numpy())
        layers.append({"csr": lay == "csr", "n_out": w.shape[0], "n_in": w.shape[1], "act_code": _ACT_CODE[act],
                       "out_buf": "buf_a" if i % 2 == 0 else "buf_b"})
    return layers, {"col_type": col_type, "ptr_type": ptr_type}


def export_c(
    policy: MLPPolicy,
    path: str | os.PathLike,
    *,
    source: str | os.PathLike | None = None,
    compacted_from: list[int] | None = None,
    layouts: list[str] | None = None,
) -> CCode:
    """Write `path` (.c) and the header beside it (.h), atomically; the function is
    named after the file (`policy.c` -> `policy_act`). `source` is the policy file the
    code comes from (named, with its SHA-256, in the header)."""
    from sanp.atomic import atomic_output, check_writable

    path = check_writable(path)
    header = path.with_suffix(".h")
    check_writable(header)
    src = Path(source) if source is not None else None
    code = c_code(
        policy, name=path.stem, source_name=os.fsencode(src.name).decode("utf-8", "replace") if src else "(in memory)",
        source_sha256=hashlib.sha256(src.read_bytes()).hexdigest() if src else "-",
        compacted_from=compacted_from, layouts=layouts,
    )
    with atomic_output(header) as tmp_h, atomic_output(path) as tmp_c:
        tmp_h.write_text(code.header)
        tmp_c.write_text(code.source)
    return code
