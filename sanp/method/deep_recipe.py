"""The deep recipe (`sanp prune --recipe deep`, the default): step 1 is the gradual
schedule with sparse distillation (`sanp.method.deep`), and each round's repair
fine-tunes the surviving weights first, backing off along the schedule's levels and
restoring dense weights when that does not fix every counterexample
(`sanp.method.deep_repair`).

Example:
    >>> DeepRecipe().default_criterion
    'activation'
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sanp.errors import OptionError
from sanp.method.deep import check_deep_inputs, deep_compress, draw_screen
from sanp.method.deep_repair import deep_repair
from sanp.method.recipes import RepairJob, Step1Job
from sanp.method.run_state import Progress


class DeepRecipe:
    """Gradual pruning with sparse distillation, and a repair that fine-tunes first."""

    name = "deep"
    default_criterion = "activation"
    step1_label = "the deep schedule"
    screens = True

    def check(self, config: Any) -> None:
        if config.sparsity is not None:
            raise OptionError("--sparsity fixes the paper recipe's one-shot step 1; the deep recipe searches the "
                              "sparsity itself (cap it with --deep-max-sparsity, or use --recipe paper)")
        if config.scope != "global":
            raise OptionError("the deep recipe prunes with one global threshold; --scope layer needs --recipe paper")

    def check_inputs(self, dense: Any, spec: Any) -> None:
        check_deep_inputs(dense, spec)

    def step1(self, job: Step1Job) -> Progress:
        """`deep_compress` with this run's episodes, seed, confidence and criterion (going
        on from `job.resume`, reporting each level tried to `job.on_level`); its training
        states become the anchors of every round's fine-tuning repair."""
        config = job.config
        res = deep_compress(job.dense, job.binding, job.spec, config.deep_settings(), log=job.say,
                            resume=job.resume, on_level=job.on_level)
        phases = {f"step1_deep_{k}": v for k, v in res.times.items() if k != "total"}  # collect, finetune, ...
        return Progress(res.to_search(), res.policy, config.rounds == 0,
                        times={**phases, "step1_deep": res.times["total"]}, anchors=res.states,
                        levels=res.levels, screen=res.screen)

    def before_rounds(self, run: Progress, job: Step1Job) -> None:
        if run.screen is None:  # a resumed run: the checkpoint keeps no screen
            run.screen = draw_screen(job.dense, job.binding, job.spec, job.config.deep_settings())

    def repair(self, job: RepairJob) -> tuple[Any, str]:
        return deep_repair(job.sparse, job.dense, job.binding, job.spec, job.states, job.anchors, job.threshold,
                           job.config, job.say, job.levels, job.screen)

    def report_options(self, config: Any) -> dict[str, Any]:
        return {"deep": asdict(config.deep_settings())}
