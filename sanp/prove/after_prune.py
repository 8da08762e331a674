"""`sanp prune --prove`: the spec's props, and the differential property against the
dense input, proved on the refined policy; a one-line summary of the outcome for the
ONNX metadata, and verdict details for what is refuted (the report's `proof` block is
`sanp.report.documents.proof_block`).

Example:
    >>> proof = prove_pruned(spec, binding, refined, dense, timeout=30)
    >>> summary(proof.results)
    'push_right proved, push_left proved, same_as_dense refuted (proved 6.2%, refuted 12.9%, unknown 80.9%)'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sanp.prove.bab import PropertyResult, ProveConfig
from sanp.prove.properties import Agrees, Property, PropertyError
from sanp.prove.verifiers import check_verifier, make_verifier

if TYPE_CHECKING:
    from sanp.envs.binding import Binding
    from sanp.model import MLPPolicy
    from sanp.prove.domain import Resolver
    from stl import SpecFile

DIFFERENTIAL = "agrees_with_dense"
"""The name of the differential property sanp adds when the spec has no `agrees` prop."""


def proof_properties(spec: SpecFile, resolver: Resolver, action_kind: str) -> tuple[list[Property], str | None]:
    """The spec's props plus, for a discrete policy whose spec has no `agrees` prop,
    `agrees` with the dense policy over the visited region; and a note on what was left
    out (a continuous policy's differential property needs a distance the spec states)."""
    from sanp.prove.from_spec import properties_from_spec

    props = properties_from_spec(spec, resolver) if spec.properties else []
    if any(isinstance(p.conclusion, Agrees) for p in props):
        return props, None
    if action_kind != "discrete":
        return props, ("no differential property: a continuous policy needs a distance, "
                       "write `prop NAME over REGION: agrees within D` in the spec")
    props.append(Property(DIFFERENTIAL, resolver.visited(), Agrees(), (), "visited"))
    return props, None


def check_provable(spec: SpecFile, action_kind: str, verifier: str | None = None) -> None:
    """PropertyError, before a long prune run, when --prove would find nothing to prove;
    the verifier's error (MissingExtraError, PluginError) when it cannot run here."""
    check_verifier(verifier, "--prove")
    if not spec.properties and action_kind != "discrete":
        raise PropertyError(f"{spec.source}: --prove has nothing to prove for a continuous policy; add "
                            "prop statements to the spec (e.g. `prop close over domain: agrees within 0.1`)")


def check_before_prune(spec: SpecFile, binding: Binding, dense: MLPPolicy, verifier: str | None = None) -> None:
    """PropertyError, before a long prune run, for anything that would make `--prove`
    fail after it: nothing to prove, a policy the verifier cannot encode (tanh), a prop
    that does not fit the policy (names, indices, action kind). The 'visited' region is
    not computed here: a placeholder box of the right shape stands in for it."""
    from sanp.prove.domain import Resolver, obs_names
    from sanp.prove.network import check_encodable
    from sanp.prove.properties import Box, validate

    check_provable(spec, dense.action_kind, verifier)
    try:
        check_encodable(dense)
    except PropertyError as exc:
        raise PropertyError(f"--prove: {exc}; prune without --prove") from None
    names = obs_names(spec, dense.obs_dim)
    placeholder = Box((0.0,) * dense.obs_dim, (0.0,) * dense.obs_dim, names)
    resolver = Resolver(spec, binding, dense.obs_dim, visited=lambda: placeholder)
    props, _ = proof_properties(spec, resolver, dense.action_kind)
    for p in props:
        validate(p, obs_dim=dense.obs_dim, out_dim=dense.out_dim, action_kind=dense.action_kind,
                 has_reference=True)


@dataclass(frozen=True)
class PrunedProof:
    """What `prune --prove` proved: each property's result, what was left out (`note`),
    and the verifier as reports record it (`Verifier.describe()`)."""

    results: list[PropertyResult]
    note: str | None
    verifier: str


def prove_pruned(spec: SpecFile, binding: Binding, refined: MLPPolicy, dense: MLPPolicy, *, timeout: float, seed: int = 0,
                 episodes: int = 200, verifier: str | None = None) -> PrunedProof:
    """Prove on `refined` (MLPPolicy) with `dense` as the reference, with verifier
    `verifier` (a registry name; None: the default)."""
    from sanp.prove.domain import Resolver, obs_names, visited_box
    from sanp.prove.run import prove_all
    from sanp.runtime import deployed

    names = obs_names(spec, refined.obs_dim)

    def visited():
        return visited_box(deployed(dense), binding, episodes=episodes, seed=seed, names=names)

    resolver = Resolver(spec, binding, refined.obs_dim, visited=visited)
    check_provable(spec, refined.action_kind, verifier)
    props, note = proof_properties(spec, resolver, refined.action_kind)
    chosen = make_verifier(verifier, "--prove")
    results = prove_all(props, refined, dense, verifier=chosen, config=ProveConfig(timeout=timeout, seed=seed))
    return PrunedProof(results, note, chosen.describe())


def summary(results: list[PropertyResult]) -> str:
    """'name verdict' per property, with the volume fractions where it is not proved."""
    parts = []
    for r in results:
        f = r.fractions()
        partial = "" if r.verdict == "proved" else \
            f" (proved {f['proved']:.1%}, refuted {f['refuted']:.1%}, unknown {f['unknown']:.1%})"
        parts.append(f"{r.prop.name} {r.verdict}{partial}")
    return ", ".join(parts)


def refuted_details(block: dict[str, Any]) -> list[str]:
    """A verdict detail per refuted property."""
    return [f"proof: property {p['name']} refuted ({p['text']}); counterexample in the report's proof block"
            for p in block["properties"] if p["verdict"] == "refuted"]
