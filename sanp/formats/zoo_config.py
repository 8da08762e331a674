"""The RL Baselines3 Zoo's `config.yml` beside a model zip: whether the model was
trained behind VecNormalize, so that a forgotten `--vecnormalize` is refused instead of
silently giving a policy that falls at once.

The zoo writes the file as a YAML dump of an OrderedDict (a `!!python/object/apply`
tag); it is read with a safe loader that turns that tag into a plain mapping and
constructs nothing else.

    >>> normalization_required("ppo/BipedalWalker-v3.zip")   # doctest: +SKIP
    PosixPath('ppo/BipedalWalker-v3/config.yml')
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sanp.errors import PolicyError, first_line

_ORDERED_DICT = "tag:yaml.org,2002:python/object/apply:collections.OrderedDict"


def candidates(model: Path) -> list[Path]:
    """Where the zoo keeps a model's config: `NAME.config.yml` beside it (the fixtures'
    layout), `NAME/config.yml` (the zoo's layout) or `config.yml` in its folder."""
    return [model.with_name(f"{model.stem}.config.yml"), model.with_suffix("") / "config.yml",
            model.parent / "config.yml"]


def read_config(path: Path) -> dict[str, Any]:
    """The hyperparameters in a zoo config.yml, as a plain dict."""
    import yaml

    from sanp.limits import limit, read_bounded

    most = limit("MAX_CONFIG_DEPTH")

    class Loader(yaml.SafeLoader):
        """A SafeLoader that refuses nesting past SANP_MAX_CONFIG_DEPTH as it composes,
        long before the composer's recursion could reach Python's limit."""

        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.depth += 1
            try:
                if self.depth > most:
                    raise PolicyError(f"{path}: nested more than {most} levels deep, which a zoo config.yml "
                                      "never is; fix or move it (or raise SANP_MAX_CONFIG_DEPTH)")
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    def ordered(loader: Any, node: Any) -> dict[str, Any]:
        pairs = loader.construct_sequence(node, deep=True)
        items = pairs[0] if len(pairs) == 1 and isinstance(pairs[0], list) else pairs
        return {str(k): v for k, v in items}

    Loader.add_constructor(_ORDERED_DICT, ordered)
    data = read_bounded(path, "MAX_CONFIG_BYTES", "zoo config.yml")
    try:
        doc = yaml.load(data.decode("utf-8"), Loader=Loader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise PolicyError(f"{path}: not a readable zoo config.yml ({first_line(exc)}); fix or move it") from None
    return doc if isinstance(doc, dict) else {}


def normalization_required(model: str | os.PathLike) -> Path | None:
    """The config.yml that says `model` was trained with observation normalisation
    (`normalize: true`, or a mapping with `norm_obs` not false), or None."""
    for cfg in candidates(Path(model)):
        if cfg.is_file():
            norm = read_config(cfg).get("normalize", False)
            if isinstance(norm, str):  # the zoo also writes "dict(norm_obs=True, norm_reward=False)"
                norm = "norm_obs=false" not in norm.replace(" ", "").lower()
            elif isinstance(norm, dict):
                norm = bool(norm.get("norm_obs", True))
            return cfg if norm else None
    return None


def vecnormalize_guess(model: str | os.PathLike) -> Path | None:
    """The VecNormalize file the zoo saves with `model`, where it exists."""
    m = Path(model)
    for p in (m.with_name(f"{m.stem}.vecnormalize.pkl"), m.with_suffix("") / "vecnormalize.pkl",
              m.parent / "vecnormalize.pkl"):
        if p.is_file():
            return p
    return None
