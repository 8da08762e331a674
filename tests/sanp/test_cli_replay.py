"""`sanp replay`: a verify report's counterexample replayed from its recorded point and
actions, rendered with the env's rgb_array mode beside the violated requirement's
signals (GIF, MP4), checked against the recorded signals; `sanp report --replay N`
embeds it; bad requests are one line and exit 2, with no file written."""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sanp.cli import main

ROOT = Path(__file__).resolve().parents[2]
CARTPOLE = ROOT / "zoo/cartpole/dense.onnx"
LANDER = ROOT / "zoo/lunar_lander/dense.onnx"
# A 30-step episode whose pole is never still enough after step 5: every rollout violates.
SHORT = """env CartPole-v1
horizon 30
signal x = obs[0]
signal theta = obs[2]
search theta in [-0.05, 0.05]
search x in [-0.05, 0.05]
req upright: always[5:30] (abs(theta) <= 0.004)
"""


def verify(tmp: Path, policy: Path, spec_text: str) -> Path:
    spec, out = tmp / "spec.stl", tmp / "verify.json"
    spec.write_text(spec_text)
    assert main(["verify", str(policy), str(spec), "--budget", "2", "--optimizer", "random", "--all",
                 "--json", str(out)]) == 1
    return out


@pytest.fixture(scope="module")
def cartpole_report(tmp_path_factory) -> Path:
    return verify(tmp_path_factory.mktemp("replay"), CARTPOLE, SHORT)


def gif_frames(data: bytes) -> list[np.ndarray]:
    im = Image.open(io.BytesIO(data))
    out = []
    for k in range(im.n_frames):
        im.seek(k)
        out.append(np.asarray(im.convert("RGB")))
    return out


def test_replay_writes_a_gif_of_the_episode(cartpole_report, tmp_path, capsys):
    doc = json.loads(cartpole_report.read_text())
    steps = len(doc["counterexamples"][0]["actions"])
    out = tmp_path / "cex.gif"
    assert main(["replay", str(cartpole_report), "--counterexample", "1", "-o", str(out), "--stride", "3"]) == 0
    assert "matching the report" in capsys.readouterr().out
    frames = gif_frames(out.read_bytes())
    assert len(frames) == len(range(0, steps, 3)) + 1  # every 3rd step and the last
    assert frames[0].shape == (256, 640, 3)
    left = [f[:, : f.shape[1] // 2] for f in frames]
    assert any(not np.array_equal(left[0], f) for f in left[1:]), "the cart-pole moves"
    assert (left[0] < 100).any(), "the env's render is drawn (the cart is black)"


def test_the_replay_reproduces_the_recorded_episode(cartpole_report):
    """The replay's signals equal the recorded ones, observation for observation, and
    a report whose recorded signals differ (or whose point does) is refused."""
    from sanp import report
    from sanp.report import replay

    doc = report.load(cartpole_report)
    episode = replay.replay(doc, 1, stride=10)
    assert episode.steps == tuple(range(0, len(doc["counterexamples"][0]["actions"]), 10)) + (30,)
    tampered = json.loads(json.dumps(doc))
    tampered["counterexamples"][0]["signals"]["theta"][7] += 1e-6
    with pytest.raises(replay.ReplayError, match=r"theta at step 7 is .*, recorded"):
        replay.replay(tampered, 1, stride=10)


@pytest.mark.parametrize("change, args, message", [
    (lambda d: d["counterexamples"][0]["signals"]["x"].__setitem__(3, 9.0), ["-n", "1"],
     "does not reproduce the recorded episode: x at step 3"),
    (lambda d: d["counterexamples"][0]["point"].__setitem__("theta", 0.0), ["-n", "1"],
     "does not reproduce the recorded episode"),
    (None, ["-n", "3"], "--counterexample 3 is out of range: the report has 2 counterexample(s)"),
    (None, ["-n", "0"], "out of range"),
    (lambda d: d.__setitem__("counterexamples", []), [], "has no counterexamples"),
    (lambda d: d.update(schema="sanp.prove/1", command="prove", verdict="proved", properties=[]), [],
     "only verify reports"),
    (None, ["-o", "cex.avi"], "write a .gif or an .mp4 file"),
])
def test_bad_requests_are_one_line_exit_2_and_write_nothing(cartpole_report, tmp_path, capsys,
                                                            change, args, message):
    doc = json.loads(cartpole_report.read_text())
    if change:
        change(doc)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "cex.gif"
    argv = ["replay", str(path), "-o", str(out), "--stride", "10"]
    argv[argv.index("-o") + 1] = str(tmp_path / args[1]) if args[:1] == ["-o"] else str(out)
    argv += args if args[:1] != ["-o"] else []
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.glob("cex*"))


def test_mp4(cartpole_report, tmp_path):
    pytest.importorskip("imageio_ffmpeg", reason="MP4 needs sanp[video] (imageio-ffmpeg)")
    out = tmp_path / "cex.mp4"
    assert main(["replay", str(cartpole_report), "-o", str(out), "--stride", "5"]) == 0
    data = out.read_bytes()
    assert data[4:8] == b"ftyp" and len(data) > 1000


def test_report_embeds_the_replay(cartpole_report, tmp_path, capsys):
    page = tmp_path / "page.html"
    assert main(["report", str(cartpole_report), "-o", str(page), "--replay", "2", "--replay-stride", "10"]) == 0
    assert "1 replay(s) embedded" in capsys.readouterr().out
    text = page.read_text()
    (src,) = re.findall(r'<img src="data:image/gif;base64,([^"]*)"', text)
    frames = gif_frames(base64.b64decode(src))
    assert len(frames) == 4 and "Replay of counterexample #2" in text
    assert main(["report", str(cartpole_report), "-o", str(page), "--replay", "5"]) == 2


def test_box2d_renders_headless(tmp_path):
    """LunarLander draws with pygame: the replay forces SDL's dummy video driver."""
    spec = ("env LunarLander-v3 (continuous=true)\nhorizon 12\nsignal vx = obs[2]\n"
            "search push_x in [-1000, 1000]\nreq still: always (abs(vx) <= 0.0001)\n")
    report = verify(tmp_path, LANDER, spec)
    out = tmp_path / "lander.gif"
    assert main(["replay", str(report), "-o", str(out), "--stride", "6"]) == 0
    frames = gif_frames(out.read_bytes())
    assert len(frames) == 3 and len(np.unique(frames[0][:, :320].reshape(-1, 3), axis=0)) > 5
