"""The recipe registry: PruneConfig takes its defaults and checks from the recipe it
names, an unknown name is refused with a did-you-mean, and a registered recipe is
reachable by name like the built-ins."""
from __future__ import annotations

import pytest

from sanp.errors import OptionError
from sanp.method import PruneConfig
from sanp.method.paper_recipe import PaperRecipe
from sanp.method.recipes import RECIPES, Recipe, recipe


@pytest.fixture
def own_registrations():
    """RECIPES is process-wide: a test's register() must not leak into the next test."""
    saved = dict(RECIPES._registered)
    yield RECIPES
    RECIPES._registered.clear()
    RECIPES._registered.update(saved)


def test_the_builtins_meet_the_protocol_and_set_the_default_criterion():
    assert RECIPES.builtin_names() == ["deep", "paper"]
    assert all(isinstance(recipe(n), Recipe) for n in RECIPES.builtin_names())
    assert PruneConfig().criterion == "activation" and PruneConfig().recipe_object.name == "deep"
    assert PruneConfig(recipe="paper").criterion == "magnitude"
    assert PruneConfig(recipe="paper", criterion="sensitivity").criterion == "sensitivity"


def test_the_deep_recipe_refuses_the_paper_options():
    with pytest.raises(OptionError, match="--sparsity fixes the paper recipe's one-shot step 1"):
        PruneConfig(recipe="deep", sparsity=0.5)
    with pytest.raises(OptionError, match="--scope layer needs --recipe paper"):
        PruneConfig(recipe="deep", scope="layer")
    assert PruneConfig(recipe="paper", sparsity=0.5, scope="layer").sparsity == 0.5


def test_an_unknown_recipe_is_refused_with_the_close_name():
    with pytest.raises(OptionError, match=r"unknown recipe 'papr': did you mean 'paper'\? known: deep, paper"):
        PruneConfig(recipe="papr")


def test_report_options_come_from_the_recipe():
    assert set(PruneConfig().recipe_object.report_options(PruneConfig())) == {"deep"}
    assert PruneConfig(recipe="paper").recipe_object.report_options(PruneConfig(recipe="paper")) == {}


def test_a_registered_recipe_is_used_by_name(own_registrations):
    class Strict(PaperRecipe):
        name, default_criterion = "strict", "sensitivity"

        def check(self, config):
            if config.scope != "layer":
                raise OptionError("the strict recipe prunes layer by layer: pass --scope layer")

    own_registrations.register("strict", Strict)
    assert PruneConfig(recipe="strict", scope="layer").criterion == "sensitivity"
    with pytest.raises(OptionError, match="the strict recipe prunes layer by layer"):
        PruneConfig(recipe="strict")
