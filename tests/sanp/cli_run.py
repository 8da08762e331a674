"""Run `sanp` in-process from a test, as the installed script would."""
from __future__ import annotations

from sanp.cli import main


def cli(capsys, *argv) -> tuple[int, str, str]:
    """`sanp argv...` in-process: (exit code, stdout, stderr). argparse's usage errors
    leave through SystemExit, as they do from the installed script."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
