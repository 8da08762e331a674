"""Where a long command is: "phase k of n" with an estimate where one can be made, on
stderr (stdout stays for results). On a terminal a live line (rich) that log messages
scroll above; when stderr is piped, one plain line per phase, and the log lines as they
come, each stamped with the seconds since the start.

Example:
    >>> with Phases("sanp prune") as phases:
    ...     phases.start(1, 7, "round", "refinement round 1 of at most 5")
    ...     phases.log("round 1: 3 counterexamples")
"""
from __future__ import annotations

import time
from typing import Any


class Phases:
    """Phase k of n of one run. An estimate comes from the phases of the same kind that
    ended before (a refinement round takes about as long as the rounds before it; the
    held-out check of the sparse policy about as long as the dense one's), or from an
    upper bound the caller gives (a prover's timeout)."""

    def __init__(self, title: str, *, extra: int = 0, console: Any = None):
        from sanp.console import console as make_console

        self.title = title
        self.extra = extra
        """Phases the command runs after those it is told of (added to every n)."""
        self.console = console or make_console(stderr=True)
        self.live = self.console.is_terminal
        self.k, self.n = 0, 0
        self._began = time.perf_counter()
        self._current: tuple[str, float] | None = None
        self._took: dict[str, list[float]] = {}
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Phases:
        if self.live:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 TextColumn("{task.fields[estimate]}"), console=self.console, transient=True)
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._end_phase()
        if self._bar is not None:
            self._bar.stop()
            self._bar = self._task = None

    def elapsed(self) -> float:
        return time.perf_counter() - self._began

    def log(self, message: str) -> None:
        """A message of the run, stamped with the seconds since the start."""
        self.console.print(f"[{self.elapsed():7.1f}s] {message}", markup=False, highlight=False)

    def start(self, k: int, n: int, kind: str, label: str, *, at_most: float | None = None) -> None:
        """Phase `k` of `n` (+ the command's extra phases) begins; `kind` groups phases
        whose durations predict each other; `at_most`: a bound on this phase, seconds."""
        self._end_phase()
        self.k, self.n = k, n + self.extra
        self._current = (kind, time.perf_counter())
        estimate = self.estimate(kind, at_most)
        text = f"phase {self.k} of {self.n}: {label}"
        if self._bar is None:
            self.log(text + (f" ({estimate})" if estimate else ""))
            return
        if self._task is None:
            self._task = self._bar.add_task(text, total=None, estimate=estimate)
        else:
            self._bar.reset(self._task, description=text, estimate=estimate)

    def next(self, kind: str, label: str, *, at_most: float | None = None) -> None:
        """The command's own next phase (after the ones it was told of)."""
        self.start(self.k + 1, self.n - self.extra, kind, label, at_most=at_most)

    def estimate(self, kind: str, at_most: float | None = None) -> str:
        """"at most 60 s" from a bound, else "about 40 s, as before" from the earlier phases
        of this kind, else ""."""
        if at_most is not None:
            return f"at most {_duration(at_most)}"
        took = self._took.get(kind)
        return f"about {_duration(sum(took) / len(took))}, as before" if took else ""

    def _end_phase(self) -> None:
        if self._current is not None:
            kind, t0 = self._current
            self._took.setdefault(kind, []).append(time.perf_counter() - t0)
            self._current = None


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
