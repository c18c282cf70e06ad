"""What the book's pages say, read from their sources: every code line of a chapter fits the page
(80 characters), and no chapter's prose types a figure that no cell computes. Outputs are checked
on the built book, in test_book.py."""

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.py"))
PAGES = sorted((ROOT / "book").glob("*.md"))
PAGE_WIDTH = 80  # characters of code or output a page shows without scrolling sideways

# A figure: a decimal number, a power of ten written 1e-5, or a number with a unit of time, size,
# share, loudness, rate or speed-up ("11x", not the "x" of "64 x 64").
NUMBER = r"\d[\d,]*(?:\.\d+)?"
UNIT = r"ms|s|min|minutes?|seconds?|hours?|[KMGT]i?B|%|dB|T?FLOP/s|TFLOP"
FIGURE = re.compile(
    rf"(?<![\w.])(?:{NUMBER}\s?(?:{UNIT})(?![\w/])|{NUMBER}x(?!\w)"
    r"|\d+(?:\.\d+)?e[-+]?\d+|\d[\d,]*\.\d+)"
)
# Spans that are not prose: inline code, link targets, bare addresses, arXiv and DOI numbers.
NOT_PROSE = re.compile(r"`[^`]*`|\]\([^)]*\)|https?://\S+|arXiv:\S+|doi:\S+")

# Figures prose may state: targets, definitions and a worked example's premises, each with why.
# Matched after whitespace is collapsed; an entry no page uses any more fails the test.
ALLOWED = {
    "next-frame SSIM 0.90 within 15 minutes": "the goal set for the laptop preset, a target",
    r"$\sigma(1) \approx 0.73$": "arithmetic: what the forget gate's bias of 1 means",
    "turns 0 into 0.5": "arithmetic: the sigmoid of 0",
    "(above 0.5: sharp ink)": "the definition of a bright pixel, the threshold the cell uses",
    "where the target is 0.9": "the premise of an example, not a measurement",
    "with probability 0.6, or 3 pixels with probability 0.4": "a worked example's premise, "
    "the odds the next cell sets",
    "(800 MB)": "the size of the published file, as its authors publish it",
    "(800 MB, real MNIST": "the size of the published file, as its authors publish it",
    "(11 x 11, sigma 1.5)": "the definition of the SSIM's Gaussian window (Wang et al.)",
    "to within 1e-4 per pixel": "the tolerance tests/test_web.py checks, a stated bound",
}


def _markdown(path: Path) -> str:
    """A page's prose: the markdown cells of a notebook's .py twin, or a book/*.md page."""
    if path.suffix == ".md":
        return path.read_text()
    cells = jupytext.read(path).cells
    return "\n\n".join(cell.source for cell in cells if cell.cell_type == "markdown")


def typed_figures(markdown: str) -> tuple[list[str], set[str]]:
    """Figures in prose that no allowance covers, and the allowances used."""
    prose = " ".join(NOT_PROSE.sub(" ", markdown).split())
    used = {phrase for phrase in ALLOWED if phrase in prose}
    for phrase in used:
        prose = prose.replace(phrase, " ")
    return [match.group(0) for match in FIGURE.finditer(prose)], used


def test_figure_pattern_catches_typed_figures():
    typed = "SSIM 0.81 after the first epoch, 25.3 s against 80.7 s, 11x faster, 1e-5, 40%, 7 MB"
    assert typed_figures(typed)[0] == ["0.81", "25.3 s", "80.7 s", "11x", "1e-5", "40%", "7 MB"]
    definitions = "two 28 x 28 digits in a 64 x 64 frame, 3 x 32 filters, `lr=0.008`, 17 epochs"
    assert typed_figures(definitions)[0] == []


@pytest.mark.parametrize("path", CHAPTERS + PAGES, ids=lambda p: p.name)
def test_prose_types_no_figures(path):
    figures, _ = typed_figures(_markdown(path))
    assert figures == [], (
        f"{path.name}: figures typed into the prose {figures}; print them from a cell or "
        "write the markdown from code (or, for a target or definition, allow it in ALLOWED)"
    )


def test_every_allowance_is_used():
    used = set().union(*(typed_figures(_markdown(path))[1] for path in CHAPTERS + PAGES))
    assert set(ALLOWED) - used == set()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_code_lines_fit_the_page(path):
    cells = [cell for cell in jupytext.read(path).cells if cell.cell_type == "code"]
    wide = [line for cell in cells for line in cell.source.splitlines() if len(line) > PAGE_WIDTH]
    assert wide == [], f"{len(wide)} code lines over {PAGE_WIDTH} characters, e.g. {wide[:3]}"
