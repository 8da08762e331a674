"""Watch a counterexample: replay its episode in the env with `rgb_array` rendering, the
signals of the requirement it violates drawn beside each frame, as a GIF or MP4.

The replay puts the env back where the run started it (the report's spec binds the
env; the counterexample's point and the binding's reset seed fix the reset) and takes
the recorded actions one by one; the policy is not needed. Before anything is written
the replayed episode's signals are compared with the recorded ones: a replay that does
not reproduce the episode (another env version, another reset seed) is refused.

    >>> doc = report.load("verify.json")                              # doctest: +SKIP
    >>> episode = replay(doc, 1)                                      # doctest: +SKIP
    >>> write_animation(animation_frames(doc, episode, stride=2), "cex.gif", fps=15)  # doctest: +SKIP

GIFs are written with Pillow (a matplotlib dependency); MP4 needs the ffmpeg binary
that the imageio-ffmpeg wheel ships (`pip install 'sanp[video]'`).
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sanp.errors import SanpError
from sanp.report import comparisons
from sanp.report.reading import VERIFY_SCHEMA
from sanp.report.values import fmt, num, records
from sanp.types import RESET_SEED

MAX_FRAMES = 2000
"""Most frames in one animation (a longer episode needs a larger --stride)."""
FRAME_SIZE = (8.0, 3.2)
"""Inches of one frame at 80 dpi: 640 x 256 pixels."""
DPI = 80


class ReplayError(SanpError):
    """Raised when a counterexample cannot be replayed: no such counterexample, no
    recorded actions, or a replay that does not reproduce the recorded episode."""


@dataclass(frozen=True, eq=False)
class Episode:
    """A replayed counterexample: its frames (one per kept step) and what was drawn."""

    index: int
    """1-based number of the counterexample (as the report page numbers them)."""
    cex: Mapping[str, Any]
    steps: tuple[int, ...]
    """The step of each frame."""
    frames: tuple[np.ndarray, ...]
    """The env's rgb_array renders, [H, W, 3] uint8."""


def counterexample(doc: Mapping[str, Any], n: int) -> Mapping[str, Any]:
    """Counterexample `n` (1-based) of a verify report, or a one-line ReplayError."""
    if doc.get("schema") != VERIFY_SCHEMA:
        raise ReplayError(f"only verify reports ({VERIFY_SCHEMA}) record the episodes of their "
                          f"counterexamples; this is {doc.get('schema')}: replay the JSON of `sanp verify --json`")
    cexs = records(doc.get("counterexamples"))
    if not cexs:
        raise ReplayError("the report has no counterexamples to replay (the run found none)")
    if not 1 <= n <= len(cexs):
        raise ReplayError(f"--counterexample {n} is out of range: the report has {len(cexs)} "
                          f"counterexample(s), numbered 1 to {len(cexs)}")
    cex = cexs[n - 1]
    if not isinstance(cex.get("actions"), list) or not isinstance(cex.get("signals"), Mapping):
        raise ReplayError(f"counterexample {n} carries no recorded actions or signals; "
                          "rerun `sanp verify --json` with this version of sanp")
    if cex.get("nonfinite"):
        raise ReplayError(f"counterexample {n} is a non-finite episode (NaN/inf): it cannot be rendered")
    return cex


def _binding(doc: Mapping[str, Any]):
    from sanp.envs import bind

    spec, note = comparisons.spec_of(doc)
    if spec is None:
        raise ReplayError(f"cannot bind the report's env: {note}")
    # the spec pins the reset seed or each point carries its own (sanp.types.RESET_SEED)
    return spec, bind(spec)


def _actions(cex: Mapping[str, Any], binding: Any) -> np.ndarray:
    acts = cex["actions"]
    if binding.action_kind == "discrete":
        return np.asarray(acts, dtype=np.int64).reshape(-1)
    return np.asarray(acts, dtype=np.float32).reshape(len(acts), -1)


def replay(doc: Mapping[str, Any], n: int, stride: int = 1) -> Episode:
    """Replay counterexample `n` (1-based) of verify report `doc`, rendering every
    `stride`-th step (and the last); refuse if it does not reproduce the recorded signals."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws off screen
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    from sanp.rollout import Trajectory

    if stride < 1:
        raise ReplayError(f"--stride must be at least 1, got {stride}")
    cex = counterexample(doc, n)
    spec, binding = _binding(doc)
    actions = _actions(cex, binding)
    if len(actions) // stride + 2 > MAX_FRAMES:
        raise ReplayError(f"counterexample {n} has {len(actions)} steps: over {MAX_FRAMES} frames at "
                          f"stride {stride}; pass --stride {len(actions) // MAX_FRAMES + 1} or more")
    point = cex.get("point") if isinstance(cex.get("point"), Mapping) else None
    try:
        env = binding.adapter.make(render_mode="rgb_array")
    except TypeError:  # an adapter of one's own whose make() takes no render_mode
        raise ReplayError(f"the adapter of {binding.env_id} cannot render: its make() takes no "
                          "render_mode argument") from None
    try:
        point = {str(k): (int(v) if k == RESET_SEED else float(v)) for k, v in point.items()} if point else None
        obs = [np.asarray(binding.reset(env, point))]
        rewards, frames, steps = [], [], []
        terminated = False
        for t, a in enumerate(actions):
            if t % stride == 0:
                frames.append(_frame(env))
                steps.append(t)
            o, r, terminated, _, _ = binding.step(env, a if binding.action_kind == "continuous" else int(a),
                                                  point, t)
            obs.append(np.asarray(o))
            rewards.append(float(r))
        frames.append(_frame(env))
        steps.append(len(actions))
    finally:
        env.close()
    traj = Trajectory(point, binding.seed_of(point), np.asarray(obs, dtype=np.float32), actions,
                      np.asarray(rewards), bool(terminated), not terminated)
    _check_same(n, cex, traj.signals(spec))
    return Episode(n, cex, tuple(steps), tuple(frames))


def _frame(env: Any) -> np.ndarray:
    img = env.render()
    if not isinstance(img, np.ndarray) or img.ndim != 3:
        raise ReplayError(f"the env's render() returned {type(img).__name__}, not an RGB array")
    return np.ascontiguousarray(img[..., :3], dtype=np.uint8)


def _check_same(n: int, cex: Mapping[str, Any], replayed: Mapping[str, np.ndarray]) -> None:
    """Refuse a replay whose signals differ from the recorded ones (NaN equals NaN)."""
    for name, rec in comparisons.signal_arrays(cex).items():
        got = replayed.get(name)
        if got is None:
            continue
        if got.shape != rec.shape:
            raise ReplayError(f"the replay of counterexample {n} does not reproduce the recorded episode: "
                              f"{len(got)} observations against {len(rec)} recorded")
        differ = ~((got == rec) | (np.isnan(got) & np.isnan(rec)))
        if differ.any():
            t = int(np.argmax(differ))
            raise ReplayError(f"the replay of counterexample {n} does not reproduce the recorded episode: "
                              f"{name} at step {t} is {got[t]:.9g}, recorded {rec[t]:.9g} (another env "
                              "version or reset seed than the run's?)")


# ------------------------------------------------------------------------ drawing


def _worst(cex: Mapping[str, Any]) -> list[str]:
    rob = cex.get("robustness") if isinstance(cex.get("robustness"), Mapping) else {}
    names = [str(v) for v in cex.get("violated") or []]
    return sorted(names, key=lambda v: num(rob.get(v)) if num(rob.get(v)) is not None else np.inf)[:1]


def animation_frames(doc: Mapping[str, Any], episode: Episode) -> Iterator[np.ndarray]:
    """Each frame: the env's render on the left, on the right the comparisons of the
    requirement the counterexample violates most (its window shaded, the bound inside
    it, its critical step dotted) with a line at the frame's step."""
    from matplotlib.figure import Figure

    spec, note = comparisons.spec_of(doc)
    view = comparisons.cex_view({**episode.cex, "violated": _worst(episode.cex)}, spec, note)
    panels = view.panels[:3]
    fig = Figure(figsize=FRAME_SIZE, dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(len(panels), 2, width_ratios=[1.1, 1])
    scene = fig.add_subplot(grid[:, 0])
    image = scene.imshow(episode.frames[0], interpolation="bilinear")
    scene.set_axis_off()
    title = scene.set_title("", fontsize=8)
    cursors = []
    for k, panel in enumerate(panels):
        ax = fig.add_subplot(grid[k, 1])
        for line in panel.lines:
            y = np.asarray(line.values, dtype=float).reshape(-1)
            t = np.arange(len(y))
            if line.kind == "right":
                inside = np.ones(len(y), dtype=bool) if not panel.windows else np.any(
                    [(t >= a) & (t <= b) for a, b in panel.windows], axis=0)
                ax.plot(t, np.where(inside, y, np.nan), "--", color="tab:red", lw=1)
            else:
                ax.plot(t, y, color="tab:blue", lw=1.2)
        for a, b in panel.windows:
            if (a, b) != (0, len(y) - 1):
                ax.axvspan(a - 0.5, b + 0.5, color="tab:green", alpha=0.08, lw=0)
        if isinstance(panel.mark, int):
            ax.axvline(panel.mark, color="0.45", lw=0.8, ls=":")
        ax.set_title(panel.title, fontsize=7, loc="left")
        ax.tick_params(labelsize=6)
        cursors.append(ax.axvline(0, color="k", lw=1))
    violated = ", ".join(str(v) for v in episode.cex.get("violated") or [])
    for step, frame in zip(episode.steps, episode.frames):
        image.set_data(frame)
        title.set_text(f"counterexample #{episode.index} ({violated}), step {step}")
        for c in cursors:
            c.set_xdata([step, step])
        yield _pixels(fig)
        fig.set_layout_engine("none")  # laid out once: later frames only redraw


def _pixels(fig: Any) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def gif_bytes(frames: Sequence[np.ndarray] | Iterator[np.ndarray], fps: float) -> bytes:
    """An animated GIF of `frames` (Pillow), looping."""
    from PIL import Image

    images = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE, colors=128) for f in frames]
    if not images:
        raise ReplayError("no frames to write")
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(20, round(1000 / fps)), loop=0, optimize=False)
    return buf.getvalue()


def write_animation(frames: Iterator[np.ndarray], path: str | os.PathLike, fps: float) -> int:
    """Write the frames as a GIF or MP4 (by the file's extension), atomically; the number
    of frames written."""
    from sanp.atomic import atomic_output, write_bytes

    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        frames = list(frames)
        write_bytes(path, gif_bytes(frames, fps))
        return len(frames)
    if suffix != ".mp4":
        raise ReplayError(f"{path}: write a .gif or an .mp4 file")
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ReplayError("MP4 needs the ffmpeg writer: pip install 'sanp[video]' "
                          "(imageio-ffmpeg, which ships ffmpeg), or write a .gif") from None
    count = 0
    with atomic_output(path) as tmp:
        writer = None
        try:
            for f in frames:
                h, w = f.shape[0] - f.shape[0] % 2, f.shape[1] - f.shape[1] % 2  # yuv420p: even sizes
                if writer is None:
                    writer = imageio_ffmpeg.write_frames(str(tmp), (w, h), fps=fps, codec="libx264",
                                                         macro_block_size=1, ffmpeg_log_level="error",
                                                         output_params=["-f", "mp4"])
                    writer.send(None)
                writer.send(np.ascontiguousarray(f[:h, :w]))
                count += 1
        finally:
            if writer is not None:
                writer.close()
    return count


def caption(episode: Episode, stride: int) -> str:
    """The page's caption of an embedded replay."""
    c = episode.cex
    return (f"Replay of counterexample #{episode.index} (violates "
            f"{', '.join(map(str, c.get('violated') or [])) or '–'}, robustness {fmt(c.get('min_robustness'))}): "
            f"the env rendered at every {'' if stride == 1 else f'{stride}th '}step of the recorded episode, "
            "replayed from its initial point with its recorded actions and checked against the recorded "
            "signals; beside it, the comparisons of the requirement it violates most, a black line at the "
            "frame's step.")
