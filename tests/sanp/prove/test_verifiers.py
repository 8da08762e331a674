"""The verifier registry (sanp.prove.verifiers): a toy verifier, interval arithmetic,
registered by a test with `register()` or through an installed package's entry point,
and used through `sanp prove --verifier`, the API, `prune --prove` and the page; unknown
names and misplaced options are one-line errors. Needs no maraboupy: the toy verifier is
all numpy."""
from __future__ import annotations

import json

import pytest
from prove_nets import ROOT

import sanp
from sanp.cli import main
from sanp.plugins import Registry
from sanp.prove import verifiers
from sanp.prove.verifier import Query, QueryResult, Verifier

POLICY = str(ROOT / "zoo/cartpole/dense.onnx")
SPEC = str(ROOT / "specs/cartpole.stl")
FALLING_RIGHT = {"x": [0.0, 0.1], "x_dot": [0.0, 0.1], "theta": [0.15, 0.2], "theta_dot": [1.5, 2.0]}


def _example_verifier() -> type:
    """The example plug-in package's interval verifier (tests/sanp/data/plugin_example),
    loaded from its file: the one implementation of the toy."""
    import importlib.util

    path = ROOT / "tests/sanp/data/plugin_example/sanp_plugin_example/toy_verifier.py"
    spec = importlib.util.spec_from_file_location("sanp_example_toy_verifier", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ToyVerifier


class IntervalVerifier(_example_verifier()):
    """Sound but incomplete: "unsat" when interval bounds rule the violation out, "sat"
    when the box's centre violates, otherwise "timeout" (branch and bound splits on);
    counts its queries."""

    name = "interval"
    label = "Interval arithmetic"
    calls = 0

    def describe(self) -> str:
        return "interval (a test's toy)"

    def find_violation(self, query: Query, timeout: float) -> QueryResult:
        IntervalVerifier.calls += 1
        return super().find_violation(query, timeout)


@pytest.fixture
def interval():
    verifiers.VERIFIERS.register("interval", IntervalVerifier)
    IntervalVerifier.calls = 0
    yield
    verifiers.VERIFIERS._registered.pop("interval", None)


def props_file(tmp_path, then) -> str:
    p = tmp_path / "props.json"
    p.write_text(json.dumps({"regions": {"r": FALLING_RIGHT}, "props": [{"name": "q", "over": "r", "then": then}]}))
    return str(p)


def test_the_toy_meets_the_protocol_and_marabou_is_the_default():
    assert isinstance(IntervalVerifier(), Verifier)
    assert verifiers.DEFAULT == "marabou" and verifiers.VERIFIERS.builtin_names() == ["marabou"]


def test_a_registered_verifier_proves_through_the_cli(interval, tmp_path, capsys):
    out = tmp_path / "r.json"
    props = props_file(tmp_path, {"kind": "action", "op": "==", "value": 1})
    assert main(["prove", POLICY, SPEC, "--properties", props, "--verifier", "interval", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["inputs"]["verifier"] == "interval (a test's toy)" and doc["verdict"] == "proved"
    assert doc["properties"][0]["fractions"]["proved"] == 1.0
    assert IntervalVerifier.calls == doc["properties"][0]["queries"] > 0
    assert "q" in capsys.readouterr().out


def test_a_registered_verifier_refutes_with_a_rechecked_point(interval, tmp_path):
    # output 0 (push left) is negative over this box: the box's centre already violates
    out = tmp_path / "r.json"
    props = props_file(tmp_path, {"kind": "output", "index": 0, "op": ">=", "value": 0})
    assert main(["prove", POLICY, SPEC, "--properties", props, "--verifier", "interval", "--depth", "2",
                 "--json", str(out)]) == 1
    cex = json.loads(out.read_text())["properties"][0]["counterexamples"][0]
    assert cex["outputs"][0] < 0


def test_the_api_takes_the_verifier_by_name(interval):
    r = sanp.prove(POLICY, SPEC, verifier="interval", timeout=5)
    assert r.report["inputs"]["verifier"].startswith("interval") and IntervalVerifier.calls > 0


@pytest.mark.parametrize("argv, message", [
    (["prove", POLICY, SPEC, "--verifier", "marabu"], "unknown verifier 'marabu': did you mean 'marabou'?"),
    (["prune", POLICY, SPEC, "-o", "{out}", "--verifier", "marabou"], "--verifier chooses the verifier of "
     "--prove: add --prove"),
])
def test_bad_verifier_options_are_one_line(tmp_path, capsys, argv, message):
    argv = [a.format(out=tmp_path / "s.onnx") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "s.onnx").exists()


def test_the_prune_page_names_the_verifier_of_the_proof(interval):
    assert verifiers.verifier_label("interval (a test's toy)") == "Interval arithmetic"
    assert verifiers.verifier_label(None) == "Marabou"  # reports from before the field: the default
    assert verifiers.verifier_label("gone (1.0)") == "gone (1.0)"  # a verifier not installed here


def test_prune_prove_with_a_registered_verifier_names_it_in_report_and_page(interval, tmp_path):
    out, report, page = tmp_path / "s.onnx", tmp_path / "r.json", tmp_path / "r.html"
    tiny = ["--criterion", "activation", "--episodes", "20", "--budget", "8", "--rounds", "1", "--sparsity", "0.9",
            "--round-uniform", "50", "--heldout-budget", "8", "--heldout-uniform", "50", "--recipe", "paper"]
    main(["prune", POLICY, SPEC, "-o", str(out), *tiny, "--report", str(report), "--prove", "--prove-timeout", "2",
          "--verifier", "interval"])
    proof = json.loads(report.read_text())["proof"]
    assert proof["verifier"] == "interval (a test's toy)" and IntervalVerifier.calls > 0
    assert [p["name"] for p in proof["properties"]] == ["push_right", "push_left", "same_as_dense"]
    assert main(["report", str(report), "-o", str(page)]) == 0
    assert "Interval arithmetic, 2 s per property" in page.read_text()


def test_an_installed_package_adds_a_verifier_through_its_entry_point(tmp_path, monkeypatch, capsys):
    # an installed distribution as importlib.metadata finds it: a dist-info with an
    # entry_points.txt on sys.path, naming this module's toy
    info = tmp_path / "sanp_toy_verifier-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sanp-toy-verifier\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[sanp.verifiers]\ntoy = {__name__}:IntervalVerifier\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fresh = Registry("sanp.verifiers", "verifier", {"marabou": "sanp.prove.marabou:MarabouVerifier"})
    monkeypatch.setattr(verifiers, "VERIFIERS", fresh)
    assert "toy" in fresh.names()
    out = tmp_path / "r.json"
    props = props_file(tmp_path, {"kind": "action", "op": "==", "value": 1})
    assert main(["prove", POLICY, SPEC, "--properties", props, "--verifier", "toy", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["inputs"]["verifier"] == "interval (a test's toy)"
