"""Prove one property: one verifier query over the whole region, and where that does not
prove it, branch and bound over the region.

Every box gets a closed violation query. "unsat": proved on the box. "sat": the point is
re-checked through onnxruntime in float32; a confirmed violation refutes the property
(the counterexample is kept); a point onnxruntime does not confirm sits on a tie, and
the query is asked again with the violation moved `tie_tolerance` past the boundary,
whose point must be confirmed in turn. A box that is refuted, timed out or tied is split
in half along its widest side (relative to the region) until `max_depth` splits; the
half holding a counterexample inherits it without a new query. Boxes left when the
time budget runs out are unknown. The leaves give the fractions of the region's volume
proved, refuted (boxes holding a confirmed counterexample: an upper bound on the
violating volume at this resolution), unknown and vacuous (no point meets the
assumptions).

Example:
    >>> r = prove_property(prop, policy, verifier=make_verifier(), config=ProveConfig(timeout=30))
    >>> r.verdict, r.fractions()
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from sanp.prove.encode import Judgement, build_query, float32_inside, judge, worst_violation
from sanp.prove.limits import MAX_DEPTH, MAX_TIMEOUT
from sanp.prove.properties import Box, Property, PropertyError
from sanp.prove.verifier import Query, Verifier

if TYPE_CHECKING:
    from sanp.model import MLPPolicy

Verdict = Literal["proved", "refuted", "unknown"]
LeafStatus = Literal["proved", "refuted", "unknown", "vacuous"]


@dataclass(frozen=True)
class ProveConfig:
    timeout: float = 60.0
    """Seconds per property, branch and bound included."""
    query_timeout: float | None = None
    """Seconds per verifier query (default: a quarter of `timeout`, so that a region
    too hard as a whole still leaves time for its parts)."""
    max_depth: int = 8
    """Most halvings of the region on one branch (8 in 4-D: each side cut to a quarter);
    at most MAX_DEPTH."""
    split: bool = True
    """Branch and bound where the property does not hold on the whole region."""
    tie_tolerance: float = 1e-4
    """How far past the boundary a violation must lie when the verifier's point sits on a tie."""
    samples: int = 256
    """Random points per box (and its centre) tried through onnxruntime before the
    verifier: a violation found this way needs no query."""
    seed: int = 0
    """Seed of those points."""

    def __post_init__(self) -> None:
        for name in ("timeout", "query_timeout"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= MAX_TIMEOUT:
                raise PropertyError(f"{name} must be in (0, {MAX_TIMEOUT:g}] seconds, got {value:g}")
        if not 0 <= self.max_depth <= MAX_DEPTH:
            raise PropertyError(f"max_depth must be in [0, {MAX_DEPTH}], got {self.max_depth}")


@dataclass(frozen=True)
class Leaf:
    box: Box
    status: LeafStatus
    depth: int
    note: str = ""


@dataclass(frozen=True)
class PropertyResult:
    """The outcome of `prove_property`."""

    prop: Property
    verdict: Verdict
    leaves: tuple[Leaf, ...]
    counterexamples: tuple[Judgement, ...]
    queries: int
    seconds: float
    reason: str = ""
    """Why the verdict is unknown (timeout, tie, verifier error), or empty."""
    nets: tuple[dict, ...] = field(default=())
    """Size of each network the verifier saw: ReLUs and non-zero weights."""

    def fractions(self) -> dict[str, float]:
        """Fraction of the region's volume per leaf status."""
        root = self.prop.region
        out = {s: 0.0 for s in ("proved", "refuted", "unknown", "vacuous")}
        for leaf in self.leaves:
            out[leaf.status] += leaf.box.fraction_of(root)
        return out

    @property
    def split(self) -> bool:
        return len(self.leaves) > 1


class _Search:
    def __init__(self, prop: Property, query: Query, verifier: Verifier, config: ProveConfig,
                 actor, reference_actor):
        self.prop, self.query, self.verifier, self.config = prop, query, verifier, config
        self.actor, self.reference = actor, reference_actor
        self.deadline = time.perf_counter() + config.timeout
        self.queries = 0
        self.reasons: list[str] = []

    def remaining(self) -> float:
        return self.deadline - time.perf_counter()

    def confirmed(self, point: tuple[float, ...], box: Box) -> Judgement | None:
        x = float32_inside(np.array(point), box.lo_array, box.hi_array)
        j = judge(self.prop, x, self.actor, self.reference)
        return j if j.in_scope and not j.holds else None

    def sampled(self, box: Box, key: int) -> Judgement | None:
        """The worst violation among random points of `box` and its centre, if any."""
        rng = np.random.default_rng([self.config.seed, key])
        pts = rng.uniform(box.lo_array, box.hi_array, (self.config.samples, box.dim))
        pts = np.vstack([box.center()[None], pts])
        return worst_violation(self.prop, float32_inside(pts, box.lo_array, box.hi_array),
                               self.actor, self.reference)

    def decide(self, box: Box, key: int) -> tuple[LeafStatus, Judgement | None, str]:
        """One box: proved, refuted (with its counterexample) or unknown (with why)."""
        cex = self.sampled(box, key) if self.config.samples > 0 else None
        if cex is not None:
            return "refuted", cex, ""
        per_query = self.config.query_timeout or self.config.timeout / 4
        budget = max(0.01, min(self.remaining(), per_query))
        query = self.query.on(box)
        for attempt in (query, query.tightened(self.config.tie_tolerance)):
            self.queries += 1
            res = self.verifier.find_violation(attempt, budget)
            if res.status == "unsat":
                if attempt is query:
                    return "proved", None, ""
                return "unknown", None, "tie: the verifier's only counterexamples lie on a tie that onnxruntime resolves in favour of the property"
            if res.status != "sat":
                return "unknown", None, res.status if res.status == "timeout" else f"verifier error: {res.message}"
            if res.point is None:
                return "unknown", None, "verifier error: 'sat' without a point"
            cex = self.confirmed(res.point, box)
            if cex is not None:
                return "refuted", cex, ""
            if self.remaining() <= 0:
                return "unknown", None, "timeout"
            budget = min(budget, self.remaining())
        return "unknown", None, "tie: onnxruntime does not confirm the verifier's counterexample"

    def run(self) -> tuple[list[Leaf], list[Judgement]]:
        root = self.prop.region
        widths = root.widths()
        leaves: list[Leaf] = []
        cexs: list[Judgement] = []
        # largest boxes first; entries: (-volume, order, box, depth, inherited counterexample)
        heap: list[tuple[float, int, Box, int, Judgement | None]] = [(-1.0, 0, root, 0, None)]
        order = 1
        while heap:
            _, key, box, depth, known = heapq.heappop(heap)
            if self.prop.vacuous_on(box):
                leaves.append(Leaf(box, "vacuous", depth))
                continue
            if known is None and self.remaining() <= 0:
                leaves.append(Leaf(box, "unknown", depth, "timeout"))
                continue
            status, cex, note = ("refuted", known, "") if known else self.decide(box, key)
            if cex is not None and known is None:
                cexs.append(cex)
            if note:
                self.reasons.append(note)
            rel = np.where(widths > 0, box.widths() / np.where(widths > 0, widths, 1), -1)
            axis = int(np.argmax(rel))
            # Nothing splits past the deadline, not even a refuted box (its halves need no
            # query, but a deep --depth would otherwise split it long after the timeout),
            # nor where float64 cannot halve the widest side any more.
            mid = (box.lo[axis] + box.hi[axis]) / 2
            can_split = (self.config.split and depth < self.config.max_depth and self.remaining() > 0
                         and box.lo[axis] < mid < box.hi[axis])
            if status == "proved" or not can_split:
                leaves.append(Leaf(box, status, depth, note))
                continue
            for half in box.split(axis):
                inherit = cex if cex is not None and half.contains(cex.obs) else None
                heapq.heappush(heap, (-half.fraction_of(root), order, half, depth + 1, inherit))
                order += 1
                cex = None if inherit is not None else cex
        return leaves, cexs


def prove_property(prop: Property, policy: MLPPolicy, reference: MLPPolicy | None = None, *, verifier: Verifier,
                   config: ProveConfig = ProveConfig()) -> PropertyResult:
    """Prove, refute or leave unknown `prop` for `policy` (an MLPPolicy; `reference` for
    `Agrees`), judging points with the policies as deployed (onnxruntime)."""
    from sanp.runtime import deployed

    start = time.perf_counter()
    query = build_query(prop, policy, reference)
    search = _Search(prop, query, verifier, config, deployed(policy),
                     None if reference is None else deployed(reference))
    leaves, cexs = search.run()
    statuses = {leaf.status for leaf in leaves}
    if cexs:
        verdict: Verdict = "refuted"
    elif statuses <= {"proved", "vacuous"}:
        verdict = "proved"
    else:
        verdict = "unknown"
    reason = "" if verdict != "unknown" else _main_reason(search.reasons)
    nets = tuple({"relus": n.n_relus(), "weights": n.n_terms()} for n in query.nets)
    return PropertyResult(prop, verdict, tuple(leaves), tuple(cexs), search.queries,
                          time.perf_counter() - start, reason, nets)


def _main_reason(reasons: list[str]) -> str:
    if not reasons:
        return "timeout"
    return max(set(reasons), key=reasons.count)
