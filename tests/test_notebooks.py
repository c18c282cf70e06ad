"""The notebooks as files: every .ipynb has its Jupytext .py twin and they agree, each has one
`parameters` cell, no outputs are committed, the set-up cell installs nfp_lib only when it is
missing, and the Colab badge opens the notebook itself."""

import json
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
IPYNBS = sorted(NOTEBOOKS.glob("*.ipynb"))
COLAB = "https://colab.research.google.com/github/nfp-book/nfp/blob/main/notebooks/{}"
INSTALL_URL = "git+https://github.com/nfp-book/nfp"


def _tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


def _code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_there_are_notebooks():
    assert IPYNBS, f"no notebooks in {NOTEBOOKS}"


def test_every_notebook_has_a_py_twin_and_vice_versa():
    ipynb = {path.stem for path in NOTEBOOKS.glob("*.ipynb")}
    py = {path.stem for path in NOTEBOOKS.glob("*.py")}
    assert ipynb == py, f"unpaired: {sorted(ipynb ^ py)}"


@pytest.mark.parametrize("path", IPYNBS, ids=lambda p: p.stem)
def test_pair_is_in_sync(path):
    ipynb = jupytext.read(path)
    py = jupytext.read(path.with_suffix(".py"))
    assert [c.cell_type for c in ipynb.cells] == [c.cell_type for c in py.cells]
    for number, (a, b) in enumerate(zip(ipynb.cells, py.cells, strict=True)):
        assert a.source.strip() == b.source.strip(), f"cell {number} differs; run `make sync`"
        assert _tags(a) == _tags(b), f"cell {number} tags differ; run `make sync`"


@pytest.mark.parametrize("path", IPYNBS, ids=lambda p: p.stem)
def test_exactly_one_parameters_cell(path):
    cells = [c for c in jupytext.read(path).cells if "parameters" in _tags(c)]
    assert len(cells) == 1, f"expected one cell tagged 'parameters', got {len(cells)}"
    assert cells[0].cell_type == "code"
    assert "NFP_QUICK" in cells[0].source


@pytest.mark.parametrize("path", IPYNBS, ids=lambda p: p.stem)
def test_no_outputs_committed(path):
    raw = json.loads(path.read_text())
    for number, cell in enumerate(raw["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"cell {number} has outputs; clear them"
            assert cell["execution_count"] is None, f"cell {number} has an execution count"


@pytest.mark.parametrize("path", IPYNBS, ids=lambda p: p.stem)
def test_colab_badge_opens_this_notebook(path):
    markdown = " ".join(c.source for c in jupytext.read(path).cells if c.cell_type == "markdown")
    assert "colab-badge.svg" in markdown
    urls = re.findall(r"https://colab\.research\.google\.com/github/[^)\s\"]+", markdown)
    assert urls == [COLAB.format(path.name)]


def _run_setup_cell(source: str, nfp_lib_importable: bool) -> list:
    """Execute a set-up cell with pip replaced by a recorder; returns the pip commands it ran."""
    probe = f"""
import json, subprocess, sys
calls = []
subprocess.check_call = lambda cmd, *a, **k: calls.append(list(cmd)) or 0
subprocess.run = lambda cmd, *a, **k: calls.append(list(cmd))
if not {nfp_lib_importable}:
    sys.modules["nfp_lib"] = None  # makes `import nfp_lib` raise ImportError
exec({source!r})
print(json.dumps(calls))
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("path", IPYNBS, ids=lambda p: p.stem)
def test_setup_cell_installs_nfp_lib_only_when_missing(path):
    source = _code_cells(jupytext.read(path))[0].source
    assert "%pip" not in source, "use subprocess so the cell is plain Python in the .py twin"
    assert _run_setup_cell(source, nfp_lib_importable=True) == []
    calls = _run_setup_cell(source, nfp_lib_importable=False)
    assert len(calls) == 1
    assert calls[0][1:4] == ["-m", "pip", "install"]
    assert any(INSTALL_URL in arg for arg in calls[0])
