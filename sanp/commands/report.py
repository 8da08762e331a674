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
    animations = {}
    for n in dict.fromkeys(getattr(args, "replay", None) or []):
        from sanp.report import replay

        stride = getattr(args, "replay_stride", 1)
        episode = replay.replay(doc, n, stride=stride)
        gif = replay.gif_bytes(replay.animation_frames(doc, episode), fps=15)
        animations[replay.caption(episode, stride)] = gif
    report.write_html(doc, args.output, images=images or None, animations=animations or None)
    print(f"{args.output}: {doc.get('command', 'sanp')} report, verdict: {report.verdict_text(doc)}"
          + (f", {len(animations)} replay(s) embedded" if animations else ""))
    return EXIT_OK
