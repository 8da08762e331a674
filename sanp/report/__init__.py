"""Reports of verify, prune and prove runs: the JSON documents, their figures, and one HTML page.

- `documents`: `verify_report`, `prune_report`, `prune_metadata`, `prove_report`, `proof_block`
  (the JSON; `write_json`, `jsonable` and `file_sha256` come from `sanp.jsonio`);
- `plots`, `prune_plots`, `prove_plots`: the figures, drawn from a report (`plot_verify`,
  `plot_prune` for `--plots`);
- `page`: the self-contained HTML page (`render`, `write_html`), a Jinja2 template
  (`templates/`) filled with data prepared in `verify_page` / `prune_page` / `prove_page`;
- `reading`: `load` a report within stated limits; `ReportError`;
- `replay`: a verify report's counterexample replayed in its env as a GIF or MP4
  (`sanp replay`, `sanp report --replay`).

    >>> from sanp import report
    >>> doc = report.load("out/demo/prune.json")                      # doctest: +SKIP
    >>> report.write_html(doc, "prune.html", images={"weights": "out/demo/prune/weights.png"})  # doctest: +SKIP
"""
from sanp.jsonio import file_sha256, jsonable, write_json
from sanp.report.documents import (
    TIMING_FIELDS,
    prove_report,
    prune_metadata,
    prune_report,
    run_inputs,
    verify_report,
    versions,
    without_timing,
)
from sanp.report.page import render
from sanp.report.page import write as write_html
from sanp.report.plots import plot_verify
from sanp.report.prune_plots import plot_prune
from sanp.report.reading import (
    MAX_REPORT_MB,
    PROVE_SCHEMA,
    PRUNE_SCHEMA,
    SCHEMAS,
    VERIFY_SCHEMA,
    ReportError,
    load,
)
from sanp.report.values import verdict_text

__all__ = [
    "MAX_REPORT_MB", "PROVE_SCHEMA", "PRUNE_SCHEMA", "SCHEMAS", "TIMING_FIELDS", "VERIFY_SCHEMA", "ReportError",
    "file_sha256", "jsonable", "load", "plot_prune", "plot_verify", "prove_report", "prune_metadata", "prune_report",
    "render", "run_inputs", "verdict_text", "verify_report", "versions", "without_timing", "write_html", "write_json",
]
