"""The "deep" recipe: gradual pruning with sparse distillation after every step, in
place of the paper's one-shot step 1, and a repair that keeps the sparsity.

`deep_compress` raises the sparsity in steps (each step removes a fraction of the
weights still kept, lowest importance first, one global threshold), fine-tunes the
surviving weights on states labelled by the dense policy after each step, and keeps
the sparsest policy whose mean reward reaches the spec's cutoff and which passes the
safety screen and its confirmation (below). The training states are aggregated DAgger-style: states the dense policy visits, then, after every step,
states the current sparse policy visits (from the env's own initial distribution and
from uniform points of the spec's search space), so the student learns what the
teacher would do where the student drifts. A step whose reward misses the cutoff gets
`retries` more rounds of collect-and-fine-tune; if it still fails, the schedule goes
back to the last passing policy and tries half the step. On the safety screen's points
(`sanp.method.screen`) a level may not violate the spec significantly more often than the
dense policy, and on the confirmation's fresh points not more than the margin. Reward need not fall
monotonically with sparsity, so nothing here assumes it: every level is evaluated.

Seeds come from the run's seed tree (`sanp.seeds`): reward estimates use the stream
`reward` (the paper's step 1's episodes), collect round r the stream `deep.collect.r`.
Every other draw of a level (its importance sample, the buffer's subsample, the
fine-tune's minibatches) comes from a stream named by the level's index, never from one
stream consumed across levels: the schedule's state after any level (`ScheduleState`)
fixes everything that follows, so a resumed run ends exactly as an uninterrupted one.

Example:
    >>> result = deep_compress(dense, bind(spec), spec, DeepConfig(seed=0))
    >>> result.policy.sparsity(), result.mean_reward
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from sanp import seeds
from sanp.envs import Binding
from sanp.errors import OptionError
from sanp.method.finetune import FinetuneConfig, finetune
from sanp.method.path_guard import prune_to
from sanp.method.schedule_parts import PhaseTimer, StateBuffer, safety_stop_text
from sanp.method.screen import ConfirmCheck, Screen, ScreenCheck, describe, draw_screen
from sanp.method.step1 import Criterion, SparsitySearch, SparsityStep, importance, reward_cutoff
from sanp.rollout import run_batch, run_episodes
from sanp.runtime import deployed
from sanp.stats import DEFAULT_MARGIN, check_confidence, check_margin

Log = Callable[[str], None]


# ---------------------------------------------------------------------- the schedule


@dataclass(frozen=True)
class DeepConfig:
    """Settings of the gradual schedule."""

    episodes: int = 100
    """Episodes per mean-reward estimate (the reset seeds of the seed tree's `reward` stream)."""
    seed: int = 0
    criterion: Criterion = "activation"
    """Importance of a weight: |w|, |w| times the mean |input|, or the first-order rise of the
    distillation loss when it is removed (`sanp.method.step1.importance`), over buffered states."""
    step: float = 0.5
    """Fraction of the kept weights each step removes."""
    min_step: float = 0.1
    """After failures the step halves; below this the schedule stops."""
    retries: int = 1
    """Extra collect-and-fine-tune rounds at a level that misses the cutoff."""
    max_sparsity: float = 0.999
    collect_episodes: int = 10
    """Episodes of the env's own initial distribution collected per DAgger round."""
    collect_points: int = 10
    """Episodes from uniform points of the spec's search space per DAgger round."""
    max_states: int = 200_000
    """Training buffer size; beyond it a uniform random subset is kept."""
    finetune: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(steps=500, lr=3e-3))
    time_limit: float | None = None
    """Seconds: a safety stop only (every other limit counts work); when it binds the schedule
    stops, keeping the best passing policy, and the run is marked not reproducible."""
    inputs: tuple[int, ...] | None = None
    """Inputs the path guard keeps connected (None: every input the dense policy reads)."""
    screen: int = 100
    """Uniform points of the spec's search space per batch of the safety screen, on which
    a level must not violate the spec significantly more often than the dense policy
    (`sanp.method.screen`); 0 turns the screen off."""
    screen_looks: int = 4
    """Batches of `screen` points the screen may use: another batch while a policy
    violates more points than the dense policy and the test has not rejected it."""
    confidence: float = 0.95
    """The run's confidence; the screen tests at its share of the error (`sanp.method.alpha`)."""
    margin: float = DEFAULT_MARGIN
    """Non-inferiority margin of the confirmation (`sanp.method.screen.Confirmation`)."""
    confirm: int = 200
    """Fresh points of the confirmation an adopted level passes after the screen; 0: none."""

    def __post_init__(self) -> None:
        if self.episodes <= 0 or not 0 < self.min_step <= self.step < 1 or self.retries < 0:
            raise OptionError("deep recipe needs episodes > 0, 0 < min_step <= step < 1, retries >= 0")
        if self.screen < 0 or self.screen_looks < 1 or self.confirm < 0:
            raise OptionError(f"the screen needs >= 0 points and >= 1 look, the confirmation >= 0 points; got "
                              f"{self.screen}, {self.screen_looks} and {self.confirm}")
        check_confidence(self.confidence)
        check_margin(self.margin)
        if not 0 < self.max_sparsity < 1:
            raise OptionError(f"max_sparsity must be in (0, 1), got {self.max_sparsity}")

    @classmethod
    def from_options(cls, **options: Any) -> DeepConfig:
        """The defaults but for the options given (None: the default); the fine-tune's
        steps come flat, as `finetune_steps`, as on the command line.

        Example:
            >>> DeepConfig.from_options(time_limit=900, finetune_steps=None).time_limit
            900
        """
        given = {k: v for k, v in options.items() if v is not None}
        steps = given.pop("finetune_steps", None)
        cfg = cls(**given)
        return cfg if steps is None else replace(cfg, finetune=replace(cfg.finetune, steps=steps))


@dataclass(frozen=True)
class ScheduleStep:
    """One evaluated level of the schedule."""

    target: float
    """Sparsity asked for (the path guard may keep a few more weights)."""
    sparsity: float
    mean_reward: float
    accepted: bool
    attempt: int
    """0 for the first fine-tune at this level, then one per retry."""
    loss_before: float
    loss_after: float
    states: int
    """Training states used."""
    seconds: float
    screen: ScreenCheck | None = None
    """The level on the safety screen (None: not screened, because the reward missed
    the cutoff or the screen is off)."""
    confirmation: ConfirmCheck | None = None
    """The level on the confirmation's fresh points (None: not run)."""


@dataclass(frozen=True, eq=False)
class DeepResult:
    """Result of `deep_compress`: the sparsest passing policy and the schedule's log."""

    policy: Any
    sparsity: float
    mean_reward: float
    dense_reward: float
    threshold: float
    history: tuple[ScheduleStep, ...]
    states: np.ndarray = field(repr=False)
    """The aggregated training states (dense- and sparse-visited): anchors for repair."""
    times: dict[str, float]
    """Wall seconds: collect, finetune, evaluate, total."""
    stop: str
    """Why the schedule stopped: "step" (the step fell below min_step), "max_sparsity",
    or "time_limit"."""
    levels: tuple[Any, ...] = field(default=(), repr=False)
    """Every level the schedule adopted (fine-tuned, reward at the cutoff, screen
    passed), sparsest last: where the deep repair can back off to."""
    screen: Screen | None = field(default=None, repr=False)
    """The safety screen (its points and the dense policy's violations on them); the deep
    repair holds its candidates to it too."""

    def to_search(self) -> SparsitySearch:
        """The result in the shape of the paper's step 1 (k = sparsity reached; the first
        history entry is the dense policy), for the pipeline's step-1 slot."""
        hist = [SparsityStep(0.0, 0.0, self.dense_reward, self.dense_reward >= self.threshold,
                             None if self.screen is None else self.screen.reference())]
        hist += [SparsityStep(s.target, s.sparsity, s.mean_reward, s.accepted, s.screen, s.confirmation)
                 for s in self.history]
        return SparsitySearch(self.sparsity, self.policy, self.mean_reward, tuple(hist), self.stop)


@dataclass(frozen=True, eq=False)
class ScheduleState:
    """Where the gradual schedule stands after a level it tried: everything a resumed
    schedule needs to go on exactly as an uninterrupted one (`deep_compress(resume=...)`).
    The policy it goes on from is the last adopted level (the dense policy before any)."""

    dense_reward: float
    current_reward: float
    """Mean reward of the last adopted level (of the dense policy before any)."""
    step: float
    """The step the next level takes."""
    history: tuple[ScheduleStep, ...]
    levels: tuple[Any, ...]
    """Every adopted level, sparsest last."""
    states: np.ndarray = field(repr=False)
    """The training buffer."""
    gathered: int
    """Collect rounds so far: the next one's reset seeds and the buffer's next subsample
    follow from it."""
    times: dict[str, float]
    """Wall seconds so far per phase, "total" included (the time limit counts them)."""


def collect(policy: Any, binding: Binding, episodes: int, points: int, seed: int) -> np.ndarray:
    """Observations `policy` visits: `episodes` from the env's own initial distribution
    (reset seeds seed, seed+1, ...) and `points` from uniform points of the search space
    (drawn by a generator seeded with `seed`)."""
    actor = deployed(policy)
    trajs = run_episodes(actor, binding, episodes, seed) if episodes else []
    if points:
        trajs += run_batch(actor, binding, binding.uniform_points(points, np.random.default_rng(seed)),
                           record_states=False)
    obs = [t.observations[np.all(np.isfinite(t.observations), axis=1)] for t in trajs]
    return np.concatenate(obs)


def mean_reward(policy: Any, binding: Binding, episodes: int, seed: int) -> float:
    """Mean return over `episodes` episodes whose reset seeds are the `reward` stream of
    the run seeded with `seed` (base, base+1, ...), run as deployed (-inf if any episode
    went non-finite)."""
    trajs = run_episodes(deployed(policy), binding, episodes, seeds.integer(seed, "reward"))
    if any(t.nonfinite for t in trajs):
        return float("-inf")
    return float(np.mean([t.total_reward for t in trajs]))


def _needed_inputs(dense: Any) -> tuple[int, ...]:
    return tuple(int(i) for i in torch.nonzero(dense.effective_weights()[0].abs().sum(dim=0)).reshape(-1))


def _scores(policy: Any, criterion: str, states: np.ndarray, rng: np.random.Generator) -> list[torch.Tensor]:
    sample = states[rng.choice(len(states), min(len(states), 20_000), replace=False)]
    return importance(policy, criterion, None if criterion == "magnitude" else sample)


def check_deep_inputs(dense: Any, spec: Any) -> None:
    """OptionError, before any work, for what the schedule cannot run on: a spec with no
    reward cutoff, or a one-layer policy (the path guard keeps a path from every input to
    every output: with one layer that path is every weight)."""
    reward_cutoff(spec)
    if len(dense.linears) == 1:
        raise OptionError("the deep recipe keeps a path from every input to every output, which in a one-layer "
                          "(linear) policy is every weight: it cannot prune this policy; use --recipe paper")


def deep_compress(dense: Any, binding: Binding, spec: Any, config: DeepConfig = DeepConfig(),
                  *, log: Log | None = None, resume: ScheduleState | None = None,
                  on_level: Callable[[ScheduleState], None] | None = None) -> DeepResult:
    """The sparsest policy the gradual schedule reaches whose mean reward over
    `config.episodes` episodes (the spec's horizon) reaches the spec's cutoff. Its
    weights are fine-tuned (not the dense values): whoever stores it must store weights,
    not masks alone. Raises OptionError when the spec has no cutoff or the dense policy
    misses it.

    `on_level` is called with the schedule's state after every level it tries (e.g. to
    save it); `resume` goes on from such a state, to the result the uninterrupted run
    reaches with the same settings.

    Example:
        >>> res = deep_compress(dense, binding, spec, DeepConfig(seed=0, episodes=50))
        >>> step1 = res.to_search()   # drop-in for the paper's step 1
    """
    say = log or (lambda _m: None)
    check_deep_inputs(dense, spec)
    threshold = float(spec.reward_threshold)
    t0 = time.perf_counter()
    timed = PhaseTimer()

    rounds = itertools.count(0 if resume is None else resume.gathered)

    def gather(pol: Any) -> np.ndarray:
        seed = seeds.integer(config.seed, f"deep.collect.{next(rounds)}")
        return timed("collect", collect, pol, binding, config.collect_episodes, config.collect_points, seed)
    dense_reward = _dense_reward(dense, binding, config, threshold, resume, timed, say)
    if resume is not None:
        t0 -= resume.times.get("total", 0.0)  # the time limit counts the interrupted run's time too
    screen = timed("screen", draw_screen, dense, binding, spec, config, say)
    if screen is not None:
        say(f"deep: safety screen of {config.screen} uniform points (up to {config.screen_looks} batches, "
            f"each look at {screen.alpha:.3g}); the dense policy violates {screen.allowed} of the first")
    inputs = config.inputs if config.inputs is not None else _needed_inputs(dense)
    buf, current, cur_r, step, history, levels = _start(dense, config, dense_reward, resume, gather, say)
    # The last adopted level is always the sparsest passing one (a level is adopted only
    # when it is sparser than the one before), so `current` is also the best so far.
    stop = "step"
    while step >= config.min_step:
        if config.time_limit is not None and time.perf_counter() - t0 > config.time_limit:
            say(f"deep: {safety_stop_text(len(history), config.time_limit)}")
            stop = "time_limit"
            break
        density = _next_density(current, step, config.max_sparsity)
        if density is None:
            stop = "max_sparsity"
            break
        rng = seeds.generator(config.seed, f"deep.scores.{len(history)}")
        cand = prune_to(current, density, _scores(current, config.criterion, buf.states, rng), inputs)
        if cand.sparsity() <= current.sparsity() and density == 1 - config.max_sparsity:
            stop = "max_sparsity"  # the cap, to within the rounding to whole weights
            break
        if cand.sparsity() <= current.sparsity():
            # The path guard kept every weight this step would remove: nothing to try.
            say(f"deep: the path guard keeps every weight a step of {step:.3f} would remove at sparsity "
                f"{current.sparsity():.2%}; halving the step")
            step /= 2
        else:
            cand, r, passed = _level(cand, 1 - density, dense, binding, buf, gather, timed, config, threshold,
                                     history, step, say, screen)
            if passed:
                current, cur_r = cand, r
                levels.append(cand)
            else:
                step /= 2
        if on_level is not None:
            on_level(ScheduleState(dense_reward, cur_r, step, tuple(history), tuple(levels), buf.states,
                                   buf.adds, {**timed.times, "total": time.perf_counter() - t0}))
    times = {**timed.times, "total": time.perf_counter() - t0}
    say(f"deep: reached {current.sparsity():.2%} at mean reward {cur_r:.2f} in {times['total']:.0f} s")
    return DeepResult(current, current.sparsity(), cur_r, dense_reward, threshold, tuple(history), buf.states, times,
                      stop, tuple(levels), screen)


def _dense_reward(dense: Any, binding: Binding, config: DeepConfig, threshold: float,
                  resume: ScheduleState | None, timed: PhaseTimer, say: Log) -> float:
    """The dense policy's mean reward (measured, or as the resumed run measured it)."""
    if resume is not None:
        timed.times.update({k: v for k, v in resume.times.items() if k != "total"})
        return resume.dense_reward
    dense_reward = timed("evaluate", mean_reward, dense, binding, config.episodes, config.seed)
    if dense_reward < threshold:
        raise OptionError(f"the dense policy's mean reward {dense_reward:.2f} is below the spec's cutoff "
                          f"{threshold:g}: lower the cutoff or train the policy further")
    say(f"deep: dense mean reward {dense_reward:.2f}, cutoff {threshold:g}")
    return dense_reward


def _start(dense: Any, config: DeepConfig, dense_reward: float, resume: ScheduleState | None,
           gather: Callable[[Any], np.ndarray], say: Log) -> tuple[StateBuffer, Any, float, float, list, list]:
    """Where the schedule starts: (buffer, current policy and its reward, step, history,
    adopted levels), fresh or from the resumed state."""
    if resume is None:
        buf = StateBuffer(config.max_states, config.seed)
        buf.add(gather(dense))
        buf.add(gather(dense))
        return buf, dense.clone(), dense_reward, config.step, [], []
    buf = StateBuffer(config.max_states, config.seed, resume.states, resume.gathered)
    levels = list(resume.levels)
    current = levels[-1] if levels else dense.clone()
    say(f"deep: resuming the schedule after {len(resume.history)} level(s) tried, {len(levels)} adopted "
        f"(sparsity {current.sparsity():.2%})")
    return buf, current, resume.current_reward, resume.step, list(resume.history), levels


def _next_density(current: Any, step: float, max_sparsity: float) -> float | None:
    """The density of the next level, capped at `max_sparsity`; None once there."""
    density = (1 - current.sparsity()) * (1 - step)
    if 1 - density <= max_sparsity:
        return density
    # prune_to rounds to whole weights: within one weight of the cap is at it.
    if current.sparsity() >= max_sparsity - 1.0 / current.n_weights():
        return None
    return 1 - max_sparsity


def _level(cand: Any, target: float, dense: Any, binding: Binding, buf: StateBuffer,
           gather: Callable[[Any], np.ndarray],
           timed: PhaseTimer, config: DeepConfig, threshold: float, history: list, step: float,
           say: Log, screen: Screen | None) -> tuple[Any, float, bool]:
    """Fine-tune a freshly pruned level (`target`: the sparsity asked for), estimate its
    reward and, when that reaches the cutoff, run the safety screen, then the confirmation,
    with `config.retries` more collect-and-fine-tune rounds while it fails; every try is
    appended to `history`."""
    for attempt in range(config.retries + 1):
        t = time.perf_counter()
        ft = replace(config.finetune, seed=seeds.integer(config.seed, f"deep.finetune.{len(history)}"))
        cand, info = timed("finetune", finetune, cand, dense, buf.states, ft)
        r = timed("evaluate", mean_reward, cand, binding, config.episodes, config.seed)
        chk = timed("screen", screen.check, cand) if screen is not None and r >= threshold else None
        confirmation = screen.confirmation if screen is not None else None
        conf = timed("screen", confirmation.check, cand) if confirmation and chk and chk.passed else None
        passed = r >= threshold and (chk is None or chk.passed) and (conf is None or conf.passed)
        history.append(ScheduleStep(target, cand.sparsity(), r, passed, attempt, info.loss_before,
                                    info.loss_after, info.states, time.perf_counter() - t, chk, conf))
        shown = "".join(f", {describe(c)}" for c in (chk, conf) if c is not None)
        say(f"deep: sparsity {cand.sparsity():.2%} (step {step:.3f}, try {attempt + 1}) mean reward {r:.2f} "
            f"{'>=' if r >= threshold else '<'} {threshold:g}{shown}; loss {info.loss_before:.4g} -> "
            f"{info.loss_after:.4g}")
        buf.add(gather(cand))  # DAgger: where this sparse policy goes, labelled by the dense one
        if passed:
            break
    return cand, r, passed
