"""The counterexamples a verify or prune report recorded, read back for a replay
(`sanp verify POLICY SPEC --replay REPORT.json`), and the replay's own JSON report.

A verify report numbers its counterexamples 1, 2, ... as its page does; a prune
report's are numbered on across its rounds (round 1's first, then round 2's, ...). Every
failure is a one-line `ReplayInputError`: a report of another kind, of another spec or
env, without counterexamples, or an index out of range.

    >>> doc = report.load("verify.json")                                    # doctest: +SKIP
    >>> [r.label for r in recorded_counterexamples(doc, spec, binding)]     # doctest: +SKIP
    ['#1', '#2']
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sanp.errors import SanpError
from sanp.falsify.replay import Recorded, Replayed
from sanp.report.reading import PRUNE_SCHEMA, VERIFY_SCHEMA
from sanp.report.values import num, records
from sanp.types import RESET_SEED


class ReplayInputError(SanpError):
    """Raised when a report's counterexamples cannot be replayed with the given spec."""


def recorded_counterexamples(doc: Mapping[str, Any], spec: Any, binding: Any,
                             index: int | None = None) -> list[Recorded]:
    """Every counterexample of verify or prune report `doc` (or the `index`-th, 1-based),
    checked to belong to `spec` (bound as `binding`)."""
    check_same_spec(doc, spec)
    if doc.get("schema") == VERIFY_SCHEMA:
        found = [_verify_cex(c, f"#{k}") for k, c in enumerate(records(doc.get("counterexamples")), 1)]
    else:
        found = [_prune_cex(c, f"round {r.get('round', i)} #{k}")
                 for i, r in enumerate(records(doc.get("rounds")), 1)
                 for k, c in enumerate(records(r.get("counterexamples")), 1)]
    if not found:
        raise ReplayInputError("the report records no counterexample to replay (its run found none)")
    if index is not None:
        if not 1 <= index <= len(found):
            raise ReplayInputError(f"--index {index} is out of range: the report has {len(found)} "
                                   f"counterexample(s), numbered 1 to {len(found)}")
        found = [found[index - 1]]
    for rec in found:
        _check_point(rec, spec, binding)
    return found


def check_same_spec(doc: Mapping[str, Any], spec: Any) -> None:
    """A verify or prune report whose run used `spec` (same text, so the same env,
    horizon, search space and requirements)."""
    kind = doc.get("schema")
    if kind not in (VERIFY_SCHEMA, PRUNE_SCHEMA):
        raise ReplayInputError(f"--replay takes a verify or prune report ({VERIFY_SCHEMA}, {PRUNE_SCHEMA}); "
                               f"this is {kind or 'not a sanp report'}")
    inputs = _mapping(doc.get("inputs"))
    if inputs.get("spec_sha256") == spec.sha256:
        return
    env = inputs.get("env_id")
    if env is not None and env != spec.env_id:
        raise ReplayInputError(f"the report ran env {env}, the spec binds {spec.env_id}: replay it with the "
                               f"spec it ran ({inputs.get('spec')}; its text is in the report's inputs.spec_text)")
    raise ReplayInputError(f"the report ran another spec ({inputs.get('spec')}, sha256 "
                           f"{str(inputs.get('spec_sha256'))[:12]}...): replay it with that spec (its text is in "
                           "the report's inputs.spec_text)")


def _mapping(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _point(c: Mapping[str, Any]) -> dict[str, float]:
    p = c.get("point")
    if not isinstance(p, Mapping):
        raise ReplayInputError("a counterexample of the report has no point; was the file edited?")
    return {str(k): (int(v) if k == RESET_SEED else _number(v)) for k, v in p.items()}


def _violated(c: Mapping[str, Any], label: str) -> tuple[str, ...]:
    v = tuple(str(x) for x in c.get("violated") or [])
    if not v:
        raise ReplayInputError(f"counterexample {label} names no violated requirement; was the file edited?")
    return v


def _number(v: Any) -> float:
    x = num(v)
    return float("nan") if x is None else x


def _verify_cex(c: Mapping[str, Any], label: str) -> Recorded:
    rob = _mapping(c.get("robustness"))
    return Recorded(label, _point(c), _violated(c, label), {str(k): _number(v) for k, v in rob.items()},
                    _number(c.get("min_robustness")))


def _prune_cex(c: Mapping[str, Any], label: str) -> Recorded:
    return Recorded(label, _point(c), _violated(c, label), {}, _number(c.get("min_robustness")))


def _check_point(rec: Recorded, spec: Any, binding: Any) -> None:
    unknown = [n for n in (*rec.violated, *rec.robustness) if n not in spec.requirements]
    if unknown:
        raise ReplayInputError(f"counterexample {rec.label} names requirement {unknown[0]!r}, which the spec "
                               "does not have")
    missing = [d.name for d in binding.space if d.name not in rec.point]
    if missing:
        raise ReplayInputError(f"counterexample {rec.label} has no value for {', '.join(missing)}: the report's "
                               "points do not cover the spec's search space")


def policy_note(doc: Mapping[str, Any], policy_sha256: str) -> str | None:
    """Why the replayed robustness need not match the recorded one, or None when the
    report's counterexamples were found on this very policy."""
    inputs = _mapping(doc.get("inputs"))
    if doc.get("schema") == PRUNE_SCHEMA:
        return ("a prune report's counterexamples were found on the sparse policy of their round, before that "
                "round's repair; a policy repaired since need not violate them again")
    if inputs.get("policy_sha256") != policy_sha256:
        return (f"the report ran another policy ({inputs.get('policy')}); this replay tests the given one on "
                "the report's episodes")
    return None


def replay_report(doc: Mapping[str, Any], outcomes: Sequence[Replayed], spec: Any, *, report_path: str,
                  policy_path: str, spec_path: str, policy_sha256: str | None = None) -> dict[str, Any]:
    """A verify report (sanp.verify/1) of the replayed episodes, its `replay` block
    naming the report replayed and, per counterexample, the recorded and the replayed
    robustness: `sanp report` and `--plots` read it as they read any verify report."""
    from sanp.falsify import Counterexample, Evaluation, FalsifyConfig, FalsifyResult
    from sanp.report.documents import verify_report

    evals, cexs = [], []
    for i, r in enumerate(outcomes):
        names = tuple(r.robustness)
        evals.append(Evaluation(i, r.recorded.point, r.robustness, min(r.robustness.values())))
        violated = tuple(n for n in names if not r.robustness[n] >= 0)
        if violated:
            cexs.append(Counterexample(r.recorded.point, violated, r.robustness, r.min_robustness, r.step,
                                       r.trajectory, i))
    seed = int(num(_mapping(doc.get("inputs")).get("seed")) or 0)
    config = FalsifyConfig(budget=max(1, len(outcomes)), optimizer="random", seed=seed, collect_all=True)
    names = tuple(dict.fromkeys(n for r in outcomes for n in r.robustness))
    result = FalsifyResult(config, names, tuple(evals), tuple(cexs), 0.0, 0.0, 0.0)
    recorded_options = _mapping(_mapping(doc.get("inputs")).get("options"))
    options = {"budget": len(outcomes), "optimizer": str(recorded_options.get("optimizer", "random")),
               "all": True, "mode": "joint", "requirements": list(names), "confidence": 0.95, "target_rate": None}
    out = verify_report(result, spec, policy_path=policy_path, spec_path=spec_path, options=options,
                        policy_sha256=policy_sha256)
    out["statistics"] = []  # replayed counterexamples are no sample: no rate bound
    out["replay"] = {
        "report": str(report_path),
        "report_schema": doc.get("schema"),
        "rows": [{"label": r.recorded.label, "recorded_min_robustness": r.recorded.min_robustness,
                  "replayed_min_robustness": r.min_robustness, "difference": r.difference,
                  "violates": r.violates, "reproduced": r.reproduced} for r in outcomes],
    }
    from sanp.jsonio import jsonable

    return jsonable(out)
