"""examples/quickstart.ipynb runs top to bottom on tiny budgets (nbclient, the venv's
own kernel), in a scratch working directory: every cell without error, the results
rendered as HTML, and its files written there, not into the repository."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"

TINY = f"""# injected by tests/test_notebook.py: the repository, and tiny budgets
ROOT = Path({str(ROOT)!r})
POLICY = ROOT / "zoo" / "cartpole" / "dense.onnx"
SPEC = ROOT / "specs" / "cartpole.stl"
VERIFY_BUDGET = 5
PRUNE_OPTIONS = dict(recipe="paper", sparsity=0.5, episodes=10, budget=5, rounds=1, round_uniform=20,
                     heldout_budget=5, heldout_uniform=20)
"""


def test_the_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c for c in code if c.outputs or c.execution_count is not None] == []
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1


def test_the_notebook_runs_on_tiny_budgets(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(TINY))
    before = sorted(p.name for p in (ROOT / "examples").iterdir())
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any cell's error
    html = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if "text/html" in o.get("data", {})]
    assert any("sanp verify" in h for h in html) and any("sanp prune" in h for h in html)
    assert {"sparse.onnx", "verify.json", "prune.json", "prune.html"} <= {p.name for p in tmp_path.iterdir()}
    assert sorted(p.name for p in (ROOT / "examples").iterdir()) == before
