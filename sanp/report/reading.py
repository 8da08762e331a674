"""Reading a JSON report and the PNG files to embed, within stated limits.

Every failure is a `ReportError` with a one-line message: a file that is missing, not
a regular file (a device, a FIFO), larger than the limit, not UTF-8, not JSON, nested
deeper than any sanp report, or not a sanp report at all.

    >>> doc = load("out/demo/prune.json")            # doctest: +SKIP
    >>> load("/dev/zero")                            # doctest: +SKIP
    ReportError: /dev/zero is not a regular file; give a JSON report written by sanp
"""
from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from typing import Any


from sanp.errors import SanpError
from sanp.jsonio import json_depth
from sanp.limits import limit

VERIFY_SCHEMA = "sanp.verify/1"
PRUNE_SCHEMA = "sanp.prune/1"
PROVE_SCHEMA = "sanp.prove/1"
SCHEMAS = (VERIFY_SCHEMA, PRUNE_SCHEMA, PROVE_SCHEMA)

MAX_REPORT_MB = 64
"""Largest report `load` reads by default (`sanp report --max-mb` raises it)."""
MAX_IMAGE_MB = 32
"""Largest PNG file embedded in a page."""
MAX_DEPTH = 32
"""Deepest nesting of JSON arrays and objects accepted (sanp writes at most 6)."""

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ReportError(SanpError):
    """Raised when a report cannot be read or rendered (unknown schema, bad JSON, missing image)."""


def read_limited(path: str | os.PathLike, limit_mb: float, what: str) -> bytes:
    """The bytes of a regular file of at most `limit_mb` MiB."""
    try:
        # without blocking: opening a FIFO would otherwise wait for a writer for ever
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ReportError(f"{what} {path} is not a regular file; give a file written by sanp")
            limit = int(limit_mb * 2**20)
            if st.st_size > limit:
                raise ReportError(
                    f"{what} {path} is {st.st_size / 2**20:.1f} MiB, over the {limit_mb:g} MiB limit"
                    + ("; raise it with --max-mb" if what == "report" else "")
                )
            data = f.read(limit + 1)
    except OSError as exc:
        raise ReportError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:  # the file grew while we read it
        raise ReportError(f"{what} {path} is over the {limit_mb:g} MiB limit")
    return data


def load(path: str | os.PathLike, max_mb: float = MAX_REPORT_MB) -> dict[str, Any]:
    """Read a JSON report written by `sanp verify --json`, `sanp prune --report` or
    `sanp prove --json`."""
    data = read_limited(path, max_mb, "report")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ReportError(f"{path} is not a JSON report (not UTF-8 text)") from None
    if json_depth(text) > MAX_DEPTH:
        raise ReportError(f"{path} is nested more than {MAX_DEPTH} levels deep; a sanp report never is")
    try:
        doc = json.loads(text, object_pairs_hook=_unique_keys(str(path)))
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ReportError(f"{path} is not a sanp report: {str(exc).splitlines()[0]}") from None
    check_schema(doc, str(path))
    command = doc.get("command")
    if command != doc["schema"].split(".")[1].split("/")[0] or "verdict" not in doc \
            or not isinstance(doc.get("inputs"), Mapping):
        raise ReportError(f"{path} has schema {doc['schema']} but not the fields of such a report "
                          "(command, verdict, inputs); give a JSON report written by sanp")
    return bounded_strings(doc, limit("MAX_REPORT_STRING"))


def _unique_keys(where: str) -> Any:
    """json object_pairs_hook: a dict, or ReportError on a key given twice (which JSON
    parsers resolve differently, so the page could show what another tool does not)."""
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            for dup, _ in pairs:
                if dup in seen:
                    raise ReportError(f"{where} has the key {dup[:60]!r} twice in one object; "
                                      "a sanp report never does")
                seen.add(dup)
        return out
    return hook


def bounded_strings(value: Any, most: int) -> Any:
    """`value` with every string (keys included) of more than `most` characters cut to
    `most` and marked, so that what the page renders stays bounded (SANP_MAX_REPORT_STRING)."""
    if isinstance(value, str):
        return value if len(value) <= most else f"{value[:most]}… ({len(value) - most:,} more characters)"
    if isinstance(value, list):
        return [bounded_strings(v, most) for v in value]
    if isinstance(value, dict):
        return {bounded_strings(k, most): bounded_strings(v, most) for k, v in value.items()}
    return value


def check_schema(doc: Any, where: str) -> None:
    """Raise ReportError unless `doc` is a verify, prune or prove report of a known schema."""
    if not isinstance(doc, Mapping):
        raise ReportError(
            f"{where} is not a sanp report: expected a JSON object, got {type(doc).__name__}"
        )
    schema = doc.get("schema")
    if schema not in SCHEMAS:
        shown = "no schema field" if schema is None else f"schema {str(schema)[:60]!r}"
        raise ReportError(
            f"{where} has {shown}; expected {', '.join(SCHEMAS[:-1])} or {SCHEMAS[-1]} "
            "(a sanp verify/prune/prove JSON report)"
        )


def read_png(path: str | os.PathLike) -> bytes:
    """The bytes of a PNG file to embed."""
    data = read_limited(path, MAX_IMAGE_MB, "image")
    if not data.startswith(PNG_MAGIC):
        raise ReportError(f"image {path} is not a PNG file; only PNG images can be embedded")
    return data

