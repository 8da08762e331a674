"""The registry every extension point uses: built-ins load lazily, register() overrides,
unknown names get a did-you-mean, a broken plug-in names itself."""
from __future__ import annotations

import pytest

from sanp.errors import SanpError
from sanp.plugins import PluginError, Registry


def make() -> Registry:
    return Registry("sanp.test-none", "widget", {"ordered": "collections:OrderedDict", "broken": "collections:Nope"})


def test_builtins_load_lazily_and_register_overrides():
    reg = make()
    from collections import OrderedDict

    assert reg.load("ordered") is OrderedDict
    reg.register("ordered", dict)
    reg.register("extra", list)
    assert reg.load("ordered") is dict
    assert reg.names() == ["broken", "extra", "ordered"]
    assert reg.builtin_names() == ["ordered", "broken"]


def test_unknown_name_suggests_the_close_one():
    with pytest.raises(PluginError, match=r"unknown widget 'orderd': did you mean 'ordered'\?") as info:
        make().check("orderd")
    assert isinstance(info.value, SanpError)
    assert "sanp.test-none" in str(info.value)


def test_a_broken_builtin_says_what_does_not_load():
    with pytest.raises(PluginError, match=r"widget 'broken' \(collections:Nope\) does not load: AttributeError"):
        make().load("broken")
