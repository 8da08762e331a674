"""`sanp prune --prove-horizon N`: a missing dynamics model is refused before any pruning.
(A whole prune with the proof takes over a minute: the report block it writes is the
`closed_loop_block` that tests/sanp/reach/test_closed_loop.py checks through `sanp prove`.)"""
from __future__ import annotations

from sanp.cli import main


def test_prune_prove_horizon_without_dynamics_stops_before_pruning(tmp_path, capsys) -> None:
    from sanp.formats import save
    from sanp.model import MLPPolicy

    policy, spec, out = tmp_path / "p.onnx", tmp_path / "s.stl", tmp_path / "o.onnx"
    save(MLPPolicy([6, 4, 3], action_kind="discrete"), policy)
    spec.write_text("env Acrobot-v1\nhorizon 5\nreward >= -500\nsignal c = obs[0]\nreq up: always (c <= 2)\n")
    capsys.readouterr()
    assert main(["prune", str(policy), str(spec), "-o", str(out), "--prove-horizon", "5"]) == 2
    err = capsys.readouterr().err
    assert "declares no dynamics" in err and len(err.strip().splitlines()) == 1 and not out.exists()
