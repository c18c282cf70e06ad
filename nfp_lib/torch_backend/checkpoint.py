"""Checkpoint files: one ``torch.save``d dict of tensors and plain Python values.

``{"format": "nfp-torch-1", "config": Config.to_dict(), "model": state_dict, ...}`` plus, for a
training checkpoint, the optimizer, scheduler, epoch, history and random state that
``fit(resume=True)`` needs. Files are written atomically and read with ``weights_only=True``,
so loading one never runs code from it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from nfp_lib.config import Config
from nfp_lib.fileio import atomic_save
from nfp_lib.torch_backend.model import NextFramePredictor, build_model
from nfp_lib.validation import check_finite_weights

CHECKPOINT_FORMAT = "nfp-torch-1"


def save_checkpoint(
    path: str | Path, model: NextFramePredictor, config: Config | None = None, **extras
) -> Path:
    """Write ``model``'s weights, its config and ``extras`` to ``path`` atomically.

    ``config`` defaults to the model's architecture with default training settings; when given
    its ``model`` part must be the model's. ``extras`` must be tensors or plain Python values.
    """
    if not isinstance(model, NextFramePredictor):
        raise ValueError(
            f"model: expected a NextFramePredictor (build_model), got {type(model).__name__}"
        )
    config = Config(model=model.config) if config is None else config
    if not isinstance(config, Config) or config.model != model.config:
        raise ValueError(
            f"config: expected a Config whose model is the model's ({model.config}), got {config}"
        )
    payload = {
        **extras,
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "model": model.state_dict(),
    }
    return atomic_save(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path) -> tuple[NextFramePredictor, Config, dict]:
    """Rebuild the model saved in ``path``: ``(model in eval mode, config, the whole dict)``.

    A missing, truncated or foreign file, or weights that do not fit the stored architecture,
    raise a ``ValueError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint: no such file: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise ValueError(
            f"checkpoint {path}: cannot be read ({type(err).__name__}: {str(err)[:200]}); "
            "is it truncated, or not a PyTorch file?"
        ) from None
    got = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
    if got != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path}: expected format {CHECKPOINT_FORMAT!r}, got {got!r}")
    try:
        config = Config.from_dict(checkpoint.get("config"))
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path}: bad config ({err})") from None
    model = build_model(config.model)
    load_weights(model, checkpoint.get("model"), name=f"checkpoint {path}")
    return model.eval(), config, checkpoint


def load_weights(model: nn.Module, state_dict: object, name: str = "state_dict") -> None:
    """``model.load_state_dict(state_dict)``, with a ``ValueError`` saying what does not fit."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if not isinstance(state_dict, dict) or not all(
        isinstance(v, torch.Tensor) for v in state_dict.values()
    ):
        raise ValueError(f"{name}: expected a state_dict of tensors, got {type(state_dict)}")
    got = {k: tuple(v.shape) for k, v in state_dict.items()}
    if got != expected:
        problems = [f"missing {k} {expected[k]}" for k in expected.keys() - got.keys()]
        problems += [f"unexpected {k} {got[k]}" for k in got.keys() - expected.keys()]
        problems += [
            f"{k}: expected shape {expected[k]}, got {got[k]}"
            for k in expected.keys() & got.keys()
            if expected[k] != got[k]
        ]
        raise ValueError(
            f"{name}: weights from another architecture: {'; '.join(sorted(problems)[:6])}"
            + (f" (and {len(problems) - 6} more)" if len(problems) > 6 else "")
        )
    floats = (v.detach().float().numpy() for v in state_dict.values() if v.is_floating_point())
    check_finite_weights(floats, name)
    model.load_state_dict(state_dict)
