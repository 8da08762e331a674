"""Tiny runs of the Python API and of the CLI on the same inputs, made once per test
session and shared by test_api.py and test_schemas.py (each run costs seconds)."""
from __future__ import annotations

import atexit
import copy
import functools
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

import sanp
from sanp.cli import main

ROOT = Path(__file__).resolve().parents[2]
DENSE = ROOT / "zoo" / "cartpole" / "dense.onnx"
SPEC = ROOT / "specs" / "cartpole.stl"
HAS_MARABOU = importlib.util.find_spec("maraboupy") is not None

PRUNE = {"recipe": "paper", "sparsity": 0.5, "episodes": 10, "budget": 5, "rounds": 1, "round_uniform": 20,
         "heldout_budget": 5, "heldout_uniform": 20}
"""Tiny prune options (a fixed one-shot sparsity: no search), as keyword arguments."""


def cli_args(options: dict) -> list[str]:
    """The same options on the command line."""
    out = []
    for k, v in options.items():
        flag = "--" + k.replace("_", "-")
        out += [flag] if v is True else [flag, str(v)]
    return out


@functools.cache
def workdir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="sanp-api-tests-"))
    atexit.register(shutil.rmtree, d, True)
    return d


@functools.cache
def tight_spec() -> Path:
    """The CartPole spec with the pole held within 0.02 rad: the dense policy violates it
    within a few rollouts, so a verify run has counterexamples."""
    path = workdir() / "tight.stl"
    path.write_text(SPEC.read_text().replace("abs(theta) <= 0.2)", "abs(theta) <= 0.02)"))
    return path


@functools.cache
def props_spec_text() -> str:
    """The CartPole spec without its `agrees` prop (which needs a reference policy)."""
    return SPEC.read_text().replace("prop same_as_dense over domain: agrees", "")


@functools.cache
def verify_runs() -> tuple:
    """(API result, the CLI's --json report) of one falsifying verify run."""
    result = sanp.verify(str(DENSE), str(tight_spec()), budget=4, all=True, seed=3)
    out = workdir() / "verify.json"
    code = main(["verify", str(DENSE), str(tight_spec()), "--budget", "4", "--all", "--seed", "3",
                 "--json", str(out)])
    assert code == 1
    return result, json.loads(out.read_text())


@functools.cache
def prune_runs() -> tuple:
    """(API result written to api.onnx, the CLI's report, the CLI's ONNX path)."""
    api_out, cli_out, report = (workdir() / n for n in ("api.onnx", "cli.onnx", "prune.json"))
    result = sanp.prune(str(DENSE), str(SPEC), output=str(api_out), **PRUNE)
    main(["prune", str(DENSE), str(SPEC), "-o", str(cli_out), "--report", str(report), *cli_args(PRUNE)])
    return result, json.loads(report.read_text()), cli_out


@functools.cache
def prove_runs() -> tuple:
    """(API result on spec text, the CLI's --json report on the same spec as a file)."""
    spec_file = workdir() / "props.stl"
    spec_file.write_text(props_spec_text())
    result = sanp.prove(str(DENSE), props_spec_text(), timeout=30)
    out = workdir() / "prove.json"
    main(["prove", str(DENSE), str(spec_file), "--timeout", "30", "--json", str(out)])
    return result, json.loads(out.read_text())


def without_timing(doc: dict) -> dict:
    """A report without what differs between two identical runs: wall-clock times and
    the order in which thread pools were first loaded. A deep copy: callers may edit it."""
    doc = {k: v for k, v in copy.deepcopy(doc).items() if k != "timing"}
    if "rerun_requirements" in doc.get("inputs", {}):
        rr = dict(doc["inputs"]["rerun_requirements"])
        rr["threadpools"] = sorted(json.dumps(p, sort_keys=True) for p in rr["threadpools"])
        doc["inputs"] = {**doc["inputs"], "rerun_requirements": rr}
    if isinstance(doc.get("properties"), list):
        doc["properties"] = [{k: v for k, v in p.items() if k != "seconds"} for p in doc["properties"]]
    return doc
