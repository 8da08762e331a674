"""One seed tree: every random draw of a run comes from a named child stream of the run's
seed, and this module is the only place that turns (run seed, stream name) into numbers.

A stream is `numpy.random.SeedSequence(entropy=seed, spawn_key=words)`, `words` being
the first four 32-bit words of the SHA-256 of the stream's name. Streams of distinct names
are independent (numpy's guarantee for distinct spawn keys), and a stream depends on
nothing but the seed and its name: not on which phases ran before, how many draws they
made, or the order they ran in, so a resumed run and a run with fewer rounds draw
exactly what an uninterrupted one draws. Names are dotted paths; a per-item stream puts
its index in the name (`round.3.falsify`, `deep.collect.12`).

`STREAMS` lists every stream a run uses and what for; the reports carry it (`seeds`).

Example:
    >>> rng = generator(0, "heldout.uniform")            # a numpy Generator
    >>> base = integer(0, "reward")                     # a 52-bit int (reset seed base)
    >>> integer(0, "round.3.falsify") != integer(0, "round.4.falsify")
    True
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from sanp.errors import OptionError

TREE = ("numpy.random.SeedSequence(entropy=seed, spawn_key=first four little-endian 32-bit words of "
        "sha256(stream name)); integers are the sequence's first 64 bits shifted right by 12")

STREAMS: Mapping[str, str] = {
    "reward": "reset seeds of the mean-reward episodes of the loop (step 1, every level, the repair, the "
              "final reward): base, base+1, ... (the same episodes for every policy, so levels compare)",
    "step1.states": "reset seeds of the dense episodes whose states the activation importance is measured on",
    "reset": "namespace of the per-point reset seeds of the loop's and verify's points (hashed with the "
             "point's searched values)",
    "round.{i}.falsify": "seed of round i's BO and uniform falsifier (i = 1, 2, ...)",
    "heldout.falsify": "seed of the held-out BO run",
    "heldout.uniform": "the held-out uniform points",
    "heldout.reward": "reset seeds of the held-out mean-reward episodes",
    "heldout.reset": "namespace of the held-out points' reset seeds (none the loop uses)",
    "screen.batch.{j}": "the deep screen's uniform points of look j (j = 0, 1, ...)",
    "screen.confirm": "the fresh uniform points that confirm a level the screen passed (never the screen's)",
    "deep.collect.{r}": "reset seeds and uniform points of the deep schedule's collect round r",
    "deep.scores.{l}": "the state sample the importance scores of the schedule's level l are measured on",
    "deep.buffer.{a}": "the training buffer's subsample after its a-th add",
    "deep.finetune.{l}": "minibatch draws of the distillation fine-tune of the schedule's try l",
    "repair.finetune.{t}": "minibatch draws of try t of the fine-tuning repair (in every round)",
}
"""Every stream a run draws from (a `{i}` stands for an index in the name) and what it is for."""

_WORDS = 4
_INDEX = re.compile(r"\.\d+(?=\.|$)")


def _check(seed: int, name: str) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise OptionError(f"a run's seed must be a non-negative integer, got {seed!r}")
    if pattern(name) not in STREAMS:
        raise OptionError(f"unknown seed stream {name!r}; add it to sanp.seeds.STREAMS with what it is for")


def pattern(name: str) -> str:
    """The `STREAMS` entry `name` belongs to: its indices as `{i}`-style placeholders.

    Example:
        >>> pattern("round.3.falsify")
        'round.{i}.falsify'
    """
    known = [p for p in STREAMS if re.fullmatch(re.sub(r"\\\{\w+\\\}", r"\\d+", re.escape(p)), name)]
    return known[0] if known else _INDEX.sub(".{i}", name)


def sequence(seed: int, name: str) -> np.random.SeedSequence:
    """The stream `name` of the run seeded with `seed`."""
    _check(seed, name)
    digest = hashlib.sha256(name.encode()).digest()
    key = tuple(int.from_bytes(digest[4 * i: 4 * i + 4], "little") for i in range(_WORDS))
    return np.random.SeedSequence(int(seed), spawn_key=key)


def generator(seed: int, name: str) -> np.random.Generator:
    """A numpy Generator on the stream `name`."""
    return np.random.default_rng(sequence(seed, name))


def integer(seed: int, name: str) -> int:
    """The stream `name` as one integer below 2^52: a seed for code that takes an int
    (a falsifier, torch, a base of consecutive reset seeds, which then stay below 2^53 and
    survive any JSON reader that reads numbers as doubles)."""
    return int(sequence(seed, name).generate_state(1, np.uint64)[0]) >> 12


def record(seed: int, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The report's `seeds` block: the run's seed, how streams derive from it, and every
    stream the run uses (`names`; None: all of `STREAMS`) with what it is for (the value
    of each unindexed one, as `integer` gives it)."""
    _check(seed, "reward")
    return {
        "seed": int(seed),
        "tree": TREE,
        "streams": [{"name": name, "used_for": what, **({} if "{" in name else {"value": integer(seed, name)})}
                    for name, what in STREAMS.items() if names is None or name in names],
    }
