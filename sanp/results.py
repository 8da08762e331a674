"""What the Python API returns: `Policy` (a network and where it came from) and the
frozen results of `sanp.verify`, `sanp.prune` and `sanp.prove`.

Every result carries `.verdict` (the short verdict the CLI prints), `.report` (the
dict the CLI's JSON report holds), `.to_json(path=None)`, `.to_html(path=None)` (the
page of `sanp report`) and `_repr_html_` (the page's summary, shown by notebooks).

    >>> result = sanp.verify("zoo/cartpole/dense.onnx", "specs/cartpole.stl", budget=20)  # doctest: +SKIP
    >>> result.verdict                                                                      # doctest: +SKIP
    'no counterexample found'
    >>> result.to_json("verify.json")                                                       # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IN_MEMORY = "<in memory>"
"""The `policy` field of a report on a policy that was not read from a file."""


@dataclass(frozen=True, eq=False)
class Policy:
    """A policy network (`model`, a `sanp.model.MLPPolicy`) and where it came from.

    `sanp.load_policy` returns one; `sanp.prune` returns the refined one as
    `result.policy`, whose `save` writes the ONNX `sanp prune -o` writes.

    Examples:
        >>> pi = sanp.load_policy("zoo/cartpole/dense.onnx")     # doctest: +SKIP
        >>> pi.model.sizes, pi.sparsity                          # doctest: +SKIP
        ([4, 128, 128, 2], 0.0)
    """

    model: Any
    """The network: a `sanp.model.MLPPolicy` (masks, action semantics, normaliser)."""
    path: str | None = None
    """The file it was read from; None for a policy made in memory (a prune result)."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """ONNX metadata `save` writes (a prune result: its provenance, verdict, proof)."""
    storage: str = "dense"
    """ONNX weight storage `save` uses by default: "dense" or "sparse"."""

    @property
    def sparsity(self) -> float:
        """The fraction of weights pruned."""
        return float(self.model.sparsity())

    @property
    def sha256(self) -> str:
        """The SHA-256 of the file, or, in memory, of the ONNX bytes `save` writes."""
        if self.path is not None:
            from sanp.jsonio import file_sha256

            return file_sha256(self.path)
        from sanp.formats.onnx_writer import build_model

        data = build_model(self.model, dict(self.metadata), storage=self.storage).SerializeToString()
        return hashlib.sha256(data).hexdigest()

    def save(self, path: str | os.PathLike, *, storage: str | None = None) -> Path:
        """Write the policy by the suffix of `path` (.onnx, .c + .h, or .pt), atomically;
        ONNX with `metadata`. Refuses to overwrite the file the policy was read from.

        Example:
            >>> result.policy.save("sparse.onnx")               # doctest: +SKIP
        """
        from sanp.atomic import check_outputs
        from sanp.formats import save

        check_outputs({"path": path}, (self.path,) if self.path else ())
        save(self.model, path, metadata=dict(self.metadata), storage=storage or self.storage,
             source=self.path)
        return Path(path)

    def __repr__(self) -> str:
        where = self.path or IN_MEMORY
        return (f"Policy({where}, network {'-'.join(map(str, self.model.sizes))}, "
                f"{self.model.action_kind}, sparsity {self.sparsity:.2%})")


@dataclass(frozen=True, eq=False)
class _Result:
    verdict: str
    """The short verdict the CLI prints."""
    report: dict[str, Any] = field(repr=False)
    """The JSON report, as the CLI's --json writes it."""

    def to_json(self, path: str | os.PathLike | None = None) -> str | Path:
        """The report as JSON text; with `path`, write it there atomically (as the CLI's
        --json does) and return the path."""
        from sanp.jsonio import write_json

        if path is None:
            return json.dumps(self.report, indent=1, allow_nan=False) + "\n"
        write_json(self.report, path)
        return Path(path)

    def to_html(self, path: str | os.PathLike | None = None) -> str | Path:
        """The full self-contained page (`sanp report`): HTML text, or written to `path`."""
        from sanp import report

        if path is None:
            return report.render(self.report)
        report.write_html(self.report, path)
        return Path(path)

    def _repr_html_(self) -> str:
        from sanp.report.summary import summary

        return summary(self.report)


@dataclass(frozen=True, eq=False)
class VerifyResult(_Result):
    """What `sanp.verify` returns. `verdict` is "falsified" or "no counterexample found".

    Examples:
        >>> r = sanp.verify("zoo/cartpole/dense.onnx", "specs/cartpole.stl", budget=20)   # doctest: +SKIP
        >>> r.falsified, r.report["requirements"][0]["min_robustness"]                    # doctest: +SKIP
        >>> for c in r.counterexamples:                                                   # doctest: +SKIP
        ...     print(c.violated, c.point, c.trajectory.length)
    """

    counterexamples: tuple[Any, ...] = ()
    """The episodes found that violate a requirement: `sanp.falsify.Counterexample`
    (point, violated, robustness, min_robustness, step, trajectory, evaluation)."""
    result: Any = field(default=None, repr=False)
    """The `sanp.falsify.FalsifyResult`: every evaluation, timings, statistics."""

    @property
    def falsified(self) -> bool:
        """A counterexample was found (the CLI exits 1)."""
        return bool(self.counterexamples)


@dataclass(frozen=True, eq=False)
class PruneResult(_Result):
    """What `sanp.prune` returns. `verdict` is the verdict's headline the CLI prints first;
    `ok` says whether the CLI would exit 0.

    Examples:
        >>> r = sanp.prune("zoo/cartpole/dense.onnx", "specs/cartpole.stl", budget=20)   # doctest: +SKIP
        >>> r.ok, r.report["final"]["sparsity"]                                           # doctest: +SKIP
        >>> r.policy.save("sparse.onnx"); r.to_json("prune.json")                         # doctest: +SKIP
    """

    ok: bool = False
    counterexamples: tuple[Any, ...] = ()
    """The counterexamples of every refinement round in order (`sanp.method.rounds.CexSummary`:
    point, violated, min_robustness, step)."""
    policy: Policy | None = None
    """The refined policy as the CLI writes it (compacted unless no_compact), with its
    provenance metadata: `result.policy.save("sparse.onnx")`."""
    result: Any = field(default=None, repr=False)
    """The `sanp.method.PruneResult`: step 1, every round, the held-out check."""

    @property
    def noninferiority(self) -> Any:
        """The verdict's statement (`sanp.stats.NonInferiority`: margin, confidence, the
        counts on each policy, p, verdict, text), or None without a held-out check.

        Example:
            >>> r.noninferiority.verdict, r.noninferiority.margin                         # doctest: +SKIP
            ('non-inferior', 0.005)
        """
        return None if self.result is None else self.result.noninferiority


@dataclass(frozen=True, eq=False)
class ProveResult(_Result):
    """What `sanp.prove` returns. `verdict` is "proved", "refuted" or "unknown".

    Examples:
        >>> r = sanp.prove("zoo/cartpole/dense.onnx", "specs/cartpole.stl",
        ...                reference="zoo/cartpole/dense.onnx")                           # doctest: +SKIP
        >>> {p.prop.name: p.verdict for p in r.properties}                                # doctest: +SKIP
    """

    properties: tuple[Any, ...] = field(default=(), repr=False)
    """One `sanp.prove.bab.PropertyResult` per property: verdict, counterexamples, leaves."""

    @property
    def counterexamples(self) -> tuple[Any, ...]:
        """The observations that refute a property (`sanp.prove.bab` counterexamples)."""
        return tuple(c for p in self.properties for c in p.counterexamples)
