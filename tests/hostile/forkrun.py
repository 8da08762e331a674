"""Run many `sanp` command lines fast: this process imports sanp's heavy dependencies
once, then runs each command line in a forked child exactly as the `sanp` console script
does (`sanp.cli.main`, exit code), with its own stdout/stderr files, environment
variables, address-space limit and timeout.

    python forkrun.py jobs.json results.json
    jobs.json: [{"id", "argv", "env", "stdout", "stderr"}], results: {id: {"code", "seconds"}}
    (code is -N when the child died of signal N, None when it was killed at the timeout)
"""
from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time

MEMORY = 2 << 30
TIMEOUT = 90.0
PARALLEL = 3


def _child(job: dict) -> None:
    os.setpgid(0, 0)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    os.environ.update(job["env"])
    for fd, name in ((1, "stdout"), (2, "stderr")):
        f = os.open(job[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    sys.argv = ["sanp", *job["argv"]]
    code = 70
    try:
        from sanp.cli import main

        code = main(job["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - an escaped exception prints its traceback, as Python would
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run(jobs: list[dict]) -> dict[str, dict]:
    results: dict[str, dict] = {}
    running: dict[int, tuple[dict, float]] = {}
    queue = list(jobs)
    while queue or running:
        while queue and len(running) < PARALLEL:
            job = queue.pop(0)
            pid = os.fork()
            if pid == 0:
                _child(job)
            running[pid] = (job, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(0.05)
            for p, (job, start) in list(running.items()):
                if time.monotonic() - start > TIMEOUT:
                    os.killpg(p, signal.SIGKILL)
                    os.waitpid(p, 0)
                    results[job["id"]] = {"code": None, "seconds": TIMEOUT}
                    del running[p]
            continue
        if pid in running:
            job, start = running.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            results[job["id"]] = {"code": code, "seconds": time.monotonic() - start}
    return results


def main() -> None:
    import gymnasium  # noqa: F401 - imported once here so that each child starts at once
    import numpy  # noqa: F401
    import onnx  # noqa: F401
    import torch

    import sanp.cli
    import sanp.formats  # noqa: F401
    import stl  # noqa: F401

    torch.set_num_threads(1)
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    results = run(jobs)
    with open(sys.argv[2], "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
