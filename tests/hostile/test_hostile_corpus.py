"""Issue 18's hostile-input corpus through the real `sanp` command: each case exits 2 (130
for a signal) with one error line, no traceback, no output file created or touched, under
a 2 GiB address-space limit and a timeout.

The cases run a few at a time in one module fixture, forked from one process that
imported sanp once (forkrun.py: a fresh `sanp` start costs seconds); each case is then its
own test. A case of another part's open work is a strict xfail
(see XFAIL): it turns into a failure the moment that work makes it pass.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from forkrun import MEMORY, TIMEOUT
from make_corpus import Case, build

XFAIL: dict[str, str] = {}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _state(path: str):
    p = Path(path)
    if not os.path.lexists(p):
        return None
    st = p.lstat()
    digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
    return st.st_mode, st.st_size, st.st_mtime_ns, digest


# built at collection, so that each case is its own test; removed when pytest exits
_DIR = Path(tempfile.mkdtemp(prefix="sanp-hostile-"))
atexit.register(shutil.rmtree, _DIR, True)
CASES = build(_DIR)


def _run_alone(case: Case) -> dict:
    """`case` in its own `python -m sanp.cli` process (for the signal case)."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "sanp.cli", *case.argv], env={**os.environ, **case.env},
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limit_memory)  # noqa: PLW1509 - no threads here
    try:
        proc.wait(case.sigterm_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return {"code": None, "stderr": err, "seconds": time.monotonic() - start}
    return {"code": proc.returncode, "stderr": err, "seconds": time.monotonic() - start}


def _run_forked(cases: list[Case], work: Path) -> dict[str, dict]:
    """The cases in forked children of one process that imported sanp once (forkrun.py)."""
    jobs = [{"id": c.id, "argv": list(c.argv), "env": c.env, "stdout": str(work / f"{c.id}.out"),
             "stderr": str(work / f"{c.id}.err")} for c in cases]
    (work / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([sys.executable, str(Path(__file__).with_name("forkrun.py")), str(work / "jobs.json"),
                    str(work / "results.json")], check=True, timeout=TIMEOUT * len(cases))
    done = json.loads((work / "results.json").read_text())
    for c in cases:
        done[c.id]["stderr"] = (work / f"{c.id}.err").read_text(errors="replace")
    return done


@pytest.fixture(scope="module")
def results():
    before = {c.id: {p: _state(p) for p in c.outputs} for c in CASES}
    work = _DIR / "runs"
    work.mkdir()
    done = _run_forked([c for c in CASES if c.sigterm_after is None], work)
    done.update({c.id: _run_alone(c) for c in CASES if c.sigterm_after is not None})
    for c in CASES:
        done[c.id]["touched"] = [p for p in c.outputs if _state(p) != before[c.id][p]]
    return {c.id: (c, done[c.id]) for c in CASES}


def _error_lines(stderr: str) -> list[str]:
    """The message lines: a spec error's excerpt (indented source and caret) and its
    `hint:` line belong to the one message (the compiler convention)."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(("    ", "hint: "))]


def _ids() -> list:
    return [pytest.param(c.id, marks=pytest.mark.xfail(strict=True, reason=XFAIL[c.id])) if c.id in XFAIL
            else c.id for c in CASES]


@pytest.mark.parametrize("case_id", _ids())
def test_hostile_input_is_refused_in_one_line(results, case_id):
    case, r = results[case_id]
    assert r["code"] is not None, f"{case.id}: still running after {TIMEOUT:.0f} s"
    err = r["stderr"]
    assert "Traceback" not in err and "Fatal Python error" not in err, err[-2000:]
    assert r["code"] == case.code, f"{case.id}: exit {r['code']}, stderr: {err[-1000:]}"
    lines = _error_lines(err)
    assert len(lines) == 1, f"{case.id}: {len(lines)} error lines: {err[-1000:]}"
    assert len(lines[0]) < 400 and len(err) < 2000, err[:2000]
    assert not r["touched"], f"{case.id}: touched {r['touched']}"
