"""`sanp verify` end to end on tiny budgets (in-process through `sanp.cli.main`, and
through the installed script): exit codes, one-line errors, the strict and
reproducible JSON report, plots; `sanp check` and `sanp eval`."""
from __future__ import annotations

import glob
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sanp import rollout
from sanp.envs import bind
from sanp.falsify import score
from sanp.formats.torch_policy import save_checkpoint
from sanp.formats.onnx_writer import export_onnx
from sanp.model import MLPPolicy
from tests.sanp.cli_run import cli

ROOT = Path(__file__).resolve().parents[2]
CARTPOLE = str(ROOT / "specs" / "cartpole.stl")
SANP = Path(sys.executable).with_name("sanp")
PNG = b"\x89PNG\r\n\x1a\n"
WEAK = (0.0, 0.0, 0.6, 1.0)  # drifts off the track from a small part of the cube (see test_falsify)
SAFE = (1.0, 1.0, 10.0, 2.0)  # full-state feedback, safe on the cube (see test_falsify)
DRIFT = (0.0, 0.0, 0.0, 1.0)  # damps the pole's rate only: fails in about half the episodes


def linear_policy(k) -> MLPPolicy:
    """One linear layer with logits (-k.s, k.s): argmax pushes right iff k.s > 0."""
    p = MLPPolicy([len(k), 2], "identity", action_kind="discrete")
    with torch.no_grad():
        kt = torch.tensor(k, dtype=torch.float32)
        p.linears[0].weight.copy_(torch.stack([-kt, kt]))
        p.linears[0].bias.zero_()
    return p


def nan_policy(bias_nan: bool = False) -> MLPPolicy:
    """Continuous LunarLander policy: 0 while the lander's x < 0.01, NaN beyond
    (inf - inf from two saturated ReLU units); NaN everywhere with `bias_nan`."""
    p = MLPPolicy([8, 1, 2, 2], "relu", action_kind="continuous", action_low=[-1, -1], action_high=[1, 1])
    with torch.no_grad():
        for lin in p.linears:
            lin.weight.zero_()
            lin.bias.zero_()
        p.linears[0].weight[0, 0], p.linears[0].bias[0] = 1e30, -1e28
        p.linears[1].weight[:, 0] = 1e30
        p.linears[2].weight[0, 0], p.linears[2].weight[0, 1] = 1.0, -1.0
        if bias_nan:
            p.linears[2].bias[1] = float("nan")
    return p


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    export_onnx(linear_policy(WEAK), d / "weak.onnx")
    save_checkpoint(linear_policy(WEAK), d / "weak.pt")
    export_onnx(linear_policy(SAFE), d / "safe.onnx")
    save_checkpoint(linear_policy(DRIFT), d / "drift.pt")
    export_onnx(linear_policy((0.0, 1.0, 1.0)), d / "three_inputs.onnx")
    export_onnx(MLPPolicy([4, 2], action_kind="continuous", action_low=[-1, -1], action_high=[1, 1]),
                d / "continuous.onnx")
    export_onnx(nan_policy(), d / "nan.onnx")
    export_onnx(nan_policy(bias_nan=True), d / "all_nan.onnx")
    (d / "lunar.stl").write_text(
        "env LunarLander-v3(continuous=true)\nhorizon 25\nsignal y = obs[1]\nsignal main = action[0]\n"
        "search push_x in [-1000, 1000]\nreq up: always (y >= -10)\n"
    )
    (d / "syntax.stl").write_text("env CartPole-v1\nsignal x = obs[0]\nreq r: always (abs(x) <= )\n")
    return d


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def strict_json(text: str):
    def refuse(const):
        raise ValueError(f"non-standard JSON constant {const}")

    return json.loads(text, parse_constant=refuse)


# ---------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("policy", ["weak.onnx", "weak.pt"])
def test_weak_policy_is_falsified(capsys, files, policy):
    code, out, err = cli(capsys, "verify", files / policy, CARTPOLE, "--budget", 20, "--seed", 1)
    assert code == 1, out + err
    assert "FALSIFIED: 1 counterexample(s)" in out and "Traceback" not in err


def test_safe_policy_passes(capsys, files):
    code, out, err = cli(capsys, "verify", files / "safe.onnx", CARTPOLE, "--budget", 15)
    assert code == 0, out + err
    assert "No counterexample found within 15 evaluations" in out and "FALSIFIED" not in out


def test_installed_script(files):
    proc = subprocess.run([SANP, "verify", files / "weak.onnx", CARTPOLE, "--budget", "20", "--seed", "1"],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FALSIFIED" in proc.stdout and "Traceback" not in proc.stderr
    proc = subprocess.run([SANP, "verify", files / "weak.onnx", CARTPOLE, "--budget", "0"],
                          check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "must be a positive whole number" in one_line_error(proc.stderr)


# ------------------------------------------------------------------- bad inputs


def test_missing_policy_file(capsys, files):
    code, _out, err = cli(capsys, "verify", files / "nope.onnx", CARTPOLE, "--budget", 5)
    assert code == 2
    assert re.fullmatch(r"sanp verify: error: .*nope\.onnx: no such policy file; check the path", one_line_error(err))


def test_spec_syntax_error_points_at_line_and_column(capsys, files):
    path = files / "syntax.stl"
    code, out, err = cli(capsys, "verify", files / "weak.onnx", path, "--budget", 5)
    assert code == 2 and "Traceback" not in err and out == ""
    first, *rest = err.strip().splitlines()
    assert re.match(rf"{re.escape(str(path))}:3:\d+: ", first), first
    assert any(line.strip() == "^" for line in rest)  # the excerpt's caret
    code, _, err = cli(capsys, "verify", files / "weak.onnx", files / "missing.stl", "--budget", 5)
    assert code == 2 and "spec file not found" in err.splitlines()[0]


@pytest.mark.parametrize("budget", ["0", "-3", "ten"])
def test_bad_budget(capsys, files, budget):
    code, _out, err = cli(capsys, "verify", files / "weak.onnx", CARTPOLE, "--budget", budget)
    assert code == 2
    assert one_line_error(err).startswith("sanp verify: error: argument --budget:")


def test_json_into_a_missing_directory(capsys, files, tmp_path):
    target = tmp_path / "no" / "such" / "report.json"
    code, out, err = cli(capsys, "verify", files / "weak.onnx", CARTPOLE, "--budget", 5, "--json", target)
    assert code == 2
    assert "does not exist" in one_line_error(err)
    assert not target.parent.exists() and list(tmp_path.iterdir()) == []
    assert "FALSIFIED" not in out  # it failed before any search


def test_plots_where_they_cannot_go(capsys, files, tmp_path):
    code, _, err = cli(capsys, "verify", files / "weak.onnx", CARTPOLE, "--budget", 5, "--plots", tmp_path / "a" / "b")
    assert code == 2 and "does not exist" in one_line_error(err) and not (tmp_path / "a").exists()
    (tmp_path / "f").write_text("")
    code, _, err = cli(capsys, "verify", files / "weak.onnx", CARTPOLE, "--budget", 5, "--plots", tmp_path / "f")
    assert code == 2 and "not a directory" in one_line_error(err)


def test_json_over_an_input_is_refused(capsys, files, tmp_path):
    spec = tmp_path / "c.stl"
    spec.write_text(Path(CARTPOLE).read_text())
    code, _, err = cli(capsys, "verify", files / "weak.onnx", spec, "--budget", 5, "--json", spec)
    assert code == 2 and "is an input of this command" in one_line_error(err)
    assert spec.read_text() == Path(CARTPOLE).read_text()


def test_policy_that_does_not_fit_the_env(capsys, files):
    code, _, err = cli(capsys, "verify", files / "three_inputs.onnx", CARTPOLE, "--budget", 5)
    assert code == 2
    assert "takes 3 observation values but the env gives 4" in one_line_error(err)
    code, _, err = cli(capsys, "verify", files / "continuous.onnx", CARTPOLE, "--budget", 5)
    assert code == 2 and "continuous policy but the env has discrete actions" in one_line_error(err)


def test_unknown_requirement(capsys, files):
    code, _, err = cli(capsys, "verify", files / "weak.onnx", CARTPOLE, "--budget", 5, "--requirement", "angel")
    assert code == 2
    assert "did you mean 'angle'?); it has: position, momentum, angle" in one_line_error(err)


# ------------------------------------------------------------- report and plots


def test_json_report_and_plots(capsys, files, tmp_path, cartpole_spec, linear_cartpole):
    report, plots = tmp_path / "r.json", tmp_path / "plots"
    code, out, _ = cli(capsys, "verify", files / "weak.onnx", CARTPOLE, "--budget", 40, "--optimizer", "random",
                       "--seed", 4, "--all", "--json", report, "--plots", plots)
    assert code == 1 and f"report: {report}" in out
    doc = strict_json(report.read_text())
    assert doc["schema"] == "sanp.verify/1" and doc["verdict"] == "falsified"
    inp = doc["inputs"]
    assert inp["policy_sha256"] == hashlib.sha256((files / "weak.onnx").read_bytes()).hexdigest()
    assert inp["spec_sha256"] == hashlib.sha256(Path(CARTPOLE).read_bytes()).hexdigest()
    assert inp["seed"] == 4 and inp["env_id"] == "CartPole-v1"
    assert inp["options"]["budget"] == 40 and inp["options"]["optimizer"] == "random"
    assert {"python", "numpy", "torch", "gymnasium", "GPyOpt"} <= set(inp["versions"])
    assert [r["name"] for r in doc["requirements"]] == ["position", "momentum", "angle"]
    evs = doc["evaluations"]
    assert [e["index"] for e in evs] == list(range(40))
    assert all(set(e["robustness"]) == {"position", "momentum", "angle"} for e in evs)
    assert all(e["objective"] == min(e["robustness"].values()) for e in evs)
    cexs = doc["counterexamples"]
    assert cexs and [c["evaluation"] for c in cexs] == [e["index"] for e in evs if e["objective"] < 0]
    b = bind(cartpole_spec)
    for c in cexs:
        assert c["point"] == evs[c["evaluation"]]["point"] and c["min_robustness"] < 0
        assert set(c["signals"]) == {"x", "x_dot", "theta", "theta_dot"}
        assert all(len(v) == c["length"] + 1 for v in c["signals"].values()) and len(c["actions"]) == c["length"]
        # the reported episode replays from its point, to the same robustness
        traj = rollout.run(linear_cartpole(WEAK), b, c["point"])
        assert traj.signals(cartpole_spec)["x"].tolist() == c["signals"]["x"]
        assert score(cartpole_spec, ["position", "momentum", "angle"], traj) == c["robustness"]
    # plots: the robustness history and one figure per counterexample
    names = sorted(p.name for p in plots.iterdir())
    assert names == sorted(["robustness.png"] + [f"cex_{i}.png" for i in range(len(cexs))])
    assert all((plots / n).read_bytes()[:8] == PNG for n in names)


def test_same_seed_gives_byte_identical_reports(capsys, files, tmp_path):
    texts = []
    for name in ("a.json", "b.json"):
        code, *_ = cli(capsys, "verify", files / "weak.onnx", CARTPOLE, "--budget", 14, "--seed", 3, "--all",
                       "--json", tmp_path / name)
        assert code == 1
        texts.append((tmp_path / name).read_text())
    assert texts[0] != texts[1]  # the timing block differs...
    stripped = [re.sub(r'\n "timing": \{[^}]*\}', "", t) for t in texts]
    assert stripped[0] != texts[0] and '"timing"' not in stripped[0]
    assert stripped[0] == stripped[1]  # ...and nothing else
    assert len(strict_json(texts[0])["evaluations"]) == 14


def test_nan_episodes_in_the_report(capsys, files, tmp_path):
    report = tmp_path / "n.json"
    code, _out, _ = cli(capsys, "verify", files / "nan.onnx", files / "lunar.stl", "--budget", 8,
                       "--optimizer", "random", "--all", "--json", report, "--plots", tmp_path / "p")
    assert code == 1
    assert (tmp_path / "p" / "robustness.png").read_bytes()[:8] == PNG
    assert (tmp_path / "p" / "cex_0.png").read_bytes()[:8] == PNG
    doc = strict_json(report.read_text())  # -inf is written as a string, not -Infinity
    assert doc["requirements"][0]["min_robustness"] == "-inf"
    for c in doc["counterexamples"]:
        assert c["nonfinite"] and c["robustness"] == {"up": "-inf"} and c["point"]["push_x"] > 0
    assert all(e["objective"] != "-inf" for e in doc["evaluations"] if e["point"]["push_x"] < 0)


def test_a_policy_with_nan_weights_is_refused_before_any_episode(capsys, files):
    # a NaN weight makes every output NaN; a discrete policy would silently choose action 0
    code, out, err = cli(capsys, "verify", files / "all_nan.onnx", files / "lunar.stl", "--budget", 3,
                         "--optimizer", "random")
    assert code == 2 and out == "" and "holds NaN or infinite values" in one_line_error(err)


def test_mode_each_and_requirement_options(capsys, files, tmp_path):
    report = tmp_path / "e.json"
    code, _out, _ = cli(capsys, "verify", files / "weak.onnx", CARTPOLE, "--budget", 6, "--optimizer", "random",
                       "--mode", "each", "--requirement", "angle", "--requirement", "momentum", "--all",
                       "--json", report)
    assert code == 0
    doc = strict_json(report.read_text())
    assert doc["inputs"]["options"]["requirements"] == ["momentum", "angle"]
    assert [e["target"] for e in doc["evaluations"]] == ["momentum"] * 6 + ["angle"] * 6


# ------------------------------------------------------------------ check, eval


def test_check_all_specs(capsys):
    paths = sorted(glob.glob(str(ROOT / "specs" / "*.stl")))
    assert paths
    code, out, err = cli(capsys, "check", *paths)
    # the paper's 200-step CartPole spec is the one zoo spec that checks less than an episode
    assert code == 0 and err.splitlines() == [(f"{CARTPOLE}: warning: horizon 200 is shorter than "
                                               "CartPole-v1's episode limit of 500 steps, and position, "
                                               "momentum, angle depend on the steps after it: set "
                                               "`horizon 500` to check whole deployed episodes")]
    lines = out.strip().splitlines()
    assert len(lines) == len(paths)
    for path, line in zip(paths, lines):
        assert line.startswith(f"{path}: ok — env ")
    assert "search [x, x_dot, theta, theta_dot]" in lines[paths.index(CARTPOLE)]


def test_check_reports_the_first_bad_file(capsys, files, tmp_path):
    bad = tmp_path / "bad_search.stl"
    bad.write_text("env CartPole-v1\nsignal x = obs[0]\nsearch thet in [0, 1]\nreq r: always (x <= 1)\n")
    code, out, err = cli(capsys, "check", CARTPOLE, files / "lunar.stl", bad)
    assert code == 2 and len(out.strip().splitlines()) == 2
    *warnings, err = err.splitlines()  # both good specs check less than an episode
    assert [w.split(": warning: horizon ")[0] for w in warnings] == [CARTPOLE, str(files / "lunar.stl")]
    assert re.fullmatch(rf"sanp check: error: {re.escape(str(bad))}:3:8: .*did you mean 'theta'.*", one_line_error(err))


def test_check_counts_regions_and_props(capsys, tmp_path):
    spec = tmp_path / "props.stl"
    head = "env CartPole-v1\nsignal x = obs[0]\nsignal theta = obs[2]\nreq r: always (x <= 2)\n"
    spec.write_text(head + "region lean: x in [0.5, 2.4], theta in [0.05, 0.2]\n"
                    "region domain: visited\nprop push over lean: theta >= 0.1 implies action == 1\n"
                    "prop same over domain: agrees\n")
    code, out, err = cli(capsys, "check", spec)
    assert code == 0 and err == ""
    assert out.strip().endswith(", 2 regions, 2 props (push, same)")
    spec.write_text(head + "region lean: x in [0, 1]\nprop p over lean: x * theta >= 1 implies action == 1\n")
    code, out, err = cli(capsys, "check", spec)
    assert code == 2 and "Traceback" not in err
    first, excerpt, caret, hint = err.strip().splitlines()
    assert first == f"{spec}:6:19: `x * theta` is not linear"
    assert caret.index("^") == excerpt.index("x * theta")


def test_eval_prints_return_statistics(capsys, files, linear_cartpole):
    code, out, err = cli(capsys, "eval", files / "safe.onnx", CARTPOLE, "--episodes", 5)
    assert code == 0
    assert "return mean 200.00 ± 0.00, min 200.00, max 200.00" in out
    code, out, err = cli(capsys, "eval", files / "drift.pt", "--env", "CartPole-v1", "--episodes", 12,
                         "--seed", 5, "--horizon", 400)
    assert code == 0
    m = re.search(r"return mean ([\d.]+) ± ([\d.]+), min ([\d.]+), max ([\d.]+)", out)
    assert m, out
    expected = rollout.returns(linear_cartpole(DRIFT), bind(env_id="CartPole-v1", horizon=400), episodes=12, seed=5)
    assert expected.min() < expected.max()  # the seeds matter for this policy
    got = [float(g) for g in m.groups()]
    assert got == pytest.approx([expected.mean(), expected.std(), expected.min(), expected.max()], abs=0.006)
    assert "seeds 5..16, horizon 400" in out
    code, _, err = cli(capsys, "eval", files / "weak.pt", CARTPOLE, "--env", "CartPole-v1")
    assert code == 2 and "either SPEC or --env" in one_line_error(err)


def test_target_rate_stops_at_the_computed_sample_size(capsys, files, tmp_path):
    """No violation on SAFE: sampling stops after ceil(ln(1-c)/ln(1-eps)) episodes, the
    report carries the exact bound, and the run exits 0; a budget too small to reach the
    target exits 1 and says so."""
    import math

    from scipy import stats as st

    report = tmp_path / "t.json"
    code, out, _ = cli(capsys, "verify", files / "safe.onnx", CARTPOLE, "--optimizer", "random",
                       "--target-rate", "0.05", "--budget", 500, "--json", report)
    n = math.ceil(math.log(1 - 0.95) / math.log(1 - 0.05))
    doc = strict_json(report.read_text())
    assert code == 0 and len(doc["evaluations"]) == n == 59
    assert doc["target_rate"]["episodes"] == n and doc["target_rate"]["reached"]
    (stat,) = doc["statistics"]
    assert (stat["violations"], stat["points"], stat["confidence"]) == (0, n, 0.95)
    assert stat["upper_bound"] == st.binomtest(0, n, alternative="less").proportion_ci(0.95, method="exact").high
    assert stat["text"] in out and "0 violations in 59 uniform episodes: violation rate < 4.96%" in out
    code, out, _ = cli(capsys, "verify", files / "safe.onnx", CARTPOLE, "--optimizer", "random",
                       "--target-rate", "0.05", "--budget", 30)
    assert code == 1 and "budget (30 episodes) ended before the bound fell to 0.05" in out
    code, _, err = cli(capsys, "verify", files / "safe.onnx", CARTPOLE, "--target-rate", "0.05")
    assert code == 2 and "--optimizer random" in err
