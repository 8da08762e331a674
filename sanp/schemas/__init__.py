"""JSON Schemas (draft 2020-12) of the reports sanp writes, one file per schema version:
`verify-1.json` (sanp.verify/1), `prune-1.json` (sanp.prune/1), `prove-1.json`
(sanp.prove/1). They ship in the wheel; validate a report with any JSON Schema tool.

    >>> import json, jsonschema
    >>> from sanp.schemas import schema
    >>> doc = json.load(open("verify.json"))                                   # doctest: +SKIP
    >>> jsonschema.validate(doc, schema(doc["schema"]))                       # doctest: +SKIP
"""
from __future__ import annotations

import json
from importlib import resources
from typing import Any

from sanp.errors import SanpError

FILES = {"sanp.verify/1": "verify-1.json", "sanp.prune/1": "prune-1.json", "sanp.prove/1": "prove-1.json"}
"""Each report schema and its file in this package."""


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of report schema `name` (a report's "schema" field)."""
    if name not in FILES:
        raise SanpError(f"no JSON Schema for report schema {name!r}; known: {', '.join(FILES)}")
    return json.loads(resources.files(__name__).joinpath(FILES[name]).read_text(encoding="utf-8"))
