"""The notebooks in notebooks/ run top to bottom without error: documentation that works."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
#: What each notebook must print (its claims), by file name.
EXPECTED = {
    "walkthrough.ipynb": ("final accuracy", "every round's outcome matches the records"),
    "federated_rl.ipynb": ("mean return (higher is better)", "final policy through ONNX"),
}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    for claim in EXPECTED[path.name]:
        assert claim in text
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_there_is_a_notebook() -> None:
    assert NOTEBOOKS, "notebooks/ should hold at least the walkthrough"
