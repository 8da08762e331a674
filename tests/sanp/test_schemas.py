"""The JSON Schemas of sanp's reports (sanp/schemas/*.json): valid draft 2020-12
schemas, shipped in the wheel, one per report schema sanp writes; real reports of every
kind validate, and a report with a field missing, mistyped or unknown does not."""
from __future__ import annotations

import copy

import jsonschema
import pytest
from api_runs import HAS_MARABOU, ROOT, prove_runs, prune_runs, verify_runs

from sanp.errors import SanpError
from sanp.report import PROVE_SCHEMA, SCHEMAS
from sanp.schemas import FILES, schema


def _report(kind: str) -> dict:
    if kind == "prove" and not HAS_MARABOU:
        pytest.skip("prove reports need maraboupy (pip install 'sanp[prove]')")
    run = {"verify": verify_runs, "prune": prune_runs, "prove": prove_runs}[kind]
    return copy.deepcopy(run()[1])  # the CLI's own JSON file, as read back


def _errors(doc: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema(doc["schema"]))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def test_every_report_schema_sanp_writes_has_a_schema_file():
    assert set(FILES) == {*SCHEMAS, PROVE_SCHEMA}
    for name in FILES:
        s = schema(name)
        jsonschema.Draft202012Validator.check_schema(s)
        assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert s["properties"]["schema"] == {"const": name}
    with pytest.raises(SanpError, match="no JSON Schema for report schema 'sanp.eval/1'"):
        schema("sanp.eval/1")


def test_the_schemas_ship_in_the_wheel():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "sanp.schemas" in tool["packages"]
    assert tool["package-data"]["sanp.schemas"] == ["*.json"]
    assert {p.name for p in (ROOT / "sanp" / "schemas").glob("*.json")} == set(FILES.values())


@pytest.mark.parametrize("kind", ["verify", "prune", "prove"])
def test_a_real_report_validates(kind):
    assert _errors(_report(kind)) == []


def test_the_horizon_block_of_newer_reports_validates():
    doc = _report("verify")
    doc["inputs"]["horizon"] = {"checked": 200, "episode_limit": 500, "covers_episode": False,
                                "cut": ["position", "angle"]}
    assert _errors(doc) == []


def test_the_api_reports_validate_too():
    assert _errors(verify_runs()[0].report) == []
    assert _errors(prune_runs()[0].report) == []


def _drop(path):
    def corrupt(doc):
        *head, last = path
        for key in head:
            doc = doc[key]
        del doc[last]
    return corrupt


def _set(path, value):
    def corrupt(doc):
        *head, last = path
        for key in head:
            doc = doc[key]
        doc[last] = value
    return corrupt


CORRUPTIONS = [
    ("verify", "missing evaluations", _drop(["evaluations"])),
    ("verify", "missing a counterexample's signals", _drop(["counterexamples", 0, "signals"])),
    ("verify", "seed as a string", _set(["inputs", "seed"], "3")),
    ("verify", "an unknown verdict", _set(["verdict", ], "passed")),
    ("verify", "a robustness that is not a number", _set(["requirements", 0, "min_robustness"], "low")),
    ("verify", "an unknown field", _set(["extra"], 1)),
    ("verify", "a short digest", _set(["inputs", "policy_sha256"], "c706f3")),
    ("verify", "a horizon without its cut list", _set(["inputs", "horizon"], {
        "checked": 200, "episode_limit": 500, "covers_episode": False})),
    ("prune", "missing the final block", _drop(["final"])),
    ("prune", "sparsity as a string", _set(["final", "sparsity"], "0.5")),
    ("prune", "verdict ok as a string", _set(["verdict", "ok"], "true")),
    ("prune", "a round without its seed", _drop(["rounds", 0, "seed"])),
    ("prune", "a recipe that is not a name", _set(["inputs", "options", "recipe"], 3)),
    ("prune", "a schema of another kind", _set(["command"], "verify")),
    ("prove", "a property without a verdict", _drop(["properties", 0, "verdict"])),
    ("prove", "an unknown verdict", _set(["verdict"], "maybe")),
    ("prove", "queries as a float", _set(["properties", 0, "queries"], 1.5)),
]


@pytest.mark.parametrize(("kind", "what", "corrupt"), CORRUPTIONS, ids=[f"{k}: {w}" for k, w, _ in CORRUPTIONS])
def test_a_corrupted_report_fails_validation(kind, what, corrupt):
    doc = _report(kind)
    corrupt(doc)
    assert _errors(doc), f"a {kind} report with {what} passed validation"


def test_the_evidence_fields_of_newer_prune_reports_validate():
    doc = _report("prune")
    assert "noninferiority" in doc["verdict"] and "alpha" in doc["verdict"] and doc["inputs"]["options"]["margin"]
    doc["step1"]["scan"][0].update(confirm_violations=1, confirm_dense_violations=0, confirm_points=200,
                                   confirm_passed=True)
    doc["rounds"][0].update(dense_uniform_violations=3, within_margin=True)
    assert _errors(doc) == []
    doc["verdict"]["noninferiority"]["verdict"] = "no worse"  # not one of the test's outcomes
    assert any("noninferiority" in e for e in _errors(doc))
