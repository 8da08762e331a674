"""The Python API (`sanp.verify`, `sanp.prune`, `sanp.prove`, `sanp.load_policy`,
`sanp.load_spec`): the same reports and ONNX as the CLI on the same inputs, frozen
results that serialise and render, and option errors that say how to fix them."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
import sys

import markupsafe
import pytest
from api_runs import (
    DENSE,
    HAS_MARABOU,
    ROOT,
    SPEC,
    prove_runs,
    prune_runs,
    verify_runs,
    without_timing,
)

import sanp
import stl
from sanp.errors import OptionError, OutputError, PolicyError


def test_import_sanp_stays_light_and_exposes_the_api():
    code = ("import sys, sanp; heavy = [m for m in ('torch', 'numpy', 'stl', 'sanp.api', 'gymnasium') "
            "if m in sys.modules]; print(heavy, sanp.verify.__module__, callable(sanp.prove))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["[]", "sanp.api", "True"]


def test_sanp_prove_is_the_api_whichever_was_imported_first():
    import sanp.prove.bab

    assert callable(sanp.prove)
    assert "sanp.api" in sanp.prove.__doc__


def test_verify_report_is_the_clis(tmp_path):
    result, cli = verify_runs()
    assert without_timing(result.report) == without_timing(cli)
    assert result.verdict == cli["verdict"] == "falsified"
    assert result.falsified
    assert len(result.counterexamples) == len(cli["counterexamples"]) > 0
    assert [c.point for c in result.counterexamples] == [c["point"] for c in cli["counterexamples"]]


def test_prune_report_and_onnx_are_the_clis(tmp_path):
    result, cli, cli_onnx = prune_runs()
    api, ref = without_timing(result.report), without_timing(cli)
    assert api.pop("output").endswith("api.onnx") and ref.pop("output").endswith("cli.onnx")
    assert api == ref
    assert result.verdict == cli["verdict"]["headline"] and result.ok == cli["verdict"]["ok"]
    written = (cli_onnx.parent / "api.onnx").read_bytes()
    assert written == cli_onnx.read_bytes()
    again = result.policy.save(tmp_path / "again.onnx")
    assert again.read_bytes() == written
    assert result.policy.sha256 == hashlib.sha256(written).hexdigest()
    assert len(result.counterexamples) == sum(len(r["counterexamples"]) for r in cli["rounds"])


@pytest.mark.skipif(not HAS_MARABOU, reason="sanp.prove needs maraboupy (pip install 'sanp[prove]')")
def test_prove_report_is_the_clis_and_takes_spec_text():
    result, cli = prove_runs()
    api, ref = without_timing(result.report), without_timing(cli)
    assert api["inputs"].pop("spec") == "<string>"
    ref["inputs"].pop("spec")
    assert api == ref
    assert result.verdict == cli["verdict"] == "proved"
    assert [p.prop.name for p in result.properties] == ["push_right", "push_left"]
    assert result.counterexamples == ()


def test_an_in_memory_policy_is_reported_by_the_digest_of_the_onnx_it_saves(tmp_path):
    result, _, _ = prune_runs()
    v = sanp.verify(result.policy, SPEC, budget=3)
    saved = result.policy.save(tmp_path / "s.onnx")
    assert v.report["inputs"]["policy"] == "<in memory>"
    assert v.report["inputs"]["policy_sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    from_file = sanp.verify(str(saved), SPEC, budget=3)
    assert [e["point"] for e in from_file.report["evaluations"]] == [e["point"] for e in v.report["evaluations"]]


def test_results_are_frozen_and_serialise(tmp_path):
    result, _ = verify_runs()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.verdict = "ok"
    assert json.loads(result.to_json()) == result.report
    path = result.to_json(tmp_path / "v.json")
    assert json.loads(path.read_text()) == result.report
    with pytest.raises(OutputError):
        result.to_json(tmp_path / "missing-dir" / "v.json")


def test_repr_html_is_the_pages_summary():
    verify, _ = verify_runs()
    html = verify._repr_html_()
    assert "FALSIFIED" in html and "angle" in html and "sanp verify" in html
    assert "<img" not in html and "<html" not in html  # a fragment, no figures
    assert '<div class="verdict"' in verify.to_html()  # the full page shares its head
    prune, _, _ = prune_runs()
    assert "sanp prune" in prune._repr_html_()
    assert str(markupsafe.escape(prune.verdict.split(";")[0])) in prune._repr_html_()


@pytest.mark.skipif(not HAS_MARABOU, reason="sanp.prove needs maraboupy (pip install 'sanp[prove]')")
def test_prove_repr_html_lists_the_properties():
    result, _ = prove_runs()
    html = result._repr_html_()
    assert "push_right" in html and "push_left" in html and "proved" in html


def test_load_spec_reads_a_path_or_text():
    from_file = sanp.load_spec(SPEC)
    from_text = sanp.load_spec(SPEC.read_text())
    assert from_text.sha256 == from_file.sha256 and from_text.source == "<string>"
    assert sanp.load_spec(from_file) is from_file
    with pytest.raises(stl.SpecError, match="not found"):
        sanp.load_spec("specs/no_such.stl")
    with pytest.raises(OptionError, match="give a .stl path"):
        sanp.load_spec(42)


def test_load_policy_checks_the_env(tmp_path):
    pi = sanp.load_policy(DENSE, env="CartPole-v1")
    assert (pi.model.obs_dim, pi.model.action_kind, pi.sparsity) == (4, "discrete", 0.0)
    assert sanp.load_policy(DENSE, env=str(SPEC)).model.sizes == pi.model.sizes
    with pytest.raises(PolicyError, match="observation values"):
        sanp.load_policy(DENSE, env="LunarLander-v3")
    with pytest.raises(OutputError, match="is an input"):
        pi.save(DENSE)


@pytest.mark.parametrize(("call", "options", "message"), [
    ("verify", {"budjet": 10}, "unknown option budjet=; did you mean budget"),
    ("verify", {"budget": 0}, r"budget=0: must be a positive whole number"),
    ("verify", {"budget": 2.5}, r"budget=2.5: expected a whole number"),
    ("verify", {"all": "yes"}, r"all='yes': give True or False"),
    ("verify", {"optimizer": "bayes"}, r"optimizer='bayes': choose one of 'bo', 'cmaes', 'corners', 'random'"),
    ("verify", {"json": "v.json"}, r"call .to_json\(path\) on the result"),
    ("verify", {"target_rate": 0.1}, "needs uniform sampling"),
    ("prune", {"recipe": "paper", "deep_screen": 0}, "--deep-screen needs --recipe deep"),
    ("prune", {"confidence": 1.5}, r"confidence=1.5: must be in \(0, 1\)"),
    ("prune", {"report": "p.json"}, "is a CLI option"),
    ("prove", {"depth": -1}, "depth=-1: must be positive"),
])
def test_bad_options_raise_the_packages_error_with_the_fix(call, options, message):
    with pytest.raises(OptionError, match=message):
        getattr(sanp, call)(str(DENSE), str(SPEC), **options)


def test_a_policy_that_does_not_fit_the_spec_is_refused():
    with pytest.raises(PolicyError, match="observation values"):
        sanp.verify(DENSE, ROOT / "specs" / "lunar_lander.stl", budget=2)
    with pytest.raises(OptionError, match="give a policy file's path"):
        sanp.verify(object(), SPEC, budget=2)
    with pytest.raises(OptionError, match="vecnormalize applies to a policy file"):
        sanp.verify(sanp.load_policy(DENSE), SPEC, budget=2, vecnormalize="v.pkl")



def test_options_take_the_clis_defaults_and_python_spellings():
    from sanp.options import namespace

    ns = namespace("verify", {"requirements": "angle", "collect_all": True, "confidence": 0.9})
    assert (ns.requirement, ns.all, ns.confidence, ns.budget, ns.optimizer) == (["angle"], True, 0.9, 100, "corners")
    assert namespace("verify", {"requirement": ["angle", "position"]}).requirement == ["angle", "position"]
    assert namespace("prune", {}).recipe == "deep"
    with pytest.raises(OptionError, match="give a name or a list of names"):
        namespace("verify", {"requirement": 3})


def test_the_summary_styles_itself_and_nothing_around_it():
    html = verify_runs()[0]._repr_html_()
    css = html[html.index("<style>") + len("<style>"):html.index("</style>")]
    selectors = [s.strip() for rule in re.findall(r"([^{}]+)\{", css) for s in rule.split(",")]
    assert len(selectors) > 10
    assert [s for s in selectors if not s.startswith(".sanp-report")] == []


def test_the_prune_result_carries_the_verdicts_noninferiority_statement():
    result, report, _ = prune_runs()
    ni = result.noninferiority
    assert ni is not None and ni.margin == 0.005 and ni.confidence == 0.95
    assert json.loads(json.dumps(ni.to_json())) == report["verdict"]["noninferiority"]
    # 20 held-out points cannot show half a point: the run is not ok, and says what would decide
    assert ni.sparse[1] == ni.dense[1] == 20 and ni.verdict != "non-inferior" and not result.ok
    assert result.verdict.startswith("UNDECIDED" if ni.verdict == "undecided" else "NOT NON-INFERIOR")
