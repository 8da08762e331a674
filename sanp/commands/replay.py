"""`sanp replay REPORT.json --counterexample N -o cex.gif`: watch a counterexample of a
verify report, the env rendered beside the signals of the requirement it violates."""
from __future__ import annotations

import argparse

from sanp.commands.common import EXIT_OK, check_output


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `sanp replay`."""
    p.add_argument("run", metavar="REPORT.json", help="a verify report (sanp verify --json)")
    p.add_argument("-n", "--counterexample", type=int, default=1, metavar="N",
                   help="which counterexample, numbered from 1 as on the report page (default 1)")
    p.add_argument("-o", "--output", required=True, metavar="cex.gif",
                   help="the animation: .gif (Pillow) or .mp4 (needs sanp[video])")
    p.add_argument("--stride", type=int, default=1, metavar="K",
                   help="render every K-th step (default 1: every step)")
    p.add_argument("--fps", type=float, default=15.0, metavar="F", help="frames per second (default 15)")
    p.add_argument("--max-mb", type=int, default=64, metavar="MB", help="largest report read, in MiB (default 64)")


def cmd_replay(args: argparse.Namespace) -> int:
    from sanp import report
    from sanp.report import replay

    check_output(args.output, args.run)
    if not args.fps > 0 or args.fps > 100:
        raise replay.ReplayError(f"--fps must be in (0, 100], got {args.fps:g}")
    if not args.output.lower().endswith((".gif", ".mp4")):
        raise replay.ReplayError(f"-o {args.output}: write a .gif or an .mp4 file")
    doc = report.load(args.run, max_mb=args.max_mb)
    episode = replay.replay(doc, args.counterexample, stride=args.stride)
    frames = replay.write_animation(replay.animation_frames(doc, episode), args.output, args.fps)
    cex = episode.cex
    print(f"{args.output}: counterexample {args.counterexample} ({', '.join(map(str, cex.get('violated') or []))}), "
          f"{len(cex.get('actions') or [])} steps replayed and matching the report, {frames} frames")
    return EXIT_OK
