"""One CLI style: `--json FILE` / `--json -` on every command that writes a report,
did-you-mean for commands and options, `--debug` anywhere, help on every option,
untruncated piped output, progress lines on stderr; and the small courtesies of
`check`, `eval` and `export` (the env with its keyword arguments, counts in the
singular, the env an ONNX file records, `--env` named where it is needed)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sanp.cli import main
from sanp.formats.onnx_writer import export_onnx
from sanp.model import MLPPolicy
from tests.sanp.cli_run import cli

ROOT = Path(__file__).resolve().parents[2]
CARTPOLE = str(ROOT / "specs" / "cartpole.stl")
LANDER_SPEC = str(ROOT / "specs" / "lunar_lander.stl")
LANDER = str(ROOT / "zoo" / "lunar_lander" / "dense.onnx")
SANP = Path(sys.executable).with_name("sanp")


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_check_names_the_env_with_its_arguments_and_counts_in_the_singular(capsys):
    code, out, err = cli(capsys, "check", LANDER_SPEC)
    assert code == 0 and err == ""
    assert " — env LunarLander-v3 (continuous=true), horizon 1000, " in out
    assert ", 1 region, 1 prop (gentle_main_engine)" in out and "1 regions" not in out


def test_eval_takes_the_env_an_onnx_file_records(capsys, tmp_path):
    # zoo/lunar_lander/dense.onnx records env_id LunarLander-v3 and env_kwargs {"continuous": true}:
    # the continuous policy would not fit the discrete default variant
    code, out, err = cli(capsys, "eval", LANDER, "--episodes", 1, "--horizon", 20)
    assert code == 0, err
    assert out.startswith("LunarLander-v3(continuous=true), 1 episode (seeds 0..0, horizon 20)")
    bare = tmp_path / "bare.onnx"
    export_onnx(MLPPolicy([4, 2], action_kind="discrete"), bare)
    code, out, err = cli(capsys, "eval", bare)
    assert code == 2 and one_line(err) == (f"sanp eval: error: {bare} does not record its env: give a SPEC "
                                            "file or --env ENV_ID to evaluate the policy on")


def test_exporting_a_foreign_onnx_to_c_names_the_env_option(capsys, tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # a plain Gemm network with no sanp metadata: nothing says discrete or continuous
    w = numpy_helper.from_array(np.ones((2, 4), np.float32), "w")
    b = numpy_helper.from_array(np.zeros(2, np.float32), "b")
    graph = helper.make_graph([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [w, b])
    theirs = tmp_path / "theirs.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), theirs)
    code, _, err = cli(capsys, "export", theirs, "-o", tmp_path / "p.c")
    assert code == 2 and "pass --env ENV_ID, e.g. --env CartPole-v1" in one_line(err)
    assert not (tmp_path / "p.c").exists()
    code, out, err = cli(capsys, "export", theirs, "--env", "CartPole-v1", "-o", tmp_path / "p.c")
    assert code == 0 and (tmp_path / "p.c").exists() and "p.c" in out, err


# ------------------------------------------------------------------ parsing and errors


@pytest.mark.parametrize("argv, line", [
    (["verfy"], "sanp: error: unknown command 'verfy' (did you mean 'verify'?)"),
    (["xyzzy"], ("sanp: error: unknown command 'xyzzy' (choose from check, verify, export, import, eval, "
                 "prune, prove, report, replay)")),
    (["verify", "p.onnx", CARTPOLE, "--budjet", "5"],
     "sanp verify: error: unknown option '--budjet' (did you mean '--budget'?)"),
    (["prune", "p.onnx", CARTPOLE, "-o", "s.onnx", "--heldout-budjet=5"],
     "sanp prune: error: unknown option '--heldout-budjet=5' (did you mean '--heldout-budget'?)"),
    (["verify", "p.onnx", CARTPOLE, "--optimizer", "boo"],
     "sanp verify: error: argument --optimizer: invalid choice 'boo' (did you mean 'bo'?)"),
    (["check", CARTPOLE, "--zzz"], "sanp check: error: unknown option '--zzz'; see sanp check --help"),
    # the typo leaves a required option missing: the typo is what is reported
    (["prune", "p.onnx", CARTPOLE, "--outptu", "s.onnx"],
     "sanp prune: error: unknown option '--outptu' (did you mean '--output'?)"),
    (["prune", "p.onnx"], "sanp prune: error: the following arguments are required: SPEC, -o/--output"),
])
def test_mistakes_on_the_command_line_get_one_line_with_a_suggestion(capsys, argv, line):
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == "" and err == line + "\n"


def test_debug_is_accepted_before_and_after_the_command(capsys, tmp_path):
    import stl

    missing = tmp_path / "missing.stl"
    code, _, err = cli(capsys, "check", missing)
    assert code == 2 and "spec file not found" in err and "Traceback" not in err
    for argv in (["--debug", "check", str(missing)], ["check", str(missing), "--debug"]):
        with pytest.raises(stl.SpecError, match="spec file not found"):
            main(argv)


def _actions(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {a.option_strings or a.dest}", a) for _, a in _actions(sub))
        else:
            yield str(action.option_strings or action.dest), action


def test_every_option_and_argument_has_help():
    from sanp.cli_parser import build_parser

    bare = [name for name, a in _actions(build_parser()) if not (a.help or "").strip()]
    assert bare == []


def test_prune_help_groups_its_options_and_names_the_report_alias(capsys):
    code, out, _ = cli(capsys, "prune", "--help")
    assert code == 0
    titles = [line[:-1] for line in out.splitlines() if line and not line.startswith(" ") and line.endswith(":")]
    assert titles == ["options", "inputs and outputs", "method", "budgets", "deep recipe", "held-out check",
                      "proof", "execution"]
    assert "--json FILE, --report FILE" in out and "--report is an alias" in out


def test_the_report_alias_is_named_in_errors_as_typed(capsys, tmp_path):
    same = str(tmp_path / "s.onnx")
    for option in ("--report", "--json"):
        code, _, err = cli(capsys, "prune", str(ROOT / "zoo/cartpole/dense.onnx"), CARTPOLE, "-o", same, option, same)
        assert code == 2 and one_line(err).startswith(f"sanp prune: error: {option} {same}: is also -o")


# ---------------------------------------------------------- reports, width, progress

PRUNE_TINY = ["--recipe", "paper", "--criterion", "activation", "--episodes", "20", "--budget", "8",
              "--rounds", "2", "--round-uniform", "150", "--heldout-budget", "8", "--heldout-uniform", "150"]
PHASE = re.compile(r"^\[\s*\d+\.\ds\] phase (\d+) of (\d+): (.*)$")


def _phases(err: str) -> list[tuple[int, int, str]]:
    return [(int(m[1]), int(m[2]), m[3]) for m in map(PHASE.match, err.splitlines()) if m]


def test_prune_json_dash_writes_only_the_report_on_stdout_and_a_line_per_phase_on_stderr(capsys, tmp_path):
    import json

    out_onnx = tmp_path / "s.onnx"
    code, out, err = cli(capsys, "prune", ROOT / "zoo/cartpole/dense.onnx", CARTPOLE, "-o", out_onnx,
                         *PRUNE_TINY, "--json", "-")
    assert code in (0, 1), err
    doc = json.loads(out)  # stdout is the report and nothing else
    assert doc["schema"] == "sanp.prune/1" and str(out_onnx) in json.dumps(doc["output"])
    assert not (Path.cwd() / "-").exists()
    assert "sparse policy: " in err and "sanp prune" in err  # the summary went to stderr
    phases = _phases(err)
    rounds = len(doc["rounds"])
    # step 1, each round run, then the final reward with the dense held-out check, and the sparse one
    assert [k for k, _, _ in phases] == list(range(1, rounds + 4))
    assert phases[0][2] == "step 1, the sparsity search"
    assert [p[2].split(" (")[0] for p in phases[1:1 + rounds]] == [f"refinement round {i} of at most 2"
                                                                  for i in range(1, rounds + 1)]
    assert phases[1][2] == "refinement round 1 of at most 2"  # nothing to estimate the first round from
    assert all(re.search(r" \(about (under )?\d+ s, as before\)$", p[2]) for p in phases[2:1 + rounds])
    assert phases[-1][:2] == (rounds + 3, rounds + 3)
    assert phases[-1][2].startswith("held-out check on the sparse policy (about ")
    assert all(n == 5 for _, n, _ in phases[:1 + rounds])  # foreseen: step 1, 2 rounds, 2 held-out phases


def test_verify_json_dash_and_prove_json_dash_print_pure_json(capsys, tmp_path):
    import json

    code, out, err = cli(capsys, "verify", ROOT / "zoo/cartpole/dense.onnx", CARTPOLE, "--budget", 3,
                         "--optimizer", "random", "--json", "-")
    assert code == 0 and json.loads(out)["schema"] == "sanp.verify/1"
    assert "No counterexample found within 3 evaluations" in err and "report:" not in err
    props = tmp_path / "p.json"
    props.write_text(json.dumps({"regions": {"r": {"x": [0, 0.1], "x_dot": [0, 0.1], "theta": [0.15, 0.2],
                                                   "theta_dot": [1.5, 2.0]}},
                                 "props": [{"name": "push_right", "over": "r",
                                            "then": {"kind": "action", "op": "==", "value": 1}}]}))
    code, out, err = cli(capsys, "prove", ROOT / "zoo/cartpole/dense.onnx", CARTPOLE, "--properties", props,
                         "--timeout", 20, "--json", "-")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "proved" and doc["skipped"] == []
    assert _phases(err) == [(1, 1, "property push_right (at most 20 s)")]
    assert "push_right" in err and "proved" in err


def test_piped_output_keeps_the_worst_point_in_full(tmp_path):
    # a policy that only damps the pole's rate drifts off the track from about half the
    # cube: uniform sampling finds a counterexample within a few episodes
    import os

    import torch

    p = MLPPolicy([4, 2], "identity", action_kind="discrete")
    with torch.no_grad():
        k = torch.tensor([0.0, 0.0, 0.0, 1.0])
        p.linears[0].weight.copy_(torch.stack([-k, k]))
        p.linears[0].bias.zero_()
    export_onnx(p, tmp_path / "drift.onnx")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    run = subprocess.run([str(SANP), "verify", str(tmp_path / "drift.onnx"), CARTPOLE, "--optimizer", "random",
                          "--budget", "12", "--all"], check=False, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 1, run.stderr
    assert "…" not in run.stdout
    rows = [line for line in run.stdout.splitlines() if "theta_dot=" in line]
    assert rows and all(re.search(r"x=\S+, x_dot=\S+, theta=\S+, theta_dot=-?\d[\d.e+-]*, reset_seed=\d+ +│$", r) for r in rows)
    assert max(map(len, run.stdout.splitlines())) > 80  # one line each, not wrapped at 80 columns


def test_phases_estimate_from_a_bound_or_the_phases_before_and_live_on_a_terminal():
    import io

    from rich.console import Console

    from sanp.progress import Phases

    buf = io.StringIO()
    with Phases("t", extra=1, console=Console(file=buf, force_terminal=True, width=120)) as phases:
        assert phases.live
        phases.start(1, 3, "round", "round 1")
        assert phases.estimate("round") == ""  # none yet: the first round is running
        phases.start(2, 3, "round", "round 2")
        assert re.fullmatch(r"about (under )?\d+ s, as before", phases.estimate("round"))
        assert phases.estimate("prove", at_most=90) == "at most 2 min"
        assert (phases.k, phases.n) == (2, 4)  # the command's extra phase counts in n
        phases.log("a message [not markup]")
    text = buf.getvalue()
    assert "a message [not markup]" in text and "phase 2 of 4: round 2" in text
