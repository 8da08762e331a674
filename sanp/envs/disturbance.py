"""Disturbance signals: bounded inputs an env applies at every step, piecewise constant
over K equal pieces of the horizon (a spec's `disturb NAME in [lo, hi] over K pieces`).

Each piece is one search dimension, named `NAME[j]` (j = 0 .. K-1), placed after the
initial-state dimensions in `Binding.space`: the falsifier searches the pieces as it
searches the initial state, a point carries their values, and a report's point replays
the disturbance exactly. Step t (0-based) of an episode of H steps takes piece
floor(t * K / H). A point without a piece's value (a reward episode, a point written by
hand) leaves that disturbance off (0). The adapter applies the values
(`EnvAdapter.disturbed_step`) and lists the names it supports (`disturbances`).

Example:
    >>> s = DisturbanceSignal("wind", -15.0, 15.0, 4)
    >>> [d.name for d in s.dimensions(100)][:2], s.piece(30, 100)
    (['wind[0]', 'wind[1]'], 1)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sanp.envs.api import Dimension
from sanp.types import Point


@dataclass(frozen=True)
class DisturbanceSignal:
    """A spec's disturbance bound to an env: its range and number of pieces."""

    name: str
    lo: float
    hi: float
    pieces: int
    doc: str = ""
    """What the adapter applies (from its `disturbances`)."""

    def key(self, j: int) -> str:
        """The search dimension (and point key) of piece `j`."""
        return f"{self.name}[{j}]"

    def piece(self, t: int, horizon: int) -> int:
        """The piece in force at step `t` of an episode of `horizon` steps."""
        return min(self.pieces - 1, t * self.pieces // horizon)

    def dimensions(self, horizon: int) -> tuple[Dimension, ...]:
        """One search dimension per piece, each documented with the steps it covers."""
        out = []
        for j in range(self.pieces):
            first = -(-j * horizon // self.pieces)
            last = -(-(j + 1) * horizon // self.pieces) - 1
            doc = f"{self.name} over steps {first}-{last}" + (f": {self.doc}" if self.doc else "")
            out.append(Dimension(self.key(j), self.lo, self.hi, None, doc))
        return tuple(out)


def values_at(signals: tuple[DisturbanceSignal, ...], point: Point | None, t: int,
              horizon: int) -> dict[str, float]:
    """The disturbance values of step `t` from `point` (names the point gives a value for)."""
    if not signals or point is None:
        return {}
    out = {}
    for s in signals:
        v = point.get(s.key(s.piece(t, horizon)))
        if v is not None:
            out[s.name] = float(v)
    return out


def table(signal: DisturbanceSignal, points: list[Point | None]) -> np.ndarray:
    """[n, pieces] values of one disturbance for n points (0 where a point has none), for
    banks that step many episodes as arrays."""
    out = np.zeros((len(points), signal.pieces), dtype=np.float64)
    for i, p in enumerate(points):
        if p is not None:
            out[i] = [float(p.get(signal.key(j), 0.0)) for j in range(signal.pieces)]
    return out
