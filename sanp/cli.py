"""The `sanp` command line. One `main()` maps errors to exit codes:
0 success; 1 a counterexample was found or --target-rate not reached (verify), or the
prune verdict is not ok; 2 bad input; 130 interrupted."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from sanp.cli_parser import build_parser
from sanp.commands.common import EXIT_BAD, EXIT_INTERRUPTED, backend_config


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # a file name of bytes that are not UTF-8 (held as surrogates) must print, not raise
        # UnicodeEncodeError after the work is done
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors, --help, --version
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return EXIT_BAD
    import stl
    from sanp import backends
    from sanp.errors import SanpError

    # SIGTERM stops a run the way Ctrl-C does: cleanly, checkpoint intact. Pool workers
    # put SIGTERM back to its default action (sanp.backends.local says why).
    signal.signal(signal.SIGTERM, _raise_interrupt)
    from sanp.commands import policies, prove, prune, replay, report, verify

    commands = {
        "check": verify.cmd_check, "verify": verify.cmd_verify, "import": policies.cmd_import,
        "export": policies.cmd_export, "eval": policies.cmd_eval, "prune": prune.cmd_prune,
        "report": report.cmd_report, "prove": prove.cmd_prove, "replay": replay.cmd_replay,
    }
    # `--json -`: the report is the only thing on stdout; what the command prints goes to stderr
    args.stdout = sys.stdout
    quiet = contextlib.redirect_stdout(sys.stderr) if getattr(args, "json", None) == "-" else contextlib.nullcontext()
    try:
        from sanp.limits import check_environment

        check_environment()
        with backends.use(backend_config(args)), quiet:
            return commands[args.command](args)
    except stl.SpecError as exc:
        if args.debug:
            raise
        print(exc.pretty(), file=sys.stderr)
        return EXIT_BAD
    except SanpError as exc:
        if args.debug:
            raise
        print(f"sanp {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD
    except KeyboardInterrupt:
        print(f"sanp {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


# ------------------------------------------------------------------------- helpers


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def entry() -> None:
    """The console script. An interrupted run leaves at once: its checkpoint is already
    on disk, and tearing down native thread pools (onnxruntime, torch) that the signal
    caught mid-call is not worth the risk of a crash on the way out."""
    code = main()
    if code == EXIT_INTERRUPTED or getattr(sys.modules.get("sanp.backends.ray"), "abandoned", False):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
