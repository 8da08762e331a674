"""sanp from Python: load a policy and a spec, verify, prune and prove, as the CLI does.

Each function runs the code the CLI command runs (`sanp.commands`)
with the command's own options as keyword arguments (the long option names with `_`
for `-`: `budget`, `optimizer`, `seed`, `all` or `collect_all`, `mode`, `confidence`,
`recipe`, `deep_max_sparsity`, ...; the same defaults and checks), and returns a frozen
result (`sanp.results`) whose `.report` is the JSON report the CLI writes. Nothing is
printed and nothing is written unless asked.

    >>> import sanp
    >>> pi = sanp.load_policy("zoo/cartpole/dense.onnx")
    >>> spec = sanp.load_spec("specs/cartpole.stl")
    >>> sanp.verify(pi, spec, budget=20, seed=1).verdict                     # doctest: +SKIP
    'no counterexample found'
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from sanp.errors import OptionError
from sanp.results import IN_MEMORY, Policy, ProveResult, PruneResult, VerifyResult


def load_spec(path_or_text: str | os.PathLike | Any) -> Any:
    """Read and type-check a spec: a `.stl` file's path, or the spec's text (a string
    with a newline). Returns the `stl.SpecFile`; raises `stl.SpecError` pointing at the
    line and column of a mistake.

    Example:
        >>> spec = sanp.load_spec("specs/cartpole.stl")
        >>> list(spec.requirements)
        ['position', 'momentum', 'angle']
        >>> spec = sanp.load_spec(open("specs/cartpole.stl").read())      # text works too
    """
    import stl

    if isinstance(path_or_text, stl.SpecFile):
        return path_or_text
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return stl.parse(path_or_text)
    if not isinstance(path_or_text, (str, os.PathLike)):
        raise OptionError(f"spec: give a .stl path, spec text or an stl.SpecFile, "
                          f"not {type(path_or_text).__name__}")
    return stl.load(path_or_text)


def load_policy(path: str | os.PathLike, env: Any = None, vecnormalize: str | os.PathLike | None = None) -> Policy:
    """Read a policy file (.onnx, sanp .pt checkpoint, SB3 .zip) into a `sanp.Policy`.

    `env` (an env id such as "LunarLander-v3(continuous=true)", or a spec: an
    `stl.SpecFile`, a `.stl` path or spec text) checks that
    the network fits the env and supplies the action space a bare SB3 zip or ONNX file
    does not carry; `vecnormalize` folds SB3 VecNormalize statistics into the network.
    Raises `sanp.errors.PolicyError` saying what does not fit and how to fix it.

    Example:
        >>> pi = sanp.load_policy("zoo/cartpole/dense.onnx", env="CartPole-v1")
        >>> pi.model.obs_dim, pi.model.action_kind
        (4, 'discrete')
    """
    from sanp.commands.common import load_policy as load_for
    from sanp.envs import bind
    from sanp.formats import load

    vn = None if vecnormalize is None else os.fspath(vecnormalize)
    if env is None:
        return Policy(load(path, vecnormalize=vn), os.fspath(path))
    is_id = isinstance(env, str) and "\n" not in env and not env.endswith(".stl")
    binding = bind(env_id=env) if is_id else bind(load_spec(env))
    return Policy(load_for(os.fspath(path), binding, vn), os.fspath(path))


def verify(policy: Any, spec: Any, **options: Any) -> VerifyResult:
    """Search for episodes that violate the spec, as `sanp verify POLICY SPEC` does.

    `policy`: a path, a `sanp.Policy` or an `MLPPolicy`; `spec`: a path, spec text or an
    `stl.SpecFile`. Options are `sanp verify`'s: budget (rollouts, default 100),
    optimizer (a name in `sanp.falsify.PROPOSERS`: "corners", the default, "bo", "cmaes",
    "random", ...), seed, all (or collect_all: spend the whole budget),
    requirement (a name or a list), mode ("joint" or "each"), confidence, target_rate,
    vecnormalize, backend, address, workers. A bad value raises `sanp.errors.OptionError`.

    Example:
        >>> r = sanp.verify("zoo/cartpole/dense.onnx", "specs/cartpole.stl", budget=20, all=True)
        >>> r.verdict, len(r.counterexamples)
        ('no counterexample found', 0)
        >>> r.to_json("verify.json")              # the file `sanp verify --json` writes
    """
    from sanp.commands.verify import run_verify

    args = _namespace("verify", options)
    spec, binding = _bound(spec)
    pi = _policy(policy, binding, args.vecnormalize, "policy")
    args.policy, args.spec = pi.path or IN_MEMORY, spec.source
    result, doc = _with_backend(args, lambda: run_verify(args, pi.model, spec, binding,
                                                         policy_sha256=_digest(pi)))
    return VerifyResult(doc["verdict"], doc, counterexamples=tuple(result.counterexamples), result=result)


def prune(policy: Any, spec: Any, *, log: Callable[[str], None] | None = None, **options: Any) -> PruneResult:
    """Prune the policy and repair it until the falsifier finds nothing, as `sanp prune`
    does; the refined policy is `result.policy` (`.save("sparse.onnx")` writes the ONNX
    the CLI writes).

    Options are `sanp prune`'s: recipe ("deep" or "paper"), criterion, scope, sparsity,
    budget (falsifier rollouts per round), rounds, round_uniform, episodes,
    heldout_budget, heldout_uniform, seed, confidence, margin, the deep recipe's deep_max_sparsity,
    deep_time_limit, deep_screen, deep_screen_looks, deep_confirm, deep_collect_points,
    deep_finetune_steps, prove, prove_timeout, storage, no_compact, vecnormalize,
    backend, address, workers, and output (write the ONNX there as the run ends; the
    report then names it, as the CLI's does). `log` receives the progress lines the CLI
    prints on stderr.

    Example:
        >>> r = sanp.prune("zoo/cartpole/dense.onnx", "specs/cartpole.stl", recipe="paper",
        ...                budget=8, rounds=1, episodes=20, heldout_budget=8, heldout_uniform=100)
        >>> r.ok, round(r.policy.sparsity, 3)
        >>> r.policy.save("sparse.onnx")
    """
    from sanp.commands.common import check_output
    from sanp.commands.prune import prune_config, run_prune

    args = _namespace("prune", options)
    prune_config(args)  # bad option combinations fail before any work, as in the CLI
    spec, binding = _bound(spec)
    dense = _policy(policy, binding, args.vecnormalize, "policy")
    if args.output is not None:
        check_output(args.output, dense.path, spec.source if spec.source != "<string>" else None,
                     args.vecnormalize)
    args.policy, args.spec = dense.path or IN_MEMORY, spec.source
    outcome = _with_backend(args, lambda: run_prune(args, dense.model, spec, binding, log=log,
                                                    policy_sha256=_digest(dense)))
    refined = Policy(outcome.final, None, outcome.metadata, args.storage)
    if args.output is not None:
        refined.save(args.output)
    result = outcome.result
    cexs = tuple(c for r in result.rounds for c in r.counterexamples)
    return PruneResult(result.verdict.headline, outcome.report, ok=result.verdict.ok, counterexamples=cexs,
                       policy=refined, result=result)


def prove(policy: Any, spec: Any, **options: Any) -> ProveResult:
    """Prove the spec's one-step properties (its `region` / `prop` statements) over
    observation boxes, as `sanp prove` does (the default verifier needs the prove extra).

    Options are `sanp prove`'s: reference (the policy of `agrees` properties and of the
    `visited` region: a path, `sanp.Policy` or `MLPPolicy`), verifier (a name in
    `sanp.prove.verifiers`; default marabou), timeout (seconds per property), depth,
    no_split, workers, visited_episodes, seed, vecnormalize, properties (a JSON file of
    declarations instead of the spec's props).

    Example:
        >>> r = sanp.prove("zoo/cartpole/dense.onnx", "specs/cartpole.stl",
        ...                reference="zoo/cartpole/dense.onnx", timeout=5)
        >>> r.verdict, [p.verdict for p in r.properties]
    """
    from sanp.commands.prove import prove_run

    raw_reference = options.pop("reference", None)
    args = _namespace("prove", options)
    spec, binding = _bound(spec)
    pi = _policy(policy, binding, args.vecnormalize, "policy")
    ref = None if raw_reference is None else _policy(raw_reference, binding, None, "reference")
    args.policy, args.spec = pi.path or IN_MEMORY, spec.source
    args.reference = None if ref is None else ref.path or IN_MEMORY
    results, _skipped, doc = _with_backend(args, lambda: prove_run(
        args, pi.model, None if ref is None else ref.model, spec, binding,
        digests=(_digest(pi), None if ref is None else _digest(ref))))
    return ProveResult(doc["verdict"], doc, properties=tuple(results))


# ------------------------------------------------------------------------- helpers


def _namespace(command: str, options: dict[str, Any]) -> argparse.Namespace:
    from sanp.options import namespace

    return namespace(command, options)


def _bound(spec: Any) -> tuple[Any, Any]:
    from sanp.envs import bind

    s = load_spec(spec)
    return s, bind(s)


def _policy(policy: Any, binding: Any, vecnormalize: str | None, what: str) -> Policy:
    """`policy` as a Policy that fits the binding's env."""
    from sanp.commands.common import load_policy as load_for
    from sanp.formats.spaces import check_fit
    from sanp.model import MLPPolicy

    if isinstance(policy, (str, os.PathLike)):
        return Policy(load_for(os.fspath(policy), binding, vecnormalize), os.fspath(policy))
    if vecnormalize is not None:
        raise OptionError(f"vecnormalize applies to a policy file; fold it in with "
                          f"sanp.load_policy(path, vecnormalize={vecnormalize!r})")
    if isinstance(policy, MLPPolicy):
        policy = Policy(policy)
    if not isinstance(policy, Policy):
        raise OptionError(f"{what}: give a policy file's path, a sanp.Policy or an MLPPolicy, "
                          f"not {type(policy).__name__}")
    check_fit(policy.model, policy.path or IN_MEMORY, observation_space=binding.observation_space,
              action_space=binding.action_space)
    return policy


def _digest(policy: Policy) -> str | None:
    """The report's digest of a policy that is not a file (a file's is read from it)."""
    return None if policy.path is not None else policy.sha256


def _with_backend(args: argparse.Namespace, run: Callable[[], Any]) -> Any:
    """`run()` with the rollout backend of --backend/--address/--workers, as the CLI runs
    every command."""
    from sanp import backends
    from sanp.commands.common import backend_config

    with backends.use(backend_config(args)):
        return run()
