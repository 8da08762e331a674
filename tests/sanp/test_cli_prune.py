"""`sanp prune` end to end on the CartPole zoo policy, at tiny budgets."""
from __future__ import annotations

import json
from pathlib import Path

import onnxruntime as ort
import pytest

from sanp import formats as policies
from sanp.cli import main
from sanp.cli_parser import build_parser

ROOT = Path(__file__).resolve().parents[2]
DENSE = ROOT / "zoo" / "cartpole" / "dense.onnx"
SPEC = ROOT / "specs" / "cartpole.stl"
TINY = ["--criterion", "activation", "--episodes", "20", "--budget", "8", "--rounds", "3",
        "--round-uniform", "150", "--heldout-budget", "8", "--heldout-uniform", "150"]


def _strip(doc: dict) -> dict:
    doc = dict(doc)
    doc.pop("timing")
    doc["inputs"] = {k: v for k, v in doc["inputs"].items() if k != "versions"}
    return doc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = []
    for i in range(2):
        d = tmp_path_factory.mktemp(f"prune{i}")
        code = main(["prune", str(DENSE), str(SPEC), "-o", str(d / "sparse.onnx"), *TINY, "--recipe", "paper",
                     "--report", str(d / "report.json"), "--plots", str(d / "plots")])
        out.append((code, d))
    return out


def test_prune_writes_a_sparse_onnx_with_its_provenance(runs):
    code, d = runs[0]
    report = json.loads((d / "report.json").read_text())
    assert code == (0 if report["verdict"]["ok"] else 1)
    sparse = policies.load(d / "sparse.onnx")
    assert report["final"]["sparsity"] > 0.9
    assert report["rounds"][0]["counterexamples"], "the pruned policy should have been falsified"
    meta = ort.InferenceSession(str(d / "sparse.onnx")).get_modelmeta().custom_metadata_map
    # the output is compacted; the report and the metadata give the network before and after
    comp = report["compaction"]
    assert comp["sizes_before"] == [4, 128, 128, 2] and comp["sizes_after"] == sparse.sizes
    assert sparse.sizes[1] < 128 and sparse.sizes[2] < 128
    assert meta["compaction"] == comp["network"] == f"4-128-128-2 -> {'-'.join(map(str, sparse.sizes))}"
    assert comp["sparsity_before"] == pytest.approx(report["final"]["sparsity"], abs=1e-9)
    assert float(meta["sparsity_before_compaction"]) == pytest.approx(report["final"]["sparsity"], abs=1e-6)
    assert sum(int((w != 0).sum()) for w in sparse.effective_weights()) == comp["nonzero_weights"]
    assert meta["env_id"] == "CartPole-v1" and json.loads(meta["env_kwargs"]) == {}
    assert meta["spec_sha256"] == report["inputs"]["spec_sha256"]
    assert float(meta["sparsity"]) == pytest.approx(sparse.sparsity(), abs=1e-6)
    assert len(json.loads(meta["layer_sparsity"])) == 3
    assert set(json.loads(meta["heldout"])) == {"dense", "sparse"}
    assert (d / "sparse.onnx").stat().st_size < DENSE.stat().st_size / 2
    for name in ("weights.png", "sparsity.png", "rounds.png"):
        assert (d / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_refinement_fixes_what_the_rounds_found(runs):
    _, d = runs[0]
    report = json.loads((d / "report.json").read_text())
    r1 = report["rounds"][0]
    assert r1["recovered"] + r1["unrecoverable"] == len(r1["counterexamples"])
    assert r1["unfixed"] == 0 and sum(r1["restored_per_layer"]) > 0
    assert report["final"]["mean_reward"] >= 195
    # the exit code is the verdict, and the verdict needs convergence and the test
    code, _ = runs[0]
    verdict = report["verdict"]
    assert (code == 0) == verdict["ok"]
    ni = verdict["noninferiority"]
    assert verdict["ok"] == (report["final"]["converged"] and report["final"]["sparsity"] >= 0.01
                             and ni["verdict"] == "non-inferior"
                             and report["heldout"]["sparse"]["bo_counterexamples"]
                             <= report["heldout"]["dense"]["bo_counterexamples"])


def test_the_verdict_is_the_heldout_noninferiority_test_at_the_margin(runs, capsys):
    from sanp.stats import noninferiority

    code, d = runs[0]
    report = json.loads((d / "report.json").read_text())
    hd, hs = report["heldout"]["dense"], report["heldout"]["sparse"]
    ni = report["verdict"]["noninferiority"]
    alpha = report["verdict"]["alpha"]
    assert report["inputs"]["options"]["margin"] == ni["margin"] == 0.005
    assert alpha["heldout"] == ni["alpha"] and alpha["text"].startswith("alpha 0.05 split as")
    again = noninferiority((hd["uniform_violations"], hd["uniform_points"]),
                           (hs["uniform_violations"], hs["uniform_points"]), 0.005, ni["alpha"], 0.95, ni["points"])
    assert ni == json.loads(json.dumps(again.to_json()))
    assert ni["dense"] == {"violations": hd["uniform_violations"], "points": 150}
    # 150 held-out points cannot show half a point: the run says how many would, and exits 1
    if hs["uniform_violations"] == hd["uniform_violations"] == 0:
        assert ni["verdict"] == "undecided" and ni["points_to_decide"] > 150 and code == 1
        assert report["verdict"]["headline"].startswith("UNDECIDED on held-out points")
        assert f"about {ni['points_to_decide']} uniform points per policy" in report["verdict"]["headline"]


def test_margin_is_an_option_of_prune(tmp_path, capsys):
    from sanp.commands.prune import prune_config

    argv = ["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "s.onnx")]
    assert prune_config(build_parser().parse_args(argv)).margin == 0.005
    assert prune_config(build_parser().parse_args([*argv, "--margin", "0.02"])).margin == 0.02
    assert prune_config(build_parser().parse_args([*argv, "--deep-confirm", "50"])).deep.confirm == 50
    assert main([*argv, "--margin", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--margin" in err[0] and not (tmp_path / "s.onnx").exists()


def test_every_uniform_sample_carries_scipys_exact_bound(runs):
    from scipy import stats as st

    from sanp.stats import compare_rates

    _, d = runs[0]
    report = json.loads((d / "report.json").read_text())
    stats = report["statistics"]
    assert [s["label"] for s in stats[-2:]] == ["held-out uniform, dense policy", "held-out uniform, sparse policy"]
    assert len(stats) == len(report["rounds"]) + 2
    for s, r in zip(stats, report["rounds"]):
        assert (s["violations"], s["points"]) == (r["uniform_violations"], r["uniform_evaluations"]) != (0, 0)
    hd, hs = report["heldout"]["dense"], report["heldout"]["sparse"]
    assert (stats[-1]["violations"], stats[-1]["points"]) == (hs["uniform_violations"], hs["uniform_points"])
    for s in stats:
        ci = st.binomtest(s["violations"], s["points"], alternative="less").proportion_ci(0.95, method="exact")
        assert s["confidence"] == 0.95 and s["upper_bound"] == ci.high
        assert s["text"].startswith(f"{s['violations']} violation")
    cmp = compare_rates((hd["uniform_violations"], hd["uniform_points"]),
                        (hs["uniform_violations"], hs["uniform_points"]), 0.95)
    assert report["heldout"]["comparison"] == json.loads(json.dumps(cmp.to_json()))
    assert 0 < report["final"]["parameter_sparsity"] < report["final"]["sparsity"]
    assert report["inputs"]["rerun_requirements"]["packages"]["numpy"]
    assert [k for k in report["step1"]["scan"][0]] == ["k", "sparsity", "mean_reward", "passes"]


def test_a_run_that_compressed_nothing_says_so_first_and_exits_1(tmp_path, capsys):
    code = main(["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "s.onnx"), *TINY, "--recipe", "paper", "--rounds", "1",
                 "--sparsity", "0.004", "--report", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[0].startswith("NOTHING COMPRESSED")
    report = json.loads((tmp_path / "r.json").read_text())
    assert not report["verdict"]["ok"] and report["verdict"]["headline"] in out.splitlines()[0]


def test_same_seed_same_report_and_masks(runs):
    (c0, d0), (c1, d1) = runs
    a = _strip(json.loads((d0 / "report.json").read_text()))
    b = _strip(json.loads((d1 / "report.json").read_text()))
    a.pop("output"), b.pop("output")
    assert c0 == c1
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_prune_refuses_to_overwrite_its_input(tmp_path, capsys):
    target = tmp_path / "p.onnx"
    target.write_bytes(DENSE.read_bytes())
    assert main(["prune", str(target), str(SPEC), "-o", str(target), *TINY]) == 2
    assert "input" in capsys.readouterr().err
    assert target.read_bytes() == DENSE.read_bytes()


def test_prune_output_in_missing_directory_is_refused_before_work(tmp_path, capsys):
    assert main(["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "nope" / "s.onnx"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_report_command_renders_the_prune_run(runs, tmp_path, capsys):
    _, d = runs[0]
    out = tmp_path / "r.html"
    assert main(["report", str(d / "report.json"), "-o", str(out),
                 "--image", f"weights={d / 'plots' / 'weights.png'}"]) == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something/9"}')
    assert main(["report", str(bad), "-o", str(tmp_path / "b.html")]) == 2
    assert not (tmp_path / "b.html").exists()
    assert "schema" in capsys.readouterr().err


def test_fixed_sparsity_is_checked_and_used(tmp_path, capsys):
    assert main(["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "s.onnx"), "--sparsity", "1.2"]) == 2
    assert "(0, 1)" in capsys.readouterr().err
    code = main(["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "s.onnx"), "--sparsity", "0.9",
                 *TINY[2:], "--recipe", "paper", "--report", str(tmp_path / "r.json")])
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == (0 if report["verdict"]["ok"] else 1)
    assert report["step1"]["k"] == 0.9
    assert report["step1"]["sparsity"] == pytest.approx(0.9, abs=0.01)


def test_deep_recipe_compresses_more_than_the_paper_recipe_at_the_same_seed(runs, tmp_path, capsys):
    # 150 held-out points show non-inferiority at 5 points, not at the default half point
    code = main(["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "d.onnx"), *TINY, "--recipe", "deep",
                 "--deep-max-sparsity", "0.985", "--margin", "0.05", "--report", str(tmp_path / "d.json")])
    deep = json.loads((tmp_path / "d.json").read_text())
    paper = json.loads((runs[0][1] / "report.json").read_text())
    assert (deep["inputs"]["options"]["recipe"], paper["inputs"]["options"]["recipe"]) == ("deep", "paper")
    # the schedule's settings are recorded (a rerun needs them), and only for the recipe that has them
    assert deep["inputs"]["options"]["deep"]["max_sparsity"] == 0.985 and "deep" not in paper["inputs"]["options"]
    assert deep["inputs"]["options"]["deep"]["finetune"]["steps"] == 500
    # as the schedule ran them: the run's episodes and seed, not DeepConfig's defaults
    assert deep["inputs"]["options"]["deep"]["episodes"] == deep["inputs"]["options"]["episodes"] != 100
    assert deep["step1"]["stop"] in ("step", "max_sparsity") and "stop" not in paper["step1"]
    assert "step 1 stopped" in capsys.readouterr().out  # the summary says why the schedule ended
    assert deep["final"]["sparsity"] > paper["final"]["sparsity"]
    assert deep["final"]["mean_reward"] >= 195 and deep["verdict"]["ok"] and code == 0
    assert "as safe as the dense policy within 5 percentage points" in deep["verdict"]["headline"]
    assert deep["verdict"]["noninferiority"]["margin"] == deep["inputs"]["options"]["deep"]["margin"] == 0.05
    confirmed = [h for h in deep["step1"]["scan"] if "confirm_points" in h]
    assert confirmed and all(h["confirm_points"] == 200 for h in confirmed)
    assert all(h["confirm_passed"] for h in deep["step1"]["scan"] if h["passes"] and "confirm_points" in h)
    scan = deep["step1"]["scan"]
    assert scan[0]["k"] == 0 and scan[0]["screen_p"] == 1.0  # the dense row: the screen's own count
    screened = [h for h in scan[1:] if "screen_p" in h]
    assert screened and all(h["mean_reward"] >= 195 for h in screened)
    assert all(h["passes"] == (h["screen_p"] >= h["screen_alpha"] and h.get("confirm_passed", True))
               for h in screened)
    # the screen's share of the run's error (sanp.method.alpha), over its 4 looks
    assert all(h["screen_alpha"] == pytest.approx(deep["verdict"]["alpha"]["screen"] / 4) for h in screened)
    assert all(h["screen_points"] in (100, 200, 300, 400) for h in screened)
    assert all("screen_p" not in h and not h["passes"] for h in scan[1:] if h["mean_reward"] < 195)
    for doc in (deep, paper):
        for r in doc["rounds"]:
            # a round names its repair exactly when it had counterexamples to repair
            assert (r["repair"] is None) == (len(r["counterexamples"]) == r["dense_also_violates"]
                                             or r.get("within_margin", False))
    assert {r["repair"] for r in paper["rounds"]} <= {"restore", None} and paper["rounds"][0]["repair"] == "restore"


def test_deep_options_need_the_deep_recipe(tmp_path, capsys):
    assert main(["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "s.onnx"), "--recipe", "paper",
                 "--deep-time-limit", "5"]) == 2
    assert "--recipe deep" in capsys.readouterr().err
    assert main(["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "s.onnx"), "--recipe", "paper",
                 "--deep-screen", "50"]) == 2
    assert "--deep-screen needs --recipe deep" in capsys.readouterr().err
    assert main(["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "s.onnx"), "--recipe", "deep",
                 "--deep-screen", "-1"]) == 2
    assert main(["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "s.onnx"), "--recipe", "deeper"]) == 2
    assert "unknown recipe 'deeper': did you mean 'deep'?" in capsys.readouterr().err
    assert not (tmp_path / "s.onnx").exists()


def test_the_screen_looks_reach_the_schedule_and_zero_is_refused(tmp_path, capsys):
    from sanp.commands.prune import _deep_config

    argv = ["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "s.onnx"), "--recipe", "deep"]
    assert _deep_config(build_parser().parse_args([*argv, "--deep-screen-looks", "3"])).screen_looks == 3
    assert _deep_config(build_parser().parse_args(argv)).screen_looks == 4
    assert main([*argv, "--deep-screen-looks", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--deep-screen-looks" in err[0] and not (tmp_path / "s.onnx").exists()


def test_the_training_budget_reaches_the_schedule(tmp_path, capsys):
    from sanp.commands.prune import _deep_config

    argv = ["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "s.onnx")]
    cfg = _deep_config(build_parser().parse_args([*argv, "--deep-collect-points", "40", "--deep-finetune-steps", "3000"]))
    assert (cfg.collect_points, cfg.finetune.steps, cfg.finetune.lr) == (40, 3000, 3e-3)
    plain = _deep_config(build_parser().parse_args(argv))
    assert (plain.collect_points, plain.finetune.steps) == (10, 500)
    assert main([*argv, "--deep-finetune-steps", "-5"]) == 2
    assert main([*argv, "--recipe", "paper", "--deep-collect-points", "40"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--deep-collect-points needs --recipe deep" in err[1]
    assert not (tmp_path / "s.onnx").exists()


def test_paper_recipe_options_are_refused_with_the_deep_recipe_not_ignored(tmp_path, capsys):
    for extra, says in ((["--sparsity", "0.9"], "--sparsity fixes the paper recipe"),
                        (["--scope", "layer"], "--scope layer needs --recipe paper")):
        assert main(["prune", str(DENSE), str(SPEC), "-o", str(tmp_path / "s.onnx"), "--recipe", "deep",
                     *extra]) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.onnx").exists()


def test_the_criterion_defaults_to_each_recipes_own_and_reaches_the_deep_schedule(monkeypatch):
    import sanp.method.deep_recipe as dr
    from sanp.method import PruneConfig
    from sanp.method.recipes import Step1Job

    assert PruneConfig().recipe == "deep" and PruneConfig().criterion == "activation"
    assert PruneConfig(recipe="paper").criterion == "magnitude"
    assert build_parser().parse_args(["prune", "p.onnx", "s.stl", "-o", "o.onnx"]).recipe == "deep"
    seen = []

    def fake(dense, binding, spec, config, log=None, **_):
        seen.append(config.criterion)
        raise KeyboardInterrupt
    monkeypatch.setattr(dr, "deep_compress", fake)
    for given, want in ((None, "activation"), ("magnitude", "magnitude")):
        with pytest.raises(KeyboardInterrupt):
            dr.DeepRecipe().step1(Step1Job(None, None, None, PruneConfig(recipe="deep", criterion=given), 0.0,
                                           lambda _m: None))
    assert seen == ["activation", "magnitude"]
