"""Pick the backend that owns a model or a checkpoint file, importing it only when asked."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path
from types import ModuleType

from nfp_lib.config import Config
from nfp_lib.runs import latest_dir

BACKENDS = ("torch", "keras")
CHECKPOINT_FILES = {"torch": "model.pt", "keras": "model.keras"}


def backend_module(name: str) -> ModuleType:
    """``nfp_lib.torch_backend`` or ``nfp_lib.keras_backend`` by name."""
    if name not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {name!r}")
    return importlib.import_module(f"nfp_lib.{name}_backend")


def backend_of(model: object) -> ModuleType:
    """The backend module that built ``model`` (a Keras model or a PyTorch module)."""
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        return backend_module("keras")
    import torch

    if isinstance(model, torch.nn.Module):
        return backend_module("torch")
    raise ValueError(
        f"model: expected a Keras model or a PyTorch module, got {type(model).__name__}"
    )


def with_mirror_average(model: object, on: bool) -> object:
    """A copy of ``model``, with its weights, that predicts with ``mirror_average`` ``on`` (see
    :class:`~nfp_lib.config.ModelConfig`): averaging over mirror images adds no weights, so any
    model can be asked either way."""
    backend = backend_of(model)
    config = dataclasses.replace(backend.model_config(model), mirror_average=bool(on))
    if backend.__name__ == "nfp_lib.torch_backend":
        copy = backend.build_model(config).to(next(model.parameters()).device)
        copy.load_state_dict(model.state_dict())
        return copy.train(model.training)
    from nfp_lib.keras_backend.model import image_size_of

    copy = backend.build_model(config, image_size=image_size_of(model))
    copy.set_weights(model.get_weights())
    return copy


def find_checkpoint(path: str | Path) -> tuple[str, Path]:
    """The backend name and model file for a checkpoint file or a run directory (of a run
    folder: its last committed epoch)."""
    path = Path(path)
    if path.is_dir():
        path = latest_dir(path) or path
        for name, filename in CHECKPOINT_FILES.items():
            if (path / filename).is_file():
                return name, path / filename
        raise ValueError(f"checkpoint: expected model.pt or model.keras in {path}, found neither")
    if not path.is_file():
        raise ValueError(f"checkpoint: no such file or directory: {path}")
    for name, filename in CHECKPOINT_FILES.items():
        if path.suffix == Path(filename).suffix:
            return name, path
    raise ValueError(f"checkpoint: expected a .pt or .keras file, got {path.name}")


def load_model(path: str | Path) -> tuple[object, Config]:
    """Load a model saved by either backend's ``fit`` (a file or its run directory)."""
    name, file = find_checkpoint(path)
    if name == "torch":
        model, config, _ = backend_module("torch").load_checkpoint(file)
        return model, config
    return backend_module("keras").load_model(file)
