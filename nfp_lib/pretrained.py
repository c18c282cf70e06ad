"""Checkpoints shipped inside the package, loadable offline by name.

Each lives in ``nfp_lib/checkpoints/<name>/``: the model file (``model.pt`` or ``model.keras``),
``config.json`` and ``history.json`` written by ``python -m nfp_lib train``, a ``README.md`` that
says how it was trained, and ``metrics.json`` from ``python -m nfp_lib evaluate --json``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from nfp_lib.backends import find_checkpoint, load_model
from nfp_lib.config import Config, load_config

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"


def list_pretrained() -> dict[str, str]:
    """Shipped checkpoint names with the first line of their README."""
    found = {}
    for folder in sorted(CHECKPOINT_DIR.iterdir()) if CHECKPOINT_DIR.is_dir() else []:
        readme = folder / "README.md"
        if folder.is_dir() and readme.is_file():
            found[folder.name] = readme.read_text().splitlines()[0].lstrip("# ").strip()
    return found


def pretrained_dir(name: str) -> Path:
    """The folder of a shipped checkpoint; a ValueError lists the names when it is unknown."""
    names = list_pretrained()
    if name not in names:
        raise ValueError(f"pretrained: expected one of {sorted(names)}, got {name!r}")
    return CHECKPOINT_DIR / name


def load_pretrained(name: str) -> tuple[object, Config]:
    """The model and its config for a shipped checkpoint (no network needed)."""
    return load_model(pretrained_dir(name))


def pretrained_backend(name: str) -> str:
    """``"torch"`` or ``"keras"``: which backend a shipped checkpoint belongs to."""
    return find_checkpoint(pretrained_dir(name))[0]


def pretrained_config(name: str) -> Config:
    """The configuration a shipped checkpoint was trained with (its ``config.json``)."""
    return load_config(pretrained_dir(name) / "config.json")


def pretrained_history(name: str) -> dict[str, list]:
    """The per-epoch training log of a shipped checkpoint."""
    return json.loads((pretrained_dir(name) / "history.json").read_text())


def pretrained_metrics(name: str) -> dict:
    """The ``evaluate --json`` result stored beside a shipped checkpoint."""
    return json.loads((pretrained_dir(name) / "metrics.json").read_text())


def load_any(path_or_name: str | Path) -> tuple[object, Config]:
    """A model and its config from a shipped name or from a run folder or model file of yours."""
    return load_model(resolve_checkpoint(path_or_name))


def load_start(config: Config, backend: str) -> object | None:
    """The model whose weights a run of ``config`` starts from (``config.train.init_from``), or
    None when it starts afresh; a ValueError when that checkpoint is missing, of the other
    backend or of another model configuration."""
    source = config.train.init_from
    if not source:
        return None
    path = resolve_checkpoint(source)
    try:
        found = find_checkpoint(path)[0]
    except (ValueError, OSError) as err:
        raise ValueError(f"init_from: no checkpoint at {source!r} ({err})") from None
    if found != backend:
        raise ValueError(f"init_from: {source!r} is a {found} checkpoint, this run is {backend}")
    model, start = load_model(path)
    if replace(start.model, mirror_average=False) != replace(config.model, mirror_average=False):
        raise ValueError(
            f"init_from: {source!r} was built with another model configuration "
            f"({start.model}), this run's is {config.model}"
        )
    return model


def resolve_checkpoint(path_or_name: str | Path) -> Path:
    """A shipped checkpoint's folder when ``path_or_name`` names one, else the path itself."""
    if not Path(path_or_name).exists() and str(path_or_name) in list_pretrained():
        return pretrained_dir(str(path_or_name))
    return Path(path_or_name)
