"""Issue 18's hostile-input corpus through the real `sanp` command: each case exits 2 (130
for a signal) with one error line, no traceback, no output file created or touched, under
a 2 GiB address-space limit and a timeout.

The cases run a few at a time in one module fixture (each `sanp` start costs seconds);
each case is then its own test. A case of another part's open work is a strict xfail
(see XFAIL): it turns into a failure the moment that work makes it pass.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from make_corpus import CARTPOLE_ZIP, Case, build  # noqa: E402

pytestmark = pytest.mark.skipif(not CARTPOLE_ZIP.exists(), reason="needs ../shared/fixtures")

MEMORY = 2 << 30
TIMEOUT = 90.0
PARALLEL = 3

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


def _run(case: Case) -> dict:
    before = {p: _state(p) for p in case.outputs}
    env = {**os.environ, **case.env, "PYTHONFAULTHANDLER": "1"}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "sanp.cli", *case.argv], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limit_memory)
    try:
        if case.sigterm_after is not None:
            try:
                proc.wait(case.sigterm_after)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return {"timeout": True, "stderr": err, "seconds": time.monotonic() - start}
    after = {p: _state(p) for p in case.outputs}
    return {"timeout": False, "code": proc.returncode, "stdout": out, "stderr": err,
            "seconds": time.monotonic() - start, "touched": [p for p in case.outputs if before[p] != after[p]]}


# built at collection, so that each case is its own test; removed when the module ends
_DIR = Path(tempfile.mkdtemp(prefix="sanp-hostile-"))
atexit.register(shutil.rmtree, _DIR, True)
CASES = build(_DIR) if CARTPOLE_ZIP.exists() else []


@pytest.fixture(scope="module")
def results():
    cases = CASES
    # the SIGTERM case runs alone so that its timing does not depend on the others
    plain = [c for c in cases if c.sigterm_after is None]
    with ThreadPoolExecutor(PARALLEL) as pool:
        done = dict(zip((c.id for c in plain), pool.map(_run, plain)))
    done.update({c.id: _run(c) for c in cases if c.sigterm_after is not None})
    return {c.id: (c, done[c.id]) for c in cases}


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
    assert not r["timeout"], f"{case.id}: still running after {TIMEOUT:.0f} s"
    err = r["stderr"]
    assert "Traceback" not in err and "Fatal Python error" not in err, err[-2000:]
    assert r["code"] == case.code, f"{case.id}: exit {r['code']}, stderr: {err[-1000:]}"
    lines = _error_lines(err)
    assert len(lines) == 1, f"{case.id}: {len(lines)} error lines: {err[-1000:]}"
    assert len(lines[0]) < 400, lines[0][:400]
    assert not r["touched"], f"{case.id}: touched {r['touched']}"
