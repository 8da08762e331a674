"""The seed tree (sanp.seeds): a stream is a function of (run seed, name) only, distinct
names and seeds give distinct streams, unknown names are refused, the per-point reset
seeds take their namespace from it, and every stream the method asks for is listed."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sanp import seeds
from sanp.envs import bind
from sanp.envs.binding import episode_seed
from sanp.errors import OptionError
from sanp.types import RESET_SEED

ROOT = Path(__file__).resolve().parents[2]


def test_a_stream_depends_on_its_seed_and_name_only_not_on_draws_before_it():
    first = seeds.generator(3, "screen.batch.1").random(5)
    for name in ("reward", "heldout.uniform", "screen.batch.0"):  # other streams drawn in between
        seeds.generator(3, name).random(1000)
    again = seeds.generator(3, "screen.batch.1").random(5)
    assert np.array_equal(first, again)
    assert seeds.integer(3, "round.2.falsify") == seeds.integer(3, "round.2.falsify")


def test_distinct_names_and_seeds_give_distinct_streams():
    names = ["reward", "step1.states", "reset", "heldout.falsify", "heldout.uniform", "heldout.reward",
             "heldout.reset", *(f"round.{i}.falsify" for i in range(1, 6)), *(f"deep.collect.{r}" for r in range(5))]
    values = {(s, n): seeds.integer(s, n) for s in (0, 1, 2) for n in names}
    assert len(set(values.values())) == len(values)
    assert all(0 <= v < 2**52 for v in values.values())  # consecutive reset seeds stay JSON-exact


def test_every_stream_is_listed_and_unknown_ones_are_refused():
    assert seeds.pattern("round.12.falsify") == "round.{i}.falsify"
    assert seeds.pattern("repair.finetune.3") == "repair.finetune.{t}"
    with pytest.raises(OptionError, match="unknown seed stream 'round.x.falsify'; add it to sanp.seeds.STREAMS"):
        seeds.integer(0, "round.x.falsify")
    with pytest.raises(OptionError, match="non-negative integer, got -1"):
        seeds.generator(-1, "reward")
    # every name the method's modules ask for is a listed stream
    asked = set()
    for path in (ROOT / "sanp").rglob("*.py"):
        for m in re.finditer(r"seeds\.(?:integer|generator|sequence)\([^,]+,\s*f?\"([^\"]+)\"", path.read_text()):
            asked.add(re.sub(r"\{[^}]+\}", "{x}", m.group(1)))
    asked |= {"reset", "heldout.reset", "reward", "heldout.reward"}  # passed by name to for_run / mean_reward_of
    listed = {re.sub(r"\{[^}]+\}", "{x}", p) for p in seeds.STREAMS}
    assert len(asked) >= 12 and asked <= listed, asked - listed


def test_the_record_lists_streams_with_their_values():
    rec = seeds.record(7)
    assert rec["seed"] == 7 and "SeedSequence" in rec["tree"]
    by_name = {s["name"]: s for s in rec["streams"]}
    assert set(by_name) == set(seeds.STREAMS)
    assert by_name["reward"]["value"] == seeds.integer(7, "reward")
    assert "value" not in by_name["round.{i}.falsify"]
    assert [s["name"] for s in seeds.record(7, ("reset",))["streams"]] == ["reset"]


def test_reset_seeds_keep_53_bits_and_take_their_namespace_from_the_run():
    binding = bind(env_id="LunarLander-v3")
    values = [0.1] * len(binding.space)
    plain = binding.point(values)[RESET_SEED]
    run0, run1 = binding.for_run(0), binding.for_run(1)
    a, b = run0.point(values)[RESET_SEED], run1.point(values)[RESET_SEED]
    assert len({plain, a, b, binding.for_run(0, "heldout.reset").point(values)[RESET_SEED]}) == 4
    assert a == run0.point(values)[RESET_SEED] == episode_seed(values, seeds.integer(0, "reset"))
    assert all(0 <= s < 2**53 for s in (plain, a, b))
    # a point replays from its recorded seed, whatever binding reads it
    assert binding.seed_of(run0.point(values)) == a
