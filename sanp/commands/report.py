"""`sanp report`: the HTML page of a verify, prune or prove JSON report."""
from __future__ import annotations

import argparse
from pathlib import Path

from sanp.commands.common import EXIT_OK, check_output


def cmd_report(args: argparse.Namespace) -> int:
    from sanp import report

    images = {}
    for item in args.image:
        caption, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        images[caption or Path(path).name] = Path(path)
    check_output(args.output, args.run, *images.values())
    doc = report.load(args.run, max_mb=args.max_mb)
    report.write_html(doc, args.output, images=images or None)
    print(f"{args.output}: {doc.get('command', 'sanp')} report, verdict: {report.verdict_text(doc)}")
    return EXIT_OK
