"""The JSON documents of verify, prune and prove runs.

Reports are strict JSON (infinities are written as the strings "inf" / "-inf") with a
schema version; everything but the `TIMING_FIELDS` repeats byte for byte for the same
inputs, options, seed and versions (see `sanp.provenance` for what a rerun must match). The inputs carry the spec text, so that a report can be read (and its
comparisons evaluated, by `stl`) without the spec file.

    >>> doc = verify_report(result, spec, policy_path="p.onnx", spec_path="s.stl", options={})  # doctest: +SKIP
    >>> write_json(doc, "verify.json")                                                     # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import stl
from sanp import seeds
from sanp.horizon import coverage
from sanp.jsonio import file_sha256, jsonable
from sanp.provenance import package_versions, rerun_requirements
from sanp.report.reading import PROVE_SCHEMA, PRUNE_SCHEMA, VERIFY_SCHEMA

if TYPE_CHECKING:
    from sanp.falsify import Counterexample, FalsifyResult
    from sanp.prove.bab import PropertyResult
    from sanp.prove.properties import Property


TIMING_FIELDS = ("timing",)
"""The fields of a verify or prune report that hold wall-clock times, the only ones in
which two runs with the same inputs, options, seed and versions on one machine differ.
(`output` names the path given, and a `proof` block, whose prover stops at wall-clock
timeouts, is outside the guarantee.)"""


def without_timing(doc: Mapping[str, Any]) -> dict[str, Any]:
    """`doc` without its `TIMING_FIELDS`: what a seeded rerun repeats exactly."""
    return {k: v for k, v in doc.items() if k not in TIMING_FIELDS}


def versions() -> dict[str, str]:
    """Python's version and those of sanp's packages (`sanp.provenance.PACKAGES`)."""
    return {"python": platform.python_version(), **package_versions()}


def run_inputs(policy_path: str, spec_path: str, spec: Any, options: Mapping[str, Any], seed: int,
               policy_sha256: str | None = None) -> dict[str, Any]:
    """What a run was given: enough to repeat it and to check it was these files.
    `policy_sha256` replaces the file's digest for a policy that is not a file (the
    Python API's in-memory policies: the digest of the ONNX their `save` writes)."""
    return {
        "policy": str(policy_path),
        "policy_sha256": policy_sha256 or file_sha256(policy_path),
        "spec": str(spec_path),
        "spec_sha256": spec.sha256,
        "spec_text": spec.text,
        "env_id": spec.env_id,
        "reward_threshold": spec.reward_threshold,
        "horizon": coverage(spec).to_json(),
        "consts": dict(spec.consts),
        "options": dict(options),
        "seed": seed,
        "versions": versions(),
        "rerun_requirements": rerun_requirements(),
    }


def counterexample_dict(cex: Counterexample, spec: Any) -> dict[str, Any]:
    traj = cex.trajectory
    return {
        "point": cex.point,
        "violated": list(cex.violated),
        "robustness": cex.robustness,
        "min_robustness": cex.min_robustness,
        "step": cex.step,
        "evaluation": cex.evaluation,
        "length": traj.length,
        "total_reward": traj.total_reward,
        "terminated": traj.terminated,
        "nonfinite": traj.nonfinite,
        "signals": traj.signals(spec),
        "actions": traj.actions,
    }


def verify_report(
    result: FalsifyResult,
    spec: Any,
    *,
    policy_path: str,
    spec_path: str,
    options: Mapping[str, Any],
    policy_sha256: str | None = None,
) -> dict[str, Any]:
    """The JSON document of a verify run."""
    reqs = []
    for name in result.requirements:
        evs = [e for e in result.evaluations if name in e.robustness]
        reqs.append(
            {
                "name": name,
                "formula": stl.format_node(spec.requirements[name].formula),
                "evaluations": len(evs),
                "min_robustness": result.min_robustness(name),
                "counterexamples": sum(name in c.violated for c in result.counterexamples),
            }
        )
    return jsonable(
        {
            "schema": VERIFY_SCHEMA,
            "command": "verify",
            "verdict": "falsified" if result.falsified else "no counterexample found",
            "inputs": run_inputs(policy_path, spec_path, spec, options, result.config.seed, policy_sha256),
            "requirements": reqs,
            "evaluations": [
                {
                    "index": e.index,
                    "point": e.point,
                    "robustness": e.robustness,
                    "objective": e.objective,
                    **({"target": e.target} if e.target else {}),
                }
                for e in result.evaluations
            ],
            "counterexamples": [counterexample_dict(c, spec) for c in result.counterexamples],
            "statistics": [b.to_json() for b in result.statistics()],
            "target_rate": result.target_summary(),
            "seeds": seeds.record(result.config.seed, ("reset",)),
            "timing": {
                "wall_s": result.wall_time,
                "rollout_s": result.rollout_time,
                "optimizer_s": result.optimizer_time,
            },
        }
    )


# ---------------------------------------------------------------------------- prune

def _heldout_dict(h: Any) -> dict[str, Any] | None:
    if h is None:
        return None
    return {
        "bo_evaluations": h.bo_evaluations,
        "bo_counterexamples": h.bo_counterexamples,
        "bo_min_robustness": h.bo_min_robustness,
        "uniform_points": h.uniform_points,
        "uniform_violations": h.uniform_violations,
        "per_requirement": h.per_requirement,
        "mean_reward": h.mean_reward,
    }


def prune_metadata(result: Any, spec: Any) -> dict[str, str]:
    """ONNX metadata of the refined policy: provenance a deployer can check."""
    hd, hs = result.heldout_dense, result.heldout_sparse
    return {
        "env_id": spec.env_id,
        "env_kwargs": json.dumps(jsonable(dict(spec.env_kwargs)), sort_keys=True),
        "spec_sha256": spec.sha256,
        "seed": str(result.config.seed),
        "sparsity": f"{result.policy.sparsity():.6f}",
        "parameter_sparsity": f"{result.parameter_sparsity:.6f}",
        "layer_sparsity": json.dumps([round(x, 6) for x in result.policy.layer_sparsity()]),
        "mean_reward": f"{result.final_reward:.4f}",
        "converged": str(result.converged).lower(),
        "verdict": result.verdict.headline,
        "heldout": json.dumps(jsonable({"dense": _heldout_dict(hd), "sparse": _heldout_dict(hs)})),
        "produced_by": "sanp prune",
    }


def prune_report(result: Any, spec: Any, *, policy_path: str, spec_path: str, output_path: str | None,
                 policy_sha256: str | None = None) -> dict[str, Any]:
    """The JSON document of a prune run."""
    from sanp.method.step1 import parameter_sparsity

    cfg = result.config
    rounds = [_round_dict(r) for r in result.rounds]
    return jsonable({
        "schema": PRUNE_SCHEMA,
        "command": "prune",
        "verdict": result.verdict.to_json(),
        "statistics": [b.to_json() for b in result.statistics],
        "inputs": run_inputs(policy_path, spec_path, spec, {
            "recipe": cfg.recipe, "criterion": cfg.criterion, "scope": cfg.scope, "episodes": cfg.episodes,
            "resolution": cfg.resolution, "sparsity": cfg.sparsity, "budget": cfg.budget,
            "optimizer": cfg.optimizer, "round_uniform": cfg.round_uniform, "rounds": cfg.rounds,
            "heldout_budget": cfg.heldout_budget, "heldout_uniform": cfg.heldout_uniform,
            "confidence": cfg.confidence, "margin": cfg.margin,
            **cfg.recipe_object.report_options(cfg),
        }, cfg.seed, policy_sha256),
        "output": None if output_path is None else str(output_path),
        "dense_reward": result.dense_reward,
        "step1": {
            "k": result.step1.k,
            "sparsity": result.step1.policy.sparsity(),
            "parameter_sparsity": parameter_sparsity(result.step1.policy),
            "layer_sparsity": result.step1.policy.layer_sparsity(),
            "mean_reward": result.step1.mean_reward,
            "scan": [_scan_entry(h) for h in result.step1.scan],
            **({"stop": result.step1.stop} if result.step1.stop is not None else {}),
        },
        "rounds": rounds,
        "final": {
            "sparsity": result.policy.sparsity(),
            "parameter_sparsity": result.parameter_sparsity,
            "layer_sparsity": result.policy.layer_sparsity(),
            "mean_reward": result.final_reward,
            "converged": result.converged,
            "masks_sha256": _masks_digest(result.policy),
        },
        "heldout": {"dense": _heldout_dict(result.heldout_dense), "sparse": _heldout_dict(result.heldout_sparse),
                    "comparison": result.comparison.to_json() if result.comparison else None},
        "seeds": seeds.record(cfg.seed),
        **reproducibility(result),
        "timing": result.times,
    })


def reproducibility(result: Any) -> dict[str, Any]:
    """`reproducible` (every limit that shaped the result was counted in work, so the same
    seed and versions repeat it) and `safety_stop` (what the wall-clock safety stop cut
    short, None when it did not bind)."""
    if result.step1.stop != "time_limit":
        return {"reproducible": True, "safety_stop": None}
    from sanp.method.schedule_parts import safety_stop_text

    levels, limit = len(result.step1.scan) - 1, result.config.deep.time_limit
    return {"reproducible": False, "safety_stop": {"option": "--deep-time-limit", "seconds": limit,
                                                   "levels": levels, "text": safety_stop_text(levels, limit)}}


def _round_dict(r: Any) -> dict[str, Any]:
    """One falsify-recover-repair round of a prune report."""
    return {
        "round": r.index,
        "seed": r.seed,
        "evaluations": r.bo_evaluations,
        "uniform_evaluations": r.uniform_evaluations,
        "uniform_violations": r.uniform_violations,
        "counterexamples": [
            {"point": c.point, "violated": list(c.violated), "min_robustness": c.min_robustness,
             "step": c.step}
            for c in r.counterexamples
        ],
        "dense_also_violates": r.dense_also_violates,
        "recovered": r.recovered,
        "unrecoverable": r.unrecoverable,
        "repair": r.repair,
        "p": r.p,
        "restored_per_layer": list(r.restored) if r.restored is not None else None,
        "unfixed": r.unfixed,
        "p_trials": [list(t) for t in r.trials],
        "sparsity": r.sparsity,
        **({"dense_uniform_violations": r.dense_uniform_violations, "within_margin": r.within_margin}
           if r.dense_uniform_violations is not None else {}),
    }


def _scan_entry(h: Any) -> dict[str, Any]:
    out = {"k": h.k, "sparsity": h.sparsity, "mean_reward": h.mean_reward, "passes": h.passes}
    if h.screen is not None:
        c = h.screen
        out.update(screen_violations=c.violations, screen_dense_violations=c.dense_violations,
                   screen_points=c.points, screen_p=c.p_value, screen_alpha=c.alpha)
    if getattr(h, "confirmation", None) is not None:
        c = h.confirmation
        out.update(confirm_violations=c.violations, confirm_dense_violations=c.dense_violations,
                   confirm_points=c.points, confirm_passed=c.passed)
    return out


def _masks_digest(policy: Any) -> str:
    h = hashlib.sha256()
    for m in policy.masks:
        h.update(np.ascontiguousarray(m.detach().cpu().numpy(), dtype=np.uint8).tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------- prove

def property_dict(r: PropertyResult) -> dict[str, Any]:
    """One property's outcome (a `sanp.prove.bab.PropertyResult`) as JSON-able data."""
    region = r.prop.region
    return {
        "name": r.prop.name,
        "text": r.prop.text(),
        "region": {"name": r.prop.region_name, "names": list(region.names), "lo": list(region.lo),
                   "hi": list(region.hi)},
        "verdict": r.verdict,
        "reason": r.reason,
        "seconds": r.seconds,
        "queries": r.queries,
        "networks": list(r.nets),
        "fractions": r.fractions(),
        "counterexamples": [
            {"obs": list(c.obs), "margin": c.margin, "outputs": list(c.values),
             "reference_outputs": None if c.reference_values is None else list(c.reference_values)}
            for c in r.counterexamples
        ],
        "leaves": [{"lo": list(leaf.box.lo), "hi": list(leaf.box.hi), "status": leaf.status,
                    "depth": leaf.depth, "note": leaf.note} for leaf in r.leaves],
    }


def prove_report(results: Sequence[PropertyResult], inputs: Mapping[str, Any],
                 skipped: Sequence[Property] = ()) -> dict[str, Any]:
    """The JSON report of `sanp prove` (schema sanp.prove/1) from its PropertyResults.
    `skipped`: properties not run (they need a reference policy), listed by name with the
    reason."""
    from sanp.prove.run import verdict

    return jsonable({
        "schema": PROVE_SCHEMA,
        "command": "prove",
        "inputs": {**inputs, "versions": versions()},
        "verdict": verdict(results, skipped),
        "properties": [property_dict(r) for r in results],
        "skipped": [{"name": p.name, "text": p.text(), "reason": "needs a reference policy (--reference)"}
                    for p in skipped],
    })


def proof_block(results: Sequence[PropertyResult], *, verifier: str, timeout: float, summary: str,
                note: str | None) -> dict[str, Any]:
    """The prune report's `proof` block (`prune --prove`): the verdict, the verifier (as
    `sanp prove` records it), the timeout, the one-line summary and each property."""
    from sanp.prove.run import verdict

    return jsonable({"verdict": verdict(results), "verifier": verifier, "timeout": timeout, "summary": summary,
                     "note": note, "properties": [property_dict(r) for r in results]})
