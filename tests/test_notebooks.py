"""The tutorial notebooks in examples/ run from top to bottom without an error, offline, on mnist-mini."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", ["chapter4.ipynb", "chapter4_ja.ipynb"])
def test_notebook_executes_without_errors(name, tmp_path):
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises CellExecutionError
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    pictures = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert pictures >= 10  # every figure displayed itself
    tables = sum("text/html" in o.get("data", {}) for c in code for o in c.outputs)
    assert tables >= 3  # the history, the evaluation, the gradient check


def test_japanese_notebook_has_the_books_section_numbers():
    nb = nbformat.read(EXAMPLES / "chapter4_ja.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("## 4.1 データから学習する", "## 4.2 損失関数", "## 4.3 数値微分", "## 4.4 勾配",
                    "## 4.5 学習アルゴリズムの実装"):
        assert heading in text
