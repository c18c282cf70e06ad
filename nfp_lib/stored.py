"""Figures the repository stores as JSON in ``nfp_lib/results/``, so the book's tables and prose
read them instead of typing them: ``published`` (other works' Moving MNIST figures, each with its
source, data and metric), ``experiments`` (the training runs that led to the ``laptop`` preset) and
``laptop-float32`` (that preset trained again with bfloat16 off: its CPU, log and scores),
``mnist-digits`` (every shipped checkpoint evaluated on videos of real MNIST digits) and
``mirror-average`` (two checkpoints evaluated with ``mirror_average`` set the other way).
The benchmark timings there are read by ``bench.stored_benchmark``.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"


def stored_result(name: str) -> dict:
    """The stored result ``results/<name>.json``; a ValueError lists the names when unknown."""
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        found = sorted(p.stem for p in RESULTS_DIR.glob("*.json"))
        raise ValueError(f"stored_result: expected one of {found}, got {name!r}")
    return json.loads(path.read_text())
