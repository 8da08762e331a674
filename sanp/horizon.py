"""Does the spec's horizon cover a deployed episode? A policy that passes every check on
the first `horizon` steps can still fail after them, where the env keeps running.

A requirement is cut by the horizon when its value at time 0 reads samples past it: an
unbounded `always` reads the whole episode, `eventually[0:200]` only its first 201 steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stl.robustness import support


@dataclass(frozen=True)
class Coverage:
    """The steps each episode is checked for, against the env's own episode limit.

        >>> coverage(stl.load("specs/cartpole.stl")).cut      # doctest: +SKIP
        ('position', 'momentum', 'angle')
    """

    checked: int
    """The spec's horizon (the env's limit where the spec sets none)."""
    episode_limit: int | None
    """gymnasium's `max_episode_steps` for the env; None where the env has no limit."""
    cut: tuple[str, ...]
    """Requirements whose verdict depends on steps after the horizon."""

    @property
    def covers_episode(self) -> bool:
        return not self.cut

    def warning(self, env: str) -> str | None:
        """One line saying what is not checked, or None when the whole episode is."""
        if not self.cut:
            return None
        verb = "depends" if len(self.cut) == 1 else "depend"
        return (f"horizon {self.checked} is shorter than {env}'s episode limit of {self.episode_limit} "
                f"steps, and {', '.join(self.cut)} {verb} on the steps after it: set "
                f"`horizon {self.episode_limit}` to check whole deployed episodes")

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "episode_limit": self.episode_limit,
                "covers_episode": self.covers_episode, "cut": list(self.cut)}


def coverage(spec: Any) -> Coverage:
    """How far the spec's horizon covers its env's episodes (see the module docstring)."""
    from sanp.envs.binding import episode_limit

    limit = episode_limit(spec.env_id, spec.env_kwargs)
    checked = spec.horizon or limit or 1000
    cut: tuple[str, ...] = ()
    if limit is not None and checked < limit:
        cut = tuple(name for name, req in spec.requirements.items()
                    if _samples_read(req.formula, limit) > checked)
    return Coverage(checked, limit, cut)


def _samples_read(formula: Any, episode: int) -> int:
    reads: dict[str, int] = {}
    support(formula, 1, episode, reads)
    return max(reads.values(), default=1)
