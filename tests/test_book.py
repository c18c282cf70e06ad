"""The book builds offline with warnings as errors, every page in the table of contents becomes
an HTML page, the data chapter shows its figures and animations, formulas render without a
network, and no text a cell prints is wider than the page."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
DATA_CHAPTER = "notebooks/01_moving_mnist"
IGNORE = shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__")
PAGE_WIDTH = 80  # characters a line, as for the code cells (tests/test_book_text.py)
# An output with one of these is shown as HTML, a picture or a widget, not as its text/plain.
RICH = {"text/html", "text/markdown", "text/latex", "image/png", "image/jpeg", "image/gif"}
RICH |= {"image/svg+xml", "application/vnd.jupyter.widget-view+json"}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _toc_files(entry) -> list[str]:
    """Every `file:` (and the `root:`) in a jb-book table of contents."""
    if isinstance(entry, list):
        return [name for item in entry for name in _toc_files(item)]
    if not isinstance(entry, dict):
        return []
    names = [entry[key] for key in ("root", "file") if key in entry]
    for key in ("parts", "chapters", "sections"):
        names += _toc_files(entry.get(key, []))
    return names


def test_toc_lists_the_data_chapter():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    assert toc["format"] == "jb-book"
    assert _toc_files(toc)[0] == "intro"
    assert DATA_CHAPTER in _toc_files(toc)


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    """Build a copy of the book (so book/_build and its execution cache stay untouched)."""
    copy = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "book", copy / "book", symlinks=True, ignore=IGNORE)
    shutil.copytree(ROOT / "notebooks", copy / "notebooks", symlinks=True, ignore=IGNORE)
    shutil.copy2(ROOT / "_config.yml", copy / "_config.yml")
    assert (copy / "book" / "_config.yml").is_symlink()
    assert (copy / "book" / "notebooks").is_symlink()
    # This checkout's nfp_lib comes first, whether or not the package is installed.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "NFP_QUICK": "1", "KERAS_BACKEND": "torch", "PYTHONPATH": path}
    result = subprocess.run(
        [str(JUPYTER_BOOK), "build", "book", "-W", "--keep-going"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return copy / "book"


@pytest.mark.slow
def test_every_toc_page_is_built(built_book):
    toc = yaml.safe_load((built_book / "_toc.yml").read_text())
    html = built_book / "_build" / "html"
    missing = [name for name in _toc_files(toc) if not (html / f"{name}.html").is_file()]
    assert missing == []


@pytest.mark.slow
def test_data_chapter_shows_a_gif_and_png_figures(built_book):
    html = built_book / "_build" / "html"
    page = (html / f"{DATA_CHAPTER}.html").read_text()
    sources = re.findall(r"<img[^>]*\ssrc=\"([^\"]+)\"", page)
    gifs = [s for s in sources if s.startswith("data:image/gif") or s.endswith(".gif")]
    pngs = [s for s in sources if s.startswith("data:image/png") or s.endswith(".png")]
    assert gifs, "expected at least one GIF animation"
    assert [s for s in pngs if "_images/" in s or s.startswith("data:")], "expected PNG figures"
    for src in gifs + pngs:
        if not src.startswith("data:"):
            assert (html / DATA_CHAPTER).parent.joinpath(src).resolve().is_file(), src


@pytest.mark.slow
def test_formulas_render_offline(built_book):
    """Every page that typesets math loads MathJax from the book itself, not from a CDN."""
    html = built_book / "_build" / "html"
    pages = [p for p in html.rglob("*.html") if 'class="math' in p.read_text()]
    assert pages, "expected pages with formulas"
    for page in pages:
        sources = re.findall(r"<script[^>]*\ssrc=\"([^\"]*mathjax[^\"]*)\"", page.read_text())
        assert sources and all("://" not in src for src in sources), (page.name, sources)
        assert all(page.parent.joinpath(src).resolve().is_file() for src in sources)


@pytest.mark.slow
def test_colab_links_open_the_notebook_itself(built_book):
    """Both the launch button and the badge must open notebooks/NAME.ipynb on GitHub: a path
    through the book/notebooks symlink would not resolve there."""
    page = (built_book / "_build" / "html" / f"{DATA_CHAPTER}.html").read_text()
    links = set(re.findall(r"https://colab\.research\.google\.com/github/[^\"\s<)]+", page))
    expected = (
        f"https://colab.research.google.com/github/nfp-book/nfp/blob/main/{DATA_CHAPTER}.ipynb"
    )
    assert links == {expected}


def shown_text(output: dict) -> str:
    """The text a page shows for a cell output: a stream, or a result with no richer form."""
    if output["output_type"] == "stream":
        return ANSI.sub("", output["text"])
    data = output.get("data", {})
    if output["output_type"] in ("execute_result", "display_data") and not RICH & data.keys():
        return data.get("text/plain", "")
    return ""


def wide_lines(notebook: Path) -> list[str]:
    """The lines of text a notebook's outputs show that are wider than the page."""
    lines = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []):
            lines += re.split(r"[\r\n]", shown_text(output))
    return [f"{notebook.stem}: {line}" for line in lines if len(line) > PAGE_WIDTH]


def test_wide_lines_finds_wide_stream_and_plain_text(tmp_path):
    wide, narrow = "x" * (PAGE_WIDTH + 1), "y" * PAGE_WIDTH
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            outputs=[
                nbformat.v4.new_output("stream", name="stdout", text=f"{narrow}\n{wide}\n"),
                nbformat.v4.new_output(
                    "execute_result", data={"text/plain": wide}, execution_count=1
                ),
                nbformat.v4.new_output(
                    "display_data", data={"text/plain": wide, "text/html": narrow}
                ),
            ]
        )
    ]
    nbformat.write(notebook, tmp_path / "page.ipynb")
    assert wide_lines(tmp_path / "page.ipynb") == [f"page: {wide}", f"page: {wide}"]


@pytest.mark.slow
def test_outputs_fit_the_page(built_book):
    """The build keeps each executed notebook, outputs and all, in _build/jupyter_execute."""
    executed = sorted((built_book / "_build" / "jupyter_execute").rglob("*.ipynb"))
    assert len(executed) == len(list((ROOT / "notebooks").glob("*.ipynb")))
    wide = [line for notebook in executed for line in wide_lines(notebook)]
    listed = "\n".join(wide[:20])
    assert wide == [], f"{len(wide)} output lines over {PAGE_WIDTH} characters:\n{listed}"
